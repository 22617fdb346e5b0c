"""`polymm reconcile [--loop]`: start-up reconciliation, the tick loop, heartbeats, wake-ups and a clean stop.

Start: the ledger is loaded and reconciled against the venue before anything is sent (our orders
are adopted by hash, foreign ones left alone unless configured); with `controller.clean_start` our
leftover buy quotes are cancelled. Loop: one tick at a time (never overlapping) every
`loop.order_check_interval_seconds`, sooner (but never more than every MIN_TICK_SPACING_S) when
the market channel reports a change in a book we have orders in, or the user channel a fill or an order
update; the market universe is rescanned every `loop.update_interval_seconds`. While heartbeats are
not healthy nothing is placed. A failing tick is logged and journaled (health `halted`, with the
error) and the loop goes on: nothing crashes it.

Stop (SIGTERM, SIGINT, `polymm stop`): a full stop — cancel every order of ours, quotes AND hedges,
read the venue once more and journal what is left (orders still live, positions left unhedged),
then exit 0. Hedges cannot outlive the process: once heartbeats have been sent, the venue cancels
all of the account's orders when they stop (docs.polymarket.com/api-reference/trade/send-heartbeat:
"If heartbeats are not sent regularly, all open orders for the user will be automatically
canceled"; about 10 s plus a buffer, VENUE.md), so "keep the hedges and exit" is not a state the
venue can hold. `polymm stop --keep-hedges` instead keeps the process up, heartbeating, with
quoting off, until no position is left to hedge (the hedges sold) or its timeout passes; then the
full stop. Operator requests arrive over the control channel (control.py) and run on this thread
between ticks: pause/resume (quoting off/on; hedging continues), reload (config.yaml re-read,
validated, applied or refused), cancel-all (quoting and hedging off until resume), stop.

The switches (quoting, hedging) and the heartbeat's health are inputs of the pure tick (`OperatorState`,
reconciler.gate), so its gated plan drops exactly what the loop does not place, and are recorded in the
ledger whenever they change, for `polymm plan` (a separate process) to decide with the same inputs. The
ledger rather than the control socket: the socket is served only between ticks (a plan would wait out a
long tick, and hang on a stuck loop), while the ledger is readable at any time, is already what plan reads
the tick's memory from, and holds switches and memory consistent with the ledger rows plan reads with them.
A reload keeps the switches (they live here, not in the controller), the tick's memory and the market names.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

from polymm.text.catalog import CatalogWriter
from polymm.controller.account import AccountRecorder
from polymm.controller.control import ControlServer, Request
from polymm.controller.core import Controller, Decision
from polymm.controller.executor import ExecutionReport
from polymm.controller.health import tick_health
from polymm.controller.gcpolicy import settle_heap
from polymm.controller.heartbeat import Heartbeat
from polymm.controller.lock import control_socket_path
from polymm.controller.session import Session
from polymm.controller.wake import FillSignal, MarketChannelWaker, UserChannelWaker
from polymm.text.format import money
from polymm.observed.state import known
from polymm.telemetry.observers import Observers
from polymm.reconciler.gate import GatedPlan, OperatorState
from polymm.reconciler.plan import Cancel
from polymm.venue.outcomes import Ok

log = logging.getLogger("polymm.loop")
# refusals that say the account cannot trade as configured (docs error codes; py-clob-client-v2 issues #51, #64,
# #83; py-clob-client #93): every order will be refused the same way until the configuration changes
ACCOUNT_REFUSALS = ("maker address not allowed", "the order signer address has to be the address of the api key",
                    "invalid signature")
SLOW_STEP_S = 1.0
SUMMARY_EVERY_S = 10.0
MIN_TICK_SPACING_S = 0.1


@dataclass
class TickResult:
    number: int
    health: str
    why: str
    report: ExecutionReport
    decision: Decision | None


class Service:
    def __init__(self, session: Session, stop: threading.Event | None = None, use_user_channel: bool = True,
                 config_path=None, control: bool = False) -> None:
        self.session = session
        self.config_path = config_path
        self.cfg = session.cfg
        self.controller = session.controller
        self.ledger = session.ledger
        self.stop_event = stop or threading.Event()
        self.wake = threading.Event()
        self.urgent = FillSignal()  # a fill arrived: no tick spacing before the next tick (wake.py)
        self.heartbeat = Heartbeat(session.trading, self.cfg.controller.heartbeat_interval_seconds)
        creds = session.trading.client.creds
        use_user_channel = use_user_channel and self.cfg.loop.channels_enabled
        self.waker = UserChannelWaker(session.endpoints.ws_url, creds.api_key, creds.api_secret, creds.api_passphrase,
                                      self.wake, self.urgent) if use_user_channel and creds else None
        self.book_waker = MarketChannelWaker(session.endpoints.ws_url, self.wake) if use_user_channel else None
        self.ticks = 0
        self.reobserved = 0  # ticks that observed again because a fill arrived during their trades read
        self.skipped_execute = False  # the last tick dropped its plan for a fill it had not read (tick)
        self.last_summary = 0.0
        self.totals = ExecutionReport()
        self.placing_problem: str | None = None
        self.account_refusal: str | None = None  # a refusal of the account itself, kept until an order is accepted
        self.observers = Observers(self)  # metrics, alerts, the dashboard's market snapshot (polymm/telemetry/)
        self.catalog = CatalogWriter(session.ledger)  # market names for `polymm status` (polymm/text/catalog.py)
        self.controller.market_names = self.catalog.known  # the same entries name markets in the fill log lines
        self.account = AccountRecorder(session.trading, session.ledger, self.stop_event)  # balance, rewards paid
        self.paused = False  # quoting off by the operator (pause, cancel-all, stop --keep-hedges)
        self.hedging_enabled = True  # False after cancel-all, until resume
        self.keep_hedges_until: float | None = None  # stop --keep-hedges: the deadline of the wait
        self.hedges_wanted = 0  # hedge orders the last tick's desired state held
        self.failing_ticks = 0
        self.last_failure: str | None = None
        self.stop_report: dict = {}
        self.unknown_own: list[str] = []  # live orders under our API key the ledger does not know
        self.control = ControlServer(control_socket_path(session.ledger_path), self.wake) if control else None

    # ------------------------------------------------------------------ start
    def startup(self) -> None:
        log.info("starting: ledger %s, venue %s (%s)", self.session.ledger_path, self.session.endpoints.clob_url,
                 "embedded simulator" if self.session.embedded else "remote")
        # our orders and fills only: the first tick scans the reward markets (once, not twice at start)
        observed = self.controller.observe(rescan=False)
        if not known(observed.open_orders):
            log.warning("open orders unknown at start (%s): nothing will be placed until they can be read",
                        observed.open_orders.reason)
        self._unknown_own_orders(observed)
        # first: an intent a killed run left may have been sent, whatever its age; reconciling it by absence
        # first would reject it once the grace window since it was written has passed
        self._sends_of_a_previous_run_are_unknown()
        updates = self.controller.record_observation(observed)
        adopted = len(self.ledger.active_orders())
        log.info("reconciled with the venue: %d ledger update(s), %d active order(s) adopted", len(updates), adopted)
        if self.cfg.controller.clean_start:
            self._cancel_quotes("clean start")
        self.heartbeat.start()
        deadline = time.monotonic() + 5
        while not self.heartbeat.healthy and time.monotonic() < deadline and not self.stop_event.is_set():
            time.sleep(0.05)
        if self.waker:
            self.waker.start()
        if self.book_waker:
            self.book_waker.start()
        if self.control is not None:
            self.control.start()
            if self.session.lock is not None:
                self.session.lock.update(control=str(self.control.path))

    def _unknown_own_orders(self, observed) -> None:
        """Orders live under our own API key that the ledger has never recorded: the ledger is older than the
        venue (restored from a backup) or another client trades on this key. Quoting stops (a new quote could
        double one of them) until they are gone — `polymm cancel --all` — hedging goes on; they count against
        the caps like any foreign order."""
        if not known(observed.open_orders):
            return
        key = self.session.trading.api_key
        mine = [o.order_id for o in observed.open_orders if key and o.owner == key]
        unknown = [oid for oid in mine if self.ledger.order(oid) is None]
        if unknown and not self.unknown_own:
            log.warning("%d live order(s) under our API key are not in the ledger (an older ledger, or another client "
                        "on this key): quoting stopped until they are gone (polymm cancel --all)", len(unknown))
        elif self.unknown_own and not unknown:
            log.warning("no order unknown to the ledger is left: quoting resumes")
        self.unknown_own = unknown

    def _sends_of_a_previous_run_are_unknown(self) -> None:
        """Orders a previous run wrote (intent) or sent (submitting) but whose outcome it never recorded — it
        was killed in between — may or may not be at the venue, and the venue's open-orders read may lag:
        they are `unknown`. The executor then resends their stored payload at once (the same bytes: the
        venue cannot hold two), and observation settles them, instead of their slots (a hedge's too) being
        held for the whole grace window after every crash."""
        for rec in self.ledger.orders(["intent", "submitting"]):
            if rec.state == "intent":
                self.ledger.transition(rec.order_id, "submit", reason="a previous run wrote the intent; sent or not")
            self.ledger.transition(rec.order_id, "lose_reply", reason="a previous run stopped before recording the reply")

    def _cancel_quotes(self, why: str) -> ExecutionReport:
        return self._cancel_ours(why, roles=("quote",), sides=("BUY",))

    def _cancel_ours(self, why: str, roles=("quote", "hedge"), sides=("BUY", "SELL")) -> ExecutionReport:
        """Cancel our active orders of these roles and sides (ledger first, then the venue); nothing is placed."""
        orders = [o for o in self.ledger.active_orders() if o.role in roles and o.side in sides
                  and o.state in ("open", "partially_filled", "unknown", "cancel_requested")]
        cancels = tuple(Cancel(o.terms, o.remaining, why) for o in orders)
        if not cancels:
            return ExecutionReport()
        report = self.controller.executor.cancel_only(GatedPlan(cancels, (), (), (), {}, {}))
        log.info("%s: cancel confirmed for %d of %d order(s) of ours", why, report.cancels_confirmed, len(cancels))
        return report

    # ------------------------------------------------------------------ tick
    def tick(self) -> TickResult:
        self.ticks += 1
        started = self.controller.clock()  # the controller's clock: simulated in a backtest
        t0, cpu0 = time.monotonic(), time.process_time()
        observed = self.controller.observe()
        if self.urgent.missed(self.controller.trades_read_at, _trade_ids(observed.fills)):
            # a fill of ours arrived after this tick's trades read was sent: the reply may lack it, and deciding
            # and executing on it would only delay the hedge by a whole tick. Nothing is written before decide,
            # so the observation is dropped and taken again, once (a storm of fills cannot stall the tick)
            self.reobserved += 1
            observed = self.controller.observe()
        t_observe = time.monotonic() - t0
        self._unknown_own_orders(observed)
        operator = self.operator_state()
        self.controller.record_operator(operator)
        decision = self.controller.decide(observed, operator=operator)
        t_decide = time.monotonic() - t0 - t_observe
        health, why = self._health(decision)
        gated = decision.gated  # the operator's switches and the heartbeat are gated in the pure tick
        self.hedges_wanted = sum(1 for o in decision.desired.orders if o.role == "hedge")
        t_gate = time.monotonic()
        if gated.places and not self.skipped_execute and self.urgent.missed(self.controller.trades_read_at,
                                                                            _trade_ids(observed.fills)):
            # a fill arrived while this tick decided on a trades read that lacks it: its plan is already stale
            # and the hedge waits for it. Nothing is sent (the ledger holds only what was observed), the next tick
            # starts at once and plans these orders again with the fill; never two ticks in a row
            self.skipped_execute = True
            report = ExecutionReport(notes=["plan dropped: a fill arrived after the trades read"])
        else:
            self.skipped_execute = False
            report = self.controller.executor.run(gated)
        if self.session.merger is not None:  # YES+NO pairs into collateral (polymm.controller.merger)
            report.notes.extend(self.session.merger.step(observed))
        t_execute = time.monotonic() - t_gate
        self.controller.note_refusals(report.place_errors)  # a market's state changed: read it next tick
        health, why = self._placing_health(health, why, report)
        if observed.full_scan:  # the new universe is long-lived: stop full collections walking it (gcpolicy)
            settle_heap()
        t_total = time.monotonic() - t0
        t_cpu = time.process_time() - cpu0
        if t_total > SLOW_STEP_S:
            log.info("slow tick %d: observe %.2f s, decide %.2f s, execute %.2f s", self.ticks, t_observe, t_decide,
                     t_total - t_observe - t_decide)
        self._accumulate(report)
        summary = self._summary(decision, report, health, why, t_total)
        summary["cpu_seconds"] = round(t_cpu, 4)  # this process's CPU (all threads) during the tick
        # where a tick's time goes (bench/bench_hedge_latency.py prints them for the ticks that hedged)
        summary["phases_ms"] = {"observe": round(t_observe * 1000, 2), "decide": round(t_decide * 1000, 2),
                                "execute": round(t_execute * 1000, 2)}
        self.observers.tick(summary, decision, report)
        self.catalog.update(decision)
        self.account.flush()
        self.ledger.journal_tick(started, self.controller.clock(), summary)
        self.failing_ticks, self.last_failure = 0, None
        self._log_progress(summary, report)
        return TickResult(self.ticks, health, why, report, decision)

    def operator_state(self) -> OperatorState:
        """The switches as they stand (operator requests, live orders the ledger lacks) and the heartbeat's health."""
        off = ("stop --keep-hedges: quoting off until the positions are sold" if self.keep_hedges_until is not None
               else "paused by the operator (cancel --all): polymm resume restarts it" if not self.hedging_enabled
               else "paused by the operator (polymm resume)" if self.paused
               else f"{len(self.unknown_own)} live order(s) under our API key are not in the ledger"
               if self.unknown_own else "")
        healthy = self.heartbeat.healthy
        problem = "" if healthy else (self.heartbeat.last_error or "starting")
        return OperatorState(not self.paused and not self.unknown_own, self.hedging_enabled, healthy, off, problem)

    def _health(self, decision: Decision) -> tuple[str, str]:
        return tick_health(decision, self.heartbeat, unknown_own=len(self.unknown_own),
                           problems=self.controller.health_problems(), keep_hedges=self.keep_hedges_until is not None,
                           paused=self.paused, hedging=self.hedging_enabled)

    def _placing_health(self, health: str, why: str, report: ExecutionReport) -> tuple[str, str]:
        """Degraded while the venue does not accept our orders (e.g. trading disabled: every post answers
        503): from a tick whose places failed until one is confirmed, or no order is left in doubt. A refusal of
        the account itself (wallet, signer or API key: ACCOUNT_REFUSALS) stays until an order is accepted, also
        through the ticks that place nothing while the refused slots cool down."""
        if report.place_errors:
            self.placing_problem = report.place_errors[-1]
            account = [e for e in report.place_errors if any(m in e.lower() for m in ACCOUNT_REFUSALS)]
            if account:
                self.account_refusal = account[-1]
        elif report.places_confirmed or not any(o.state == "unknown" for o in self.ledger.active_orders()):
            self.placing_problem = None
        if report.places_confirmed:
            self.account_refusal = None
        if health == "ok" and self.account_refusal:
            return "degraded", (f"the venue refuses this account's orders: {self.account_refusal}; check "
                                "venue.signature_type and POLYMARKET_FUNDER (README: Which signature type)")
        if health == "ok" and self.placing_problem:
            return "degraded", f"the venue is not accepting our orders: {self.placing_problem}"
        return health, why

    def _accumulate(self, report: ExecutionReport) -> None:
        for name in ("cancels_sent", "cancels_confirmed", "places_sent", "places_confirmed", "places_refused",
                     "places_unknown", "places_denied", "resends"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(report, name))

    def _summary(self, decision: Decision, report: ExecutionReport, health: str, why: str, seconds: float) -> dict:
        gated = decision.gated
        # where we rest orders: the reward formula scores a resting hedge ask in the band as it scores a quote, and the
        # venue's measured share (used once we rest) counts both, so a market stepped back from while its hedge rests
        # still earns
        quoted = {o.condition_id for o in decision.desired.orders}
        return {
            "tick": self.ticks,
            "health": health,
            "why": why,
            "seconds": round(seconds, 4),
            "full_scan": decision.observed.full_scan,
            "writes": report.writes,
            "cancels": report.cancels_sent,
            "places": report.places_sent,
            "confirmed": report.places_confirmed,
            "refused": report.places_refused,
            "unknown": report.places_unknown,
            "denied": [why for _, why in gated.dropped][:20],
            "held": list(decision.plan.held)[:20],
            "selected": [ev.market.condition_id for ev in decision.selection.selected],
            # where we quote: a selected market stepped back from (polymm.desired.toxicity) expects nothing
            "expected_rewards_per_day": round(sum(ev.expected_per_day for ev in decision.selection.selected
                                                  if ev.market.condition_id in quoted), 4),
            "expected_by_market": {ev.market.condition_id: round(ev.expected_per_day, 6)
                                   for ev in decision.selection.selected if ev.market.condition_id in quoted},
            "exposure": {k: str(v) for k, v in gated.exposure_after.items()},
            "exposure_cap_per_market": str(self.cfg.strategy.max_exposure_per_market_usdc),
            "exposure_cap_total": str(self.cfg.strategy.max_total_exposure_usdc),
            "heartbeat_healthy": self.heartbeat.healthy,
            "user_channel": bool(self.waker and self.waker.connected),
            "market_data": self.controller.market_data.freshness(time.time()),
            "notes": (list(decision.desired.notes) + list(decision.observed.problems) + report.notes)[:20],
            "quoting": not self.paused and not self.unknown_own,
            "hedging": self.hedging_enabled,
            "pid": os.getpid(),
        }

    def _log_health_change(self, health: str, why: str) -> None:
        """One WARNING per change of health (so it reaches logs/, which keeps WARNING and above), not per tick."""
        previous = getattr(self, "_last_health", "ok")
        if health != previous:
            if health == "ok":
                log.warning("health ok again (was %s)", previous)
            else:
                log.warning("health %s: %s", health, why)
        self._last_health = health

    def _log_progress(self, summary: dict, report: ExecutionReport) -> None:
        self._log_health_change(summary["health"], summary["why"])
        now = time.monotonic()
        if report.writes == 0 and now - self.last_summary < SUMMARY_EVERY_S:
            return
        self.last_summary = now
        active = self.ledger.active_orders()
        quotes = sum(1 for o in active if o.role == "quote")
        hedges = sum(1 for o in active if o.role == "hedge")
        positions = [p for p in self.ledger.positions().values() if p.size > 0]
        exposure = sum((Decimal(v) for v in summary["exposure"].values()), Decimal(0))
        # a hedge refused because the venue has not yet credited the tokens just bought (it settles them a few
        # seconds after the fill: VENUE.md "balance after a fill") is retried every tick: say so, or the line
        # reads as a hedge that never comes
        waiting = sum(1 for n in report.notes if "balance not caught up" in n)
        wait = (f" — {waiting} hedge(s) wait for the venue to credit the tokens just bought, retried every tick"
                if waiting else "")
        log.info("tick %d [%s] quotes %d, hedges %d, positions %d, exposure %s/%s, this tick: %d cancel(s), %d place(s)%s%s",
                 self.ticks, summary["health"], quotes, hedges, len(positions), money(exposure), money(summary["exposure_cap_total"]),
                 report.cancels_sent, report.places_sent, f" — {summary['why']}" if summary["why"] else "", wait)

    # ------------------------------------------------------------------ run and stop
    def run(self, loop: bool = True) -> int:
        self.startup()
        try:
            while True:
                self._serve_control()
                if self.stop_event.is_set():
                    break
                tick_started = time.monotonic()
                self.urgent.clear()  # a fill seen from here on is one this tick may miss: it keeps the flag
                self._safe_tick()
                if self._keep_hedges_done():
                    break
                if not loop or self.stop_event.is_set():
                    break
                if self.book_waker:
                    self.book_waker.watch({o.token_id for o in self.ledger.active_orders()})
                # books are re-read every tick: ticks come at least every orderbook_update_interval_seconds too
                self.wake.wait(min(self.cfg.loop.order_check_interval_seconds,
                                   self.cfg.loop.orderbook_update_interval_seconds))
                self.wake.clear()
                # a burst of book changes must not turn into back-to-back ticks: ticks start at most every
                # MIN_TICK_SPACING_S, counted from the last tick's start — but a fill of ours (urgent) is
                # acted on as soon as the running tick ends, and one arriving during the spacing ends it
                self.urgent.wait(max(0.0, MIN_TICK_SPACING_S - (time.monotonic() - tick_started)))
                self.urgent.clear()
                if self.stop_event.is_set():
                    break
        finally:
            self.shutdown()
        return 0

    def _safe_tick(self) -> TickResult | None:
        try:
            return self.tick()
        except Exception as exc:  # nothing may crash the loop; the next tick re-reads everything
            self.failing_ticks += 1
            self.last_failure = f"{type(exc).__name__}: {exc}"
            log.exception("tick %d failed; continuing", self.ticks)
            if _ledger_unwritable(exc):
                # the ledger cannot record intents: nothing can be placed (the executor writes first), and
                # our quotes must not rest unmanaged — cancel them at the venue without recording
                self._cancel_quotes_unrecorded()
            try:
                self.ledger.journal_tick(time.time(), time.time(), {
                    "tick": self.ticks, "health": "halted", "why": f"tick failed: {self.last_failure}",
                    "failing_ticks": self.failing_ticks, "pid": os.getpid(), "notes": []})
            except Exception:
                log.warning("the ledger cannot journal either: %s", self.last_failure)
            return None

    def _cancel_quotes_unrecorded(self) -> None:
        try:
            ids = [o.order_id for o in self.ledger.active_orders() if o.role == "quote" and o.side == "BUY"]
        except Exception as exc:
            log.error("ledger unreadable, cannot find our quotes to cancel: %s", exc)
            return
        if ids:
            outcome = self.session.trading.cancel(ids)
            log.error("ledger not writable: stopped quoting, cancel of %d buy quote(s) sent (%s)", len(ids),
                      "ok" if isinstance(outcome, Ok) else outcome.reason)

    def _keep_hedges_done(self) -> bool:
        if self.keep_hedges_until is None:
            return False
        hedges = [o for o in self.ledger.active_orders() if o.role == "hedge"]
        if not hedges and self.hedges_wanted == 0:
            log.info("stop --keep-hedges: no position left to hedge; stopping")
            return True
        if time.time() >= self.keep_hedges_until:
            log.warning("stop --keep-hedges: timeout with %d hedge(s) resting; full stop", len(hedges))
            return True
        return False

    # ------------------------------------------------------------------ operator requests
    def _serve_control(self) -> None:
        if self.control is not None:
            self.control.drain(self._handle)

    def _handle(self, request: Request) -> None:
        command = request.body.get("command")
        if command == "pause":
            self.paused = True
            self._safe_tick()
            request.answer(True, f"quoting paused: {self._live_summary()}; hedging continues", **self._live())
        elif command == "resume":
            self.paused, self.hedging_enabled, self.keep_hedges_until = False, True, None
            self._safe_tick()
            request.answer(True, f"quoting resumed: {self._live_summary()}", **self._live())
        elif command == "reload":
            ok, message = self._reload()
            request.answer(ok, message)
        elif command == "cancel_all":
            self.paused, self.hedging_enabled = True, False
            report = self._cancel_ours("polymm cancel --all")
            outcome = self.session.trading.cancel_all()  # also whatever else rests on the account
            extra = len(outcome.value.get("canceled", [])) if isinstance(outcome, Ok) else 0
            self._safe_tick()
            note = "" if isinstance(outcome, Ok) else f"; cancel-all at the venue failed: {outcome.reason}"
            request.answer(isinstance(outcome, Ok), f"cancelled {report.cancels_confirmed} order(s) of ours "
                           f"({extra} by the venue's cancel-all){note}; {self._live_summary()}; quoting and hedging stay off "
                           f"until `polymm resume`{self._unhedged_note()}", **self._live())
        elif command == "stop":
            if request.body.get("keep_hedges"):
                timeout = float(request.body.get("timeout") or 600)
                self.keep_hedges_until = time.time() + timeout
                self.paused = True
                self._safe_tick()
                request.answer(True, f"stopping with hedges kept: quoting off, the loop (PID {os.getpid()}) stays up "
                               f"heartbeating until no position is left to hedge or {timeout:.0f} s pass, then stops "
                               f"fully; {self._live_summary()}", pid=os.getpid(), **self._live())
            else:
                self.stop_event.set()
                request.answer(True, f"stopping (PID {os.getpid()})", pid=os.getpid())
        else:
            request.answer(False, f"unknown command {command!r}")

    def _live(self) -> dict:
        active = self.ledger.active_orders()
        return {"quotes": sum(1 for o in active if o.role == "quote"), "hedges": sum(1 for o in active if o.role == "hedge")}

    def _live_summary(self) -> str:
        live = self._live()
        return f"{live['quotes']} quote(s) and {live['hedges']} hedge(s) active in the ledger"

    def _unhedged_note(self) -> str:
        held = [p for p in self.ledger.positions().values() if p.size > 0]
        return f"; {len(held)} position(s) left unhedged" if held else ""

    def _reload(self) -> tuple[bool, str]:
        from polymm.config import ConfigError, load_config

        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            return False, "reload refused, the running configuration is unchanged: " + "; ".join(exc.problems)
        old = self.cfg
        fixed = [name for name in RESTART_SECTIONS if getattr(new, name) != getattr(old, name)]
        if fixed:
            return False, (f"reload refused: {', '.join(fixed)} changed, which needs a restart "
                           "(polymm stop, then start again); the running configuration is unchanged")
        changed = [name for name in type(new).model_fields if getattr(new, name) != getattr(old, name)]
        controller = Controller(new, self.session.public, self.session.trading, self.ledger,
                                market_data=self.controller.market_data)
        # what the running controller knows that the configuration does not change: the tick's memory (pauses,
        # position ages, stop timers, settling buys), cancels confirmed since its last tick, the market names
        controller.memory = self.controller.memory
        controller.executor.cancelled_buys = self.controller.executor.cancelled_buys
        controller.executor.failures = self.controller.executor.failures
        controller.market_names = self.controller.market_names
        self.controller = self.session.controller = controller
        self.cfg = self.session.cfg = new
        self.heartbeat.interval_s = new.controller.heartbeat_interval_seconds
        log.info("configuration reloaded from %s: %s", self.config_path or "config.yaml", ", ".join(changed) or "no change")
        return True, f"reloaded: {', '.join(changed) + ' changed' if changed else 'nothing changed'}"

    # ------------------------------------------------------------------ stop
    def shutdown(self) -> None:
        """The full stop: every order of ours cancelled, the venue read again, the truth journaled."""
        try:
            report = self._cancel_ours("shutdown")
            live = self._ours_live_at_venue()
            if live:  # a cancel whose reply was lost or refused: once more, by id
                self.session.trading.cancel([o["id"] for o in live])
                live = self._ours_live_at_venue()
        finally:
            if self.waker:
                self.waker.stop()
            if self.book_waker:
                self.book_waker.stop()
            self.heartbeat.stop()
            self.observers.close()
        try:
            self.controller.record_observation(self.controller.observe(rescan=False))
        except Exception as exc:  # the stop must finish; the next start reconciles
            log.warning("final observation failed: %s", exc)
        positions = {t: p for t, p in self.ledger.positions().items() if p.size > 0}
        offered: dict[str, Decimal] = {}
        for o in live or []:
            if o["side"] == "SELL":
                offered[o["asset_id"]] = offered.get(o["asset_id"], Decimal(0)) + Decimal(o["original_size"]) - Decimal(o["size_matched"])
        unhedged = {t: str(p.size - offered.get(t, Decimal(0))) for t, p in positions.items()
                    if p.size > offered.get(t, Decimal(0))}
        final = {"final": True, "tick": self.ticks, "ticks": self.ticks, "totals": self.totals.__dict__ | {"notes": []},
                 "stop": "full", "cancels_confirmed_at_stop": report.cancels_confirmed,
                 "live_at_venue_after_stop": None if live is None else [
                     {"order_id": o["id"], "side": o["side"], "token_id": o["asset_id"], "price": o["price"]} for o in live],
                 "positions": {t: str(p.size) for t, p in positions.items()}, "unhedged": unhedged, "pid": os.getpid()}
        self.stop_report = final
        try:
            self.ledger.journal_tick(time.time(), time.time(), final)
        except Exception as exc:
            log.error("could not journal the stop: %s", exc)
        if self.control is not None:
            self.control.stop()
        if live is None:
            venue = "the venue's open orders could not be read after the cancels"
        elif live:
            venue = (f"{len(live)} order(s) of ours still live at the venue after the cancels "
                     "(the venue cancels them when our heartbeats stop, ~10 s)")
        else:
            venue = "no order of ours is live at the venue"
        held = (f"{len(unhedged)} position(s) left unhedged: " + ", ".join(f"{t[:12]}… {s}" for t, s in unhedged.items())
                if unhedged else "no position left unhedged")
        log.info("stopped after %d tick(s): %d place(s), %d cancel(s); %s; %s", self.ticks, self.totals.places_sent,
                 self.totals.cancels_sent + report.cancels_sent, venue, held)

    def _ours_live_at_venue(self) -> list[dict] | None:
        outcome = self.session.trading.open_orders()
        if not isinstance(outcome, Ok):
            return None
        ours = {o.order_id for o in self.ledger.orders()}
        return [o for o in outcome.value if o.get("id") in ours]


RESTART_SECTIONS = ("venue", "ledger", "logging", "orderbook_service")


def _trade_ids(fills) -> set[str]:
    return {f.trade_id for f in fills} if known(fills) else set()


def _ledger_unwritable(exc: Exception) -> bool:
    """A write the ledger refused (disk full, read-only directory or file, I/O error)."""
    from polymm.ledger import SQLITE_ERRORS  # only ledger/ touches SQLite

    text = str(exc).lower()
    return isinstance(exc, SQLITE_ERRORS) and any(
        word in text for word in ("full", "readonly", "read-only", "disk i/o", "unable to open"))
