"""Market selection: the filter funnel, the ranking and the top-N pick (pure: data and `now` in, decisions out).

Invariants:
- the rules run in a fixed order; each step records how many markets survive it;
- every market that does not reach the selection has exactly one recorded reason: the FIRST rule
  that rejected it (so the funnel never loses a market without saying why);
- nothing here reads a clock, the network or a file.

The funnel, in order: 1 reward markets; 2 id blacklist (`filters.condition_id_blacklist`, and
markets disabled by `markets.overrides`); 3 question blacklist (case-insensitive keywords); 4 24h
volume in range; 5 rewards_min_size in range; 6 order books present; 7 live spread (best ask −
best bid of the first token's book) in range; 8 the first token's midpoint in range (a market priced
near 0 or 1 is close to resolved: a fill there holds a lottery ticket, and only two-sided quotes score);
9 days to end ≥ min_days_until_end (a market with no end date passes); 10 rate per day in range; 11
reward ratio ≥ min_reward_ratio, with the expected reward computed; 12 quoting safety; 13 ranking; 14
the top `max_markets`. A market's override
`order_size` replaces rewards_min_size × order_size_multiplier as its quote size.

Expected reward (the default ranking): our intended buys and the competing book are scored with
the published formula (polymm.domain.rewards) around the size-cutoff-adjusted midpoint of the
first token; the competing book is scored as ONE two-sided maker (the levels do not say who is
behind them, and lumping them together is the conservative choice: it never understates the
competition). share = Q_ours / (Q_ours + Q_others); expected $/day = share × rate_per_day;
ranked by expected $/day per $ of capital at risk (price × size of our buys).
The seed's ratio, (our_size × 2) / competitor_size × rate_per_day, with our_size =
rewards_min_size × order_size_multiplier × 2 and competitor_size the sizes at the best two bids
and best two asks (at least 1 share, so an empty book ranks high rather than dividing by zero),
is computed for every market and is the ranking when `strategy.ranking = original_ratio`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Mapping, Sequence

from polymm.desired.quotes import RewardBand, quote_price, quote_size
from polymm.desired.safety import SafetyLimits, refusals
from polymm.domain import rewards
from polymm.domain.types import Book, RewardMarket

if TYPE_CHECKING:  # types only: desired/ never loads the config module (file loading is I/O)
    from polymm.config import PolymmConfig, ValueRange

ONE_SHARE = Decimal(1)
LOW_PRICE_TWO_SIDED = Decimal("0.10")

STEP_NAMES = (
    "reward markets", "id blacklist", "question blacklist", "24h volume", "rewards min size", "order books",
    "spread", "midpoint", "days to end", "rate per day", "reward ratio", "safety", "ranked", "top N",
)


@dataclass(frozen=True, slots=True)
class MarketTuning:
    """One market's override (`markets.overrides.<condition id>`); None keeps the strategy's value."""

    enabled: bool = True
    max_exposure_usdc: Decimal | None = None
    order_size: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SelectionParams:
    """What selection needs from the configuration, validated once."""

    blacklist: tuple[str, ...]
    volume_24hr_range: ValueRange
    rewards_min_size_range: ValueRange
    spread_range: ValueRange
    min_days_until_end: int
    rate_per_day_range: ValueRange
    min_reward_ratio: Decimal
    order_size_multiplier: Decimal
    ranking: str
    placement: str
    max_markets: int
    limits: SafetyLimits
    id_blacklist: frozenset[str] = frozenset()  # condition ids, lower case
    overrides: Mapping[str, MarketTuning] = field(default_factory=dict, hash=False)  # by condition id, lower case
    sizing: str = "multiplier"  # multiplier: rewards_min_size × order_size_multiplier | reward_minimum: rewards_min_size
    midpoint_range: ValueRange | None = None  # the first token's midpoint; None: any

    @classmethod
    def from_config(cls, cfg: PolymmConfig) -> "SelectionParams":
        vol = cfg.orderbook_service.volatility_check
        return cls(
            blacklist=tuple(k.lower() for k in cfg.filters.question_blacklist),
            volume_24hr_range=cfg.filters.volume_24hr_range,
            rewards_min_size_range=cfg.filters.rewards_min_size_range,
            spread_range=cfg.filters.spread_range,
            midpoint_range=cfg.filters.midpoint_range,
            min_days_until_end=cfg.filters.min_days_until_end,
            rate_per_day_range=cfg.filters.rate_per_day_range,
            min_reward_ratio=cfg.strategy.min_reward_ratio,
            order_size_multiplier=cfg.strategy.order_size_multiplier,
            ranking=cfg.strategy.ranking,
            placement=cfg.strategy.quote_placement,
            max_markets=cfg.strategy.max_markets,
            limits=SafetyLimits(
                price_cliff_threshold=cfg.risk.price_cliff_threshold,
                min_protection_size_multiplier=cfg.risk.min_protection_size_multiplier,
                min_protection_size_multiplier_hedge=cfg.risk.min_protection_size_multiplier_hedge,
                max_bid_gap=cfg.hedge_sell.max_bid_gap,
                volatility_enabled=vol.enabled,
                volatility_threshold=vol.volatility_threshold,
            ),
            id_blacklist=frozenset(cfg.filters.condition_id_blacklist),
            overrides={cid: MarketTuning(o.enabled, o.max_exposure_usdc, o.order_size)
                       for cid, o in cfg.markets.overrides.items()},
            sizing=cfg.strategy.sizing,
        )


@dataclass(frozen=True, slots=True)
class TokenQuote:
    token_id: str
    outcome: str
    outcome_index: int
    price: Decimal
    size: Decimal
    at_band_edge: bool
    band: RewardBand


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One market that passed the filters: its quotes, refusals and reward estimates."""

    market: RewardMarket
    spread: Decimal
    quotes: tuple[TokenQuote, ...]
    refused: tuple[tuple[str, str], ...]  # (token_id, reason) for tokens not quoted
    original_ratio: Decimal
    q_ours: float
    q_others: float
    share: float
    expected_per_day: float  # rewards
    capital_usdc: Decimal
    expected_per_dollar: float
    # the expected taker fee of the hedges; shown net beside the rewards, not ranked on (the fill estimate is rough)
    expected_hedge_fee_per_day: float = 0.0
    share_source: str = "book"  # book: our quotes against the book's competition | venue: the venue's measured share
    # the book model's estimate, whatever the venue measured: what markets are ranked on. The venue measures a
    # share only where we rest orders; ranking a market we quote on the measured share against others on the
    # model ranked each by a different yardstick, and where the two disagreed the selection flipped between two
    # markets every tick (cancelling and re-placing every quote each time)
    model_per_day: float = 0.0
    model_per_dollar: float = 0.0

    @property
    def expected_net_per_day(self) -> float:
        return self.expected_per_day - self.expected_hedge_fee_per_day

    @property
    def rank_key(self) -> tuple:
        return (-self.model_per_dollar, -self.model_per_day, self.market.condition_id)


