"""The domain's invariants: every rule checked on construction, with its exact message."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import demand, engineer, make_portfolio, opportunity

from allocator.core.rules import engineer_week, hours_free
from allocator.errors import InputIssue, InvalidInputError
from allocator.model import Portfolio, build_portfolio, json_location, split_location

ENGINEERS = [engineer("E1", {"arch": 4, "net": 3}), engineer("E2", {"net": 5}, region="South")]
OPPORTUNITIES = [opportunity("O1"), opportunity("O2", region="South")]
DEMANDS = [demand("O1", "arch"), demand("O1", "net", hours=4), demand("O2", "net")]


def issues_of(**overrides: Any) -> list[str]:
    """The issue lines of a portfolio built from the valid base with `overrides` applied."""
    fields: dict[str, Any] = {
        "engineers": ENGINEERS,
        "opportunities": OPPORTUNITIES,
        "demands": DEMANDS,
        **overrides,
    }
    with pytest.raises(InvalidInputError) as caught:
        make_portfolio(**fields)
    assert str(caught.value).startswith(str(caught.value.issues[0]))
    return [str(issue) for issue in caught.value.issues]


def test_valid_portfolio_constructs() -> None:
    portfolio = make_portfolio(ENGINEERS, OPPORTUNITIES, DEMANDS, horizon_weeks=3)
    assert [d.id for d in portfolio.demands] == ["O1/arch", "O1/net", "O2/net"]
    assert [s.id for s in portfolio.skills] == ["arch", "net"]
    assert portfolio.demands_of() == {
        "O1": list(portfolio.demands[:2]),
        "O2": [portfolio.demands[2]],
    }
    assert list(portfolio.weeks()) == [1, 2, 3]
    assert portfolio.demands[0].weeks(3) == range(1, 4)


def test_invalid_input_error_text_counts_the_other_issues() -> None:
    issues = [InputIssue("a", "", "first"), InputIssue("b", "", "second")]
    error = InvalidInputError(issues)
    assert str(error) == "a: first (and 1 more)"
    assert str(InvalidInputError(issues[:1])) == "a: first"
    assert error.lines(limit=1) == ["a: first", "... and 1 more problems"]
    with pytest.raises(ValueError, match="at least one issue"):
        InvalidInputError([])


@pytest.mark.parametrize(
    ("issue", "text"),
    [
        (InputIssue("$.demands[3]", "hours", "must be >= 0", -3), "$.demands[3].hours"),
        (InputIssue("demands.csv row 5", "hours", "must be >= 0", -3), "demands.csv row 5, column"),
        (InputIssue("policy.json", "load_penalty", "must be >= 0", -3), "policy.json, field"),
    ],
)
def test_issue_text_names_the_place_by_kind_of_source(issue: InputIssue, text: str) -> None:
    assert str(issue).startswith(text)
    assert str(issue).endswith(": must be >= 0 (got -3)")


# --------------------------------------------------------------------------------------------
# Duplicate ids


def test_duplicate_engineer_id() -> None:
    assert issues_of(engineers=[*ENGINEERS, engineer("E1", {"net": 2})]) == [
        "$.engineers[2].id: duplicate id (got 'E1')"
    ]


def test_duplicate_opportunity_id() -> None:
    assert issues_of(opportunities=[*OPPORTUNITIES, opportunity("O2")]) == [
        "$.opportunities[2].id: duplicate id (got 'O2')"
    ]


def test_duplicate_demand_id() -> None:
    demands = [demand("O1", "arch", id="D1"), demand("O2", "net", id="D1")]
    assert issues_of(demands=demands) == ["$.demands[1].id: duplicate id (got 'D1')"]


def test_duplicate_skill_id() -> None:
    skills = [{"id": "arch"}, {"id": "net"}, {"id": "arch"}]
    assert issues_of(skills=skills) == ["$.skills[2].id: duplicate id (got 'arch')"]


def test_duplicate_stage_template() -> None:
    templates = [{"stage": "s1"}, {"stage": "s1"}]
    assert issues_of(stage_templates=templates) == [
        "$.stage_templates[1].stage: duplicate stage (got 's1')"
    ]


def test_derived_demand_id_steps_around_an_explicit_one() -> None:
    demands = [demand("O1", "arch"), demand("O1", "net", id="O1/arch"), demand("O2", "net")]
    portfolio = make_portfolio(ENGINEERS, OPPORTUNITIES, demands)
    assert [d.id for d in portfolio.demands] == ["O1/arch-2", "O1/arch", "O2/net"]


# --------------------------------------------------------------------------------------------
# Unknown skills, engineers, opportunities, demands


def test_unknown_skill_in_demand() -> None:
    assert issues_of(demands=[*DEMANDS, demand("O2", "cloud")]) == [
        "$.demands[3].skill: unknown skill (got 'cloud')"
    ]


def test_unknown_skill_of_engineer_when_a_catalogue_is_given() -> None:
    engineers = [*ENGINEERS, engineer("E3", {"net": 3, "cloud": 2})]
    assert issues_of(engineers=engineers, skills=[{"id": "arch"}, {"id": "net"}]) == [
        "$.engineers[2].skills[cloud]: unknown skill (got 'cloud')"
    ]


def test_engineer_skills_form_the_catalogue_when_none_is_given() -> None:
    engineers = [*ENGINEERS, engineer("E3", {"cloud": 2})]
    portfolio = make_portfolio(engineers, OPPORTUNITIES, DEMANDS)
    assert [s.id for s in portfolio.skills] == ["arch", "net", "cloud"]


def test_unknown_skill_in_stage_template_role() -> None:
    templates = [
        {"stage": "s1", "roles": [{"skill": "net", "hours": 4}, {"skill": "ai", "hours": 2}]}
    ]
    assert issues_of(stage_templates=templates, skills=[{"id": "arch"}, {"id": "net"}]) == [
        "$.stage_templates[0].roles[1].skill: unknown skill (got 'ai')"
    ]


def test_unknown_opportunity_in_demand() -> None:
    assert issues_of(demands=[*DEMANDS, demand("O9", "net")]) == [
        "$.demands[3].opportunity_id: unknown opportunity (got 'O9')"
    ]


@pytest.mark.parametrize("kind", ["pins", "forbids", "previous"])
def test_unknown_references_in_pins_forbids_and_previous(kind: str) -> None:
    record = {"engineer_id": "E9", "opportunity_id": "O9", "demand_id": "O9/arch"}
    assert issues_of(**{kind: [{"engineer_id": "E1", "opportunity_id": "O1"}, record]}) == [
        f"$.{kind}[1].engineer_id: unknown engineer (got 'E9')",
        f"$.{kind}[1].opportunity_id: unknown opportunity (got 'O9')",
        f"$.{kind}[1].demand_id: unknown demand (got 'O9/arch')",
    ]


@pytest.mark.parametrize("kind", ["pins", "forbids", "previous"])
def test_demand_of_another_opportunity(kind: str) -> None:
    record = {"engineer_id": "E2", "opportunity_id": "O1", "demand_id": "O2/net"}
    assert issues_of(**{kind: [record]}) == [
        f"$.{kind}[0].demand_id: belongs to opportunity O2, not O1 (got 'O2/net')"
    ]


def test_valid_pins_forbids_and_previous_construct() -> None:
    portfolio = make_portfolio(
        ENGINEERS,
        OPPORTUNITIES,
        DEMANDS,
        pins=[{"engineer_id": "E1", "opportunity_id": "O1", "demand_id": "O1/arch"}],
        forbids=[{"engineer_id": "E2", "opportunity_id": "O1"}],
        previous=[{"engineer_id": "E2", "opportunity_id": "O2", "demand_id": "O2/net"}],
    )
    assert portfolio.pins[0].label() == "pin E1 -> O1/arch"
    assert portfolio.forbids[0].label() == "forbid E2 -> O1"


def test_demand_with_template_stage_is_still_checked_for_its_opportunity() -> None:
    # A stored document may carry derived demands (template_stage set); they must reference
    # a real opportunity and lie within the horizon all the same.
    templates = [{"stage": "s1", "roles": [{"skill": "net", "hours": 4}]}]
    demands = [*DEMANDS, demand("O9", "net", template_stage="s1", start_week=3)]
    assert issues_of(demands=demands, stage_templates=templates, horizon_weeks=2) == [
        "$.demands[3].opportunity_id: unknown opportunity (got 'O9')",
        "$.demands[3].start_week: must be within weeks 1..2 (got 3)",
    ]


def test_demand_naming_no_real_template_is_checked_like_an_explicit_one() -> None:
    demands = [*DEMANDS, demand("O2", "cloud", template_stage="nowhere")]
    assert issues_of(demands=demands) == ["$.demands[3].skill: unknown skill (got 'cloud')"]


# --------------------------------------------------------------------------------------------
# Values: hours, proficiency, probability


def test_negative_hours_in_demand() -> None:
    demands = [demand("O1", "arch", hours=-3), *DEMANDS[1:]]
    assert issues_of(demands=demands) == ["$.demands[0].hours: must be >= 0 (got -3)"]


def test_hours_above_a_week() -> None:
    engineers = [engineer("E1", {"arch": 4, "net": 3}, capacity_hours=200), ENGINEERS[1]]
    assert issues_of(engineers=engineers) == [
        "$.engineers[0].capacity_hours: must be <= 168 (got 200)"
    ]


def test_negative_hours_in_template_role() -> None:
    templates = [{"stage": "s1", "roles": [{"skill": "net", "hours": -1}]}]
    assert issues_of(stage_templates=templates) == [
        "$.stage_templates[0].roles[0].hours: must be >= 0 (got -1)"
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"demands": [demand("O1", "arch", hours=8.125), *DEMANDS[1:]]},
            "$.demands[0].hours: must have at most two decimals (got 8.125)",
        ),
        (
            {"engineers": [engineer("E1", {"arch": 4}, capacity_hours=37.555), ENGINEERS[1]]},
            "$.engineers[0].capacity_hours: must have at most two decimals (got 37.555)",
        ),
        (
            {"engineers": [engineer("E1", {"arch": 4}, committed_hours=0.001), ENGINEERS[1]]},
            "$.engineers[0].committed_hours: must have at most two decimals (got 0.001)",
        ),
        (
            {"engineers": [engineer("E1", {"arch": 4}, time_off={1: 8.333}), ENGINEERS[1]]},
            "$.engineers[0].time_off[1]: must have at most two decimals (got 8.333)",
        ),
        (
            {
                "stage_templates": [
                    {"stage": "s1", "roles": [{"skill": "net", "hours": 0.125}]},
                ]
            },
            "$.stage_templates[0].roles[0].hours: must have at most two decimals (got 0.125)",
        ),
    ],
)
def test_hours_with_more_than_two_decimals(overrides: dict[str, Any], expected: str) -> None:
    assert issues_of(**overrides) == [expected]


def test_hours_with_two_decimals_are_fine() -> None:
    engineers = [engineer("E1", {"arch": 4, "net": 3}, capacity_hours=37.55), ENGINEERS[1]]
    demands = [demand("O1", "arch", hours=0.29), *DEMANDS[1:]]
    portfolio = make_portfolio(engineers, OPPORTUNITIES, demands)
    assert portfolio.engineers[0].capacity_hours == 37.55
    assert portfolio.demands[0].hours == 0.29


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"engineers": [engineer("E1", {"arch": 0}), ENGINEERS[1]]},
            "$.engineers[0].skills[arch]: must be >= 1 (got 0)",
        ),
        (
            {"engineers": [engineer("E1", {"arch": 6}), ENGINEERS[1]]},
            "$.engineers[0].skills[arch]: must be <= 5 (got 6)",
        ),
        (
            {"demands": [demand("O1", "arch", level=6), *DEMANDS[1:]]},
            "$.demands[0].min_proficiency: must be <= 5 (got 6)",
        ),
        (
            {"demands": [demand("O1", "arch", level=0), *DEMANDS[1:]]},
            "$.demands[0].min_proficiency: must be >= 1 (got 0)",
        ),
        (
            {
                "stage_templates": [
                    {"stage": "s1", "roles": [{"skill": "net", "hours": 2, "min_proficiency": 9}]}
                ]
            },
            "$.stage_templates[0].roles[0].min_proficiency: must be <= 5 (got 9)",
        ),
    ],
)
def test_proficiency_outside_one_to_five(overrides: dict[str, Any], expected: str) -> None:
    assert issues_of(**overrides) == [expected]


@pytest.mark.parametrize(
    ("win", "expected"),
    [
        (1.5, "$.opportunities[1].win_probability: must be <= 1 (got 1.5)"),
        (-0.1, "$.opportunities[1].win_probability: must be >= 0 (got -0.1)"),
    ],
)
def test_win_probability_outside_zero_to_one(win: float, expected: str) -> None:
    assert issues_of(opportunities=[OPPORTUNITIES[0], opportunity("O2", win=win)]) == [expected]


def test_win_probability_bounds_are_allowed() -> None:
    opportunities = [opportunity("O1", win=0.0), opportunity("O2", win=1.0)]
    portfolio = make_portfolio(ENGINEERS, opportunities, DEMANDS)
    assert [o.win_probability for o in portfolio.opportunities] == [0.0, 1.0]


def test_unknown_field_missing_field_and_bad_tier() -> None:
    assert issues_of(
        engineers=[{"id": "E1", "skills": {"arch": 4}}, ENGINEERS[1]],
        opportunities=[opportunity("O1", tier="Z"), opportunity("O2", colour="red")],
    ) == [
        "$.engineers[0].region: is required",
        "$.opportunities[0].tier: Input should be 'A', 'B' or 'C' (got 'Z')",
        "$.opportunities[1].colour: is not a known field (got 'red')",
    ]


def test_empty_id_and_bad_policy_value() -> None:
    assert issues_of(
        engineers=[engineer("", {"arch": 4}), ENGINEERS[1]], policy={"load_penalty": -1}
    ) == [
        "$.engineers[0].id: must not be empty (got '')",
        "$.policy.load_penalty: must be >= 0 (got -1)",
    ]


def test_bad_dict_key_names_the_key_without_pydantic_markers() -> None:
    engineers = [engineer("E1", {"arch": 4}, time_off={"x": 8}), ENGINEERS[1]]
    assert issues_of(engineers=engineers) == [
        "$.engineers[0].time_off[x]: Input should be a valid integer, unable to parse string "
        "as an integer (got 'x')"
    ]


@pytest.mark.parametrize("key", ["engineers", "opportunities", "demands", "stage_templates"])
def test_a_collection_that_is_not_a_list_is_an_input_error(key: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_portfolio({key: 5})
    assert [str(i) for i in caught.value.issues] == [
        f"$.{key}: Input should be a valid tuple (got 5)"
    ]


def test_a_document_that_is_not_an_object_is_an_input_error() -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_portfolio([])  # type: ignore[arg-type]
    assert str(caught.value) == "$: Input should be a valid dictionary or instance of Portfolio"


# --------------------------------------------------------------------------------------------
# Weeks


def test_demand_weeks_outside_the_horizon() -> None:
    demands = [demand("O1", "arch", start_week=3, end_week=4), *DEMANDS[1:]]
    assert issues_of(demands=demands, horizon_weeks=2) == [
        "$.demands[0].start_week: must be within weeks 1..2 (got 3)",
        "$.demands[0].end_week: must be within weeks 1..2 (got 4)",
    ]


def test_demand_end_week_beyond_the_horizon() -> None:
    demands = [demand("O1", "arch", start_week=2, end_week=5), *DEMANDS[1:]]
    assert issues_of(demands=demands, horizon_weeks=4) == [
        "$.demands[0].end_week: must be within weeks 1..4 (got 5)"
    ]


def test_week_zero_is_below_one() -> None:
    demands = [demand("O1", "arch", start_week=0), *DEMANDS[1:]]
    assert issues_of(demands=demands, horizon_weeks=2) == [
        "$.demands[0].start_week: must be >= 1 (got 0)"
    ]


def test_time_off_outside_the_horizon() -> None:
    engineers = [engineer("E1", {"arch": 4}, time_off={1: 8, 5: 8}), ENGINEERS[1]]
    assert issues_of(engineers=engineers, horizon_weeks=2) == [
        "$.engineers[0].time_off[5]: must be within weeks 1..2 (got 5)"
    ]


def test_end_week_before_start_week() -> None:
    demands = [demand("O1", "arch", start_week=2, end_week=1), *DEMANDS[1:]]
    assert issues_of(demands=demands, horizon_weeks=3) == [
        "$.demands[0].end_week: must be >= start_week (got 1)"
    ]


def test_horizon_above_a_year() -> None:
    assert issues_of(horizon_weeks=53) == ["$.horizon_weeks: must be <= 52 (got 53)"]


def test_engineer_hours_per_week() -> None:
    portfolio = make_portfolio(
        [engineer("E1", {"arch": 4}, capacity_hours=40, committed_hours=8, time_off={2: 36})],
        [opportunity("O1")],
        [demand("O1", "arch")],
        horizon_weeks=2,
    )
    person = portfolio.engineers[0]
    assert [engineer_week(person, w) for w in (1, 2)] == [(3200, 4000), (0, 400)]
    assert hours_free(person, (1, 2)) == 32.0


# --------------------------------------------------------------------------------------------
# Opportunities without a team


def test_opportunity_whose_demands_are_all_optional() -> None:
    demands = [*DEMANDS[:2], demand("O2", "net", required=False)]
    assert issues_of(demands=demands) == [
        "$.opportunities[1].id: has demands but none of them is required (got 'O2')"
    ]


def test_opportunity_without_demands_and_without_a_template_for_its_stage() -> None:
    templates = [{"stage": "proposal", "roles": [{"skill": "net", "hours": 4}]}]
    opportunities = [*OPPORTUNITIES, opportunity("O3", stage="closing")]
    assert issues_of(opportunities=opportunities, stage_templates=templates) == [
        "$.opportunities[2].stage: no stage template and no demands for this stage (got 'closing')"
    ]


def test_opportunity_without_demands_is_fine_when_no_templates_exist() -> None:
    portfolio = make_portfolio(ENGINEERS, [*OPPORTUNITIES, opportunity("O3")], DEMANDS)
    assert portfolio.demands_of()["O3"] == []


def test_stage_template_without_roles_needs_nobody() -> None:
    portfolio = make_portfolio(
        ENGINEERS,
        [*OPPORTUNITIES, opportunity("O3", stage="won")],
        DEMANDS,
        stage_templates=[{"stage": "won"}],
    )
    assert portfolio.demands_of()["O3"] == []


# --------------------------------------------------------------------------------------------
# Demands derived from stage templates

TEMPLATES = [
    {
        "stage": "design",
        "roles": [
            {"skill": "arch", "hours": 16, "weeks": 5, "min_proficiency": 4},
            {"skill": "net", "hours": 8, "weeks": 2},
            {"skill": "arch", "hours": 4, "required": False},
        ],
    },
    {"stage": "proposal", "roles": [{"skill": "net", "hours": 12}]},
]


def derived_portfolio() -> Portfolio:
    return make_portfolio(
        ENGINEERS,
        [
            opportunity("O1", stage="design"),
            opportunity("O2", stage="design"),
            opportunity("O3", stage="proposal"),
        ],
        [demand("O1", "net", id="O1-net")],
        stage_templates=TEMPLATES,
        horizon_weeks=3,
    )


def test_demands_are_derived_from_stage_templates() -> None:
    portfolio = derived_portfolio()
    rows = [
        (d.id, d.skill, d.min_proficiency, d.hours, d.start_week, d.end_week, d.required)
        for d in portfolio.demands
    ]
    assert rows == [
        ("O1-net", "net", 3, 8.0, 1, None, True),  # Explicit: O1 gets no template roles.
        ("O2/arch", "arch", 4, 16.0, 1, 3, True),  # Five weeks, cut at the 3-week horizon.
        ("O2/net", "net", 3, 8.0, 1, 2, True),
        ("O2/arch-2", "arch", 3, 4.0, 1, 1, False),  # The repeated skill.
        ("O3/net", "net", 3, 12.0, 1, 1, True),
    ]


def test_derived_demands_record_their_template_stage() -> None:
    stages = {d.id: d.template_stage for d in derived_portfolio().demands}
    assert stages == {
        "O1-net": "",
        "O2/arch": "design",
        "O2/net": "design",
        "O2/arch-2": "design",
        "O3/net": "proposal",
    }


def test_template_derivation_strips_the_stage_and_reads_a_textual_horizon() -> None:
    portfolio = make_portfolio(
        ENGINEERS,
        [opportunity("O1", stage=" design ")],
        [],
        stage_templates=TEMPLATES,
        horizon_weeks="2",
    )
    assert [(d.id, d.end_week) for d in portfolio.demands] == [
        ("O1/arch", 2),
        ("O1/net", 2),
        ("O1/arch-2", 1),
    ]


def test_skill_catalogue_is_derived_from_engineers_and_templates() -> None:
    templates = [{"stage": "s1", "roles": [{"skill": "ai", "hours": 2}]}]
    portfolio = make_portfolio(
        ENGINEERS, [opportunity("O1", stage="s1")], [], stage_templates=templates
    )
    assert [s.id for s in portfolio.skills] == ["arch", "net", "ai"]
    assert [d.id for d in portfolio.demands] == ["O1/ai"]


def test_given_skill_catalogue_is_kept() -> None:
    skills = [{"id": "net", "name": "Network"}, {"id": "arch"}, {"id": "cloud"}]
    portfolio = make_portfolio(ENGINEERS, OPPORTUNITIES, DEMANDS, skills=skills)
    assert [(s.id, s.name) for s in portfolio.skills] == [
        ("net", "Network"),
        ("arch", ""),
        ("cloud", ""),
    ]


def test_stored_document_with_derived_demands_builds_the_same_portfolio() -> None:
    portfolio = derived_portfolio()
    again = build_portfolio(portfolio.model_dump())
    assert again == portfolio


# --------------------------------------------------------------------------------------------
# JSON locations


def test_json_location_format() -> None:
    assert json_location(()) == "$"
    assert json_location(("demands", 0)) == "$.demands[0]"
    assert json_location(("stage_templates", 1, "roles", 2)) == "$.stage_templates[1].roles[2]"


def test_json_location_of_an_error_in_a_document() -> None:
    data = {
        "skills": [{"id": "arch"}],
        "opportunities": [opportunity("O1")],
        "demands": [demand("O1", "arch", hours=-3)],
    }
    with pytest.raises(InvalidInputError) as caught:
        build_portfolio(data)
    assert str(caught.value) == "$.demands[0].hours: must be >= 0 (got -3)"
    issue = caught.value.issues[0]
    assert (issue.where, issue.field, issue.message, issue.value, issue.loc) == (
        "$.demands[0]",
        "hours",
        "must be >= 0",
        -3,
        ("demands", 0),
    )


def test_locate_rewords_every_issue() -> None:
    data = {"engineers": [engineer("E1", {"a": 1}), engineer("E1", {"a": 1})]}
    with pytest.raises(InvalidInputError) as caught:
        build_portfolio(data, lambda loc: f"{loc[0]}.csv row {int(loc[1]) + 2}")
    assert str(caught.value) == "engineers.csv row 3, column id: duplicate id (got 'E1')"


@pytest.mark.parametrize(
    ("loc", "record", "field"),
    [
        (("engineers", 0, "skills", "arch"), ("engineers", 0), "skills[arch]"),
        (("engineers", 0, "time_off", "x", "[key]"), ("engineers", 0), "time_off[x]"),
        (("stage_templates", 1, "roles", 2, "hours"), ("stage_templates", 1, "roles", 2), "hours"),
        (("policy", "tier_factors", "A"), ("policy",), "tier_factors[A]"),
        (("horizon_weeks",), (), "horizon_weeks"),
    ],
)
def test_split_location(
    loc: tuple[str | int, ...], record: tuple[str | int, ...], field: str
) -> None:
    assert split_location(loc) == (record, field)


def test_every_issue_is_reported_at_once() -> None:
    lines = issues_of(
        engineers=[*ENGINEERS, engineer("E1", {"net": 1})],
        demands=[*DEMANDS, demand("O2", "cloud"), demand("O7", "net")],
        pins=[{"engineer_id": "E5", "opportunity_id": "O1"}],
    )
    assert lines == [
        "$.engineers[2].id: duplicate id (got 'E1')",
        "$.demands[3].skill: unknown skill (got 'cloud')",
        "$.demands[4].opportunity_id: unknown opportunity (got 'O7')",
        "$.pins[0].engineer_id: unknown engineer (got 'E5')",
    ]
