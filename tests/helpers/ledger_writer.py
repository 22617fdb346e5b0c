"""Crash-test writer: drives a Ledger with intents, transitions and fills until it is killed.

Usage: ledger_writer.py DB_PATH RUN_NUMBER

Protocol on stdout, one line per event, flushed as soon as it is written:
  "try-intent OID"          about to record an intent      -> "intent OID" once it returned
  "try OID TRIGGER"         about to transition            -> "state OID STATE" once it returned
  "try-fill TID OID"        about to apply a new fill      -> "fill TID OID APPLIED STATUS" once it returned
  "try-status TID OID NEW"  about to update a fill status  -> "status TID OID STATUS" once it returned
  "dup TID OID RESULT"      re-applied a fill already in the ledger; RESULT must be False
  "ready RUN"               restored the ledger and started writing
A line after a call is printed only once the call has returned, so everything it reports was
committed; a "try" line without its answer is a call the kill may or may not have committed.
"""

from __future__ import annotations

import random
import sys
from decimal import Decimal

from polymm.domain.terms import FillTerms, OrderTerms
from polymm.domain.types import Fill
from polymm.ledger import FillRecord, Ledger, NewOrder
from polymm.statemachines.orders import allowed_triggers
from polymm.statemachines.trades import allowed_trade_statuses

TOKENS = ("111", "222", "333")
CONDITION = "0xcond"


def say(*parts: object) -> None:
    print(*parts, flush=True)


def as_observed(f: FillRecord) -> Fill:
    return Fill(f.terms, f.status)


def main(path: str, run: int) -> None:
    rng = random.Random(run)
    ledger = Ledger(path)
    states = {o.order_id: o.state for o in ledger.orders()}
    orders = {o.order_id: o for o in ledger.orders()}
    fills = {(f.trade_id, f.order_id): f for f in ledger.fills()}

    # Restart: the venue reports trades we already hold; none may count again.
    for f in rng.sample(sorted(fills.values(), key=lambda f: (f.trade_id, f.order_id)), min(5, len(fills))):
        say("dup", f.trade_id, f.order_id, ledger.apply_fill(as_observed(f)))
    say("ready", run)

    n = 0
    while True:
        n += 1
        roll = rng.random()
        movable = [oid for oid, state in states.items() if allowed_triggers(state)]
        if roll < 0.25 or not movable:
            oid = f"r{run}-o{n}"
            token = rng.choice(TOKENS)
            side = rng.choice(("BUY", "BUY", "SELL"))
            order = NewOrder(OrderTerms(oid, f"{CONDITION}|{token}|{side}|quote", CONDITION, token, side, "quote",
                                        Decimal(rng.randint(1, 99)) / 100, Decimal(rng.randint(5, 50))), "GTC", True,
                             {"salt": rng.getrandbits(64), "run": run})
            say("try-intent", oid)
            orders[oid] = order
            states[oid] = ledger.record_intent(order).state
            say("intent", oid)
        elif roll < 0.6:
            oid = rng.choice(sorted(movable))
            trigger = rng.choice(allowed_triggers(states[oid]))
            matched = Decimal(rng.randint(0, 50)) if trigger in ("partial_fill", "fill") else None
            say("try", oid, trigger)
            states[oid] = ledger.transition(oid, trigger, reason=f"run {run} step {n}", size_matched=matched).state
            say("state", oid, states[oid])
        elif roll < 0.85:
            oid = rng.choice(sorted(orders))
            order = orders[oid]  # a NewOrder from this run or an OrderRecord restored
            if fills and rng.random() < 0.2:  # the same trade reported again within a run
                f = fills[rng.choice(sorted(fills))]
                say("dup", f.trade_id, f.order_id, ledger.apply_fill(as_observed(f)))
                continue
            tid = f"r{run}-t{n}"
            status = rng.choice(("MATCHED", "MATCHED", "MINED", "CONFIRMED", "FAILED"))
            token = order.token_id
            observed = Fill(FillTerms(tid, oid, CONDITION, token, rng.choice(("BUY", "BUY", "SELL")),
                                      Decimal(rng.randint(1, 20)), Decimal(rng.randint(1, 99)) / 100,
                                      rng.choice(("maker", "taker")), 1_700_000_000 + n), status)
            say("try-fill", tid, oid)
            applied = ledger.apply_fill(observed)
            fills[(tid, oid)] = ledger.fill(tid, oid)
            say("fill", tid, oid, applied, status)
        else:
            open_fills = [k for k, f in fills.items() if allowed_trade_statuses(f.status)]
            if not open_fills:
                continue
            tid, oid = rng.choice(sorted(open_fills))
            new = rng.choice(allowed_trade_statuses(fills[(tid, oid)].status))
            say("try-status", tid, oid, new)
            fills[(tid, oid)] = ledger.update_fill_status(tid, oid, new)
            say("status", tid, oid, fills[(tid, oid)].status)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
