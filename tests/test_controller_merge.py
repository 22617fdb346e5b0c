"""polymm merges a held YES+NO pair into collateral (strategy.merge_pairs; polymm/controller/merger.py), end to end:
the controller as a real process, trading through a deposit wallet with a relayer key, against the simulated venue
(manual clock). A YES and a NO bid of ours in one market fill; once both fills are CONFIRMED the controller merges
min(YES, NO) through the relayer; the venue's truth (`/_sim/state`) shows the shares gone and the collateral back,
the ledger (`polymm status`) shows the positions shrunk and the pair's P&L realised. Killed between submit and
confirmation, the restarted controller follows the same transaction: nothing is merged twice."""

from __future__ import annotations

import signal
import time
from decimal import Decimal

import httpx
import pytest
from eth_account import Account

from controller_support import h, wait_until


def _setup(venue, make_client, controllers, label: str):
    key = h.wallet_key(label)
    eoa = Account.from_key(key).address
    make_client(key)  # the EOA's API key
    wallet = httpx.post(f"{venue.url}/_sim/wallet", json={"owner": eoa, "signature_type": 3}).json()["address"]
    relayer_key = httpx.post(f"{venue.url}/_sim/relayer-key", json={"address": eoa}).json()
    ctl = controllers(label, max_markets=2, extra_env={
        "POLYMM_VENUE__SIGNATURE_TYPE": "3", "POLYMARKET_FUNDER": wallet,
        "POLYMARKET_RELAYER_API_KEY": relayer_key["key"], "POLYMARKET_RELAYER_API_KEY_ADDRESS": relayer_key["address"],
        # hedges rest as asks at or above cost (nothing takes them on a frozen clock), quotes stay after a fill
        "POLYMM_HEDGE_SELL__MODE": "maker", "POLYMM_HEDGE_SELL__MAKER_WAIT_SECONDS": "36000",
        "POLYMM_STRATEGY__TOXIC_PAUSE_SECONDS": "0", "POLYMM_CONTROLLER__HEARTBEAT_INTERVAL_SECONDS": "0.5"})
    return ctl, wallet


def _both_sides(truth, wallet, venue):
    """A market where we bid on both outcome tokens: {token: our quote}."""
    markets = venue.server.engine.market_by_token
    quotes = [o for o in h.live_orders(truth.state(), wallet) if o["side"] == "BUY"]
    by_market: dict[str, dict] = {}
    for q in quotes:
        by_market.setdefault(markets[q["asset_id"]].condition_id, {})[q["asset_id"]] = q
    return next((v for v in by_market.values() if len(v) == 2), None)


