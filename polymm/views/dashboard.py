"""`polymm dashboard`: a read-only live web page served from the ledger, like `polymm status`.

Health, the selected markets with the reward band and our quotes, positions and their hedges,
exposure against the caps, and charts over time (realised trading P&L from the fills, the expected
reward rate and its running estimate, exposure against the cap, tick duration from the tick
journal). Everything is rendered on the server as HTML with inline SVG: no script, no CDN, no
request leaves the machine, so it works offline and behind any firewall. It binds loopback by
default, answers GET only, and reopens the ledger read-side for every request (safe while the loop
runs, and after it stops). `/api/dashboard` serves the same data as JSON. A request whose `Host`
is a DNS name other than `localhost` (or the name it was bound to) is refused: that is how a page
elsewhere reads a loopback server after DNS rebinding. Venue text is escaped and its control
characters shown as escapes (format.visible).
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import time
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from polymm.config import PolymmConfig
from polymm.domain.positions import PositionRecord, apply_to_position
from polymm.ledger import Ledger
from polymm.text import format as fmt
from polymm.views.status import gather_status

log = logging.getLogger("polymm.dashboard")
HISTORY_POINTS = 400
REFRESH_S = 5
ZERO = Decimal(0)
COLOURS = {"ok": "#1a7f37", "degraded": "#b58100", "halted": "#cf222e", "stopped": "#0969da", "unknown": "#57606a"}


# ---------------------------------------------------------------------------------------------- data
def gather_dashboard(cfg: PolymmConfig, path: Path, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    status = gather_status(cfg, path, now)
    ledger = Ledger(path)
    try:
        every = max(1, ledger.tick_count() // HISTORY_POINTS)
        ticks = [t for t in ledger.recent_ticks(HISTORY_POINTS, every) if not t["summary"].get("final")]
        latest = [t for t in ledger.recent_ticks(5) if not t["summary"].get("final")]
        fills = ledger.fills()
        active = ledger.active_orders()
    finally:
        ledger.close()
    snapshot = latest[-1]["summary"].get("markets", []) if latest else []
    live: dict[str, list[dict]] = {}
    for o in active:
        live.setdefault(o.token_id, []).append({"side": o.side, "role": o.role, "price": str(o.price),
                                                "remaining": str(o.remaining), "state": o.state})
    for market in snapshot:
        for token in market.get("tokens", []):
            token["live"] = live.get(token["token_id"], [])
    return {"status": status, "markets": snapshot, "history": _history(ticks, fills, now), "now": now}


def _history(ticks: list[dict], fills: list, now: float) -> dict:
    exposure, cap, rate, accrued, seconds = [], [], [], [], []
    total_est = 0.0
    previous: tuple[float, float] | None = None
    for t in ticks:
        s, at = t["summary"], t["finished_at"]
        exposure.append((at, float(sum((Decimal(v) for v in (s.get("exposure") or {}).values()), ZERO))))
        if s.get("exposure_cap_total") is not None:
            cap.append((at, float(s["exposure_cap_total"])))
        r = float(s.get("expected_rewards_per_day") or 0.0)
        rate.append((at, r))
        if previous is not None:
            total_est += previous[1] * max(0.0, at - previous[0]) / 86400.0
        accrued.append((at, total_est))
        previous = (at, r)
        seconds.append((at, float(s.get("seconds") or 0.0)))
    # realised trading P&L, replayed from the effective fills in the order first seen (as the ledger folds them)
    pnl: list[tuple[float, float]] = []
    if ticks:
        pnl.append((ticks[0]["started_at"], 0.0))
    positions: dict[str, PositionRecord] = {}
    realized = ZERO
    for f in fills:
        if not f.applied or f.reversed:
            continue
        before = positions.get(f.token_id, PositionRecord(f.token_id, f.condition_id, ZERO, ZERO, ZERO))
        after = apply_to_position(before, f.side, f.size, f.price)
        positions[f.token_id] = after
        realized += after.realized_pnl - before.realized_pnl
        pnl.append((f.first_seen_at, float(realized)))
    if pnl:
        pnl.append((now, float(realized)))
    return {"exposure_total": exposure, "exposure_cap_total": cap, "rewards_rate": rate,
            "rewards_accrued_estimate": accrued, "tick_seconds": seconds, "realized_pnl": pnl}


# ---------------------------------------------------------------------------------------------- rendering
def _e(value: Any) -> str:
    return html.escape(fmt.visible(value), quote=True)


def _usd(value: Any, places: int = 2) -> str:
    """Money through the one formatter (polymm/text/format.py); `places` > 2 only for sub-cent chart axes."""
    if places <= 2 or value is None:
        return fmt.money(value)
    v = Decimal(str(value))
    return f"-${-v:,.{places}f}" if v < 0 else f"${v:,.{places}f}"


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S")


def line_chart(chart_id: str, title: str, series: list[tuple[str, str, list[tuple[float, float]], bool]],
               unit: str = "", width: int = 560, height: int = 200) -> str:
    """An SVG line chart: `series` = (name, colour, points, dashed). Time on x (UTC), values on y."""
    pad_l, pad_r, pad_t, pad_b = 64, 12, 28, 30
    points = [p for _, _, pts, _ in series for p in pts]
    head = (f'<svg class="chart" data-chart="{_e(chart_id)}" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{_e(title)}" xmlns="http://www.w3.org/2000/svg">'
            f'<text x="{pad_l}" y="17" class="ct">{_e(title)}</text>')
    if len(points) < 2:
        return head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="muted">no data yet</text></svg>'
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(0.0, min(p[1] for p in points)), max(p[1] for p in points)
    if y1 - y0 < 1e-9:
        y1 = y0 + 1.0
    y1 += (y1 - y0) * 0.08
    x1 = x1 if x1 > x0 else x0 + 1.0
    iw, ih = width - pad_l - pad_r, height - pad_t - pad_b

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * iw

    def sy(y: float) -> float:
        return pad_t + ih - (y - y0) / (y1 - y0) * ih

    parts = [head, f'<rect x="{pad_l}" y="{pad_t}" width="{iw}" height="{ih}" class="plot"/>']
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        parts.append(f'<line x1="{pad_l}" x2="{pad_l + iw}" y1="{sy(yv):.1f}" y2="{sy(yv):.1f}" class="grid"/>'
                     f'<text x="{pad_l - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end" class="tick">{_e(_fmt_axis(yv, unit))}</text>')
    for i in range(4):
        xv = x0 + (x1 - x0) * i / 3
        anchor = ("start", "middle", "middle", "end")[i]
        parts.append(f'<text x="{sx(xv):.1f}" y="{height - 10}" text-anchor="{anchor}" class="tick">{_clock(xv)}</text>')
    legend_x = pad_l + iw
    for name, colour, pts, dashed in reversed(series):
        if len(pts) >= 1:
            coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in (pts if len(pts) > 1 else pts * 2))
            dash = ' stroke-dasharray="5 4"' if dashed else ""
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"{dash} '
                         f'data-series="{_e(name)}"/>')
        legend_x -= 24 + 6.5 * len(name)
        parts.append(f'<text x="{legend_x}" y="17" class="legend" fill="{colour}">■ {_e(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt_axis(v: float, unit: str) -> str:
    if unit == "$":
        return _usd(v, 2 if abs(v) < 100 else 0)
    if unit == "s":
        return f"{v:.2f} s"
    return f"{v:.3g}"


def band_svg(token: dict, width: int = 150, height: int = 26) -> str:
    """The reward band of one token (lower … mid … upper) with our desired quote and live orders on it."""
    lo, mid, up = float(token["lower"]), float(token["mid"]), float(token["upper"])
    span_lo, span_hi = lo - (mid - lo) * 0.25, up + (up - mid) * 0.25
    if span_hi - span_lo < 1e-9:
        return ""

    def sx(p: float) -> float:
        return 6 + (min(max(p, span_lo), span_hi) - span_lo) / (span_hi - span_lo) * (width - 12)

    parts = [f'<svg class="band" data-token="{_e(token["token_id"])}" width="{width}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg"><rect x="{sx(lo):.1f}" y="9" width="{sx(up) - sx(lo):.1f}" height="8" '
             f'class="bandrect"><title>reward band {lo:.4f}–{up:.4f}</title></rect>'
             f'<line x1="{sx(mid):.1f}" x2="{sx(mid):.1f}" y1="5" y2="21" class="mid"><title>mid {mid:.4f}</title></line>']
    desired = float(token["price"])
    parts.append(f'<circle cx="{sx(desired):.1f}" cy="13" r="4" class="want"><title>desired bid {desired:.4f}</title></circle>')
    for o in token.get("live", []):
        p = float(o["price"])
        cls = "livebuy" if o["side"] == "BUY" else "livesell"
        parts.append(f'<rect x="{sx(p) - 3:.1f}" y="3" width="6" height="20" class="{cls}"><title>live {o["side"].lower()} '
                     f'{p:.4f} × {o["remaining"]} ({o["state"]})</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


STYLE = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f8fa;color:#1f2328}
header{background:#fff;border-bottom:1px solid #d0d7de;padding:12px 20px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
h1{font-size:18px;margin:0} h2{font-size:15px;margin:0 0 8px}
.badge{color:#fff;border-radius:12px;padding:2px 12px;font-weight:600;text-transform:uppercase;font-size:13px}
main{padding:16px 20px;display:grid;gap:16px;grid-template-columns:repeat(auto-fit,minmax(580px,1fr))}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 14px;overflow-x:auto}
.cards{display:flex;gap:12px;flex-wrap:wrap;grid-column:1/-1}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:20px} .muted,.card span{color:#57606a;font-size:12px}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2;white-space:nowrap}
td.wrap,th.wrap{white-space:normal;min-width:120px;max-width:260px}
th{color:#57606a;font-weight:600;font-size:12px} td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#eaeef2;border-radius:4px;height:10px;width:160px;display:inline-block;vertical-align:middle}
.bar i{display:block;height:10px;border-radius:4px;background:#0969da} .bar i.hot{background:#cf222e}
svg .ct{font-weight:600;font-size:13px;fill:#1f2328} svg .tick{font-size:11px;fill:#57606a} svg .legend{font-size:11px}
svg .plot{fill:#fbfcfd;stroke:#d0d7de} svg .grid{stroke:#eaeef2}
svg .bandrect{fill:#ddf4ff;stroke:#54aeff} svg .mid{stroke:#1f2328;stroke-width:1.5} svg .want{fill:none;stroke:#8250df;stroke-width:2}
svg .livebuy{fill:#1a7f37} svg .livesell{fill:#cf222e}
.why{color:#57606a}
"""


