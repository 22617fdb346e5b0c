"""Measures a venue's reward universe the way the snapshot job measured Polymarket's, and compares it with the snapshot.

The method is the public snapshot job's (noskillcoding/polymarket-rewards-snapshot, `fetch_snapshot.py` and
`compute.py`, described in ../shared/data/README.md): CLOB GET /sampling-markets (the reward programs: pool,
`min_size`, `max_spread`), Gamma GET /markets?condition_ids= (`volume24hr`), CLOB POST /books of each market's
YES token; the touch spread and midpoint from the raw best bid and ask; the in-band capital from the levels within
`max_spread` of that midpoint holding at least `min_size` (bids at price × size, asks at (1 − price) × size);
"no farmers" where nothing scores (the two-sided rule: one-sided liquidity scores a third inside [0.10, 0.90] and
nothing outside). Added here: the depth profile (the best level's share of the top 10 levels, the measure of
P. Dubach, arXiv 2604.24366). It reads any venue — the simulator or a real one — through its public HTTP surface.
"""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from dataclasses import dataclass

from polymm.sim.realdata import UniverseRow

END_CURSORS = ("", "LTE=")
GAMMA_CHUNK = 50  # condition ids a Gamma request (the snapshot job's)
BOOKS_CHUNK = 500  # tokens a POST /books (the snapshot job's; 501+ is refused)
QUANTILES = (10, 25, 50, 75, 90)
# Tolerance of a venue's quantile against the snapshot's: a venue of n markets is a sample of n draws, so its q-th
# percentile is read against the snapshot's between the (q − δ)-th and (q + δ)-th, δ = 3 standard errors of a
# sample quantile (3·√(q(1 − q)/n)); and trading moves a book from what it was seeded with, so that range is widened
# by a slack: field -> (label, relative slack, absolute slack)
TOLERANCES = {
    "rate_per_day": ("pool, $/day", 0.10, 0.5),
    "min_size": ("minimum size, shares", 0.0, 0.0),
    "spread_cents": ("touch spread, cents", 0.25, 0.3),
    "midpoint": ("midpoint", 0.10, 0.02),
    "in_band_capital_usd": ("in-band capital, $", 0.25, 25.0),
    "yield_pct": ("yield, % a day", 0.25, 0.01),
    "volume_24h_usd": ("24 h volume, $", 0.25, 3.0),
}
NO_FARMERS_SLACK = 0.03  # share of markets nobody qualifies in: 3 standard errors of a share of n, plus this
BEST_LEVEL_SHARE_TARGET, BEST_LEVEL_SHARE_TOLERANCE = 0.137, 0.05  # median, absolute (Dubach)


@dataclass(frozen=True)
class UniverseMeasure:
    """A universe measured: each field's values (sorted), the share of markets nobody qualifies in, the median depth
    profile (None where not measured) and how many markets."""

    values: dict[str, tuple[float, ...]]
    no_farmers_share: float
    best_level_share: float | None
    markets: int

    def quantile(self, key: str, q: float) -> float:
        return quantile(self.values[key], q)


