"""A run's progress curve: the trail the job's watcher records (objective and bound as they
changed, thinned beyond its cap) and the step lines drawn from it."""

from __future__ import annotations

from itertools import pairwise

from allocator.service.jobs import TRAIL_POINTS, JobProgress, _Watch
from allocator.web.pages.curve import HEIGHT, LEFT, RIGHT, TOP, WIDTH, progress_curve


def test_the_watch_keeps_the_changes_of_objective_and_bound_with_the_latest_progress() -> None:
    watch = _Watch()
    watch.note(JobProgress(done=1, total=3))  # A progress without a figure: no point.
    assert watch.latest is not None and watch.latest.trail is None
    for seconds, objective, bound in ((0.5, 10.0, None), (0.7, 10.0, None), (1.0, 40.0, 90.0)):
        watch.note(JobProgress(best_objective=objective, best_bound=bound, seconds=seconds))
    assert watch.latest is not None
    assert watch.latest.trail == [(0.5, 10.0, None), (1.0, 40.0, 90.0)]  # 0.7 changed nothing.
    assert watch.latest.seconds == 1.0


def test_a_long_trail_is_thinned_evenly_and_keeps_its_ends() -> None:
    watch = _Watch()
    for step in range(1, 1001):
        watch.note(JobProgress(best_objective=float(step), seconds=step / 10))
    trail = watch.trail
    assert len(trail) <= TRAIL_POINTS
    assert trail[0] == (0.1, 1.0, None) and trail[-1] == (100.0, 1000.0, None)
    assert [t for t, _, _ in trail] == sorted(t for t, _, _ in trail)
    gaps = [b[0] - a[0] for a, b in pairwise(trail)]
    assert max(gaps) <= 4 * min(gaps) + 0.2  # Even, not all bunched at the end.


def test_the_curve_draws_steps_held_to_the_latest_second() -> None:
    curve = progress_curve([(1.0, 10.0, 100.0), (2.0, 50.0, 80.0), (3.0, 60.0, None)], 4.0)
    assert curve is not None
    objective = [tuple(map(float, p.split(","))) for p in curve.objective.split()]
    # (1,10) (2,10) (2,50) (3,50) (3,60) held to (4,60): a step line, 6 points.
    assert len(objective) == 6
    assert objective[0][0] == LEFT + (WIDTH - LEFT - RIGHT) * 1 / 4
    assert objective[-1][0] == WIDTH - RIGHT  # Held to 4 s, the right edge.
    assert objective[1][1] == objective[0][1] and objective[2][1] < objective[1][1]  # Up.
    bound = curve.bound.split()
    assert len(bound) == 4  # (1,100) (2,100) (2,80) held to (4,80).
    highest = min(float(p.split(",")[1]) for p in bound)  # SVG y grows downwards.
    assert TOP <= highest < HEIGHT
    assert "best objective 10.0 at 1.0 s, 60.0 at 3.0 s" in curve.summary
    assert "bound 100.0 at 1.0 s, 80.0 at 2.0 s" in curve.summary
    assert [label for _, label in curve.x_ticks] == ["0.0", "1.0", "2.0", "3.0", "4.0"]


def test_no_points_no_curve_and_a_flat_one_still_draws() -> None:
    assert progress_curve([], 3.0) is None
    flat = progress_curve([(0.2, 5.0, 5.0)], None)
    assert flat is not None and flat.objective and flat.bound
