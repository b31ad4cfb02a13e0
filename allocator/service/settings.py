"""The service's settings, read from `ALLOCATOR_*` environment variables.

Owns the names, defaults and bounds of every knob of the service (database, worker pool,
limits); nothing else reads the environment. Imports nothing from the package.

>>> Settings(database_url="sqlite:///tmp/a.db").max_time_limit
300.0
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./var/allocator.db"


class Settings(BaseSettings):
    """Every setting of the service; environment variable = `ALLOCATOR_` + upper-case name."""

    model_config = SettingsConfigDict(env_prefix="ALLOCATOR_", extra="ignore", frozen=True)

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the run store: an SQLite file (default) or PostgreSQL "
        "(`postgresql+psycopg://user:password@host/db`).",
    )
    workers: int = Field(
        2,
        ge=0,
        le=64,
        description="Solver worker processes. 0 accepts runs without solving them here.",
    )
    solver_threads: int = Field(1, ge=1, le=64, description="CP-SAT threads of each solve.")
    worker_niceness: int = Field(
        19,
        ge=0,
        le=19,
        description="Scheduling niceness of the worker processes: solves take the CPU the "
        "API does not need, so reads stay fast while CP-SAT runs.",
    )
    queue_size: int = Field(
        50, ge=1, description="Runs waiting at most; one more is answered 429 with Retry-After."
    )
    default_time_limit: float = Field(10.0, gt=0, description="Seconds of search when not given.")
    max_time_limit: float = Field(300.0, gt=0, description="Cap on a run's time limit, seconds.")
    max_attempts: int = Field(
        3,
        ge=1,
        description="A job whose worker process died this many times (while its server lived) "
        "fails.",
    )
    max_interruptions: int = Field(
        10,
        ge=1,
        description="A job queued again this many times because the server or machine holding "
        "it died (not counted as attempts) fails.",
    )
    lease_seconds: float = Field(
        30.0,
        ge=2,
        le=3600,
        description="How long a claimed job stays its worker's without a heartbeat (renewed "
        "five times as often); a job whose lease runs out is queued again for any worker.",
    )
    max_body_bytes: int = Field(20_000_000, ge=1_000, description="Largest request body, bytes.")
    max_engineers: int = Field(5_000, ge=1, description="Most engineers in one portfolio.")
    max_opportunities: int = Field(20_000, ge=1, description="Most opportunities in one portfolio.")
    poll_seconds: float = Field(
        0.2, gt=0, le=5, description="How often a worker looks for work and for a cancel."
    )
    key_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a checked API key is trusted without a lookup; a revoked key "
        "stops working within this time. 0 looks every key up.",
    )
    progress_seconds: float = Field(
        0.5, gt=0, description="Least interval between two progress writes of a run."
    )
