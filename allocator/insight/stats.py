"""The intervals every reported rate carries, with its sample size.

- Proportions (win rates): the **Wilson score interval** at 95 % (z = 1.959964), which stays
  inside [0, 1] and is honest for small n and for 0 or n successes.
- Means and ratios of sums (won value per presales hour, hours per won deal): the
  **percentile bootstrap** at 95 %: the units (opportunities) are resampled with replacement
  `RESAMPLES` times with a fixed seed, the statistic is recomputed on each resample (resamples
  where it is undefined, a zero denominator, are dropped), and the 2.5th and 97.5th
  percentiles are the interval. The seed makes a report repeat exactly.

A rate of n = 0 has no value and no interval (None), never 0.

>>> round(wilson(5, 10).low, 4), round(wilson(5, 10).high, 4)
(0.2366, 0.7634)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

Z95 = 1.959963984540054
"""The 97.5th percentile of the standard normal distribution."""
RESAMPLES = 2000
SEED = 0
WILSON = "Wilson score interval, 95 %"
BOOTSTRAP = f"percentile bootstrap over opportunities, 95 %, {RESAMPLES} resamples, seed {SEED}"


class Estimate(BaseModel):
    """A figure with its 95 % interval and the sample it rests on."""

    value: float | None = Field(description="The estimate; null when the sample is empty.")
    low: float | None = Field(description="Lower end of the 95 % interval; null without one.")
    high: float | None = Field(description="Upper end of the 95 % interval; null without one.")
    n: int = Field(description="Sample size: the units (opportunities) the figure rests on.")
    method: str = Field(description="How the interval is computed.")


def wilson(successes: int, trials: int, z: float = Z95) -> Estimate:
    """The proportion `successes / trials` with its Wilson score interval.

    >>> wilson(0, 0).value is None
    True
    """
    if trials <= 0:
        return Estimate(value=None, low=None, high=None, n=0, method=WILSON)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..{trials} (got {successes})")
    share = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (share + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(share * (1 - share) / trials + z2 / (4 * trials * trials))
    return Estimate(
        value=share,
        low=max(0.0, centre - half),
        high=min(1.0, centre + half),
        n=trials,
        method=WILSON,
    )


def ratio_of_sums(
    numerators: Sequence[float], denominators: Sequence[float], seed: int = SEED
) -> Estimate:
    """sum(numerators) / sum(denominators) over units, with a percentile bootstrap interval.

    A mean is the ratio with every denominator 1. Units with a zero denominator count in the
    sums (they add to the numerator only). No value when the denominators sum to 0.

    >>> ratio_of_sums([10.0, 0.0], [1.0, 1.0]).model_dump(exclude={"method"})
    {'value': 5.0, 'low': 0.0, 'high': 10.0, 'n': 2}
    """
    top = np.asarray(numerators, dtype=float)
    bottom = np.asarray(denominators, dtype=float)
    if top.shape != bottom.shape:
        raise ValueError("numerators and denominators must have the same length")
    n = int(top.size)
    total = float(bottom.sum())
    if n == 0 or total == 0:
        return Estimate(value=None, low=None, high=None, n=n, method=BOOTSTRAP)
    value = float(top.sum()) / total
    picks = np.random.default_rng(seed).integers(0, n, size=(RESAMPLES, n))
    sums_bottom = bottom[picks].sum(axis=1)
    defined = sums_bottom != 0
    if not defined.any():
        return Estimate(value=value, low=None, high=None, n=n, method=BOOTSTRAP)
    ratios = top[picks].sum(axis=1)[defined] / sums_bottom[defined]
    low, high = np.percentile(ratios, [2.5, 97.5])
    return Estimate(value=value, low=float(low), high=float(high), n=n, method=BOOTSTRAP)


def mean(values: Sequence[float], seed: int = SEED) -> Estimate:
    """The mean of `values` with its percentile bootstrap interval.

    >>> mean([3.0, 3.0, 3.0]).model_dump(exclude={"method"})
    {'value': 3.0, 'low': 3.0, 'high': 3.0, 'n': 3}
    """
    return ratio_of_sums(values, [1.0] * len(values), seed)
