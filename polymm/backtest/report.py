"""The economics report: `report.json` (figures per market and in total) and `report.html` (plots and a table).

Definitions (the same in both files and in docs/BACKTEST.md):
- rewards: liquidity rewards the venue accrued to the account by its per-minute sampling (it pays them
  at midnight UTC, ≥ $1 a day; `rewards_paid` is what it had credited by the end);
- rebates: maker rebates of the account's maker fills — those the daily payouts worked out, plus the
  current day's worked out the same way (`rebates_paid`: credited by the end);
- fees: taker fees the account paid;
- trading P&L: cash paid and received for shares (fees excluded) plus the shares still held marked to
  the book's midpoint;
- net = rewards + rebates − fees + trading P&L;
- markout at h seconds of a fill: (midpoint h seconds later − fill price) × size for a buy, the
  opposite for a sell; positive is in our favour;
- expected rewards: polymm's own estimate (the selection's expected $/day of each quoted market,
  integrated over the time it was selected), set against what the venue paid.
The plots are drawn with matplotlib into inline SVG: the page needs no network.
"""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path

REPORT_VERSION = 1


def _r(x: float, nd: int = 6) -> float:
    return round(float(x), nd) if x is not None and math.isfinite(x) else 0.0


def build_report(record) -> dict:
    """The report's JSON document from a backtest RunRecord (every figure rounded, nothing from the wall clock)."""
    final = record.final
    markets = record.markets
    rewards = final.get("rewards_by_market", {})
    rebates = final.get("rebates_by_market", {})
    fees = final.get("fees_by_market", {})
    cash = final.get("cash_by_market", {})
    holdings = final.get("holdings_by_market", {})
    merges = final.get("merges_by_market", {})
    fills_by_market: dict[str, list] = {}
    for f in record.fills:
        fills_by_market.setdefault(f.condition_id, []).append(f)
    involved = set(rewards) | set(rebates) | set(fees) | set(cash) | set(holdings) | set(record.expected_by_market)
    hours = (record.end - record.start) / 3600
    rows = []
    for cid in sorted(involved):
        facts = markets.get(cid, {})
        held = holdings.get(cid, {})
        trading = cash.get(cid, 0.0) + held.get("value", 0.0)
        fl = fills_by_market.get(cid, [])
        expected = record.expected_by_market.get(cid, 0.0)
        paid = rewards.get(cid, 0.0)
        merged = merges.get(cid, {})
        rows.append({
            "condition_id": cid,
            "question": facts.get("question", ""),
            "rate_per_day": facts.get("rate_per_day"),
            "rewards_max_spread": facts.get("rewards_max_spread"),
            "rewards_min_size": facts.get("rewards_min_size"),
            "rewards": _r(paid),
            "rebates": _r(rebates.get(cid, 0.0)),
            "fees": _r(fees.get(cid, 0.0)),
            "trading_pnl": _r(trading),
            "net": _r(paid + rebates.get(cid, 0.0) - fees.get(cid, 0.0) + trading),
            "inventory_value": _r(held.get("value", 0.0)),
            **_fill_stats(fl),
            "expected_rewards": _r(expected),
            "paid_over_expected": _r(paid / expected, 4) if expected > 0 else None,
            "hours_quoted": _r(record.selected_seconds.get(cid, 0.0) / 3600, 3),
            # YES+NO pairs merged into collateral (in trading P&L already: the collateral is cash, the shares gone)
            "merges": merged.get("merges", 0),
            "merged_pairs": _r(merged.get("pairs", 0.0)),
            "merge_pnl": _r(merged.get("pnl", 0.0)),
        })
    totals = {k: _r(sum(r[k] for r in rows)) for k in ("rewards", "rebates", "fees", "trading_pnl", "net",
                                                      "expected_rewards", "inventory_value", "merged_pairs", "merge_pnl")}
    totals["merges"] = sum(r["merges"] for r in rows)
    totals.update(_fill_stats(record.fills))
    totals["paid_over_expected"] = _r(totals["rewards"] / totals["expected_rewards"], 4) if totals["expected_rewards"] else None
    series = record.series
    capital = [s["open_buy_notional"] + s["inventory_cost"] for s in series]
    avg_capital = sum(capital) / len(capital) if capital else 0.0
    totals["capital_at_work_avg"] = _r(avg_capital)
    days = hours / 24 if hours else 0
    totals["reward_per_dollar_per_day"] = _r(totals["rewards"] / avg_capital / days, 6) if avg_capital and days else None
    equity_change = final.get("equity_end", 0.0) - final.get("equity_start", 0.0)
    totals["equity_change"] = _r(equity_change)
    totals["rewards_paid"] = _r(final.get("rewards_paid", 0.0))
    totals["rebates_paid"] = _r(final.get("rebates_paid", 0.0))
    opts = record.options
    cfg = record.config
    return {
        "version": REPORT_VERSION,
        "run": {
            "scenario": opts.scenario, "seed": opts.seed, "hours": opts.hours, "markets": opts.markets,
            "tick_s": opts.tick_s, "sample_s": opts.sample_s, "start": record.start, "end": record.end,
            "ticks": record.ticks, "ticks_after_fill": record.fill_ticks,
            "tick_errors": final.get("tick_errors", [])[:20],
        },
        "caps": {"per_market": float(cfg["strategy"]["max_exposure_per_market_usdc"]),
                 "total": float(cfg["strategy"]["max_total_exposure_usdc"])},
        # the options that decide the economics, so runs with different settings can be told apart
        "strategy": {"strategy": cfg["strategy"], "hedge_sell": cfg["hedge_sell"], "filters": cfg["filters"],
                     "loop": cfg["loop"]},
        "totals": totals,
        "markets": rows,
        "venue_state": record.venue_state,
        "series": [{k: v for k, v in s.items()} for s in series],
        "fills": [{"at": f.at, "condition_id": f.condition_id, "token_id": f.token_id, "side": f.side,
                   "price": f.price, "size": _r(f.size), "liquidity": f.liquidity, "fee": _r(f.fee),
                   "mid_at_fill": _r(f.mid_at_fill) if f.mid_at_fill is not None else None,
                   "markouts": {str(k): v for k, v in sorted(f.markouts.items())}} for f in record.fills],
    }


