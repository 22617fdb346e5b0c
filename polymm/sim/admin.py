"""The simulator's own admin surface under /_sim: the venue's state, request counts, fault plans, trading modes,
simulated takes, the clock, restarts, funding, wallets, relayer keys, market lifecycles and reward rates.

Not part of Polymarket: tests, chaos runs and backtests drive the venue through it. Never faulted, never
rate-limited (polymm.sim.traffic).
"""

from __future__ import annotations

from decimal import Decimal

from aiohttp import web
from pydantic import ValidationError

from polymm.sim import auth, lifecycle, rest, wire
from polymm.sim.engine import Engine
from polymm.sim.faults import FaultPlan, FaultPlanSpec
from polymm.sim.model import MICRO, PIPS, TAKER_ADDRESS, SimMarket, SimOrder, internal_owner
from polymm.sim.orders import VenueError
from polymm.sim.relayer import Relayer
from polymm.sim.traffic import Traffic


class Admin:
    """POST/GET /_sim/...: reads and drives the whole venue (the engine, the front door's counts and faults, the
    relayer)."""

    def __init__(self, engine: Engine, traffic: Traffic, relayer: Relayer) -> None:
        self.engine = engine
        self.traffic = traffic
        self.relayer = relayer

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/_sim/state", self.sim_state),
            web.get("/_sim/requests", self.sim_requests),
            web.get("/_sim/faults", self.sim_faults_get),
            web.post("/_sim/faults", self.sim_faults),
            web.post("/_sim/mode", self.sim_mode),
            web.post("/_sim/take", self.sim_take),
            web.post("/_sim/advance", self.sim_advance),
            web.post("/_sim/fund", self.sim_fund),
            web.post("/_sim/restart", self.sim_restart),
            web.post("/_sim/wallet", self.sim_wallet),
            web.post("/_sim/relayer-key", self.sim_relayer_key),
            web.post("/_sim/rewards", self.sim_rewards),
            web.post("/_sim/market", self.sim_market),
        ]

    def _admin_market(self, data: dict) -> SimMarket:
        cid = data.get("condition_id")
        if not isinstance(cid, str) or not cid:
            raise VenueError(400, "condition_id is required (a market's 0x… condition id)")
        market = self.engine.markets.get(cid)
        if market is None:
            raise VenueError(404, f"market not found: no market with condition_id {cid!r} (GET /markets lists them)")
        return market

    async def sim_state(self, request: web.Request) -> web.Response:
        engine = self.engine
        accounts = {}
        for address, acct in engine.accounts.items():
            if acct.unlimited:
                continue
            accounts[address] = {
                "collateral": acct.collateral / MICRO,
                "positions": {t: s / MICRO for t, s in acct.tokens.items()},
                "redemption": _redemption(engine, acct),  # positions in resolved markets, at 1 or 0 a share
                # bought too recently to sell (`--balance-delay`): the venue refuses a sell of these for now
                "locked": engine.locked_by_token(address),
                "open_orders": [wire.open_order_json(o) for o in acct.open_orders.values()],
                "api_keys": [k for k, c in engine.credentials.items() if c.address == address],
                "rewards_earned": round(sum(a for (_, m, _), a in engine.rewards.earnings.items() if m == address), 6),
                **({"wallet_of": engine.wallets[address][0], "signature_type": engine.wallets[address][1]}
                   if address in engine.wallets else {}),
                **money_of(engine, address),
            }
        api_keys = set(engine.credentials)
        trades = [wire.trade_json(t, t.taker_order.owner) for t in engine.trades if t.participant_owners() & api_keys]
        return web.json_response({
            "now": engine.now, "mode": engine.mode, "accounts": accounts, "trades": trades,
            "markets": len(engine.markets), "faults": self.traffic.faults.summary(),
            "lifecycle": {m.condition_id: {"tick_size": m.tick_pips / PIPS, "accepting_orders": m.accepting_orders,
                                           "closed": m.closed, "winner": m.winner}
                          for m in engine.markets.values()
                          if not m.accepting_orders or m.closed or m.tick_pips != m.listed_tick_pips},
            "paid_days": list(engine.rewards.paid_days),
            "merges": [tx.state_json() for tx in self.relayer.transactions.values()],
            "engine": self._engine_state(),
            "rate_limits": {"enabled": self.traffic.rate_limits, "throttled": self.traffic.throttled,
                            "ip_refused": self.traffic.ip_refused},
        })

    async def sim_requests(self, request: web.Request) -> web.Response:
        return web.json_response({"counts": dict(self.traffic.requests), "total": sum(self.traffic.requests.values())})

    async def sim_faults_get(self, request: web.Request) -> web.Response:
        return web.json_response({"plan": self.traffic.faults.spec.model_dump(), "fired": [f.__dict__ for f in self.traffic.faults.fired]})

    async def sim_faults(self, request: web.Request) -> web.Response:
        try:
            spec = FaultPlanSpec.model_validate_json(await rest.body_text(request) or "{}")
        except ValidationError as exc:  # one clause per problem, without pydantic's boilerplate
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']} (got {e.get('input')!r})"
                                 for e in exc.errors())
            raise VenueError(400, f"invalid fault plan: {problems}") from exc
        except ValueError as exc:
            raise VenueError(400, f"invalid fault plan: {exc}") from exc
        self.traffic.faults = FaultPlan(spec)
        return web.json_response({"ok": True, "rules": len(spec.rules)})

    async def sim_mode(self, request: web.Request) -> web.Response:
        data = await rest.admin_body(request)
        mode = data.get("mode")
        if mode not in ("normal", "trading-disabled", "cancel-only"):
            raise VenueError(400, f"mode {mode!r} — allowed: normal, trading-disabled, cancel-only")
        self.engine.mode = mode
        return web.json_response({"mode": mode})

    async def sim_take(self, request: web.Request) -> web.Response:
        data = await rest.admin_body(request)
        try:
            result = take(self.engine, str(data["token_id"]), str(data["side"]).upper(), float(data["price"]), float(data["size"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise VenueError(400, f"take needs token_id, side (BUY|SELL), price, size: {exc}") from exc
        return web.json_response(result)

    async def sim_advance(self, request: web.Request) -> web.Response:
        seconds = rest.number(await rest.admin_body(request), "seconds", default=0, minimum=0)
        steps = self.engine.advance(seconds)
        return web.json_response({"now": self.engine.now, "steps": steps})

    async def sim_restart(self, request: web.Request) -> web.Response:
        """Start an (unscheduled) matching-engine restart now: `{"down_s": 90, "post_only_s": 120}`."""
        data = await rest.admin_body(request)
        down, post_only = rest.number(data, "down_s", 90, minimum=0), rest.number(data, "post_only_s", 120, minimum=0)
        self.engine.restart(down, post_only)
        return web.json_response(self._engine_state())

    async def sim_wallet(self, request: web.Request) -> web.Response:
        """POST /_sim/wallet {"owner", "signature_type": 1|2|3, "address"?, "collateral"?}: deploy a contract wallet
        (proxy, safe or deposit wallet) for an EOA, funded like a new account; replies its address."""
        data = await rest.admin_body(request)
        try:
            owner, kind = rest.address(data.get("owner"), "owner"), int(data["signature_type"])
            collateral = None if data.get("collateral") is None else float(data["collateral"])
            address = self.engine.deploy_wallet(owner, kind, data.get("address"), collateral)
        except (KeyError, TypeError, ValueError) as exc:
            raise VenueError(400, f"wallet needs owner (an address) and signature_type (1, 2 or 3): {exc}") from exc
        return web.json_response({"address": address, "owner": auth.checksum_address(owner), "signature_type": kind})

    async def sim_relayer_key(self, request: web.Request) -> web.Response:
        """Admin: a Relayer API key for an address (the real ones are made on polymarket.com, Settings > API Keys)."""
        data = await rest.admin_body(request)
        return web.json_response(self.relayer.issue_key(str(data.get("address", ""))))

    def _engine_state(self) -> dict:
        e = self.engine
        return {"down": e.engine_down, "post_only": e.post_only_mode, "down_until": e.down_until,
                "post_only_until": e.post_only_until, "restarts": e.restarts}

    async def sim_fund(self, request: web.Request) -> web.Response:
        data = await rest.admin_body(request)
        address, collateral = rest.address(data.get("address"), "address"), rest.number(data, "collateral", 0)
        tokens = data.get("tokens") or {}
        if not isinstance(tokens, dict):
            raise VenueError(400, "tokens must be an object {token_id: shares}")
        shares: dict[str, Decimal] = {}
        for token_id, size in tokens.items():
            if token_id not in self.engine.market_by_token:
                raise VenueError(400, f"tokens: unknown token_id {token_id!r}")
            try:
                shares[token_id] = Decimal(str(size)) if not isinstance(size, bool) else Decimal(-1)
            except ArithmeticError:
                shares[token_id] = Decimal(-1)
            if not shares[token_id].is_finite() or shares[token_id] < 0:
                raise VenueError(400, f"tokens: {token_id[:12]}…: {size!r} must be a number of shares ≥ 0")
        acct = self.engine.fund(address, collateral)
        for token_id, size in shares.items():
            acct.tokens[token_id] = acct.tokens.get(token_id, 0) + round(size * MICRO)
        return web.json_response({"address": acct.address, "collateral": acct.collateral / MICRO})

    async def sim_market(self, request: web.Request) -> web.Response:
        """POST /_sim/market {"condition_id", and any of: "tick_size" (0.01, 0.001, ...), "accepting_orders"
        (bool), "closed" (true), "winner" (0 | 1 | an outcome's name: resolves and closes), "at" (simulated unix
        time: close/resolve then, not now)}: a market's lifecycle (polymm.sim.lifecycle)."""
        data = await rest.admin_body(request)
        market = self._admin_market(data)
        allowed = {"condition_id", "tick_size", "accepting_orders", "closed", "winner", "at"}
        if set(data) - allowed:
            raise VenueError(400, f"unknown field(s) {sorted(set(data) - allowed)}; allowed: {sorted(allowed)}")
        # everything is checked before anything changes: a refused request leaves the market as it was
        winner = data.get("winner")
        try:
            if isinstance(winner, str):
                if winner not in market.outcomes:
                    raise ValueError(f"winner {winner!r} is not an outcome of the market: {list(market.outcomes)}")
                winner = market.outcomes.index(winner)
            elif winner is not None and (isinstance(winner, bool) or winner not in (0, 1)):
                raise ValueError(f"winner {winner!r} — must be 0, 1 or an outcome's name: {list(market.outcomes)}")
            winner = None if winner is None else int(winner)
            if "accepting_orders" in data and not isinstance(data["accepting_orders"], bool):
                raise ValueError("accepting_orders must be true or false")
            if data.get("accepting_orders") is True and (market.closed or data.get("closed") or winner is not None):
                raise ValueError("a closed market does not accept orders again")
            if "closed" in data and data["closed"] is not True:
                raise ValueError("closed can only be set to true (a market does not reopen)")
            closing = data.get("closed") is True or winner is not None
            if "at" in data and not closing:
                raise ValueError("at (when to close) needs closed: true or a winner")
            at = rest.number(data, "at") if "at" in data else None
            tick = lifecycle.tick_pips_of(data["tick_size"]) if "tick_size" in data else None
            if winner is not None and market.winner is not None and winner != market.winner:
                raise ValueError(f"the market already resolved to outcome {market.winner}")
        except (TypeError, ValueError) as exc:
            raise VenueError(400, str(exc)) from exc
        cancelled = 0
        if tick is not None:
            lifecycle.change_tick(self.engine, market, tick)
        if "accepting_orders" in data:
            lifecycle.set_accepting(market, data["accepting_orders"])
        if closing:
            if at is not None and at > self.engine.now:  # an `at` already passed closes now, not at the next advance
                self.engine.schedule_resolution(market.condition_id, at, winner)
            else:
                cancelled = lifecycle.close(self.engine, market, winner)
        self.engine.flush_book_events()
        return web.json_response({"condition_id": market.condition_id, "tick_size": market.tick_pips / PIPS,
                                  "accepting_orders": market.accepting_orders, "closed": market.closed,
                                  "winner": market.winner, "orders_cancelled": cancelled})

    async def sim_rewards(self, request: web.Request) -> web.Response:
        """POST /_sim/rewards {"condition_id", "rate_per_day"}: change a market's reward rate; 0 takes it off the
        reward list (/rewards/markets/current) while it keeps trading, as when a program ends."""
        data = await rest.admin_body(request)
        market = self._admin_market(data)
        rate = rest.number(data, "rate_per_day", minimum=0)
        market.rate_per_day = rate
        return web.json_response({"condition_id": market.condition_id, "rate_per_day": rate})


def _redemption(engine: Engine, acct) -> dict[str, dict]:
    """Positions in resolved markets: {token_id: {"shares", "value_per_share" (1 or 0), "value"}}."""
    out = {}
    for token_id, micro in acct.tokens.items():
        per_share = lifecycle.redemption_value(engine.market_by_token[token_id], token_id)
        if per_share is not None:
            out[token_id] = {"shares": micro / MICRO, "value_per_share": per_share, "value": round(micro / MICRO * per_share, 6)}
    return out


def _per_market(items, address: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (_, maker, cid), amount in items:
        if maker == address:
            out[cid] = round(out.get(cid, 0.0) + amount, 6)
    return out


def money_of(engine: Engine, address: str) -> dict:
    """An account's fees, rebates and rewards as `/_sim/state` shows them (keys documented in docs/SIM-VENUE.md):
    `fees_paid` (taker fees of its trades that did not fail), `rebates` and `rewards`, each with `accrued`
    (rewards: sampled so far; rebates: worked out at the daily payouts so far), `paid` (credited to the
    collateral at a payout, ≥ $1 a day) and `by_market` ({condition_id: {"accrued", "paid"}})."""
    ledger = engine.rewards
    fees_paid = sum(f.taker_fee for t in engine.trades if t.status != "FAILED" and t.taker_order.maker_address == address
                    for f in t.maker_fills)
    fees_by_market: dict[str, float] = {}
    for t in engine.trades:
        if t.status != "FAILED" and t.taker_order.maker_address == address and t.taker_fee:
            cid = t.taker_order.market.condition_id
            fees_by_market[cid] = round(fees_by_market.get(cid, 0.0) + t.taker_fee / MICRO, 6)

    def block(accrued: dict, paid: dict) -> dict:
        acc, pd = _per_market(accrued.items(), address), _per_market(paid.items(), address)
        return {"accrued": round(sum(acc.values()), 6), "paid": round(sum(pd.values()), 6),
                "by_market": {cid: {"accrued": acc.get(cid, 0.0), "paid": pd.get(cid, 0.0)} for cid in sorted(set(acc) | set(pd))}}

    return {
        "fees_paid": round(fees_paid / MICRO, 6),
        "fees_by_market": fees_by_market,
        "rebates": block(ledger.rebates, ledger.rebates_paid),
        "rewards": block(ledger.earnings, ledger.paid),
    }


def take(engine: Engine, token_id: str, side: str, price: float, size: float) -> dict:
    """A simulated taker's FAK order executed now (the admin `/_sim/take`)."""
    market = engine.market_by_token.get(token_id)
    if market is None:
        raise ValueError(f"unknown token_id {token_id}")
    if side not in ("BUY", "SELL"):
        raise ValueError("side must be BUY or SELL")
    pips = round(price * PIPS)
    if not 0 < pips < PIPS or size <= 0:
        raise ValueError("price must be in (0, 1) and size > 0")
    acct = engine.account(TAKER_ADDRESS, unlimited=True)
    engine.owner_address.setdefault(internal_owner(acct.address), acct.address)
    order = SimOrder(
        id=engine.new_hash(), owner=internal_owner(acct.address), maker_address=acct.address, market=market,
        token_id=token_id, side=side, price_pips=pips, original_size=round(Decimal(str(size)) * MICRO), order_type="FAK",
        expiration=0, created_at=engine.now, internal=True,
    )
    reply = engine.execute(order, admin=True)
    return {"order_id": order.id, "status": reply["status"], "filled": order.size_matched / MICRO,
            "trade_ids": reply["tradeIDs"]}
