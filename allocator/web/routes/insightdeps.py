"""The insight service for a request: imports and reports over the run service's store."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends

from allocator.service.insight import InsightService
from allocator.store.insight import InsightRepository
from allocator.store.repository import Store
from allocator.web.routes.deps import ServiceDep


def get_insight(service: ServiceDep) -> InsightService:
    return InsightService(service, InsightRepository(cast(Store, service.store)))


InsightDep = Annotated[InsightService, Depends(get_insight)]
