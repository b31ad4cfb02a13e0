"""/v1/reports: presales investment, calibration, contribution, staffing ratios from evidence,
and planned vs actual, over a stored portfolio's runs, actuals and outcomes; PNG plots.

A report is of a portfolio of the key's team (another team's is 404) and counts that team's
runs, actuals and outcomes only; auditors read every team's portfolios."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from allocator.insight.calibration import DIMENSIONS, CalibrationReport
from allocator.insight.contribution import ContributionReport
from allocator.insight.evidence import EvidenceReport
from allocator.insight.investment import GROUPINGS, InvestmentReport
from allocator.insight.records import PlannedActual
from allocator.web.routes.deps import Reader
from allocator.web.routes.insightdeps import InsightDep
from allocator.web.routes.models import MAX_ID
from allocator.web.routes.responses import errors

router = APIRouter(prefix="/v1/reports", tags=["reports"])

PortfolioQuery = Annotated[
    int,
    Query(ge=1, le=MAX_ID, description="The stored portfolio; its finished runs are the plan."),
]
Grouping = Annotated[str, Query(pattern="^(" + "|".join(GROUPINGS) + ")$", description="Grouping.")]
Dimension = Annotated[
    str, Query(pattern="^(" + "|".join(DIMENSIONS) + ")$", description="Dimension plotted.")
]
PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "The plot as PNG."}
}


@router.get("/investment", summary="Presales investment against outcomes", responses=errors(404))
def investment(
    insight: InsightDep, principal: Reader, portfolio_id: PortfolioQuery, by: Grouping = "stage"
) -> InvestmentReport:
    """Hours and cost, win rate with and without presales hours, won value per hour and
    hours per won deal, for the whole pipeline and per group, each rate with n and its 95 %
    interval."""
    return insight.investment(insight.history(portfolio_id, principal), by)


@router.get(
    "/investment.png",
    summary="Plot of the investment report",
    response_class=Response,
    responses={**errors(404), **PNG},
)
def investment_plot(
    insight: InsightDep, principal: Reader, portfolio_id: PortfolioQuery, by: Grouping = "stage"
) -> Response:
    from allocator.insight.plots import investment_png  # Matplotlib: only to draw.

    report = insight.investment(insight.history(portfolio_id, principal), by)
    shown = by if by not in ("all", "opportunity") else "stage"
    return Response(investment_png(report, shown), media_type="image/png")


@router.get(
    "/calibration", summary="Assumed against observed win probability", responses=errors(404)
)
def calibration(
    insight: InsightDep, principal: Reader, portfolio_id: PortfolioQuery
) -> CalibrationReport:
    """The reliability table per stage, industry, tier, region and probability bin."""
    return insight.calibration(insight.history(portfolio_id, principal))


@router.get(
    "/calibration.png",
    summary="Reliability plot",
    response_class=Response,
    responses={**errors(404), **PNG},
)
def calibration_plot(
    insight: InsightDep, principal: Reader, portfolio_id: PortfolioQuery, by: Dimension = "stage"
) -> Response:
    from allocator.insight.plots import reliability_png

    return Response(
        reliability_png(insight.calibration(insight.history(portfolio_id, principal)), by),
        media_type="image/png",
    )


@router.get("/contribution", summary="Contribution per engineer", responses=errors(404))
def contribution(
    insight: InsightDep,
    principal: Reader,
    portfolio_id: PortfolioQuery,
    engineer_id: Annotated[
        str | None, Query(max_length=200, description="Only this engineer.")
    ] = None,
) -> ContributionReport:
    """Hours by opportunity, value supported and won, planned against actual, utilization,
    and the method in words; no single score."""
    return insight.contribution(insight.history(portfolio_id, principal), engineer_id)


@router.get("/ratios", summary="Staffing ratios from evidence", responses=errors(404))
def ratios(insight: InsightDep, principal: Reader, portfolio_id: PortfolioQuery) -> EvidenceReport:
    """Presales:sales per region and industry, covered and won value per presales hour."""
    return insight.ratios(insight.history(portfolio_id, principal))


@router.get("/planned-vs-actual", summary="Planned against actual hours", responses=errors(404))
def planned_vs_actual(
    insight: InsightDep, principal: Reader, portfolio_id: PortfolioQuery
) -> list[PlannedActual]:
    """Per engineer, opportunity and ISO week: hours planned by the runs and hours reported
    (null when the engineer reported nothing that week)."""
    return insight.planned_vs_actual(insight.history(portfolio_id, principal))