@dataclass(frozen=True, slots=True)
class Rejection:
    condition_id: str
    question: str
    rule: str
    detail: str


@dataclass(frozen=True)
class Selection:
    steps: tuple[tuple[str, int], ...]
    selected: tuple[Evaluation, ...]
    ranked: tuple[Evaluation, ...]  # every market that passed rule 10, in rank order
    rejected: Mapping[str, Rejection] = field(default_factory=dict)


def prefilter(markets: Sequence[RewardMarket], params: SelectionParams) -> tuple[list[RewardMarket], dict[str, Rejection], list[tuple[str, int]]]:
    """Rules 1–5 (no books needed): what survives, why the others did not, and the step counts."""
    rejected: dict[str, Rejection] = {}
    steps = [(STEP_NAMES[0], len(markets))]

    def keep(survivors: list[RewardMarket], rule: str, test) -> list[RewardMarket]:
        out = []
        for m in survivors:
            detail = test(m)
            if detail is None:
                out.append(m)
            else:
                rejected[m.condition_id] = Rejection(m.condition_id, m.question, rule, detail)
        steps.append((rule, len(out)))
        return out

    def id_blacklist(m: RewardMarket) -> str | None:
        if m.closed:
            return "market closed" + (" (resolved)" if m.payouts is not None else "")
        if not m.accepting_orders:
            return "market not accepting orders"
        cid = m.condition_id.lower()
        if cid in params.id_blacklist:
            return "condition id in filters.condition_id_blacklist"
        tuning = params.overrides.get(cid)
        if tuning is not None and not tuning.enabled:
            return "disabled by markets.overrides (enabled: false)"
        return None

    def blacklist(m: RewardMarket) -> str | None:
        q = m.question.lower()
        hit = next((k for k in params.blacklist if k and k in q), None)
        return f"question contains blacklisted {hit!r}" if hit else None

    def volume(m: RewardMarket) -> str | None:
        return _range_miss(m.volume_24hr, params.volume_24hr_range, "24h volume")

    def min_size(m: RewardMarket) -> str | None:
        return _range_miss(m.rewards_min_size, params.rewards_min_size_range, "rewards_min_size")

    survivors = keep(list(markets), STEP_NAMES[1], id_blacklist)
    survivors = keep(survivors, STEP_NAMES[2], blacklist)
    survivors = keep(survivors, STEP_NAMES[3], volume)
    survivors = keep(survivors, STEP_NAMES[4], min_size)
    return survivors, rejected, steps


