"""What `polymm markets` and `polymm plan` show a person (rich tables) and a machine (JSON), from the same values."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from polymm.text import format as fmt
from polymm.desired.funnel import Evaluation, Selection


def _num(value: Decimal | float, places: int = 2) -> str:
    return f"{float(value):,.{places}f}"


def selection_json(sel: Selection, include_rejected: bool, problems: list[str]) -> dict:
    def ev_json(ev: Evaluation) -> dict:
        m = ev.market
        return {
            "condition_id": m.condition_id,
            "question": m.question,
            "rate_per_day": fmt.money_json(m.rate_per_day),
            "rewards_min_size": float(m.rewards_min_size),
            "rewards_max_spread": float(m.rewards_max_spread),
            "spread": float(ev.spread),
            "expected_per_day": fmt.money_json(ev.expected_per_day),
            # net of the expected taker fee of the hedges (polymm.desired.funnel)
            "expected_hedge_fee_per_day": fmt.money_json(ev.expected_hedge_fee_per_day),
            "expected_net_per_day": fmt.money_json(ev.expected_net_per_day),
            "fee_rate": str(m.fee_rate),
            "share": round(ev.share, 6),
            "expected_per_dollar": round(ev.expected_per_dollar, 6),
            "original_ratio": round(float(ev.original_ratio), 6),
            "capital_usdc": fmt.money_json(ev.capital_usdc),
            "tick_size": str(m.tick_size),
            "quotes": [
                {"token_id": q.token_id, "outcome": q.outcome, "side": "BUY", "price": fmt.price(q.price, m.tick_size),
                 "size": fmt.shares(q.size), "at_band_edge": q.at_band_edge,
                 "band": [fmt.price(q.band.lower, m.tick_size), fmt.price(q.band.upper, m.tick_size)]}
                for q in ev.quotes
            ],
            "refused": [{"token_id": t, "reason": r} for t, r in ev.refused],
        }

    out = {
        "funnel": [{"rule": rule, "remaining": n} for rule, n in sel.steps],
        "selected": [ev_json(ev) for ev in sel.selected],
        "problems": problems,
    }
    if include_rejected:
        out["rejected"] = [
            {"condition_id": r.condition_id, "question": r.question, "rule": r.rule, "reason": r.detail}
            for r in sel.rejected.values()
        ]
    return out


def print_selection(console: Console, sel: Selection, include_rejected: bool, problems: list[str]) -> None:
    funnel = Table(title="Market funnel", show_lines=False)
    funnel.add_column("#", justify="right")
    funnel.add_column("rule")
    funnel.add_column("markets left", justify="right")
    for i, (rule, n) in enumerate(sel.steps, 1):
        funnel.add_row(str(i), rule, str(n))
    console.print(funnel)

    table = Table(title=f"Selected markets ({len(sel.selected)})")
    for col, just in (("question", "left"), ("rate/day", "right"), ("min size", "right"), ("max spread¢", "right"),
                      ("spread", "right"), ("exp $/day net", "right"), ("share", "right"), ("ratio", "right"),
                      ("buys (outcome price×size)", "left")):
        table.add_column(col, justify=just, overflow="fold", ratio=3 if col == "question" else None)
    for ev in sel.selected:
        m = ev.market
        buys = ", ".join(f"{q.outcome} {fmt.price(q.price, m.tick_size)}×{fmt.shares(q.size)}" for q in ev.quotes)
        table.add_row(m.question, fmt.money(m.rate_per_day), _num(m.rewards_min_size, 0), _num(m.rewards_max_spread, 1),
                      fmt.price(ev.spread, m.tick_size), fmt.money(ev.expected_net_per_day), f"{ev.share:.1%}",
                      _num(ev.original_ratio, 1), buys)
    console.print(table)

    if include_rejected:
        rej = Table(title=f"Rejected markets ({len(sel.rejected)})")
        rej.add_column("question", overflow="fold")
        rej.add_column("rule")
        rej.add_column("reason", overflow="fold")
        for r in sel.rejected.values():
            rej.add_row(r.question, r.rule, r.detail)
        console.print(rej)
    for p in problems:
        console.print(Text("skipped:", style="yellow"), p)


class _Names:
    """Question, outcome and tick of every market the decision saw, for labels and price formatting."""

    def __init__(self, decision) -> None:
        self.markets = {}
        for section in (decision.observed.reward_markets, getattr(decision.observed, "other_markets", ())):
            if isinstance(section, tuple):
                self.markets.update({m.condition_id: m for m in section})
        self.markets.update({ev.market.condition_id: ev.market for ev in decision.selection.ranked})
        self.outcome = {t.token_id: t.outcome for m in self.markets.values() for t in m.tokens}
        self.market_of = {t.token_id: m.condition_id for m in self.markets.values() for t in m.tokens}

    def question(self, condition_id: str) -> str:
        m = self.markets.get(condition_id)
        return fmt.market_label(m.question if m else None, None, condition_id)

    def tick(self, condition_id: str) -> Decimal | None:
        m = self.markets.get(condition_id)
        return m.tick_size if m else None

    def price(self, condition_id: str, value: Decimal) -> str:
        return fmt.price(value, self.tick(condition_id))

    def readable(self, text: str) -> str:
        """A note with token-id prefixes (`1234567890ab…`) replaced by the market's question and outcome."""
        if "…" not in text:
            return text
        for token_id, outcome in self.outcome.items():
            prefix = f"{token_id[:12]}…"
            if prefix in text:
                text = text.replace(prefix, f"'{self.question(self.market_of[token_id])} — {outcome}'")
        return text


