"""/healthz: the server answers and its database too."""

from __future__ import annotations

from fastapi import APIRouter

from allocator import __version__
from allocator.web.routes.deps import ServiceDep
from allocator.web.routes.models import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Health check")
def health(service: ServiceDep) -> HealthOut:
    """No key needed. Reads the queue, so a database that does not answer fails the check."""
    queued = len(service.store.queued_time_limits())
    return HealthOut(
        status="ok", version=__version__, queued=queued, workers=service.settings.workers
    )