def _range_miss(value: Decimal | None, bounds: ValueRange, name: str) -> str | None:
    if bounds.min is None and bounds.max is None:
        return None
    if value is None:
        return f"{name} unknown (range {_fmt_range(bounds)})"
    if not bounds.contains(value):
        return f"{name} {value} outside {_fmt_range(bounds)}"
    return None


def _fmt_range(bounds: ValueRange) -> str:
    lo = "-∞" if bounds.min is None else str(bounds.min)
    hi = "∞" if bounds.max is None else str(bounds.max)
    return f"[{lo}, {hi}]"


def select_markets(
    markets: Sequence[RewardMarket],
    books: Mapping[str, Book],
    params: SelectionParams,
    now: datetime,
    volatility: Mapping[str, float] | None = None,
    own_orders: Mapping[str, dict[tuple[str, Decimal], Decimal]] | None = None,
    measured_shares: Mapping[str, float] | None = None,
) -> Selection:
    """The whole funnel. `books` by token id; `own_orders[token_id]` our resting sizes by (side, price),
    removed from the books first so that we never count ourselves as competition. `measured_shares`: by
    condition id, the share of the pool the venue says our resting orders earn now (GET /rewards/user/percentages);
    where we rest orders and the venue measured a share, the expected reward uses it instead of the book model."""
    volatility = volatility or {}
    own_orders = own_orders or {}
    measured_shares = measured_shares or {}
    survivors, rejected, steps = prefilter(markets, params)

    def reject(m: RewardMarket, rule: str, detail: str) -> None:
        rejected[m.condition_id] = Rejection(m.condition_id, m.question, rule, detail)

    stage: list[tuple[RewardMarket, tuple[Book, Book]]] = []
    for m in survivors:
        pair = tuple(books.get(t) for t in m.token_ids)
        if pair[0] is None or pair[1] is None:
            reject(m, STEP_NAMES[5], "order book unavailable")
        else:
            stage.append((m, tuple(b.without(own_orders.get(b.token_id, {})) for b in pair)))
    steps.append((STEP_NAMES[5], len(stage)))

    def step(rule: str, test) -> None:
        nonlocal stage
        out = []
        for m, pair in stage:
            detail = test(m, pair)
            if detail is None:
                out.append((m, pair))
            else:
                reject(m, rule, detail)
        stage = out
        steps.append((rule, len(stage)))

    def spread_rule(m: RewardMarket, pair: tuple[Book, Book]) -> str | None:
        spread = pair[0].spread
        if spread is None:
            return "one side of the book is empty"
        return _range_miss(spread, params.spread_range, "spread")

    def days_rule(m: RewardMarket, pair) -> str | None:
        if m.end_date is None:
            return None
        days = (m.end_date - now).total_seconds() / 86400
        if days < params.min_days_until_end:
            return f"{days:.1f} days to end < {params.min_days_until_end}"
        return None

    def midpoint_rule(m: RewardMarket, pair: tuple[Book, Book]) -> str | None:
        if params.midpoint_range is None:
            return None
        return _range_miss(pair[0].midpoint, params.midpoint_range, "midpoint")

    step(STEP_NAMES[6], spread_rule)
    step(STEP_NAMES[7], midpoint_rule)
    step(STEP_NAMES[8], days_rule)
    step(STEP_NAMES[9], lambda m, pair: _range_miss(m.rate_per_day, params.rate_per_day_range, "rate per day"))

    evaluations: list[Evaluation] = []
    for m, pair in stage:
        resting = any(own_orders.get(t) for t in m.token_ids)
        ev = evaluate(m, pair, params, volatility, measured_shares.get(m.condition_id) if resting else None)
        if ev.original_ratio < params.min_reward_ratio:
            reject(m, STEP_NAMES[10], f"reward ratio {ev.original_ratio:.4f} < {params.min_reward_ratio}")
        else:
            evaluations.append(ev)
    steps.append((STEP_NAMES[10], len(evaluations)))

    safe = []
    for ev in evaluations:
        if ev.quotes:
            safe.append(ev)
        else:
            reject(ev.market, STEP_NAMES[11], "; ".join(f"{t[:10]}…: {r}" for t, r in ev.refused) or "no quotable token")
    steps.append((STEP_NAMES[11], len(safe)))

    if params.ranking == "original_ratio":
        ranked = sorted(safe, key=lambda e: (-e.original_ratio, e.market.condition_id))
    else:
        ranked = sorted(safe, key=lambda e: e.rank_key)
    steps.append((STEP_NAMES[12], len(ranked)))
    selected = ranked[: params.max_markets]
    for ev in ranked[params.max_markets:]:
        reject(ev.market, STEP_NAMES[13], f"ranked below the top {params.max_markets}")
    steps.append((STEP_NAMES[13], len(selected)))
    return Selection(tuple(steps), tuple(selected), tuple(ranked), rejected)


