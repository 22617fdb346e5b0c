"""The report of chaos runs: each run's counts (`ChaosResult`) and RELIABILITY.md's figures line over runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from .truth import Audit


@dataclass
class ChaosResult:
    seed: int
    kills: int = 0
    ticks: int = 0
    takes: int = 0
    fills: int = 0
    faults: dict = field(default_factory=dict)
    audit: Audit = field(default_factory=Audit)
    recovery_ticks: list[int] = field(default_factory=list)
    not_recovered_before_kill: int = 0
    restarted_at_kill: int | None = None  # the matching-engine restart (POST /_sim/restart) began after this kill
    resolved: str | None = None  # the market resolved mid-run (POST /_sim/market)
    resolved_at_kill: int | None = None
    final_recovery_ticks: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        a = self.audit
        bad = []
        for name, value in (("duplicates", a.duplicates), ("orphans_after_K", a.orphans),
                            ("exposure_breaches", a.exposure_breaches), ("unhedged_beyond_K", a.unhedged),
                            ("fills_double_counted", a.fills_double_counted + len(a.position_mismatches)),
                            ("fills_missing", a.fills_missing), ("self_trades", a.self_trades)):
            if value:
                bad.append(f"{name}={value}")
        return bad + self.errors


def _percentile(values: list[int], q: float) -> int:
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def figures_line(runs: list[ChaosResult], cap: Decimal) -> str:
    rec = [t for r in runs for t in r.recovery_ticks]
    faults: Counter = Counter()
    for r in runs:
        faults.update(r.faults)
    a = [r.audit for r in runs]
    return (f"runs={len(runs)} ticks={sum(r.ticks for r in runs)} kills={sum(r.kills for r in runs)} "
            f"faults={{{', '.join(f'{k}:{v}' for k, v in sorted(faults.items()))}}} "
            f"duplicates={sum(x.duplicates for x in a)} orphans_after_K={sum(x.orphans for x in a)} "
            f"exposure_breaches={sum(x.exposure_breaches for x in a)} "
            f"max_exposure/cap={max((x.max_exposure_ratio for x in a), default=0):.3f} (cap ${cap}/market) "
            f"unhedged_beyond_K={sum(x.unhedged for x in a)} "
            f"fills_double_counted={sum(x.fills_double_counted + len(x.position_mismatches) for x in a)} "
            f"recovery_ticks{{p50={_percentile(rec, 0.5)},p99={_percentile(rec, 0.99)},max={max(rec, default=0)}}} "
            f"self_trades={sum(x.self_trades for x in a)} fills_missing={sum(x.fills_missing for x in a)}")


def storm_line(result: ChaosResult, storm_seconds: float, storm_rate: float, elapsed_s: float) -> str:
    """One storm run in a line: its length, rate, ticks, takes and fills, and the wall time it took."""
    return (f"seed {result.seed}: storm of {storm_seconds:.0f} simulated s at {storm_rate:.0%}, "
            f"{result.ticks} ticks, {result.takes} takes, {result.fills} fills, {elapsed_s:.1f} s")


def chaos_line(result: ChaosResult, elapsed_s: float) -> str:
    """One kill -9 run in a line: kills, ticks, takes, fills, what was left at the end, the venue events."""
    a = result.audit
    return (f"seed {result.seed}: {result.kills} kills, {result.ticks} ticks, {result.takes} takes, "
            f"{result.fills} fills, "
            f"{a.live_orders} live orders at the end, positions {len([p for p in a.positions.values() if p > 0])} "
            f"({a.unsellable} in a resolved market), engine restart after kill {result.restarted_at_kill}, "
            f"market {str(result.resolved)[:12]}… resolved after kill {result.resolved_at_kill}, "
            f"{elapsed_s:.1f} s")


def detail_lines(audit: Audit) -> list[str]:
    """The first few of each kind of finding, indented under the run's line."""
    a = audit
    return ["  " + line for line in (a.duplicate_slots[:5] + a.breaches[:5] + a.orphan_ids[:5]
                                     + a.unhedged_tokens[:5] + a.position_mismatches[:5])]