def render_page(data: dict) -> str:
    st = data["status"]
    health = st["health"]
    hist = data["history"]
    cap_total = float(st["exposure_cap_total"])
    cap_market = float(st["exposure_cap_per_market"])
    age = "—" if st["last_tick_age_s"] is None else f"{st['last_tick_age_s']:.1f} s ago"
    accrued = hist["rewards_accrued_estimate"][-1][1] if hist["rewards_accrued_estimate"] else 0.0
    cards = [
        ("Exposure", f"{_usd(st['exposure_total'])} / {_usd(cap_total, 0)}", "open buys + inventory at cost, total cap"),
        ("Realised P&L", _usd(st["realized_pnl"]), "trading, from the fills"),
        ("Expected rewards", f"{_usd(st['expected_rewards_per_day'] or 0)}/day", "selected markets, estimate"),
        ("Rewards accrued", _usd(accrued), "estimate over the charted period"),
        ("Rewards paid", _usd(st.get("rewards_paid_today")) if st.get("rewards_paid_today") is not None else "—",
         f"today by the venue; yesterday {_usd(st.get('rewards_paid_yesterday'))}"),
        ("Wallet", _usd(st.get("balance_usdc")) if st.get("balance_usdc") is not None else "unknown",
         "collateral at the venue" if st.get("balance_usdc") is not None
         else (st.get("account_problem") or "not read yet")),
        ("Fills today", f"{st['fills_today']} ({_usd(st['fills_today_volume_usdc'])})", "UTC day"),
        ("Positions", str(sum(1 for p in st["positions"] if Decimal(p["size"]) > 0)), "tokens held"),
        ("Orders", ", ".join(f"{n} {s}" for s, n in sorted(st["orders_by_state"].items())
                             if s in ("open", "partially_filled", "unknown", "submitting", "intent")) or "none live",
         "active, by state"),
    ]
    out = ["<!doctype html><html lang=en><head><meta charset=utf-8>",
           f'<meta http-equiv="refresh" content="{REFRESH_S}"><title>polymm — {_e(health)}</title>',
           f"<style>{STYLE}</style></head><body>",
           f'<header><h1>polymm</h1><span id="health" class="badge" data-health="{_e(health)}" '
           f'style="background:{COLOURS.get(health, COLOURS["unknown"])}">{_e(health)}</span>',
           f'<span class="why" id="why">{_e(st["why"])}</span>',
           f'<span class="muted">last tick #{_e(st["last_tick"])} {age} · updated {_clock(data["now"])} UTC · '
           f'{_e(st["ledger"])}</span></header><main>']
    out.append('<div class="cards">' + "".join(
        f'<div class="card"><span>{_e(t)}</span><b>{_e(v)}</b><span>{_e(n)}</span></div>' for t, v, n in cards) + "</div>")
    out.append("<section>" + line_chart("pnl", "Realised trading P&L (USDC)",
                                         [("realised", "#1a7f37", hist["realized_pnl"], False)], "$") + "</section>")
    out.append("<section>" + line_chart("rewards", "Expected liquidity rewards (USDC per day)",
                                         [("expected / day", "#8250df", hist["rewards_rate"], False)], "$") + "</section>")
    out.append("<section>" + line_chart("exposure", "Exposure against the total cap (USDC)",
                                         [("exposure", "#0969da", hist["exposure_total"], False),
                                          ("cap", "#cf222e", hist["exposure_cap_total"], True)], "$") + "</section>")
    out.append("<section>" + line_chart("ticks", "Tick duration (s)",
                                         [("tick", "#57606a", hist["tick_seconds"], False)], "s") + "</section>")
    out.append(_markets_section(data["markets"]))
    out.append(_positions_section(st, {m["condition_id"]: m for m in data["markets"]}))
    out.append(_exposure_section(st, cap_market, {m["condition_id"]: m["question"] for m in data["markets"]}))
    notes = st.get("notes") or []
    if notes:
        out.append('<section><h2>Notes of the last tick</h2><ul>' + "".join(f"<li>{_e(n)}</li>" for n in notes[:10]) +
                   "</ul></section>")
    out.append("</main></body></html>")
    return "".join(out)


