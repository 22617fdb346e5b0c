"""A tick's health: ok, degraded or halted, and why — from what the tick saw and decided and the loop's state.

The loop journals it with every tick (`polymm status` shows it); the first problem found names the health, in the
order below: what is unknown at the venue, the heartbeat, orders of ours the ledger does not know, the controller's
own findings (positions unhedged too long, positions unlike the venue's), then the operator's switches.
"""

from __future__ import annotations

from typing import Protocol

from polymm.domain.unknown import known
from polymm.reconciler.tick import Decision


class HeartbeatHealth(Protocol):
    healthy: bool
    conflicted: bool
    last_error: str | None
    last_conflict: str | None
    conflict_window_s: float

    def recent_conflicts(self) -> int: ...


def tick_health(decision: Decision, heartbeat: HeartbeatHealth, *, unknown_own: int, problems: list[str],
                keep_hedges: bool, paused: bool, hedging: bool) -> tuple[str, str]:
    """(health, why); `problems` are the controller's (unhedged too long, positions unlike the venue's)."""
    obs = decision.observed
    unknown = [name for name in ("open_orders", "fills", "collateral") if not known(getattr(obs, name))]
    if not known(obs.open_orders):
        return "halted", f"open orders unknown: {obs.open_orders.reason}"
    if heartbeat.conflicted:
        return "degraded", (f"another client is heartbeating this account: the venue refused our heartbeat id "
                            f"{heartbeat.recent_conflicts()} time(s) in {heartbeat.conflict_window_s:.0f} s "
                            f"({heartbeat.last_conflict}); placing stopped")
    if not heartbeat.healthy:
        return "degraded", f"heartbeat not healthy: {heartbeat.last_error or 'starting'}"
    if unknown:
        return "degraded", "unknown: " + ", ".join(f"{n} ({getattr(obs, n).reason})" for n in unknown)
    if obs.fills_unknown_markets:
        cause = next((p for p in obs.problems if p.startswith("fills unknown")), "a trade row did not parse")
        return "degraded", f"fills unknown in {len(obs.fills_unknown_markets)} market(s), held: {cause}"
    if not known(obs.reward_markets):
        return "degraded", f"market data unknown: {obs.reward_markets.reason}"
    held = decision.desired.held_markets
    if held:
        cause = next(iter(obs.problems), "their order books are missing or stale")
        return "degraded", f"{len(held)} market(s) held, market data unknown: {cause}"
    if unknown_own:
        return "degraded", (f"quoting stopped: {unknown_own} live order(s) under our API key are not in "
                            "the ledger (a ledger older than the venue, or another client on this key); "
                            "`polymm cancel --all` clears them, or restore the newest ledger")
    if problems:
        return "degraded", "; ".join(problems)
    if keep_hedges:
        return "ok", "stopping: quoting off, hedges kept until the positions are sold"
    if paused and not hedging:
        return "ok", "paused by the operator (cancel --all): no quotes, no hedges; polymm resume restarts them"
    if paused:
        return "ok", "quoting paused by the operator; hedging continues (polymm resume)"
    return "ok", ""
