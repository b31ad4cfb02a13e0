"""A run's progress as a curve: best objective and proven bound against seconds of search,
drawn as inline SVG (`run_progress.html`), redrawn each time htmx polls the run's progress.

The points are the trail the run's worker recorded with its progress (`JobProgress.trail`);
both lines are steps (a value holds until the next one), extended to the latest second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 560, 220
LEFT, RIGHT, TOP, BOTTOM = 84, 12, 12, 40
Point = tuple[float, float | None, float | None]


@dataclass(frozen=True)
class Curve:
    """What the template draws: the two step lines (SVG `points`), ticks and a summary."""

    objective: str
    bound: str
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    summary: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def _steps(points: list[tuple[float, float]], until: float) -> list[tuple[float, float]]:
    """A step line through `points` (time, value), held to `until`."""
    drawn: list[tuple[float, float]] = []
    for t, value in points:
        if drawn:
            drawn.append((t, drawn[-1][1]))
        drawn.append((t, value))
    if drawn and until > drawn[-1][0]:
        drawn.append((until, drawn[-1][1]))
    return drawn


def _label(value: float) -> str:
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:,.2f} M"
    if size >= 1e4:
        return f"{value / 1e3:,.1f} k"
    return f"{value:,.1f}"


def progress_curve(trail: Sequence[Point], seconds: float | None) -> Curve | None:
    """The curve of `trail` up to `seconds` (the latest progress); None with no points."""
    objective = [(t, o) for t, o, _ in trail if o is not None]
    bound = [(t, b) for t, _, b in trail if b is not None]
    if not objective and not bound:
        return None
    until = max([seconds or 0.0, *(t for t, _, _ in trail)])
    lines = [_steps(objective, until), _steps(bound, until)]
    values = [v for line in lines for _, v in line]
    low, high = min(values), max(values)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    span = max(until, 1e-3)
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return round(LEFT + width * t / span, 1)

    def y(v: float) -> float:
        return round(TOP + height * (high - v) / (high - low), 1)

    def points(line: list[tuple[float, float]]) -> str:
        return " ".join(f"{x(t)},{y(v)}" for t, v in line)

    x_ticks = [(x(span * i / 4), f"{span * i / 4:.1f}") for i in range(5)]
    y_ticks = [
        (y(low + (high - low) * i / 4), _label(low + (high - low) * i / 4)) for i in range(5)
    ]
    words = []
    if objective:
        words.append(
            f"best objective {_label(objective[0][1])} at {objective[0][0]:.1f} s, "
            f"{_label(objective[-1][1])} at {objective[-1][0]:.1f} s"
        )
    if bound:
        words.append(
            f"bound {_label(bound[0][1])} at {bound[0][0]:.1f} s, "
            f"{_label(bound[-1][1])} at {bound[-1][0]:.1f} s"
        )
    summary = "; ".join(words) + f" ({len(trail)} points over {until:.1f} s)"
    return Curve(points(lines[0]), points(lines[1]), x_ticks, y_ticks, summary)