def _markets_section(markets: list[dict]) -> str:
    rows = []
    for m in markets:
        for i, t in enumerate(m.get("tokens", [])):
            tick = m.get("tick_size")
            live = ", ".join(f"{o['side'].lower()} {fmt.price(o['price'], tick)} × {fmt.shares(o['remaining'])}"
                             for o in t.get("live", []))
            rows.append("<tr>" + (f'<td class=wrap rowspan="{len(m["tokens"])}" title="{_e(m["question"])}">'
                                  f'{_e(_short(m["question"], 90))}</td>' if i == 0 else "") +
                        f"<td>{_e(t['outcome'])}</td><td>{band_svg(t)}</td>"
                        f"<td class=num>{fmt.price(t['lower'], tick)} · {fmt.avg_price(t['mid'], tick)} · "
                        f"{fmt.price(t['upper'], tick)}</td>"
                        f"<td class=num>{fmt.price(t['price'], tick)} × {fmt.shares(t['size'])}</td><td class=wrap>{_e(live) or '—'}</td>" +
                        (f'<td class=num rowspan="{len(m["tokens"])}">{_usd(m["expected_per_day"])}/day</td>' if i == 0 else "")
                        + "</tr>")
    body = ("".join(rows) if rows else '<tr><td colspan=7 class="muted">no market selected at the last tick</td></tr>')
    return ('<section id="markets" style="grid-column:1/-1"><h2>Markets, reward bands and our quotes</h2><table>'
            "<tr><th>market</th><th>outcome</th><th class=wrap>band (○ desired bid, ▮ live orders)</th>"
            "<th class=wrap>band lower · mid · upper</th><th>desired bid</th><th>live orders</th><th>expected</th></tr>"
            + body + "</table></section>")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _positions_section(st: dict, markets: dict[str, dict]) -> str:
    rows = []
    for p in st["positions"]:
        m = markets.get(p["condition_id"])
        outcome = next((t["outcome"] for t in (m or {}).get("tokens", []) if t["token_id"] == p["token_id"]), None)
        name = fmt.market_label(_short(m["question"], 56) if m else None, outcome, p["condition_id"])
        tick = (m or {}).get("tick_size")
        cov = fmt.percent(p["hedge_coverage"])
        rows.append(f'<tr class="position" data-token="{_e(p["token_id"])}"><td title="{_e(p["token_id"])}">'
                    f'{_e(p["token_id"][:10])}…</td><td title="{_e(p["condition_id"])}">{_e(name)}</td><td class=num>{fmt.shares(p["size"])}</td>'
                    f'<td class=num>{fmt.avg_price(p["avg_cost"], tick)}</td><td class=num>{fmt.shares(p["hedge_offered"])}</td>'
                    f'<td class=num>{cov}</td><td class=num>{_usd(p["realized_pnl"])}</td></tr>')
    body = "".join(rows) or '<tr><td colspan=7 class="muted">no positions</td></tr>'
    return ('<section id="positions" style="grid-column:1/-1"><h2>Positions and hedges</h2><table><tr><th>token</th><th>market</th><th>size</th>'
            "<th>avg cost</th><th>hedge offered</th><th>coverage</th><th>realised</th></tr>" + body + "</table></section>")


