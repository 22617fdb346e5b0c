"""The simulated venue's JSON shapes: each function renders engine state exactly as Polymarket's captured replies look."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from polymm.sim.lifecycle import redemption_value, token_price
from polymm.sim.model import (
    MICRO,
    PIPS,
    Account,
    SimMarket,
    SimOrder,
    SimTrade,
    format_micro,
    format_pips,
)

COLLATERAL_ASSET = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"  # pUSD, as in the 2026 captures


def book_hash(payload: dict) -> str:
    """SHA-1 over the compact JSON with an empty hash, the venue's (and the SDK's) book hash rule."""
    body = dict(payload, hash="")
    ordered = {k: body[k] for k in (
        "market", "asset_id", "timestamp", "hash", "bids", "asks",
        "min_order_size", "tick_size", "neg_risk", "last_trade_price")}
    return hashlib.sha1(json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def book_json(market: SimMarket, token_id: str, now: float) -> dict:
    """GET /book: levels listed worst first, best last, on both sides, as the live venue does."""
    index = market.token_index(token_id)
    bids, asks = market.book.token_levels(index)
    last = market.last_trade_pips if index == 0 else (PIPS - market.last_trade_pips if market.last_trade_pips else 0)
    payload = {
        "market": market.condition_id,
        "asset_id": token_id,
        "timestamp": str(int(now * 1000)),
        "hash": "",
        "bids": [{"price": format_pips(p), "size": format_micro(s)} for p, s in reversed(bids)],
        "asks": [{"price": format_pips(p), "size": format_micro(s)} for p, s in reversed(asks)],
        "min_order_size": str(market.min_order_size),
        "tick_size": market.tick_str,
        "neg_risk": market.neg_risk,
        "last_trade_price": format_pips(last) if last else "0.5",
    }
    payload["hash"] = book_hash(payload)
    return payload


def open_order_json(order: SimOrder) -> dict:
    market = order.market
    return {
        "id": order.id,
        "status": order.status if order.status != "LIVE" else "LIVE",
        "owner": order.owner,
        "maker_address": order.maker_address,
        "market": market.condition_id,
        "asset_id": order.token_id,
        "side": order.side,
        "original_size": format_micro(order.original_size),
        "size_matched": format_micro(order.size_matched),
        "price": format_pips(order.price_pips),
        "outcome": market.outcomes[order.outcome_index],
        "expiration": str(order.expiration),
        "order_type": order.order_type,
        "associate_trades": list(order.associate_trades),
        "created_at": int(order.created_at),
    }


def trade_json(trade: SimTrade, viewer: str) -> dict:
    """A /data/trades row as seen by `viewer` (an API key): top-level fields belong to the taker."""
    taker = trade.taker_order
    market = taker.market
    return {
        "id": trade.id,
        "taker_order_id": taker.id,
        "market": market.condition_id,
        "asset_id": taker.token_id,
        "side": taker.side,
        "size": format_micro(trade.size),
        # the taker's fee rate; makers pay none (docs.polymarket.com/trading/fees)
        "fee_rate_bps": str(round(trade.fee_rate * 10_000)),
        "price": format_pips(trade.price_pips),
        "status": trade.status,
        "match_time": str(trade.match_time),
        "last_update": str(trade.last_update),
        "outcome": market.outcomes[taker.outcome_index],
        "bucket_index": 0,
        "owner": taker.owner,
        "maker_address": taker.maker_address,
        "transaction_hash": trade.transaction_hash,
        "maker_orders": [
            {
                "order_id": f.order.id,
                "owner": f.order.owner,
                "maker_address": f.order.maker_address,
                "matched_amount": format_micro(f.matched),
                "price": format_pips(f.price_pips),
                "fee_rate_bps": "0",
                "asset_id": f.order.token_id,
                "side": f.order.side,  # the maker order's own side (the official polymarket-client requires it)
                "outcome": market.outcomes[f.order.outcome_index],
            }
            for f in trade.maker_fills
        ],
        "trader_side": "TAKER" if viewer == taker.owner else "MAKER",
    }


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_time(unix_s: float) -> str:
    """Simulated unix seconds in the venue's one time format, e.g. "2026-11-24T09:30:00Z"."""
    return _iso(datetime.fromtimestamp(unix_s, tz=timezone.utc))