def _row(names: _Names, action: str, condition_id: str, token_id: str, side: str, price: Decimal, size: Decimal,
         role: str, slot: str, reason: str, **extra) -> dict:
    return {"action": action, "market": names.question(condition_id), "outcome": names.outcome.get(token_id),
            "condition_id": condition_id, "token_id": token_id, "side": side, "price": names.price(condition_id, price),
            "size": fmt.shares(size), "role": role, "slot": slot, **extra, "reason": reason}


def plan_rows(decision) -> tuple[list[dict], list[dict]]:
    """(actions, dropped) as plain rows, shared by the table and the JSON output."""
    names = _Names(decision)
    gated = decision.gated
    actions = []
    for c in gated.cancels:
        actions.append(_row(names, "cancel", c.condition_id, c.token_id, c.side, c.price, c.size, c.role, c.slot_key,
                            c.reason, order_id=c.order_id))
    shrunk = {id(p): (old, why) for p, old, why in gated.shrunk}
    for p in gated.places:
        o = p.order
        reason = p.reason + (f" (shrunk from {fmt.shares(shrunk[id(p)][0])}: {shrunk[id(p)][1]})" if id(p) in shrunk else "")
        if p.after_cancel:
            reason += f" (after cancel of {p.after_cancel[:12]}…)"
        actions.append(_row(names, "place", o.condition_id, o.token_id, o.side, o.price, o.size, o.role, o.slot_key,
                            reason, order_id=None, after_cancel=p.after_cancel))
    dropped = [_row(names, "place", p.order.condition_id, p.order.token_id, p.order.side, p.order.price, p.order.size,
                    p.order.role, p.order.slot_key, why) for p, why in gated.dropped]
    dropped += [_row(names, "cancel", c.condition_id, c.token_id, c.side, c.price, c.size, c.role, c.slot_key, why,
                     order_id=c.order_id) for c, why in gated.deferred]
    return actions, dropped


def plan_json(decision) -> dict:
    actions, dropped = plan_rows(decision)
    obs = decision.observed
    names = _Names(decision)
    return {
        "actions": actions,
        "dropped": dropped,
        "held": list(decision.plan.held),
        "kept": list(decision.plan.kept),
        "ledger_updates": [{"order_id": u.order_id, "triggers": list(u.triggers), "reason": u.reason}
                           for u in decision.updates],
        "foreign_orders": [o.order_id for o in decision.foreign],
        "unknown_sections": {name: getattr(obs, name).reason for name in ("open_orders", "fills", "collateral", "reward_markets")
                             if hasattr(getattr(obs, name), "reason")},
        "selected_markets": [ev.market.condition_id for ev in decision.selection.selected],
        "notes": [names.readable(n) for n in list(decision.desired.notes) + list(obs.problems)],
    }


def print_plan(console: Console, decision) -> None:
    actions, dropped = plan_rows(decision)
    table = Table(title=f"Pending actions ({len(actions)})")
    for col, just in (("action", "left"), ("market", "left"), ("outcome", "left"), ("side", "left"), ("price", "right"),
                      ("size", "right"), ("role", "left"), ("reason", "left")):
        table.add_column(col, justify=just, overflow="fold", ratio=3 if col in ("market", "reason") else None)
    for a in actions:
        table.add_row(a["action"], a["market"], a["outcome"] or "?", a["side"], a["price"], a["size"], a["role"], a["reason"])
    console.print(table)
    if dropped:
        drop = Table(title=f"Dropped by the risk gate ({len(dropped)})")
        for col, just in (("market", "left"), ("outcome", "left"), ("side", "left"), ("price", "right"),
                          ("size", "right"), ("role", "left"), ("reason", "left")):
            drop.add_column(col, justify=just, overflow="fold", ratio=3 if col in ("market", "reason") else None)
        for d in dropped:
            drop.add_row(d["market"], d["outcome"] or "?", d["side"], d["price"], d["size"], d["role"], d["reason"])
        console.print(drop)
    data = plan_json(decision)
    if data["notes"]:
        notes = Table(title=f"Notes ({len(data['notes'])})", show_header=False)
        notes.add_column("note", overflow="fold")
        for note in data["notes"]:
            notes.add_row(note)
        console.print(notes)
    for name, reason in data["unknown_sections"].items():
        console.print(Text("unknown:", style="yellow"), f"{name}: {reason}")
    for line in decision.plan.held:
        console.print(Text("held:", style="yellow"), line)
    for u in data["ledger_updates"]:
        console.print(f"ledger would record {u['order_id'][:12]}…: {' → '.join(u['triggers']) or 'size'} ({u['reason']})")
    if not actions:
        console.print(Text("nothing to do: the venue matches the desired state", style="green"))
