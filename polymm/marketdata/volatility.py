"""Volatility per token: the coefficient of variation (std / mean) of a sliding window of midpoints.

30 samples taken 30 s apart cover about 15 minutes. A token with fewer than two samples has no
measurement (None): the safety rule then lets it pass and says so.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Iterable

DEFAULT_WINDOW = 30
SAMPLE_EVERY_S = 30.0


def coefficient_of_variation(samples: Iterable[float]) -> float | None:
    """Population std / mean of the samples; None with fewer than two samples or a zero mean."""
    values = list(samples)
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    if mean == 0:
        return None
    variance = sum((v - mean) ** 2 for v in values) / len(values)
    return math.sqrt(variance) / mean


class VolatilityTracker:
    """Midpoint windows per token, sampled at most once per `sample_every_s` (by the caller's clock)."""

    def __init__(self, window: int = DEFAULT_WINDOW, sample_every_s: float = SAMPLE_EVERY_S) -> None:
        self.window = window
        self.sample_every_s = sample_every_s
        self.samples: dict[str, deque[float]] = {}
        self.last_sample: dict[str, float] = {}

    def observe(self, token_id: str, midpoint: float | None, now: float) -> None:
        if midpoint is None or now - self.last_sample.get(token_id, -math.inf) < self.sample_every_s:
            return
        self.samples.setdefault(token_id, deque(maxlen=self.window)).append(float(midpoint))
        self.last_sample[token_id] = now

    def volatility(self, token_id: str) -> float | None:
        window = self.samples.get(token_id)
        return coefficient_of_variation(window) if window else None

    def all(self) -> dict[str, float]:
        return {t: v for t in self.samples if (v := self.volatility(t)) is not None}
