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
    checkpoint_path: str = Field(
        "./var/audit-checkpoints.jsonl",
        description="The file `allocator audit checkpoint` appends the audit chain's head to, "
        "and verify checks the chain against; keep it out of reach of whoever can write the "
        "database.",
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
    max_demands: int = Field(
        100_000, ge=1, description="Most demands in one portfolio, after stage templates."
    )
    max_candidate_pairs: int = Field(
        20_000_000,
        ge=1,
        description="Most candidate (engineer, demand) pairs, estimated per skill and level as "
        "demands x engineers able to serve them, before anything is compiled.",
    )
    max_memory_mb: int = Field(
        8_000,
        ge=1,
        description="Most estimated memory of one solve, MiB (a linear model of pairs, demands "
        "and engineer-weeks; `allocator.core.limits`).",
    )
    worker_memory_mb: int = Field(
        12_000,
        ge=0,
        description="Address-space cap of each worker process, MiB (RLIMIT_AS, where the "
        "platform has it); a job that needs more fails with a message instead of taking the "
        "machine down. 0: no cap.",
    )
    ray_address: str | None = Field(
        None,
        description="A Ray cluster (`ray://head:10001`, `head:6379`, `auto`; `local` starts one "
        "per worker process) on which workers run the jobs they claim, as Ray tasks; leases, "
        "progress, cancel and results stay with the worker. Unset: in the worker process.",
    )
    max_jobs_per_key: int = Field(
        10,
        ge=1,
        description="Jobs (runs, scenario sets, explanations) one key may have queued or "
        "running at once; one more is answered 429.",
    )
    max_upload_bytes_per_key: int = Field(
        500_000_000,
        ge=1,
        description="Bytes of portfolios (canonical JSON) one key may store in all; the "
        "ledger never deletes, so an upload past it is answered 413.",
    )
    max_json_depth: int = Field(
        32, ge=4, le=1_000, description="Deepest nesting of a JSON body or file."
    )
    max_xlsx_cells: int = Field(
        5_000_000,
        ge=1,
        description="Most cells of one uploaded workbook (its sheets' used ranges, as read).",
    )
    max_xlsx_bytes: int = Field(
        200_000_000,
        ge=1,
        description="Most uncompressed bytes of one uploaded workbook; a larger one (a "
        "compression bomb) is refused before it is read.",
    )
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