def _competing_orders(book: Book, mid: float, max_spread_cents: float) -> list[tuple[str, int, float, float]]:
    """The book's levels that can score (strictly inside the band around `mid`), as the formula's
    (side, outcome_index, price, size) on the first token. Levels are best first, so the walk stops
    at the first level outside the band; those beyond score 0 anyway."""
    reach = max_spread_cents / 100
    out: list[tuple[str, int, float, float]] = []
    for lv in book.bids:
        price = float(lv.price)
        if mid - price >= reach:
            break
        out.append(("BUY", 0, price, float(lv.size)))
    for lv in book.asks:
        price = float(lv.price)
        if price - mid >= reach:
            break
        out.append(("SELL", 0, price, float(lv.size)))
    return out


def evaluate(market: RewardMarket, pair: tuple[Book, Book], params: SelectionParams,
             volatility: Mapping[str, float], measured_share: float | None = None) -> Evaluation:
    """Quotes, safety refusals and reward estimates for one market whose books are known. `measured_share`: the
    venue's current figure for our resting orders in this market, used for the expected reward when given.

    Why the venue's figure where there is one: the book does not say who rests behind its levels, and the venue
    scores every maker on its own (a one-sided maker still earns Q/3), so the competition's total score depends on
    how its size is split among makers — measured on the simulator, the same book scored as one maker came out
    3–10 % below the venue's total, and the most any split can score (`competition_q_min`, used here otherwise)
    25–40 % above it. The venue's percentage of our resting orders is the share it pays, sampled each minute."""
    tuning = params.overrides.get(market.condition_id.lower())
    if tuning is not None and tuning.order_size is not None:
        size = quote_size(tuning.order_size, ONE_SHARE, market.min_order_size)
    elif params.sizing == "reward_minimum":  # the smallest size that scores: more only adds fill risk
        size = quote_size(market.rewards_min_size, ONE_SHARE, market.min_order_size)
    else:
        size = quote_size(market.rewards_min_size, params.order_size_multiplier, market.min_order_size)
    candidates: list[TokenQuote] = []
    refused: list[tuple[str, str]] = []
    for index, (token, book) in enumerate(zip(market.tokens, pair)):
        qp = quote_price(book, market.rewards_max_spread, params.placement)
        if qp is None:
            refused.append((token.token_id, "no quote price: the book lacks a second bid, an ask, or a scoring price"))
            continue
        reasons = refusals(book, qp.price, size, qp.at_band_edge, volatility.get(token.token_id), params.limits)
        if reasons:
            refused.append((token.token_id, "; ".join(reasons)))
            continue
        candidates.append(TokenQuote(token.token_id, token.outcome, index, qp.price, size, qp.at_band_edge, qp.band))

    mids = [b.midpoint for b in pair]
    needs_both = any(mid is not None and mid <= LOW_PRICE_TWO_SIDED for mid in mids)
    if needs_both and len(candidates) < 2:
        if candidates:
            refused.append(("*", "two-sided rule: a token's midpoint ≤ 0.10, so both tokens must pass"))
        candidates = []

    quotes = tuple(candidates)
    book0 = pair[0]
    ours = [rewards.RestingOrder("BUY", q.outcome_index, float(q.price), float(q.size)) for q in quotes]
    mid = rewards.adjusted_midpoint(book0.bids, book0.asks, market.rewards_min_size)
    v, min_size = float(market.rewards_max_spread), float(market.rewards_min_size)
    others = _competing_orders(book0, mid, v) if mid is not None else []
    q_ours = rewards.maker_q_min(ours, mid, v, min_size) if mid is not None and ours else 0.0
    q_others = rewards.competition_q_min(others, mid, v, min_size) if mid is not None else 0.0
    share = model_share = rewards.expected_share(q_ours, q_others)
    source = "book"
    if measured_share is not None and quotes:
        share, source = measured_share, "venue"
    # net of the expected taker fee of the hedges: our share of the resting liquidity taken as our share of the
    # day's volume (volume24hr, USDC), each share bought is sold into the bids at about the same price and pays
    # rate × p × (1 − p) per share, i.e. rate × (1 − p) per dollar bought (polymm.domain.fees)
    hedge_fee = 0.0
    if market.fee_rate and market.volume_24hr and quotes:
        p = float(sum((q.price for q in quotes), Decimal(0)) / len(quotes))
        hedge_fee = share * float(market.volume_24hr) * float(market.fee_rate) * (1 - p)
    expected = share * float(market.rate_per_day)
    capital = Decimal(0)
    for q in quotes:
        capital += q.price * q.size

    our_size = market.rewards_min_size * params.order_size_multiplier * 2
    competitor = Decimal(0)
    for lv in book0.bids[:2] + book0.asks[:2]:
        competitor += lv.size
    ratio = (our_size * 2) / max(competitor, ONE_SHARE) * market.rate_per_day

    return Evaluation(
        market=market, spread=book0.spread if book0.spread is not None else Decimal(0), quotes=quotes,
        refused=tuple(refused), original_ratio=ratio, q_ours=q_ours, q_others=q_others, share=share,
        expected_per_day=expected, capital_usdc=capital,
        expected_per_dollar=expected / float(capital) if capital > 0 else 0.0,
        expected_hedge_fee_per_day=hedge_fee, share_source=source,
        model_per_day=model_share * float(market.rate_per_day),
        model_per_dollar=model_share * float(market.rate_per_day) / float(capital) if capital > 0 else 0.0,
    )