def _exposure_section(st: dict, cap_market: float, questions: dict[str, str]) -> str:
    rows = []
    for cid, v in st["exposure"].items():
        ratio = float(v) / cap_market if cap_market else 0.0
        name = fmt.market_label(_short(questions[cid], 48) if cid in questions else None, None, cid)
        rows.append(f'<tr><td title="{_e(cid)}">{_e(name)}</td><td class=num>{_usd(v)}</td>'
                    f'<td><span class="bar"><i class="{"hot" if ratio >= 0.9 else ""}" style="width:{min(ratio, 1) * 100:.0f}%">'
                    f"</i></span> {ratio:.0%}</td></tr>")
    body = "".join(rows) or '<tr><td colspan=3 class="muted">no exposure</td></tr>'
    return (f'<section id="exposure"><h2>Exposure per market (cap {_usd(cap_market, 0)})</h2><table>'
            "<tr><th>market</th><th>USDC</th><th>of the cap</th></tr>" + body + "</table></section>")


# ---------------------------------------------------------------------------------------------- serving
class _Handler(BaseHTTPRequestHandler):
    cfg: PolymmConfig
    ledger_path: Path

    def do_GET(self) -> None:  # noqa: N802
        if not host_allowed(self.headers.get("Host", ""), self.server.server_address[0]):
            return self._send(403, "text/plain", b"refused: the Host header names neither this address nor localhost")
        route = self.path.split("?", 1)[0]
        if route not in ("/", "/api/dashboard"):
            return self._send(404, "text/plain", b"not found")
        if not self.ledger_path.exists():
            return self._send(503, "text/plain", f"no ledger at {self.ledger_path} yet".encode())
        try:
            data = gather_dashboard(self.cfg, self.ledger_path)
        except Exception as exc:  # a page must not take the server down; the reason is shown
            log.exception("dashboard render failed")
            return self._send(500, "text/plain", f"cannot read the ledger: {exc}".encode())
        if route == "/api/dashboard":
            return self._send(200, "application/json", json.dumps(data, default=str).encode())
        return self._send(200, "text/html; charset=utf-8", render_page(data).encode())

    def do_POST(self) -> None:  # noqa: N802
        self._send(405, "text/plain", b"read-only")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _send(self, code: int, kind: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def host_allowed(host_header: str, bound: str) -> bool:
    """Whether a request's Host names this server: an IP address, `localhost`, or the name it was bound to.
    A page on another site can point its own DNS name at 127.0.0.1 (DNS rebinding) and read this one as
    same-origin; its requests then carry that name as Host, which is refused."""
    name = host_header.strip().lower()
    if name.startswith("["):  # [::1]:8765
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if not name:
        return False
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name in ("localhost", bound.lower())


def make_server(cfg: PolymmConfig, ledger_path: Path, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    handler = type("DashboardHandler", (_Handler,), {"cfg": cfg, "ledger_path": ledger_path})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
