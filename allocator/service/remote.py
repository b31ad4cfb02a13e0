"""Jobs' handlers as Ray tasks: with `ALLOCATOR_RAY_ADDRESS` set, a worker that has claimed a job
runs its kind's pure handler on the Ray cluster instead of in its own process.

Everything else stays with the worker (`jobs.execute`): the claim and its lease, the heartbeat
and progress writes, the fencing of every write by the lease number, the finished record.
Between the worker and its task, one small actor per job (`Channel`) carries the handler's
latest progress to the worker and a stop (a cancel, or a lost lease) to the task, whose handler
sees it as its usual stop event: a cancelled run returns the best allocation so far, as it does
locally. The worker is the task's Ray driver: when the worker dies (with its server), Ray ends
the task and the actor, and its lease sends the job back to the queue as before.

A scenario set's sweep fans its solves out as Ray tasks of its own (executor `ray`, inside the
task), instead of a process pool. The task lowers its Ray worker process's priority to
`ALLOCATOR_WORKER_NICENESS` first, so that the HTTP servers on a node keep their CPU; the memory
cap of a local worker (`ALLOCATOR_WORKER_MEMORY_MB`) is Ray's to enforce here (its memory monitor).
Ray (the `ray` extra) must be installed on the workers and on every node.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from allocator.errors import InputIssue, InvalidInputError
from allocator.service.jobs import JobKind, lower_priority, spec_of

POLL_SECONDS = 0.2
"""How often the worker looks at the task (done? progress?) and the task at the stop flag."""


class Channel:
    """A job's Ray actor between its worker and its task: the latest progress one way, the
    stop flag the other."""

    def __init__(self) -> None:
        self.latest: Any = None
        self.stopping = False

    def note(self, progress: Any) -> None:
        self.latest = progress

    def take(self) -> Any:
        """The progress noted since the last take, or None."""
        latest, self.latest = self.latest, None
        return latest

    def stop(self) -> None:
        self.stopping = True

    def stopped(self) -> bool:
        return self.stopping


def handle_remotely(kind: str, inputs: Any, channel: Any, niceness: int) -> Any:
    """The Ray task: the kind's handler on `inputs`, its progress noted on `channel`, stopped
    when the channel says so."""
    import ray

    lower_priority(niceness)
    stop = threading.Event()

    def listen() -> None:
        while not stop.wait(POLL_SECONDS):
            if ray.get(channel.stopped.remote()):
                stop.set()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        return spec_of(JobKind(kind)).handler(inputs, channel.note.remote, stop)
    finally:
        stop.set()


class RayRunner:
    """Runs handlers as Ray tasks on the cluster at `address` (joined once per worker process;
    `local` starts a Ray instance of the worker's own)."""

    def __init__(self, address: str, niceness: int) -> None:
        try:
            import ray
        except ImportError:
            issue = InputIssue(
                "ALLOCATOR_RAY_ADDRESS",
                address,
                "Ray is not installed; pip install 'allocator[ray]'",
            )
            raise InvalidInputError([issue]) from None
        self.ray: Any = ray
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        self.niceness = niceness
        self.task: Any = ray.remote(num_cpus=1, max_retries=0)(handle_remotely)
        self.channel: Any = ray.remote(num_cpus=0)(Channel)

    def run(
        self,
        kind: JobKind,
        inputs: Any,
        on_progress: Callable[[Any], None],
        stop: threading.Event,
    ) -> Any:
        """The handler's outcome, computed by a Ray task; its progress passed to
        `on_progress` here; `stop` passed on to it. The handler's own error is raised as is."""
        ray = self.ray
        channel: Any = self.channel.remote()
        result = self.task.remote(kind.value, inputs, channel, self.niceness)
        told = done = False
        try:
            while not done:
                done = bool(ray.wait([result], timeout=POLL_SECONDS)[0])
                latest = ray.get(channel.take.remote())
                if latest is not None:
                    on_progress(latest)
                if stop.is_set() and not told:
                    channel.stop.remote()
                    told = True
            try:
                return ray.get(result)
            except ray.exceptions.RayTaskError as failure:
                cause = getattr(failure, "cause", None)
                raise (cause if isinstance(cause, Exception) else failure) from None
        finally:
            if not done:  # This worker is being torn down: the task goes with it.
                ray.cancel(result, force=True)
            ray.kill(channel)


_runner: RayRunner | None = None


def ray_runner(address: str, niceness: int) -> RayRunner:
    """This process's runner (one Ray connection per worker process)."""
    global _runner
    if _runner is None or not _runner.ray.is_initialized():
        _runner = RayRunner(address, niceness)
    return _runner
