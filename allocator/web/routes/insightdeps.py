"""The insight service for a request: imports and reports over the run service's store, and
the feeder a run asking to apply the recorded actuals carries."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends

from allocator.insight.feedback import FedPortfolio, feed_actuals
from allocator.model import Portfolio
from allocator.service.insight import InsightService
from allocator.service.runs import Feeder
from allocator.store.insight import InsightRepository
from allocator.store.repository import Store
from allocator.web.routes.deps import ServiceDep


def get_insight(service: ServiceDep) -> InsightService:
    return InsightService(service, InsightRepository(cast(Store, service.store)))


InsightDep = Annotated[InsightService, Depends(get_insight)]


def recorded_actuals(insight: InsightService, portfolio_id: int | None) -> Feeder:
    """The feeder of a run of the stored portfolio `portfolio_id` that applies the recorded
    actuals (`apply_actuals`): its finished runs' plans and the actuals stored for it, through
    `feed_actuals` (overruns count as committed, hours spent keep people on their work).
    The run service refuses a run with a feeder and no stored portfolio before calling it."""

    def feed(portfolio: Portfolio, week: str) -> FedPortfolio:
        if portfolio_id is None:
            raise ValueError("a run applying actuals needs a stored portfolio")
        history = insight.history(portfolio_id)
        return feed_actuals(portfolio, history.runs, history.actuals, week)

    return feed