def _fill_stats(fills: list) -> dict:
    maker = [f for f in fills if f.liquidity == "MAKER"]
    buys = [f for f in fills if f.side == "BUY"]
    out = {"fills": len(fills), "maker_fills": len(maker), "taker_fills": len(fills) - len(maker),
           "volume_usdc": _r(sum(f.price * f.size for f in fills)),
           "bought_shares": _r(sum(f.size for f in buys))}
    for horizon in (60, 300):
        marked = [f for f in maker if horizon in f.markouts]
        total = sum(f.markouts[horizon] for f in marked)
        shares = sum(f.size for f in marked)
        out[f"maker_markout_{horizon}s"] = _r(total)
        out[f"maker_markout_{horizon}s_per_share"] = _r(total / shares, 6) if shares else None
    return out


def write_report(report: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(report))
    return json_path, html_path


# ---------------------------------------------------------------------- HTML
def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _plots(report: dict) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "polymm"  # stable ids: the same run gives the same page
    import matplotlib.pyplot as plt

    series = report["series"]
    out: list[tuple[str, str]] = []
    if not series:
        return out
    t0 = series[0]["t"]
    hours = [(s["t"] - t0) / 3600 for s in series]

    fig, ax = plt.subplots(figsize=(9, 3.6))
    net = [s["rewards"] + s["rebates"] - s["fees"] + s["trading_pnl"] for s in series]
    for key, label in (("rewards", "rewards"), ("rebates", "rebates"), ("trading_pnl", "trading P&L (marked to mid)")):
        ax.plot(hours, [s[key] for s in series], label=label)
    ax.plot(hours, [-s["fees"] for s in series], label="− fees")
    ax.plot(hours, net, label="net", color="black", linewidth=2)
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_xlabel("simulated hours")
    ax.set_ylabel("USDC, cumulative")
    ax.legend(loc="best", fontsize=8)
    out.append(("Cumulative rewards, rebates, fees, trading P&L and net", _svg(fig)))

    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(hours, [s["open_buy_notional"] + s["inventory_cost"] for s in series], label="total exposure (open buys + inventory cost)")
    ax.plot(hours, [s["inventory_value"] for s in series], label="inventory at mid")
    worst = [max(s["exposure_by_market"].values(), default=0.0) for s in series]
    ax.plot(hours, worst, label="largest market exposure")
    ax.axhline(report["caps"]["total"], color="red", linestyle="--", linewidth=1, label="total cap")
    ax.axhline(report["caps"]["per_market"], color="orange", linestyle="--", linewidth=1, label="per-market cap")
    ax.set_xlabel("simulated hours")
    ax.set_ylabel("USDC")
    ax.legend(loc="best", fontsize=8)
    out.append(("Inventory and exposure against the caps", _svg(fig)))

    fills = report["fills"]
    if fills:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
        fh = [(f["at"] - t0) / 3600 for f in fills]
        a1.scatter(fh, [f["size"] * (1 if f["side"] == "BUY" else -1) for f in fills], s=8,
                   c=["tab:blue" if f["liquidity"] == "MAKER" else "tab:red" for f in fills])
        a1.set_xlabel("simulated hours")
        a1.set_ylabel("shares (+ buy, − sell); blue maker, red taker")
        for horizon, colour in (("60", "tab:green"), ("300", "tab:purple")):
            vals = [f["markouts"][horizon] / f["size"] * 100 for f in fills
                    if f["liquidity"] == "MAKER" and horizon in f["markouts"] and f["size"]]
            if vals:
                a2.hist(vals, bins=30, alpha=0.6, color=colour, label=f"{horizon} s")
        a2.set_xlabel("maker markout, cents per share (+ in our favour)")
        a2.legend(fontsize=8)
        out.append(("Fills and markouts", _svg(fig)))

    rows = [r for r in report["markets"] if r["expected_rewards"] or r["rewards"]]
    if rows:
        fig, ax = plt.subplots(figsize=(9, max(2.5, 0.35 * len(rows) + 1)))
        labels = [(r["question"] or r["condition_id"])[:48] for r in rows]
        ys = list(range(len(rows)))
        ax.barh([y - 0.2 for y in ys], [r["expected_rewards"] for r in rows], height=0.4, label="expected (polymm)")
        ax.barh([y + 0.2 for y in ys], [r["rewards"] for r in rows], height=0.4, label="paid (venue)")
        ax.set_yticks(ys, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("USDC over the run")
        ax.legend(fontsize=8)
        out.append(("Expected against paid rewards per market", _svg(fig)))
    return out


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td.l,th.l{text-align:left}h2{margin-top:1.6em}
.neg{color:#b00}.pos{color:#070}"""


def _money(x) -> str:
    # USDC to the cent, as every view writes money (polymm/text/format.py); report.json keeps the exact figures
    if x is None:
        return "—"
    cents = round(x, 2) + 0.0  # + 0.0: no negative zero
    cls = "neg" if cents < 0 else "pos" if cents > 0 else ""
    return f'<span class="{cls}">{cents:,.2f}</span>'


def render_html(report: dict) -> str:
    run, totals = report["run"], report["totals"]
    cols = ("rewards", "rebates", "fees", "trading_pnl", "net", "fills", "maker_fills", "maker_markout_300s",
            "merges", "merge_pnl", "expected_rewards", "paid_over_expected")
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in cols)
    body = []
    for r in report["markets"] + [dict(totals, question="TOTAL", condition_id="")]:
        cells = []
        for c in cols:
            v = r.get(c)
            if c == "paid_over_expected":  # a ratio, not money
                shown = "—" if v is None else f"{v:.2f}"
            else:
                shown = _money(v) if isinstance(v, float) else html.escape(str(v if v is not None else "—"))
            cells.append(f"<td>{shown}</td>")
        name = html.escape((r.get("question") or r.get("condition_id", ""))[:70])
        body.append(f"<tr><td class='l'>{name}</td>{''.join(cells)}</tr>")
    plots = "".join(f"<h2>{html.escape(title)}</h2>{svg}" for title, svg in _plots(report))
    rpd = totals.get("reward_per_dollar_per_day")
    summary = (f"<p>Scenario <b>{html.escape(str(run['scenario']))}</b>, seed {run['seed']}, {run['hours']} simulated hours, "
               f"{run['markets']} generated markets, a tick every {run['tick_s']} s ({run['ticks']} ticks, "
               f"{run['ticks_after_fill']} woken by a fill).</p>"
               f"<p>Net <b>{_money(totals['net'])}</b> USDC = rewards {_money(totals['rewards'])} + rebates "
               f"{_money(totals['rebates'])} − fees {_money(totals['fees'])} + trading P&amp;L {_money(totals['trading_pnl'])}. "
               f"Average capital at work {totals['capital_at_work_avg']:.2f} USDC; rewards per dollar per day "
               f"{'—' if rpd is None else f'{rpd * 100:.3f} %'}.</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>polymm report</title><style>{_CSS}</style></head>"
            f"<body><h1>polymm economics report</h1>{summary}<h2>Per market</h2><table><tr><th class='l'>market</th>{head}</tr>"
            f"{''.join(body)}</table>{plots}<p style='font-size:11px'>All figures are the venue's (the simulator's state), "
            f"in USDC. Markouts: midpoint h seconds after a maker fill against its price, times its size.</p></body></html>\n")
