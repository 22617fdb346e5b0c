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
