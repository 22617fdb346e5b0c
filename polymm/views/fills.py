"""`polymm fills`: every fill in the ledger as rows for a table or a CSV export (accounting, tax, analysis).

One row per (trade, our order): the match time in UTC, the market's question and outcome (from the
market catalog the loop keeps), our side and the order's role (quote or hedge), price at the market's
tick, size, notional and fee to the cent, the venue's settlement status, and whether the fill was
reversed (a trade that ended FAILED). Money and prices are written by polymm/text/format.py, like every view.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path

from polymm.ledger import Ledger
from polymm.text import catalog
from polymm.text import format as fmt

COLUMNS = ("time_utc", "trade_id", "order_id", "condition_id", "token_id", "question", "outcome", "side", "role",
           "liquidity", "price", "size", "notional_usdc", "fee_usdc", "status", "reversed")


def fill_rows(path: Path, since: float | None = None) -> list[dict]:
    ledger = Ledger(path)
    try:
        fills = ledger.fills(since=since)
        names = catalog.parse(ledger.get_cursor(catalog.CURSOR))
        roles = {}
        for f in fills:
            if f.order_id not in roles:
                order = ledger.order(f.order_id)
                roles[f.order_id] = order.role if order else ""
    finally:
        ledger.close()
    rows = []
    for f in fills:
        name = names.get(f.condition_id)
        rows.append({
            "time_utc": datetime.fromtimestamp(f.match_time, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "trade_id": f.trade_id, "order_id": f.order_id, "condition_id": f.condition_id, "token_id": f.token_id,
            "question": name.question if name else "", "outcome": name.outcomes.get(f.token_id, "") if name else "",
            "side": f.side, "role": roles[f.order_id], "liquidity": f.liquidity,
            "price": fmt.price(f.price, name.tick_size if name else None), "size": fmt.shares(f.size).replace(",", ""),
            "notional_usdc": fmt.money_json(f.price * f.size), "fee_usdc": fmt.money_json(getattr(f, "fee", 0)),
            "status": f.status, "reversed": "yes" if f.reversed else "no",
        })
    return rows


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
