"""What-if edits: each edit type changes the portfolio exactly as stated, and nothing else;
bad edits are rejected with the scenario, edit, field and value named. No solver here."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import demand, engineer, make_portfolio, opportunity

from allocator.errors import InvalidInputError
from allocator.model import Portfolio
from allocator.whatif.scenarios import (
    AddEngineers,
    ChangeCapacity,
    ChangePipeline,
    ChangePolicy,
    Profile,
    RemoveEngineers,
    Scenario,
    Selection,
    SetRatio,
    apply_scenario,
    check_scenario,
    default_profile,
    parse_ratio,
    parse_scenarios,
    ratio_steps,
    staffing,
)


def base() -> Portfolio:
    """Two regions; North: E1 (arch 4), E2 (arch 3, net 2), E3 (net 5); South: E4 (arch 5).
    Sales: North O1, O2 by Ann, O3 by Bob, O4 by Cy; South O5 by Dee."""
    return make_portfolio(
        [
            engineer("E1", {"arch": 4}, "North", industries=["power"], capacity_hours=40),
            engineer("E2", {"arch": 3, "net": 2}, "North", capacity_hours=32),
            engineer("E3", {"net": 5}, "North", industries=["finance"], capacity_hours=37.5),
            engineer("E4", {"arch": 5}, "South", industries=["power"], capacity_hours=40),
        ],
        [
            opportunity("O1", requester="Ann", industry="power"),
            opportunity("O2", requester="Ann", industry="finance"),
            opportunity("O3", requester="Bob", industry="power"),
            opportunity("O4", requester="Cy", industry="finance"),
            opportunity("O5", region="South", requester="Dee", industry="power"),
        ],
        [
            demand("O1", "arch", 8, id="O1/arch"),
            demand("O1", "net", 4, id="O1/net", required=False),
            demand("O2", "net", 8, id="O2/net"),
            demand("O3", "arch", 16, id="O3/arch"),
            demand("O4", "arch", 8, id="O4/arch"),
            demand("O5", "arch", 8, id="O5/arch"),
        ],
        skills=[{"id": "arch"}, {"id": "net"}],
        pins=[{"engineer_id": "E2", "opportunity_id": "O3"}],
        forbids=[{"engineer_id": "E1", "opportunity_id": "O4"}],
        previous=[{"engineer_id": "E2", "opportunity_id": "O1"}],
    )


def apply(*edits: Any, usage: dict[str, float] | None = None, name: str = "s") -> Any:
    return apply_scenario(base(), Scenario(name=name, edits=edits), usage)


def error_lines(edits: list[dict[str, Any]], name: str = "s") -> list[str]:
    """The error lines of a scenario with `edits`: from reading it, or from checking it."""
    with pytest.raises(InvalidInputError) as caught:
        scenario = parse_scenarios([{"name": name, "edits": edits}])[0]
        check_scenario(base(), scenario)
    return caught.value.lines()


def same_except(before: Portfolio, after: Portfolio, *changed: str) -> None:
    """Every top-level field but `changed` is identical."""
    for name in Portfolio.model_fields:
        if name not in changed:
            assert getattr(before, name) == getattr(after, name), name


# ---------------------------------------------------------------------------------------------
# add_engineers


def test_add_engineers_appends_count_engineers_of_the_profile_with_stable_ids() -> None:
    profile = Profile(
        skills={"net": 3, "arch": 4}, region="South", industries=("power",), capacity_hours=32
    )
    applied = apply(AddEngineers(profile=profile, count=2))
    after = applied.portfolio
    assert after.engineers[:4] == base().engineers
    new = after.engineers[4:]
    assert [e.id for e in new] == ["HIRE-South-arch-1", "HIRE-South-arch-2"]
    for e in new:
        assert (e.region, e.skills, e.industries) == ("South", {"net": 3, "arch": 4}, ("power",))
        assert (e.capacity_hours, e.committed_hours, e.time_off) == (32, 0, {})
    assert applied.hired == ("HIRE-South-arch-1", "HIRE-South-arch-2")
    same_except(base(), after, "engineers")


def test_a_second_hire_of_the_same_profile_takes_the_next_free_number() -> None:
    profile = Profile(skills={"arch": 4}, region="North")
    after = apply(AddEngineers(profile=profile), AddEngineers(profile=profile, count=2)).portfolio
    assert [e.id for e in after.engineers[4:]] == [
        "HIRE-North-arch-1",
        "HIRE-North-arch-2",
        "HIRE-North-arch-3",
    ]


def test_add_engineers_rejects_unknown_skill_and_region_and_a_missing_region() -> None:
    lines = error_lines(
        [{"kind": "add_engineers", "profile": {"skills": {"cobol": 4}, "region": "Mars"}}]
    )
    assert lines == [
        "scenario 's' edit 1 (add_engineers), field profile.region: unknown region; known: "
        "North, South (got 'Mars')",
        "scenario 's' edit 1 (add_engineers), field profile.skills[cobol]: unknown skill; known: "
        "arch, net (got 'cobol')",
    ]
    lines = error_lines([{"kind": "add_engineers", "profile": {"skills": {"arch": 4}}}])
    assert lines == [
        "scenario 's' edit 1 (add_engineers), field profile.region: is required (got '')"
    ]


# ---------------------------------------------------------------------------------------------
# remove_engineers


def test_remove_by_ids_removes_exactly_those_and_their_pins_forbids_and_previous() -> None:
    applied = apply(RemoveEngineers(ids=("E2", "E1")))
    after = applied.portfolio
    assert [e.id for e in after.engineers] == ["E3", "E4"]
    assert after.pins == () and after.forbids == () and after.previous == ()
    assert applied.removed == ("E1", "E2")
    assert applied.notes == (
        "dropped pin E2 -> O3",
        "dropped forbid E1 -> O4",
        "dropped previous E2 -> O1",
    )
    same_except(base(), after, "engineers", "pins", "forbids", "previous")


def test_remove_by_selection_takes_every_match() -> None:
    after = apply(RemoveEngineers(select=Selection(region="North", skill="arch"))).portfolio
    assert [e.id for e in after.engineers] == ["E3", "E4"]


def test_remove_count_follows_the_release_rule() -> None:
    """Fewest hours used in the base run first; then fewest hours available; then id."""
    north_arch = Selection(region="North", skill="arch")
    # Usage decides: E1 worked less than E2.
    applied = apply(RemoveEngineers(select=north_arch, count=1), usage={"E1": 8, "E2": 16})
    assert applied.removed == ("E1",)
    # Equal usage: E2 has fewer hours available (32 h against 40 h).
    applied = apply(RemoveEngineers(select=north_arch, count=1), usage={"E1": 8, "E2": 8})
    assert applied.removed == ("E2",)
    # Without a base run every engineer counts as unused.
    assert apply(RemoveEngineers(select=Selection(), count=2)).removed == ("E2", "E3")


def test_remove_rejects_unknown_ids_and_empty_selections() -> None:
    assert error_lines([{"kind": "remove_engineers", "ids": ["E1", "E9"]}]) == [
        "scenario 's' edit 1 (remove_engineers), field ids: unknown engineer (got 'E9')"
    ]
    assert error_lines(
        [{"kind": "remove_engineers", "select": {"region": "South", "skill": "net"}}]
    ) == [
        "scenario 's' edit 1 (remove_engineers), field select: matches no engineer "
        "(got 'region South, skill net')"
    ]
    assert error_lines([{"kind": "remove_engineers"}]) == [
        "scenario 's' edit 1 (remove_engineers), field ids: give either ids or select, "
        "not both or neither"
    ]


# ---------------------------------------------------------------------------------------------
# change_capacity


def test_change_capacity_by_hours_changes_only_the_selected_engineers() -> None:
    after = apply(ChangeCapacity(select=Selection(region="North", skill="arch"), hours=-4))
    capacity = {e.id: e.capacity_hours for e in after.portfolio.engineers}
    assert capacity == {"E1": 36, "E2": 28, "E3": 37.5, "E4": 40}
    for before, now in zip(base().engineers, after.portfolio.engineers, strict=True):
        assert before.model_dump(exclude={"capacity_hours"}) == now.model_dump(
            exclude={"capacity_hours"}
        )
    same_except(base(), after.portfolio, "engineers")


def test_change_capacity_by_percent_rounds_to_hundredths_and_stays_within_0_and_168() -> None:
    after = apply(ChangeCapacity(percent=-10)).portfolio
    assert [e.capacity_hours for e in after.engineers] == [36, 28.8, 33.75, 36]
    after = apply(ChangeCapacity(select=Selection(skill="net"), percent=-100)).portfolio
    assert [e.capacity_hours for e in after.engineers] == [40, 0, 0, 40]
    after = apply(ChangeCapacity(select=Selection(region="South"), hours=150)).portfolio
    assert after.engineers[3].capacity_hours == 168


def test_change_capacity_needs_exactly_one_of_hours_and_percent() -> None:
    assert error_lines([{"kind": "change_capacity", "hours": 2, "percent": 5}]) == [
        "scenario 's' edit 1 (change_capacity), field hours: give either hours or percent, "
        "not both or neither"
    ]


# ---------------------------------------------------------------------------------------------
# set_ratio


def test_staffing_counts_home_engineers_and_distinct_salespeople() -> None:
    p = base()
    north = staffing(p.engineers, p.opportunities, region="North")
    assert (north.presales, north.sales, north.ratio()) == (3, 3, "1:1")
    finance = staffing(p.engineers, p.opportunities, industry="finance")
    assert (finance.presales, finance.sales) == (1, 2)  # E3; Ann and Cy.


def test_set_ratio_hires_the_profile_until_the_ratio_is_reached() -> None:
    # North: 3 salespeople; 3:2 needs ceil(3 x 3 / 2) = 5 presales, 2 more than today.
    profile = Profile(skills={"net": 4})
    applied = apply(SetRatio(region="North", ratio="3:2", profile=profile))
    assert applied.hired == ("HIRE-North-net-1", "HIRE-North-net-2")
    after = applied.portfolio
    assert staffing(after.engineers, after.opportunities, region="North").presales == 5
    assert {e.region for e in after.engineers[4:]} == {"North"}
    assert applied.notes == ("region North: 3 presales for 3 salespeople, 5 for 3:2",)
    same_except(base(), after, "engineers")


def test_set_ratio_counts_the_real_sales_headcount_when_given() -> None:
    # North has 3 requesters but 6 salespeople: 1:2 needs 3 presales (as today), not 2.
    applied = apply(SetRatio(region="North", ratio="1:2", sales=6), usage={"E1": 40})
    assert applied.removed == ()
    assert applied.notes == ("region North: 3 presales for 6 salespeople, 3 for 1:2",)
    fewer = apply(SetRatio(region="North", ratio="1:2"), usage={"E1": 40})
    assert len(fewer.removed) == 1  # ceil(3 / 2) = 2 with the requesters alone.


def test_a_ratio_sweep_plan_takes_the_given_sales_headcount() -> None:
    from allocator.whatif.ratios import RatioSweepSpec, plan_ratio_sweep

    spec = RatioSweepSpec.model_validate(
        {"region": "North", "from": "1:6", "to": "1:2", "steps": 3, "sales": 12}
    )
    plan = plan_ratio_sweep(base(), spec)
    assert (plan.sales, plan.sales_given) == (12, True)
    assert sorted([*plan.counts, plan.current_presales]) == [2, 3, 6]  # 12/6, today, 12/2.
    assert all(s.edits[0].sales == 12 for s in plan.scenarios())  # type: ignore[union-attr]


def test_set_ratio_releases_by_the_release_rule_until_the_ratio_is_reached() -> None:
    # North at 1:3 needs one presales engineer: the two least used go.
    applied = apply(SetRatio(region="North", ratio="1:3"), usage={"E1": 40, "E2": 8, "E3": 0})
    assert applied.removed == ("E2", "E3")
    assert [e.id for e in applied.portfolio.engineers] == ["E1", "E4"]


def test_set_ratio_for_an_industry_adds_the_industry_to_the_hires() -> None:
    # finance: E3 for Ann and Cy; 1:1 needs 2.
    profile = Profile(skills={"arch": 4}, region="South", industries=("power",))
    applied = apply(SetRatio(industry="finance", ratio="1:1", profile=profile))
    (hire,) = applied.portfolio.engineers[4:]
    assert (hire.id, hire.region, hire.industries) == (
        "HIRE-South-arch-1",
        "South",
        ("power", "finance"),
    )


def test_set_ratio_default_profile_is_the_scope_s_most_demanded_skill() -> None:
    profile = default_profile(base(), region="North")
    # North demand hours: arch 8 + 16 + 8 = 32, net 4 + 8 = 12; industries power 28, finance 16.
    assert profile == Profile(skills={"arch": 4}, region="North", industries=("power",))
    applied = apply(SetRatio(region="North", ratio="2:1"))  # 6 presales: 3 hires.
    assert applied.hired == tuple(f"HIRE-North-arch-{k}" for k in (1, 2, 3))


def test_set_ratio_errors_name_the_edit_and_field() -> None:
    assert error_lines([{"kind": "set_ratio", "region": "North", "ratio": "4"}]) == [
        "$[0].edits[0].ratio: must look like 1:4 (presales:sales, both > 0) (got '4')"
    ]
    assert error_lines(
        [{"kind": "set_ratio", "region": "North", "industry": "power", "ratio": "1:4"}]
    ) == ["scenario 's' edit 1 (set_ratio), field region: give either region or industry"]
    assert error_lines(
        [
            {
                "kind": "set_ratio",
                "region": "North",
                "ratio": "2:1",
                "profile": {"skills": {"arch": 4}, "region": "South"},
            }
        ]
    ) == [
        "scenario 's' edit 1 (set_ratio), field profile.region: must be North (or empty) for a "
        "ratio of region North (got 'South')"
    ]


def test_ratio_parsing_and_steps() -> None:
    assert str(parse_ratio(" 1 : 4 ")) == "1:4"
    assert parse_ratio("2:5").target(11) == 5  # ceil(4.4)
    assert parse_ratio("1:4").target(8) == 2
    with pytest.raises(ValueError, match="must look like 1:4"):
        parse_ratio("0:4")
    steps = ratio_steps(parse_ratio("1:6"), parse_ratio("1:2"), 9)
    assert [str(r) for r in steps] == [
        "1:6",
        "1:5.5",
        "1:5",
        "1:4.5",
        "1:4",
        "1:3.5",
        "1:3",
        "1:2.5",
        "1:2",
    ]


# ---------------------------------------------------------------------------------------------
# change_policy


def test_change_policy_sets_only_the_given_fields() -> None:
    after = apply(ChangePolicy(changes={"travel_penalty": 50, "value_weight": 2})).portfolio
    assert after.policy == base().policy.model_copy(
        update={"travel_penalty": 50, "value_weight": 2}
    )
    same_except(base(), after, "policy")


def test_change_policy_rejects_bad_values_and_unknown_fields() -> None:
    assert error_lines(
        [{"kind": "change_policy", "changes": {"travel_penalty": -1, "colour": "red"}}]
    ) == [
        "scenario 's' edit 1 (change_policy), field changes[travel_penalty]: must be >= 0 (got -1)",
        "scenario 's' edit 1 (change_policy), field changes[colour]: is not a known field "
        "(got 'red')",
    ]


# ---------------------------------------------------------------------------------------------
# change_pipeline


def test_grow_the_pipeline_copies_opportunities_with_their_demands() -> None:
    applied = apply(ChangePipeline(percent=50, region="North"))  # 4 in North: 2 copies.
    after = applied.portfolio
    assert after.opportunities[:5] == base().opportunities
    copies = after.opportunities[5:]
    assert len(copies) == 2 and applied.opportunities_added == tuple(o.id for o in copies)
    originals = base().opportunity_by_id()
    by_opp = base().demands_of()
    for copy in copies:
        original = originals[copy.id.removesuffix("-G1")]
        assert copy.model_dump(exclude={"id"}) == original.model_dump(exclude={"id"})
        copied = [d for d in after.demands if d.opportunity_id == copy.id]
        assert [d.id for d in copied] == [
            copy.id + d.id.removeprefix(original.id) for d in by_opp[original.id]
        ]
        assert [d.model_dump(exclude={"id", "opportunity_id"}) for d in copied] == [
            d.model_dump(exclude={"id", "opportunity_id"}) for d in by_opp[original.id]
        ]
    same_except(base(), after, "opportunities", "demands")


def test_growth_above_100_percent_copies_every_match_then_a_sample() -> None:
    applied = apply(ChangePipeline(percent=150, region="North"))  # 6 copies of 4.
    ids = applied.opportunities_added
    assert len(ids) == 6
    assert {i.split("-G")[0] for i in ids} == {"O1", "O2", "O3", "O4"}
    assert sum(i.endswith("-G2") for i in ids) == 2


def test_pipeline_changes_are_deterministic_for_a_seed() -> None:
    def removed(seed: int) -> tuple[str, ...]:
        return apply(ChangePipeline(percent=-60, seed=seed)).opportunities_removed

    assert removed(0) == removed(0)
    assert len(removed(0)) == 3  # 60 % of 5.
    assert len({removed(s) for s in range(8)}) > 1  # The seed picks the sample.


def test_shrink_the_pipeline_removes_opportunities_with_demands_and_references() -> None:
    applied = apply(ChangePipeline(percent=-100, industry="power"))
    after = applied.portfolio
    assert applied.opportunities_removed == ("O1", "O3", "O5")
    assert [o.id for o in after.opportunities] == ["O2", "O4"]
    assert [d.id for d in after.demands] == ["O2/net", "O4/arch"]
    assert after.pins == () and after.previous == ()
    assert after.forbids == base().forbids
    assert applied.notes == ("dropped pin E2 -> O3", "dropped previous E2 -> O1")


def test_pipeline_errors() -> None:
    assert error_lines([{"kind": "change_pipeline", "percent": -120}]) == [
        "$[0].edits[0].percent: must be >= -100 (got -120)"
    ]
    assert error_lines([{"kind": "change_pipeline", "percent": 10, "industry": "mining"}]) == [
        "scenario 's' edit 1 (change_pipeline), field industry: unknown industry; known: "
        "finance, power (got 'mining')"
    ]


# ---------------------------------------------------------------------------------------------
# Scenarios as a whole


def test_edits_apply_in_order_each_to_the_result_of_the_previous() -> None:
    profile = Profile(skills={"arch": 4}, region="South")
    applied = apply(
        AddEngineers(profile=profile, count=2),
        RemoveEngineers(ids=("HIRE-South-arch-1",)),
        ChangeCapacity(select=Selection(region="South"), hours=-8),
    )
    after = applied.portfolio
    assert [(e.id, e.capacity_hours) for e in after.engineers if e.region == "South"] == [
        ("E4", 32),
        ("HIRE-South-arch-2", 32),
    ]


def test_no_edits_is_the_base_itself() -> None:
    assert apply().portfolio == base()


def test_scenario_files_are_validated_with_their_location() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_scenarios(
            {
                "scenarios": [
                    {"name": "a", "edits": [{"kind": "add_engineers", "count": 0}]},
                    {"name": "b", "edits": [{"kind": "hire_everyone"}]},
                ]
            },
            "whatif.json $",
        )
    assert caught.value.lines() == [
        "whatif.json $.scenarios[0].edits[0].profile: is required",
        "whatif.json $.scenarios[0].edits[0].count: must be >= 1 (got 0)",
        "whatif.json $.scenarios[1].edits[0]: unknown edit kind; choose from add_engineers, "
        "remove_engineers, change_capacity, set_ratio, change_policy, change_pipeline "
        "(got 'hire_everyone')",
    ]
    with pytest.raises(InvalidInputError) as caught:
        parse_scenarios([{"name": "a"}, {"name": "a"}, {"name": "base"}])
    assert caught.value.lines() == [
        "scenario 2, field name: duplicate name (got 'a')",
        "scenario 3, field name: is reserved for the base (got 'base')",
    ]