def quantile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), linear between ranks (numpy's default), NaN for no values."""
    if not values:
        return math.nan
    ordered = values if isinstance(values, tuple) else sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def measure_rows(rows: list[UniverseRow], best_level_shares: list[float] | None = None) -> UniverseMeasure:
    """The quantiles of rows (the snapshot's, or a venue's measured into rows)."""
    fields: dict[str, list[float]] = {
        "rate_per_day": [r.rate_per_day for r in rows],
        "min_size": [r.min_size for r in rows],
        "spread_cents": [r.spread_cents for r in rows if r.spread_cents is not None],
        "midpoint": [r.midpoint for r in rows if r.midpoint is not None],
        "in_band_capital_usd": [r.in_band_capital_usd for r in rows],
        "yield_pct": [r.reward_yield * 100 for r in rows if r.reward_yield is not None],
        "volume_24h_usd": [r.volume_24h_usd for r in rows],
    }
    shares = sorted(best_level_shares or [])
    return UniverseMeasure(
        values={k: tuple(sorted(v)) for k, v in fields.items()},
        no_farmers_share=sum(r.competition == "no farmers" for r in rows) / max(1, len(rows)),
        best_level_share=quantile(shares, 50) if shares else None,
        markets=len(rows),
    )


def book_row(rate: float, min_size: float, max_spread: float, volume: float, book: dict | None) -> tuple[UniverseRow, list[float]]:
    """One market measured as the snapshot job did (compute.py `book_stats`), and its sides' best-level shares of the
    top 10 levels."""
    bids = [(float(l["price"]), float(l["size"])) for l in (book or {}).get("bids") or []]
    asks = [(float(l["price"]), float(l["size"])) for l in (book or {}).get("asks") or []]
    shares = []
    for levels, best_first in ((bids, True), (asks, False)):
        top = sorted(levels, key=lambda l: -l[0] if best_first else l[0])[:10]
        if top and sum(s for _, s in top) > 0:
            shares.append(top[0][1] / sum(s for _, s in top))
    spread = mid = None
    competition, capital = "no farmers", 0.0
    if bids and asks:
        best_bid, best_ask = max(p for p, _ in bids), min(p for p, _ in asks)
        spread, mid = round((best_ask - best_bid) * 100, 1), round((best_bid + best_ask) / 2, 3)
        if max_spread > 0:
            raw_mid = (best_bid + best_ask) / 2
            q_bid = q_ask = 0.0
            for levels, is_bid in ((bids, True), (asks, False)):
                for p, s in levels:
                    distance = (raw_mid - p if is_bid else p - raw_mid) * 100
                    if s < min_size or distance < 0 or distance > max_spread:
                        continue
                    score = ((max_spread - distance) / max_spread) ** 2 * s
                    capital += (p if is_bid else 1 - p) * s
                    if is_bid:
                        q_bid += score
                    else:
                        q_ask += score
            q = (max(min(q_bid, q_ask), max(q_bid, q_ask) / 3) if 0.10 <= raw_mid <= 0.90 else min(q_bid, q_ask))
            competition = "contested" if q > 1e-9 else "no farmers"
    row = UniverseRow(category="", rate_per_day=rate, min_size=min_size, spread_cents=spread, midpoint=mid,
                      in_band_capital_usd=round(capital), volume_24h_usd=volume, competition=competition,
                      days_to_end="")
    return row, shares


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=60) as reply:
        return json.loads(reply.read())


def _post(url: str, body: object) -> object:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


def measure_venue(clob_url: str, gamma_url: str) -> UniverseMeasure:
    """A live venue's reward universe, read through its public HTTP surface as the snapshot job read Polymarket's."""
    clob_url, gamma_url = clob_url.rstrip("/"), gamma_url.rstrip("/")
    sampling: list[dict] = []
    cursor = ""
    while True:
        page = _get(f"{clob_url}/sampling-markets" + (f"?next_cursor={urllib.parse.quote(cursor)}" if cursor else ""))
        sampling.extend(page.get("data") or [])
        cursor = page.get("next_cursor") or ""
        if cursor in END_CURSORS:
            break
    live = [r for r in sampling if r.get("active") and r.get("accepting_orders") and not r.get("closed")]
    ids = [r["condition_id"] for r in live]
    volume: dict[str, float] = {}
    for i in range(0, len(ids), GAMMA_CHUNK):
        chunk = ids[i:i + GAMMA_CHUNK]
        query = urllib.parse.urlencode([("limit", str(len(chunk)))] + [("condition_ids", c) for c in chunk])
        for g in _get(f"{gamma_url}/markets?{query}"):
            volume[g.get("conditionId")] = float(g.get("volume24hr") or 0)
    yes = {r["condition_id"]: _yes_token(r) for r in live}
    tokens = [t for t in yes.values() if t]
    books: dict[str, dict] = {}
    for i in range(0, len(tokens), BOOKS_CHUNK):
        for b in _post(f"{clob_url}/books", [{"token_id": t} for t in tokens[i:i + BOOKS_CHUNK]]):
            books[str(b.get("asset_id"))] = b
    rows, shares = [], []
    for r in live:
        rewards = r.get("rewards") or {}
        rate = sum(float(x.get("rewards_daily_rate") or 0) for x in rewards.get("rates") or [])
        row, market_shares = book_row(rate, float(rewards.get("min_size") or 0), float(rewards.get("max_spread") or 0),
                                      volume.get(r["condition_id"], 0.0), books.get(yes[r["condition_id"]]))
        rows.append(row)
        shares.extend(market_shares)
    return measure_rows(rows, shares)


