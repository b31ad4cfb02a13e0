"""Synthetic portfolios of any size with the structure of the bundled sample.

Five regions, six industries, twelve skills in four families, five sales stages with stage
templates, customer tiers, lognormal deal values, a pool of salespeople whose seniority is
recorded (and must not matter), and demand well above capacity so that choices matter.
Deterministic for a given seed. Pure: builds a `Portfolio`; writing files is `formats`' job.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from allocator.model import (
    Engineer,
    Opportunity,
    OpportunityType,
    Policy,
    Portfolio,
    Skill,
    StageTemplate,
    TemplateRole,
    Tier,
)

REGIONS = ("North", "East", "South", "West", "Central")
REGION_WEIGHTS = (0.18, 0.27, 0.2, 0.15, 0.2)
INDUSTRIES = ("power", "finance", "government", "telecom", "manufacturing", "healthcare")
SKILLS = {
    "solution_architect": "architecture",
    "enterprise_architect": "architecture",
    "presales_consultant": "commercial",
    "product_specialist": "commercial",
    "network": "infrastructure",
    "security": "infrastructure",
    "cloud": "infrastructure",
    "storage": "infrastructure",
    "erp": "applications",
    "data_analytics": "applications",
    "ai_ml": "applications",
    "iot": "applications",
}
PRIMARY_WEIGHTS = [w / 14.2 for w in (3.5, 0.7, 3.5, 2.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5)]
"""Share of engineers whose primary practice is each skill, in SKILLS order."""
TIERS: tuple[Tier, Tier, Tier] = ("A", "B", "C")
CUSTOMER_KINDS = ("Grid", "Bank", "Agency", "Telecom", "Works", "Health")
TECHNICAL = ("network", "security", "cloud", "storage", "erp", "data_analytics", "ai_ml", "iot")
STAGES = ("qualification", "discovery", "solution_design", "proposal", "negotiation")
STAGE_WEIGHTS = (0.2, 0.25, 0.25, 0.2, 0.1)
STAGE_WIN = {
    "qualification": 0.1,
    "discovery": 0.2,
    "solution_design": 0.35,
    "proposal": 0.5,
    "negotiation": 0.7,
}
# The standard roles per stage (skill, min level, hours/week, weeks, required).
STAGE_ROLES = {
    "qualification": [("presales_consultant", 2, 4, 1, True)],
    "discovery": [("presales_consultant", 3, 8, 1, True), ("solution_architect", 3, 4, 1, False)],
    "solution_design": [
        ("solution_architect", 3, 16, 2, True),
        ("product_specialist", 3, 8, 2, True),
    ],
    "proposal": [("presales_consultant", 3, 12, 1, True), ("solution_architect", 3, 8, 1, False)],
    "negotiation": [("presales_consultant", 3, 4, 1, True)],
}
TITLES = (
    "Associate",
    "Presales Engineer",
    "Senior Presales Engineer",
    "Principal",
    "Distinguished",
)
FIRST = (
    "Alex",
    "Bo",
    "Chen",
    "Dana",
    "Eli",
    "Fang",
    "Gus",
    "Hui",
    "Ivo",
    "Jun",
    "Kai",
    "Lena",
    "Mei",
    "Nils",
    "Ola",
    "Ping",
    "Quinn",
    "Rui",
    "Sara",
    "Tao",
    "Uma",
    "Vik",
    "Wen",
    "Yan",
)
LAST = (
    "Li",
    "Wang",
    "Berg",
    "Costa",
    "Dahl",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kim",
    "Lund",
    "Moreau",
    "Novak",
    "Okafor",
    "Park",
    "Rossi",
    "Sato",
    "Zhou",
)


def stage_templates() -> tuple[StageTemplate, ...]:
    """The five standard sales stages and the roles each needs."""
    return tuple(
        StageTemplate(
            stage=stage,
            roles=tuple(
                TemplateRole(skill=s, min_proficiency=m, hours=h, weeks=w, required=r)
                for s, m, h, w, r in roles
            ),
        )
        for stage, roles in STAGE_ROLES.items()
    )


def generate(
    engineers: int, opportunities: int, seed: int = 0, horizon_weeks: int = 2
) -> Portfolio:
    """A synthetic portfolio with `engineers` engineers and `opportunities` opportunities.

    >>> generate(5, 10, seed=1).horizon_weeks
    2
    """
    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 27, 18, 0)
    skills = tuple(
        Skill(id=s, name=s.replace("_", " ").title(), family=f) for s, f in SKILLS.items()
    )
    skill_ids = list(SKILLS)

    staff = []
    for i in range(engineers):
        years = float(np.round(rng.lognormal(np.log(7), 0.6), 1))
        # A primary practice, and usually one or two secondary skills at a lower level.
        primary = rng.choice(skill_ids, p=PRIMARY_WEIGHTS)
        levels = {str(primary): int(rng.choice([3, 4, 5], p=[0.4, 0.4, 0.2]))}
        for extra in rng.choice(
            skill_ids, size=int(rng.choice([0, 1, 2], p=[0.3, 0.5, 0.2])), replace=False
        ):
            if str(extra) not in levels:
                levels[str(extra)] = int(rng.choice([1, 2, 3, 4], p=[0.3, 0.35, 0.25, 0.1]))
        capacity = float(rng.choice([40, 40, 40, 32, 20]))
        time_off = {}
        if rng.random() < 0.15:
            week = int(rng.integers(1, horizon_weeks + 1))
            time_off[week] = float(min(capacity, 8 * int(rng.integers(1, 6))))
        staff.append(
            Engineer(
                id=f"ENG-{i + 1:04d}",
                name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                region=str(rng.choice(REGIONS, p=REGION_WEIGHTS)),
                skills=levels,
                industries=tuple(
                    str(x)
                    for x in rng.choice(INDUSTRIES, size=int(rng.integers(1, 3)), replace=False)
                ),
                capacity_hours=capacity,
                committed_hours=float(rng.choice([0, 4, 8, 12, 16], p=[0.3, 0.25, 0.2, 0.15, 0.1])),
                time_off=time_off,
                cost_rate=float(np.round(60 + 8 * years + rng.normal(0, 10), 0)),
                seniority_years=years,
                title=TITLES[min(len(TITLES) - 1, int(years // 4))],
            )
        )

    sellers = max(3, opportunities // 8)
    seller_years = np.round(rng.lognormal(np.log(8), 0.7, size=sellers), 1)
    seller_names = [
        f"{rng.choice(FIRST)} {rng.choice(LAST)} (S{k + 1:03d})" for k in range(sellers)
    ]
    opps = []
    demands = []
    for j in range(opportunities):
        stage = str(rng.choice(STAGES, p=STAGE_WEIGHTS))
        kind = OpportunityType(
            str(rng.choice([t.value for t in OpportunityType], p=[0.15, 0.45, 0.4]))
        )
        tier: Tier = TIERS[int(rng.choice(3, p=[0.15, 0.35, 0.5]))]
        scale = {"hq_solution": 2.5, "region_solution": 1.0, "standard_product": 0.4}[kind.value]
        value = float(np.round(rng.lognormal(np.log(250_000 * scale), 0.9), -3))
        win = float(np.clip(STAGE_WIN[stage] + rng.normal(0, 0.08), 0.05, 0.95).round(2))
        seller = int(rng.integers(sellers))
        opp_id = f"OPP-{j + 1:05d}"
        opps.append(
            Opportunity(
                id=opp_id,
                customer=f"{rng.choice(LAST)} {rng.choice(CUSTOMER_KINDS)} {j % 97 + 1}",
                tier=tier,
                industry=str(rng.choice(INDUSTRIES)),
                region=str(rng.choice(REGIONS, p=REGION_WEIGHTS)),
                stage=stage,
                value=value,
                win_probability=win,
                type=kind,
                requester=seller_names[seller],
                requester_seniority_years=float(seller_years[seller]),
                requested_at=start - timedelta(minutes=int(rng.integers(0, 7 * 24 * 60))),
            )
        )
        if kind is OpportunityType.STANDARD_PRODUCT:
            continue  # Demands come from the stage template.
        # Solution projects: the stage's roles plus a specialist in the project's technology.
        for skill, level, hours, weeks, required in STAGE_ROLES[stage]:
            demands.append(
                {
                    "opportunity_id": opp_id,
                    "skill": skill,
                    "min_proficiency": min(5, level + (tier == "A")),
                    "hours": float(hours),
                    "start_week": 1,
                    "end_week": min(weeks, horizon_weeks),
                    "required": required,
                }
            )
        if stage in ("discovery", "solution_design", "proposal"):
            tech = str(rng.choice(TECHNICAL))
            weeks = int(rng.integers(1, horizon_weeks + 1))
            first_week = int(rng.integers(1, horizon_weeks - weeks + 2))
            demands.append(
                {
                    "opportunity_id": opp_id,
                    "skill": tech,
                    "min_proficiency": int(rng.choice([2, 3, 4], p=[0.3, 0.5, 0.2])),
                    "hours": float(rng.choice([8, 12, 16])),
                    "start_week": first_week,
                    "end_week": first_week + weeks - 1,
                    "required": bool(rng.random() < 0.7),
                }
            )
            if kind is OpportunityType.HQ_SOLUTION:
                demands.append(
                    {
                        "opportunity_id": opp_id,
                        "skill": "enterprise_architect",
                        "min_proficiency": 3,
                        "hours": 8.0,
                        "start_week": 1,
                        "end_week": horizon_weeks,
                        "required": False,
                    }
                )
    return Portfolio.model_validate(
        {
            "name": f"generated-{engineers}x{opportunities}-seed{seed}",
            "horizon_weeks": horizon_weeks,
            "skills": skills,
            "engineers": staff,
            "opportunities": opps,
            "demands": demands,
            "stage_templates": stage_templates(),
            "policy": Policy(),
        }
    )


def _normalised(weights: list[float]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]