def _fill_pair(venue, truth, ctl, wallet):
    """Both our bids filled, then every order cancelled and hedging off (`polymm cancel --all`): a hedge ask of one
    side would be taken by the other side's taker through the venue's complement matching (a NO sell at p is a
    YES buy at 1 − p), and the simulated traders take hedges once the clock moves."""
    pair = wait_until(lambda: _both_sides(truth, wallet, venue), 90, "bids of ours on both tokens of a market", ctl)
    sizes = {}
    ctl.signal(signal.SIGSTOP)  # no hedge is placed between the two takes
    try:
        for token, quote in pair.items():
            taken = h.take_through(truth, quote)
            assert taken["filled"] > 0, taken
            sizes[token] = Decimal(quote["original_size"]) - Decimal(quote["size_matched"])
    finally:
        ctl.signal(signal.SIGCONT)
    done = ctl.run("cancel", "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [o for o in h.live_orders(truth.state(), wallet)] == []
    market = venue.server.engine.market_by_token[next(iter(pair))]
    return market, pair, sizes


def _advance(truth, seconds: float, step: float = 1.0):
    """Move the venue's clock in small steps, the controller ticking (and beating) in between."""
    for _ in range(int(seconds / step)):
        truth.advance(step)
        time.sleep(0.1)


def test_a_filled_yes_and_no_pair_is_merged_into_collateral(venue, truth, controllers, make_client):
    ctl, wallet = _setup(venue, make_client, controllers, "merge-e2e")
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    market, pair, sizes = _fill_pair(venue, truth, ctl, wallet)
    yes, no = market.token_ids
    merged = min(sizes.values())
    prices = {t: Decimal(q["price"]) for t, q in pair.items()}
    # the fills are MATCHED, not yet CONFIRMED: nothing is merged while a buy may still fail
    _advance(truth, 20)
    assert truth.state()["merges"] == []
    _advance(truth, 200)  # the trades confirm (180 s), then the merge goes through the relayer (38 s)
    done = wait_until(lambda: [m for m in truth.state()["merges"] if m["state"] == "STATE_CONFIRMED"] or
                      (_advance(truth, 4) and None), 120, "a confirmed merge", ctl)
    [tx] = done
    assert tx["wallet"] == wallet and tx["merges"] == [{"condition_id": market.condition_id, "amount": float(merged)}]
    assert [s["state"] for s in tx["history"]] == ["STATE_NEW", "STATE_EXECUTED", "STATE_MINED", "STATE_CONFIRMED"]
    status = wait_until(lambda: (s := ctl.status())["merges"]["confirmed"] == 1 and s, 60, "the ledger's merge", ctl)
    state = truth.state()
    assert len(state["merges"]) == 1  # one merge, not two
    held = state["accounts"][wallet]["positions"]
    for token in (yes, no):  # the pair left the wallet: what is held is the excess of one side
        assert Decimal(str(held.get(token, 0))) == sizes[token] - merged
    ledger = {p["token_id"]: p for p in status["positions"]}
    for token in (yes, no):
        assert Decimal(ledger[token]["size"]) == sizes[token] - merged
    pnl = merged * (1 - prices[yes] - prices[no])
    assert Decimal(status["merges"]["pnl"]) == pytest.approx(pnl, abs=Decimal("0.01"))
    assert Decimal(status["merges"]["pairs_merged"]) == merged


def test_a_merge_interrupted_between_submit_and_confirmation_is_not_sent_twice(venue, truth, controllers, make_client):
    ctl, wallet = _setup(venue, make_client, controllers, "merge-crash")
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    market, pair, sizes = _fill_pair(venue, truth, ctl, wallet)
    merged = min(sizes.values())
    _advance(truth, 190)  # the trades confirm; the controller signs and submits the merge
    wait_until(lambda: truth.state()["merges"] or (_advance(truth, 2) and None), 60, "a submitted merge", ctl)
    ctl.kill9()  # before the relayer's STATE_CONFIRMED
    assert truth.state()["merges"][0]["state"] != "STATE_CONFIRMED"
    _advance(truth, 40)  # it confirms while no controller runs
    ctl.start()
    status = wait_until(lambda: (s := ctl.status())["merges"]["confirmed"] == 1 and s, 90, "the merge adopted", ctl)
    _advance(truth, 20)
    state = truth.state()
    assert len(state["merges"]) == 1 and state["merges"][0]["state"] == "STATE_CONFIRMED"
    assert status["merges"]["failed"] == 0 and Decimal(status["merges"]["pairs_merged"]) == merged
    held = state["accounts"][wallet]["positions"]
    for token in market.token_ids:
        assert Decimal(str(held.get(token, 0))) == sizes[token] - merged


def test_an_eoa_account_does_not_merge_and_status_says_why(venue, truth, controllers):
    """Signature type 0 (the EOA itself: no wallet the relayer acts for) cannot merge. The loop says why once at
    start, `polymm status --json` always, and the status text while a YES+NO pair is held (only then does it matter:
    a notice on every status would be noise); the pair stays held at the venue after its fills confirm."""
    ctl = controllers("merge-eoa", max_markets=2, extra_env={  # as _setup, without the deposit wallet and relayer
        "POLYMM_HEDGE_SELL__MODE": "maker", "POLYMM_HEDGE_SELL__MAKER_WAIT_SECONDS": "36000",
        "POLYMM_STRATEGY__TOXIC_PAUSE_SECONDS": "0", "POLYMM_CONTROLLER__HEARTBEAT_INTERVAL_SECONDS": "0.5"})
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    why = "signature type 0: polymm merges through a deposit wallet (type 3, POLYMARKET_FUNDER) only"
    assert ctl.status()["merges"]["off"].startswith(why)
    assert f"merging YES+NO pairs is off: {why}" in ctl.log_tail(200_000)
    assert "merging YES+NO pairs is off" not in ctl.run("status").stdout  # no pair held yet: nothing to say
    market, pair, sizes = _fill_pair(venue, truth, ctl, ctl.address)
    _advance(truth, 200)  # the trades confirm (180 s): a deposit wallet merges the pair now (the test above)

    def ledger_holds_the_pair():
        s = ctl.status()
        sizes_held = {p["token_id"]: Decimal(p["size"].replace(",", "")) for p in s["positions"]}
        return all(sizes_held.get(t) == sizes[t] for t in pair) and s

    status = wait_until(ledger_holds_the_pair, 60, "both sides of the pair in the ledger", ctl)
    ctl.wait_ticks(3)  # ticks with the pair held and its fills settled: none merges it
    state = truth.state()
    assert state["merges"] == []
    held = state["accounts"][ctl.address]["positions"]
    for token in market.token_ids:
        assert Decimal(str(held.get(token, 0))) == sizes[token]
    assert status["merges"]["off"].startswith(why)
    done = ctl.run("status")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"merging YES+NO pairs is off: {why}" in " ".join(done.stdout.split())