def clob_market_json(market: SimMarket) -> dict:
    """GET /markets/{condition_id} and the rows of GET /markets and /sampling-markets."""
    return {
        # a resolved market's book is gone: both captured closed markets say false
        # (../shared/fixtures/polymarket/clob_market_closed_binary_accepting_{true,false}.json); Gamma keeps true
        "enable_order_book": not market.closed,
        "active": True,
        "closed": market.closed,
        "archived": False,
        "accepting_orders": market.accepting_orders,
        "accepting_order_timestamp": "2026-01-01T00:00:00Z",
        "minimum_order_size": market.min_order_size,
        "minimum_tick_size": market.tick_pips / PIPS,
        "condition_id": market.condition_id,
        "question_id": market.question_id,
        "question": market.question,
        "description": market.description,
        "market_slug": market.slug,
        "end_date_iso": _iso(market.end_date),
        "game_start_time": None,
        "seconds_delay": 0,
        "fpmm": "",
        "maker_base_fee": 0,
        "taker_base_fee": 0,
        "notifications_enabled": True,
        "neg_risk": market.neg_risk,
        "neg_risk_market_id": "",
        "neg_risk_request_id": "",
        "icon": "",
        "image": "",
        "rewards": {
            "rates": [{"asset_address": COLLATERAL_ASSET, "rewards_daily_rate": market.rate_per_day}]
            if market.rate_per_day else None,
            "min_size": market.rewards_min_size,
            "max_spread": market.rewards_max_spread,
        },
        "is_50_50_outcome": False,
        "tokens": [
            # once resolved: the winner's price is 1 and the loser's 0 (clob_market_closed_binary_accepting_false.json)
            {"token_id": market.token_ids[i], "outcome": market.outcomes[i], "price": round(token_price(market, i), 4),
             "winner": market.winner == i}
            for i in (0, 1)
        ],
        "tags": list(market.tags),
    }


def _rewards_config(market: SimMarket) -> list[dict]:
    return [{
        "asset_address": COLLATERAL_ASSET,
        "start_date": "2026-01-01",
        "end_date": "2500-12-31",
        "rate_per_day": market.rate_per_day,
        "total_rewards": 0,
        "id": int(market.condition_id[2:10], 16),
    }]


def rewards_market_current_json(market: SimMarket) -> dict:
    """A row of GET /rewards/markets/current."""
    return {
        "condition_id": market.condition_id,
        "rewards_config": _rewards_config(market),
        "rewards_max_spread": market.rewards_max_spread,
        "rewards_min_size": market.rewards_min_size,
        "native_daily_rate": market.rate_per_day,
        "total_daily_rate": market.rate_per_day,
    }


def rewards_market_detail_json(market: SimMarket) -> dict:
    """A row of GET /rewards/markets/{condition_id}."""
    mid = market.fair_value
    return {
        "condition_id": market.condition_id,
        "question": market.question,
        "market_slug": market.slug,
        "event_slug": market.slug,
        "image": "",
        "tokens": [
            {"token_id": market.token_ids[0], "outcome": market.outcomes[0], "price": round(mid, 4)},
            {"token_id": market.token_ids[1], "outcome": market.outcomes[1], "price": round(1 - mid, 4)},
        ],
        "rewards_config": [dict(_rewards_config(market)[0], total_days=173264)],
        "rewards_max_spread": market.rewards_max_spread,
        "rewards_min_size": market.rewards_min_size,
        "market_competitiveness": round(sum(s for _, s in market.book.token_levels(0)[0][:2]) / MICRO, 6),
    }


