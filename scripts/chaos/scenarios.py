"""The two scenarios, kill -9 at random moments (`run_chaos`) and a storm of faults (`run_storm`), run and judged.

Each ends with a final life judged K ticks in (`settle`).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from polymm.ledger import Ledger

from .controller import ControllerProcess, wallet_key
from .faults import Traffic, fault_plan, resolve_a_market, restart_engine, storm_plan, wait_engine_normal
from .report import ChaosResult
from .truth import Audit, check_continuous, check_settled, venue_fills
from .venue import Admin, VenueProcess

GRACE_S = 5.0  # controller.open_orders_grace_seconds at its default (config.yaml)


def settle(ctl, admin: Admin, settle_ticks: int, after_tick: int, result, say=print) -> None:
    """K ticks of the final life, each audited (the first clean one is the recovery tick count). Shares the
    venue still locks (bought in the last simulated seconds, by the venue's own traders during the last clock
    move) cannot be sold while the clock stands still: then the clock moves past the lock (6 s, inside the
    heartbeat timeout) and K more ticks run before the judgement, which then sees them sellable. Likewise an
    order whose send lost its reply holds its slot for the open-orders grace window (it may be live, and a second
    order beside it would be a duplicate): when one is left and a position is still unhedged, the judgement
    comes after that window and K more ticks."""
    def k_ticks(after: int | None) -> Audit:
        """K ticks after journal id `after`, each audited; the first clean one is the recovery tick count (counted
        from the start of these K ticks: after a venue lock or a grace window the clock of recovery restarts)."""
        base = ctl.tick_id() if after is None else after
        audit = Audit()
        for k in range(1, settle_ticks + 1):
            ctl.wait_ticks(k, timeout=60, after=base)
            audit = Audit()
            check_settled(admin.state(), ctl.address, ctl.ledger_path, admin, audit)
            if result.final_recovery_ticks is None and audit.orphans == 0 and audit.unhedged == 0:
                result.final_recovery_ticks = k
                result.recovery_ticks.append(k)
        return audit

    audit = k_ticks(after_tick)
    if audit.locked:
        say(f"{audit.locked} position(s) still locked by the venue's balance lag: the clock moves 6 s, "
            f"{settle_ticks} more ticks")
        admin.advance(6)
        audit = k_ticks(None)
    with Ledger(ctl.ledger_path) as ledger:
        unknown = [o for o in ledger.active_orders() if o.state == "unknown"]
    if unknown and audit.unhedged:
        # an order whose send lost its reply may be live: its slot is held (no second order beside it, promise 1)
        # until its resend answers or the open-orders grace window passes without it. K fast ticks can fall
        # inside that window; the judgement then comes after it, K ticks later
        say(f"{len(unknown)} order(s) of unknown outcome hold their slots: {GRACE_S:g} s (the grace window), "
            f"{settle_ticks} more ticks")
        time.sleep(GRACE_S)
        k_ticks(None)



def run_chaos(kills: int = 20, seed: int = 1, workdir: Path | None = None, markets: int = 60,
              max_markets: int = 3, settle_ticks: int = 3, verbose: bool = True,
              min_life_s: float = 0.2, max_life_s: float = 4.0, fault_rate: float = 0.1,
              stale_rate: float = 0.0, fail_rate: float = 0.0, restart_at: int | None = None,
              restart_down_s: float = 20.0, restart_post_only_s: float = 40.0,
              resolve_at: int | None = None, universe: str = "generated") -> ChaosResult:
    """`restart_at`: after that many kills, a matching-engine restart (425 for `restart_down_s` simulated
    seconds, then post-only for `restart_post_only_s`); `resolve_at`: after that many kills, a market we hold
    a position or an order in resolves. None: neither. `universe`: the venue's market, "generated" by default
    (the seeds' market, quoted and filled within simulated minutes; "real" quotes nothing with the defaults)."""
    rng = random.Random(seed)
    result = ChaosResult(seed)
    cap = Decimal("25")
    own_workdir = workdir is None
    if own_workdir:
        workdir = Path(tempfile.mkdtemp(prefix=f"polymm-chaos-{seed}-"))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    say = print if verbose else (lambda *a, **k: None)
    venue = VenueProcess(seed=seed, speed=0, markets=markets, log=workdir / "venue.log", universe=universe,
                         extra=("--fail-rate", str(fail_rate)) if fail_rate else ()).start()
    admin = Admin(venue.url)
    ctl = ControllerProcess(venue.url, wallet_key(f"chaos-{seed}"), workdir, max_markets,
                            {"POLYMM_STRATEGY__MAX_EXPOSURE_PER_MARKET_USDC": str(cap),
                             "POLYMM_CONTROLLER__SETTLE_TICKS": str(settle_ticks)})
    traffic = Traffic(admin, ctl.address, rng, cap, result)
    try:
        admin.faults(fault_plan(seed, fault_rate, stale_rate))
        ctl.start()
        ctl.wait_ticks(1, timeout=60)
        traffic.start()
        for i in range(kills):
            if restart_at is not None and i == restart_at:
                restart_engine(admin, restart_down_s, restart_post_only_s)
                result.restarted_at_kill = i
                say(f"matching-engine restart: 425 for {restart_down_s:g} s, post-only for {restart_post_only_s:g} s")
            if resolve_at is not None and i == resolve_at:
                result.resolved = resolve_a_market(admin, ctl.address, rng)
                result.resolved_at_kill = i
                say(f"market {str(result.resolved)[:12]}… resolved")
            if i == kills - 1 and result.restarted_at_kill is not None:
                # the last life runs on a venue back to normal: the final restart is judged, not the outage
                if not wait_engine_normal(admin, restart_down_s + restart_post_only_s + 60):
                    result.errors.append("the matching engine did not come back")
            life = rng.uniform(min_life_s, max_life_s)
            recovered_at = _watch(ctl, admin, life)
            if rng.random() < 0.5:
                # half of the kills land just after a fill, while the controller reacts to it (hedge
                # intent, replacement quote): the moments where a crash can do harm
                traffic.took.clear()
                if traffic.took.wait(5):
                    time.sleep(rng.uniform(0, 0.08))
            ctl.kill9()
            result.kills += 1
            result.ticks += ctl_ticks(ctl)
            if recovered_at is None:
                result.not_recovered_before_kill += 1
            else:
                result.recovery_ticks.append(recovered_at)
            say(f"kill {i + 1}/{kills} after {life:.2f} s: {ctl_ticks(ctl)} tick(s) in that life, "
                f"recovered {'at tick ' + str(recovered_at) if recovered_at is not None else 'not yet'}; "
                f"takes so far {result.takes}")
            if i < kills - 1:
                ctl.start()
        # the final restart: the traffic (takes and clock) and the venue faults stop first, so that what is
        # judged is the restart itself; then K ticks to settle
        traffic.stop_event.set()
        traffic.join(10)
        # tokens bought in the last seconds are not sellable until the venue's balance catches up (a few
        # simulated seconds, `polymm sim serve --balance-delay`): let that pass, within the heartbeat timeout
        admin.advance(6)
        fired = Counter(f["kind"] for f in admin.fired())
        admin.faults({"rules": []})
        ctl.start()
        settle(ctl, admin, settle_ticks, ctl.started_tick_id, result, say)
        # judge the venue's truth after K ticks of the final life
        state = admin.state()
        check_continuous(state, ctl.address, cap, result.audit)
        check_settled(state, ctl.address, ctl.ledger_path, admin, result.audit)
        result.ticks += ctl_ticks(ctl)
        result.fills = len(venue_fills(state, ctl.address))
        result.faults = {"kill -9": result.kills, "taker fills": result.takes, **fired}
        rc = ctl.terminate(60)
        if rc != 0:
            result.errors.append(f"controller exited {rc} on SIGTERM")
    except Exception as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        _tear_down(result, traffic, ctl, admin, venue, workdir if own_workdir else None)
    return result


def _tear_down(result: ChaosResult, traffic, ctl: ControllerProcess, admin: Admin, venue: VenueProcess,
               own_workdir: Path | None) -> None:
    """Stop the run's traffic and processes; a work directory the run made is removed, unless the run failed."""
    traffic.stop_event.set()
    ctl.stop()
    admin.close()
    venue.stop()
    if own_workdir is not None and not result.failures:
        shutil.rmtree(own_workdir, ignore_errors=True)
    elif own_workdir is not None:
        result.errors.append(f"work directory kept: {own_workdir}")


SETTLEMENT_S = 60.0  # simulated seconds after the storm for trades to settle (MINED after ~26 s)
STORM_SPEED = 8.0  # simulated seconds per wall second in the storm (heartbeats every 0.5 s wall = 4 s simulated)


def run_storm(seed: int = 1, simulated_s: float = 3600.0, rate: float = 0.4, workdir: Path | None = None,
              markets: int = 60, max_markets: int = 3, settle_ticks: int = 3, verbose: bool = True,
              take_probability: float = 0.5, universe: str = "generated") -> ChaosResult:
    """A storm: faults at `rate` of the requests for `simulated_s` simulated seconds while takers fill our
    quotes and hedges; then the faults stop and, K ticks later, the venue's truth is judged. `universe`: the
    venue's market, "generated" by default (see `run_chaos`)."""
    rng = random.Random(seed)
    result = ChaosResult(seed)
    cap = Decimal("25")
    own_workdir = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix=f"polymm-storm-{seed}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say = print if verbose else (lambda *a, **k: None)
    venue = VenueProcess(seed=seed, speed=0, markets=markets, log=workdir / "venue.log", universe=universe).start()
    admin = Admin(venue.url)
    ctl = ControllerProcess(venue.url, wallet_key(f"storm-{seed}"), workdir, max_markets,
                            {"POLYMM_STRATEGY__MAX_EXPOSURE_PER_MARKET_USDC": str(cap),
                             "POLYMM_CONTROLLER__SETTLE_TICKS": str(settle_ticks),
                             "POLYMM_CONTROLLER__HEARTBEAT_INTERVAL_SECONDS": "0.5"})
    period = 0.25
    traffic = Traffic(admin, ctl.address, rng, cap, result, period_s=period, take_probability=take_probability,
                      sim_step_s=period * STORM_SPEED)
    samples: Counter = Counter()
    try:
        ctl.start()
        ctl.wait_ticks(1, timeout=60)
        admin.faults(storm_plan(seed, rate))
        traffic.start()
        next_report = time.monotonic() + 10
        while traffic.simulated_s < simulated_s and traffic.is_alive():
            time.sleep(0.5)
            last = ctl.last_tick()
            samples[(last or {}).get("summary", {}).get("health", "?")] += 1
            if not ctl.alive:
                result.errors.append(f"controller exited during the storm ({ctl.proc.returncode})")
                break
            if time.monotonic() >= next_report:
                next_report += 10
                say(f"storm: {traffic.simulated_s:.0f}/{simulated_s:.0f} simulated s, {result.takes} takes, "
                    f"health samples {dict(samples)}")
        # the faults stop; the clock keeps moving (no more takes) for a simulated minute, so that tokens bought
        # in the storm settle and become sellable (the venue refuses a sell before: VENUE.md "balance after a
        # fill"); then K ticks, and the judgement
        fired = Counter(f["kind"] for f in admin.fired())
        admin.faults({"rules": []})
        traffic.takes_enabled.clear()
        settle_from = traffic.simulated_s
        while traffic.is_alive() and traffic.simulated_s - settle_from < SETTLEMENT_S:
            time.sleep(0.1)
        traffic.stop_event.set()
        traffic.join(10)
        settle(ctl, admin, settle_ticks, ctl.tick_id(), result, say)
        state = admin.state()
        check_continuous(state, ctl.address, cap, result.audit)
        check_settled(state, ctl.address, ctl.ledger_path, admin, result.audit)
        result.ticks = ctl.tick_id()
        result.fills = len(venue_fills(state, ctl.address))
        result.faults = {"taker fills": result.takes, **fired}
        say(f"storm: health samples during the storm {dict(samples)}")
        rc = ctl.terminate(60)
        if rc != 0:
            result.errors.append(f"controller exited {rc} on SIGTERM")
    except Exception as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        _tear_down(result, traffic, ctl, admin, venue, workdir if own_workdir else None)
    return result


def ctl_ticks(ctl: ControllerProcess) -> int:
    return max(ctl.tick_id() - ctl.started_tick_id, 0)


def _watch(ctl: ControllerProcess, admin: Admin, life_s: float) -> int | None:
    """Let the controller live `life_s` seconds; the tick (of this life) at which the venue first looked
    settled for it — no orphans, every position hedged — or None if it never did."""
    deadline = time.monotonic() + life_s
    seen_id = ctl.started_tick_id
    recovered = None
    while time.monotonic() < deadline:
        current = ctl.tick_id()
        if current > seen_id and recovered is None:
            seen_id = current
            audit = Audit()
            try:
                check_settled(admin.state(), ctl.address, ctl.ledger_path, admin, audit)
            except Exception:  # the ledger may be mid-creation right after a kill
                continue
            if audit.orphans == 0 and audit.unhedged == 0:
                recovered = current - ctl.started_tick_id
        time.sleep(0.02)
    return recovered