def _yes_token(row: dict) -> str:
    """The YES token, else the first (the snapshot job's rule)."""
    tokens = row.get("tokens") or []
    for t in tokens:
        if str(t.get("outcome", "")).strip().lower() == "yes" and t.get("token_id"):
            return str(t["token_id"])
    return next((str(t["token_id"]) for t in tokens if t.get("token_id")), "")


def _fmt(value: float) -> str:
    if value is None or math.isnan(value):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def tolerance(venue: UniverseMeasure, snapshot: UniverseMeasure, key: str, q: float) -> tuple[float, float]:
    """The range a venue's q-th percentile of `key` may take (TOLERANCES)."""
    _, rel, absolute = TOLERANCES[key]
    n = max(1, len(venue.values[key]))
    delta = 300 * math.sqrt(q / 100 * (1 - q / 100) / n)
    lo, hi = snapshot.quantile(key, max(0.0, q - delta)), snapshot.quantile(key, min(100.0, q + delta))
    return lo - max(rel * abs(lo), absolute), hi + max(rel * abs(hi), absolute)


def comparison(venue: UniverseMeasure, snapshot: UniverseMeasure) -> tuple[list[str], list[str]]:
    """(the table's lines, the lines of what is out of tolerance): each field's p10–p90 on the venue beside the
    snapshot's and the range allowed, the share of markets nobody qualifies in, and the median best-level share of
    the top 10 levels."""
    lines = [f"{'':<22} {'':<9}" + "".join(f"{'p' + str(q):>17}" for q in QUANTILES)]
    failures = []
    for key, (label, _, _) in TOLERANCES.items():
        ours = [venue.quantile(key, q) for q in QUANTILES]
        ranges = [tolerance(venue, snapshot, key, q) for q in QUANTILES]
        lines.append(f"{label:<22} {'venue':<9}" + "".join(f"{_fmt(v):>17}" for v in ours))
        lines.append(f"{'':<22} {'snapshot':<9}" + "".join(f"{_fmt(snapshot.quantile(key, q)):>17}" for q in QUANTILES))
        lines.append(f"{'':<22} {'allowed':<9}" + "".join(f"{_fmt(lo) + '–' + _fmt(hi):>17}" for lo, hi in ranges))
        for q, value, (lo, hi) in zip(QUANTILES, ours, ranges):
            if math.isnan(value) or not lo - 1e-9 <= value <= hi + 1e-9:
                failures.append(f"{label} p{q}: venue {_fmt(value)}, snapshot {_fmt(snapshot.quantile(key, q))} "
                                f"(allowed {_fmt(lo)}–{_fmt(hi)})")
    share, target = venue.no_farmers_share, snapshot.no_farmers_share
    allowed = 3 * math.sqrt(target * (1 - target) / max(1, venue.markets)) + NO_FARMERS_SLACK
    lines.append(f"{'no farmers (share)':<22} venue {share:.1%}, snapshot {target:.1%} (allowed ±{allowed:.1%})")
    if abs(share - target) > allowed:
        failures.append(f"no farmers: venue {share:.1%}, snapshot {target:.1%} (allowed ±{allowed:.1%})")
    best = venue.best_level_share
    lines.append(f"{'best level / top 10':<22} venue {_fmt(best)}, target {BEST_LEVEL_SHARE_TARGET} median "
                 f"(Dubach; allowed ±{BEST_LEVEL_SHARE_TOLERANCE})")
    if best is None or abs(best - BEST_LEVEL_SHARE_TARGET) > BEST_LEVEL_SHARE_TOLERANCE:
        failures.append(f"best level / top 10: venue {_fmt(best)}, target {BEST_LEVEL_SHARE_TARGET} "
                        f"(allowed ±{BEST_LEVEL_SHARE_TOLERANCE})")
    lines.append(f"markets: venue {venue.markets}, snapshot {snapshot.markets}")
    return lines, failures
