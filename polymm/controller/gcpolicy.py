"""How the service uses Python's cyclic garbage collector, so that a tick's cost stays flat.

A tick allocates thousands of short-lived containers (parsed replies, books, evaluations); with
the default thresholds (700, 10, 10) that triggers a full (generation-2) collection every few
ticks, and a full collection walks every tracked object of the process — the reward universe,
the ledger's caches, every imported module — so its pause grows with the heap, not with the
tick (issue 15 measured 42.8 ms median pauses setting the pure tick's p95 at 100 markets).

Measured with bench/bench_tick.py (100 markets, 400 ticks, `--gc default` against the policy) and
chosen: after start-up and after every full scan, the surviving heap is collected once and frozen
(`gc.freeze()`): those objects are never walked again, so later collections cost what the tick
allocated, not what the process holds (gen-2 median pause 96 ms → 8 ms on the busy 2-core
machine; GC time per tick 19 ms → 7 ms). Objects of an older universe are still freed by
reference counting when the next scan replaces them (they hold no cycles). Raising the gen-0
threshold (2,000 or 10,000 instead of 700) was measured too and rejected: fewer but longer
young collections, more GC time in total. Nothing is disabled: cycles are still collected.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field


def settle_heap() -> float:
    """Collect once, then freeze what survived (start-up, or the universe a full scan just built).
    Returns the seconds it took."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


@dataclass
class GcMonitor:
    """Counts collections per generation and times their pauses (gc.callbacks), for benchmarks and logs."""

    pauses_ms: dict[int, list[float]] = field(default_factory=lambda: {0: [], 1: [], 2: []})
    _started: float = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses_ms[info["generation"]].append((time.perf_counter() - self._started) * 1000)

    def __enter__(self) -> "GcMonitor":
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def summary(self) -> str:
        parts = []
        for gen, pauses in self.pauses_ms.items():
            if pauses:
                ordered = sorted(pauses)
                parts.append(f"gen{gen} {len(pauses)}× median {ordered[len(ordered) // 2]:.2f} ms max {ordered[-1]:.1f} ms")
            else:
                parts.append(f"gen{gen} 0×")
        return ", ".join(parts)
