"""What a portfolio or a job must pass before the service accepts it: the size limits, the
compiler's objective check, and each key's quotas of queued work and stored uploads.

Every check here runs at acceptance (an upload, a run, a scenario set, an explanation), so that
nothing is queued that can fail on its input or take a worker's memory. The limits are the
settings' (`ALLOCATOR_MAX_*`); `allocator.core.limits` estimates and words them.

Imports the domain, `core.limits`, `jobs` (the queue's records and errors) and `settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from allocator.core.limits import Limits, Size, check_size, raw_demands, size_issues
from allocator.errors import AllocatorError, InvalidInputError
from allocator.model import Portfolio
from allocator.service.jobs import JobFilter, JobKind, JobStatus, JobStore, key_busy
from allocator.service.settings import Settings


class QuotaExceededError(AllocatorError):
    """The key has stored as much as the server lets one key store (HTTP 413)."""


class UploadStore(Protocol):
    def uploaded_bytes(self, actor: str) -> int: ...


def limits_of(settings: Settings) -> Limits:
    """The size limits the settings name."""
    return Limits(
        engineers=settings.max_engineers,
        opportunities=settings.max_opportunities,
        demands=settings.max_demands,
        candidate_pairs=settings.max_candidate_pairs,
        memory_mb=settings.max_memory_mb,
    )


def check_portfolio(portfolio: Portfolio, settings: Settings, where: str) -> None:
    """InvalidInputError naming each limit the portfolio passes, with its figure, and an
    objective too large to count exactly."""
    check_size(portfolio, limits_of(settings), where)


def check_raw_portfolio(data: Mapping[str, Any], settings: Settings, where: str) -> None:
    """InvalidInputError when a raw document would derive more demands from its stage
    templates than the limit, found before they are made (a 12-role template on 20,000
    opportunities makes 240,000)."""
    count = raw_demands(data)
    if count > settings.max_demands:
        size = Size(0, 0, count, 0, 0)
        raise InvalidInputError(size_issues(size, Limits(demands=settings.max_demands), where))


def check_active_jobs(store: JobStore, submitted_by: str, settings: Settings) -> None:
    """QueueFullError (429) when the key already has `max_jobs_per_key` jobs of any kind
    queued or running: an early answer before a submission's work. The binding check is
    `JobService.submit`'s, in the transaction that inserts the job."""
    limits: list[float] = []
    for kind in JobKind:
        for status in (JobStatus.QUEUED, JobStatus.RUNNING):
            where = JobFilter(kind, status, submitted_by=submitted_by)
            jobs, total = store.list_jobs(where, settings.max_jobs_per_key, 0)
            limits += [job.time_limit for job in jobs] + [10.0] * (total - len(jobs))
    refused = key_busy(submitted_by, limits, settings.max_jobs_per_key)
    if refused is not None:
        raise refused


def check_upload_quota(store: UploadStore, actor: str, size: int, settings: Settings) -> None:
    """QuotaExceededError (413) when storing `size` more bytes of portfolio would take the
    key past `max_upload_bytes_per_key` (the ledger never deletes)."""
    stored = store.uploaded_bytes(actor)
    quota = settings.max_upload_bytes_per_key
    if stored + size > quota:
        raise QuotaExceededError(
            f"key {actor!r} has stored {stored} bytes of portfolios; {size} more would pass "
            f"its quota of {quota} (ALLOCATOR_MAX_UPLOAD_BYTES_PER_KEY)"
        )