def gamma_market_json(market: SimMarket, index: int) -> dict:
    """A row of the Gamma-style GET /markets list (camelCase; clobTokenIds is a JSON string inside JSON)."""
    bids, asks = market.book.token_levels(0)
    best_bid = bids[0][0] / PIPS if bids else 0.0
    best_ask = asks[0][0] / PIPS if asks else 1.0
    return {
        "id": str(500000 + index),
        "question": market.question,
        "conditionId": market.condition_id,
        "slug": market.slug,
        "endDate": _iso(market.end_date),
        "endDateIso": market.end_date.date().isoformat(),
        "description": market.description,
        "outcomes": json.dumps(list(market.outcomes)),
        # a resolved market's prices read "1" and "0", as in the captures (gamma_market_closed_binary_*.json)
        "outcomePrices": json.dumps([f"{token_price(market, i):.4f}" if market.winner is None
                                     else str(int(token_price(market, i))) for i in (0, 1)]),
        "active": True,
        "closed": market.closed,
        # the captures' format: "2026-03-19 23:20:15+00"; only closed markets carry it here
        **({"closedTime": datetime.fromtimestamp(market.closed_time, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")}
           if market.closed and market.closed_time is not None else {}),
        "archived": False,
        "acceptingOrders": market.accepting_orders,
        "enableOrderBook": True,
        "questionID": market.question_id,
        "clobTokenIds": json.dumps(list(market.token_ids)),
        "orderPriceMinTickSize": market.tick_pips / PIPS,
        "orderMinSize": market.min_order_size,
        "volume24hr": round(market.volume_24hr, 4),
        "volume24hrClob": round(market.volume_24hr, 4),
        "negRisk": market.neg_risk,
        "clobRewards": [{
            "id": str(int(market.condition_id[2:10], 16)),
            "conditionId": market.condition_id,
            "assetAddress": COLLATERAL_ASSET,
            "rewardsAmount": 0,
            "rewardsDailyRate": market.rate_per_day,
            "startDate": "2026-01-01",
            "endDate": "2500-12-31",
        }] if market.rate_per_day else [],
        "rewardsMinSize": market.rewards_min_size,
        "rewardsMaxSpread": market.rewards_max_spread,
        "spread": round(best_ask - best_bid, 4),
        "bestBid": best_bid,
        "bestAsk": best_ask,
        "lastTradePrice": market.last_trade_pips / PIPS,
        "version": "v1",  # as Gamma says of a CTF market (../shared/fixtures/polymarket/gamma_market_with_rewards.json)
        # as in the capture gamma_market_with_rewards.json: the category's schedule
        "feesEnabled": bool(market.fee_rate),
        "feeType": f"{market.category}_fees" if market.category else None,
        "feeSchedule": {"exponent": 1, "rate": market.fee_rate or 0.0, "takerOnly": True,
                        "rebateRate": market.rebate_share},
    }


def positions_v1_json(account: Account, markets_by_token: dict[str, SimMarket], min_micro: int = MICRO) -> list[dict]:
    """Data API GET /positions: a bare array; positions under `min_micro` (sizeThreshold, default 1 share) are
    hidden, as is an empty one."""
    rows = []
    for token_id, micro in sorted(account.tokens.items()):
        if micro < min_micro or micro <= 0:
            continue
        market = markets_by_token[token_id]
        index = market.token_index(token_id)
        size = micro / MICRO
        avg = account.cost_basis.get(token_id, 0) / micro if micro else 0.0
        cur = token_price(market, index)  # 1 or 0 once the market resolved
        redeemable = redemption_value(market, token_id) is not None
        # Data API `mergeable`: the user holds both outcomes of the condition (a full set merges back into
        # collateral: docs.polymarket.com/developers/CTF/merge). A resolved market's are `redeemable` instead (the
        # CTF would still merge them, for the same 1 a set: which flag the Data API sets then is not captured)
        mergeable = not redeemable and all(account.tokens.get(t, 0) > 0 for t in market.token_ids)
        rows.append({
            "proxyWallet": account.address.lower(),
            "asset": token_id,
            "conditionId": market.condition_id,
            "size": size,
            "avgPrice": round(avg, 6),
            "initialValue": round(avg * size, 6),
            "currentValue": round(cur * size, 6),
            "cashPnl": round((cur - avg) * size, 6),
            "percentPnl": round((cur - avg) / avg * 100, 4) if avg else 0.0,
            "curPrice": round(cur, 4),
            "redeemable": redeemable,
            "mergeable": mergeable,
            "title": market.question,
            "slug": market.slug,
            "outcome": market.outcomes[index],
            "outcomeIndex": index,
            "oppositeOutcome": market.outcomes[1 - index],
            "oppositeAsset": market.token_ids[1 - index],
            "endDate": market.end_date.date().isoformat(),
            "negativeRisk": market.neg_risk,
        })
    return rows


def positions_v2_json(account: Account, markets_by_token: dict[str, SimMarket]) -> dict:
    """Data API GET /v2/positions: the 2026 shape, snake_case rows under `data` with a pagination block."""
    rows = []
    for row in positions_v1_json(account, markets_by_token):
        market = markets_by_token[row["asset"]]
        rows.append({
            "proxy_wallet": row["proxyWallet"],
            "token_id": row["asset"],
            "condition_id": row["conditionId"],
            "current_size": row["size"],
            "avg_price": row["avgPrice"],
            "entry_cost_usdc": row["initialValue"],
            "entry_fees_usdc": 0.0,
            "total_cost_usdc": row["initialValue"],
            "current_price": row["curPrice"],
            "current_value": row["currentValue"],
            "total_size": row["size"],
            "realized_pnl": 0.0,
            "unrealized_pnl": row["cashPnl"],
            "total_pnl": row["cashPnl"],
            "percent_pnl": row["percentPnl"],
            "percent_realized_pnl": 0.0,
            "status": "OPEN",  # the capture shows OPEN only; what the v2 rows say once resolved is not documented
            "redeemable": row["redeemable"],
            "mergeable": row["mergeable"],
            "negative_risk": row["negativeRisk"],
            "archived": False,
            "title": row["title"],
            "slug": row["slug"],
            "icon": "",
            "event_id": str(int(market.question_id[2:8], 16)),
            "event_slug": market.slug,
            "outcome": row["outcome"],
            "outcome_index": row["outcomeIndex"],
            "opposite_outcome": row["oppositeOutcome"],
            "opposite_token_id": row["oppositeAsset"],
            "end_date": row["endDate"],
            "last_event_at": 0,
            "first_entry_at": 0,
            "name": "",
            "profile_image": "",
            "verified": False,
        })
    return {"data": rows, "pagination": {"limit": 100, "offset": 0, "has_more": False, "next_cursor": None}}


# ---------------------------------------------------------------------- WebSocket events
def ws_book_event(market: SimMarket, token_id: str, now: float) -> dict:
    """The market channel's `book`: the REST book less min_order_size/neg_risk (absent from the 2026
    capture), with the hash still computed over the full REST preimage."""
    body = book_json(market, token_id, now)
    body.pop("min_order_size")
    body.pop("neg_risk")
    return dict(body, event_type="book")


def ws_price_changes(market: SimMarket, levels: list[tuple[bool, int]], now: float) -> list[dict]:
    """One price_change event per token for YES-space levels (is_bid, yes_pips) touched since the last flush."""
    yes_bid = market.book.best_bid()
    yes_ask = market.book.best_ask()
    out = []
    for index, token_id in enumerate(market.token_ids):
        changes = []
        for is_bid, yes_px in levels:
            size = market.book.level_size(is_bid, yes_px)
            if index == 0:
                side, price = ("BUY" if is_bid else "SELL"), yes_px
                best_bid, best_ask = yes_bid, yes_ask
            else:
                side, price = ("SELL" if is_bid else "BUY"), PIPS - yes_px
                best_bid = PIPS - yes_ask if yes_ask is not None else None
                best_ask = PIPS - yes_bid if yes_bid is not None else None
            changes.append({
                "asset_id": token_id,
                "price": format_pips(price),
                "size": format_micro(size),
                "side": side,
                "hash": "",
                "best_bid": format_pips(best_bid) if best_bid is not None else "0",
                "best_ask": format_pips(best_ask) if best_ask is not None else "1",
            })
        out.append({
            "market": market.condition_id,
            "price_changes": changes,
            "timestamp": str(int(now * 1000)),
            "event_type": "price_change",
        })
    return out


def ws_order_event(order: SimOrder, kind: str, now: float) -> dict:
    body = open_order_json(order)
    status = {"PLACEMENT": "LIVE", "UPDATE": "MATCHED" if order.remaining == 0 else "LIVE", "CANCELLATION": order.status}[kind]
    return {
        "asset_id": body["asset_id"],
        "associate_trades": body["associate_trades"] or None,
        "created_at": str(body["created_at"]),
        "event_type": "order",
        "expiration": body["expiration"],
        "id": body["id"],
        "maker_address": body["maker_address"],
        "market": body["market"],
        "order_owner": body["owner"],
        "order_type": body["order_type"],
        "original_size": body["original_size"],
        "outcome": body["outcome"],
        "owner": body["owner"],
        "price": body["price"],
        "side": body["side"],
        "size_matched": body["size_matched"],
        "status": status,
        "timestamp": str(int(now * 1000)),
        "type": kind,
    }


def ws_trade_event(trade: SimTrade, viewer: str, now: float) -> dict:
    body = trade_json(trade, viewer)
    # trade_owner names the taker's key in both views (the captured maker view shows it so)
    body.update(event_type="trade", type="TRADE", trade_owner=trade.taker_order.owner, timestamp=str(int(now * 1000)))
    return body
