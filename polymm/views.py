"""What the commands show a person (rich tables) and a machine (JSON), from the same values."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console
from rich.table import Table

from polymm.desired.funnel import Evaluation, Selection


def _num(value: Decimal | float, places: int = 2) -> str:
    return f"{float(value):,.{places}f}"


def selection_json(sel: Selection, include_rejected: bool, problems: list[str]) -> dict:
    def ev_json(ev: Evaluation) -> dict:
        m = ev.market
        return {
            "condition_id": m.condition_id,
            "question": m.question,
            "rate_per_day": float(m.rate_per_day),
            "rewards_min_size": float(m.rewards_min_size),
            "rewards_max_spread": float(m.rewards_max_spread),
            "spread": float(ev.spread),
            "expected_per_day": round(ev.expected_per_day, 6),
            "share": round(ev.share, 6),
            "expected_per_dollar": round(ev.expected_per_dollar, 6),
            "original_ratio": round(float(ev.original_ratio), 6),
            "capital_usdc": float(ev.capital_usdc),
            "quotes": [
                {"token_id": q.token_id, "outcome": q.outcome, "side": "BUY", "price": str(q.price),
                 "size": str(q.size), "at_band_edge": q.at_band_edge,
                 "band": [str(q.band.lower), str(q.band.upper)]}
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
                      ("spread", "right"), ("exp $/day", "right"), ("share", "right"), ("ratio", "right"),
                      ("buys (outcome price×size)", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for ev in sel.selected:
        m = ev.market
        buys = ", ".join(f"{q.outcome} {q.price}×{q.size}" for q in ev.quotes)
        table.add_row(m.question[:60], _num(m.rate_per_day), _num(m.rewards_min_size, 0), _num(m.rewards_max_spread, 1),
                      _num(ev.spread, 3), _num(ev.expected_per_day, 3), f"{ev.share:.1%}", _num(ev.original_ratio, 1), buys)
    console.print(table)

    if include_rejected:
        rej = Table(title=f"Rejected markets ({len(sel.rejected)})")
        rej.add_column("question", overflow="fold")
        rej.add_column("rule")
        rej.add_column("reason", overflow="fold")
        for r in sel.rejected.values():
            rej.add_row(r.question[:60], r.rule, r.detail)
        console.print(rej)
    for p in problems:
        console.print(f"[yellow]skipped:[/yellow] {p}")


def _market_label(markets: dict[str, str], condition_id: str) -> str:
    return markets.get(condition_id, condition_id[:12] + "…")[:48]


def plan_rows(decision) -> tuple[list[dict], list[dict]]:
    """(actions, dropped) as plain rows, shared by the table and the JSON output."""
    questions = {ev.market.condition_id: ev.market.question for ev in decision.selection.ranked}
    if hasattr(decision.observed.reward_markets, "__iter__"):
        questions.update({m.condition_id: m.question for m in decision.observed.reward_markets})
    gated = decision.gated
    actions = []
    for c in gated.cancels:
        actions.append({"action": "cancel", "market": _market_label(questions, c.condition_id), "condition_id": c.condition_id,
                        "token_id": c.token_id, "side": c.side, "price": str(c.price), "size": str(c.size),
                        "role": c.role, "slot": c.slot_key, "order_id": c.order_id, "reason": c.reason})
    shrunk = {id(p): (old, why) for p, old, why in gated.shrunk}
    for p in gated.places:
        o = p.order
        reason = p.reason + (f" (shrunk from {shrunk[id(p)][0]}: {shrunk[id(p)][1]})" if id(p) in shrunk else "")
        if p.after_cancel:
            reason += f" (after cancel of {p.after_cancel[:12]}…)"
        actions.append({"action": "place", "market": _market_label(questions, o.condition_id), "condition_id": o.condition_id,
                        "token_id": o.token_id, "side": o.side, "price": str(o.price), "size": str(o.size),
                        "role": o.role, "slot": o.slot_key, "order_id": None, "after_cancel": p.after_cancel,
                        "reason": reason})
    dropped = [{"action": "place", "market": _market_label(questions, p.order.condition_id), "token_id": p.order.token_id,
                "side": p.order.side, "price": str(p.order.price), "size": str(p.order.size), "role": p.order.role,
                "slot": p.order.slot_key, "reason": why} for p, why in gated.dropped]
    dropped += [{"action": "cancel", "market": _market_label(questions, c.condition_id), "token_id": c.token_id,
                 "side": c.side, "price": str(c.price), "size": str(c.size), "role": c.role, "slot": c.slot_key,
                 "order_id": c.order_id, "reason": why} for c, why in gated.deferred]
    return actions, dropped


def plan_json(decision) -> dict:
    actions, dropped = plan_rows(decision)
    obs = decision.observed
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
        "notes": list(decision.desired.notes) + list(obs.problems),
    }


def print_plan(console: Console, decision) -> None:
    actions, dropped = plan_rows(decision)
    table = Table(title=f"Pending actions ({len(actions)})")
    for col in ("action", "market", "token", "side", "price", "size", "role", "reason"):
        table.add_column(col, overflow="fold")
    for a in actions:
        table.add_row(a["action"], a["market"], a["token_id"][:10] + "…", a["side"], a["price"], a["size"], a["role"], a["reason"])
    console.print(table)
    if dropped:
        drop = Table(title=f"Dropped by the risk gate ({len(dropped)})")
        for col in ("market", "side", "price", "size", "role", "reason"):
            drop.add_column(col, overflow="fold")
        for d in dropped:
            drop.add_row(d["market"], d["side"], d["price"], d["size"], d["role"], d["reason"])
        console.print(drop)
    data = plan_json(decision)
    for name, reason in data["unknown_sections"].items():
        console.print(f"[yellow]unknown:[/yellow] {name}: {reason}")
    for line in decision.plan.held:
        console.print(f"[yellow]held:[/yellow] {line}")
    for u in data["ledger_updates"]:
        console.print(f"ledger would record {u['order_id'][:12]}…: {' → '.join(u['triggers']) or 'size'} ({u['reason']})")
    if not actions:
        console.print("[green]nothing to do: the venue matches the desired state[/green]")
