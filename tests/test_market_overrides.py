"""Per-market overrides (`markets.overrides.<condition id>`) and the id blacklist
(`filters.condition_id_blacklist`): applied in the pure funnel and gate, reported by `polymm markets --all`."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest

from polymm.config import ConfigError, PolymmConfig, load_config
from polymm.desired.funnel import SelectionParams, select_markets
from polymm.desired.state import DesiredOrder, slot_key
from polymm.domain.types import Book, RewardMarket, Token
from polymm.reconciler.gate import RiskLimits, gate
from polymm.reconciler.plan import Place, Plan

ROOT = Path(__file__).resolve().parents[1]
POLYMM = ROOT / ".venv" / "bin" / "polymm"
NOW = datetime(2026, 9, 1, 12, tzinfo=timezone.utc)
A, B, C = ("0x" + c * 64 for c in "abc")


def market(cid: str) -> RewardMarket:
    return RewardMarket(cid, f"Will {cid[:6]} happen?", (Token(f"{cid}-yes", "Yes"), Token(f"{cid}-no", "No")),
                        D(3), D(10), D(50), D("0.01"), D(5), False, NOW + timedelta(days=30), D(1000))


def books(m: RewardMarket) -> dict[str, Book]:
    yes, no = m.token_ids
    bids = [(D("0.49") - D("0.01") * k, D(50 if k < 2 else 100)) for k in range(5)]
    asks = [(D("0.51") + D("0.01") * k, D(50 if k < 2 else 100)) for k in range(5)]
    return {yes: Book.from_levels(yes, bids, asks, D("0.01")),
            no: Book.from_levels(no, [(1 - p, s) for p, s in asks], [(1 - p, s) for p, s in bids], D("0.01"))}


def params_for(environ: dict[str, str]) -> SelectionParams:
    return SelectionParams.from_config(load_config(environ=environ))


def selection(environ: dict[str, str]):
    ms = [market(A), market(B), market(C)]
    return select_markets(ms, {t: b for m in ms for t, b in books(m).items()}, params_for(environ), NOW)


def test_a_blacklisted_id_is_rejected_by_the_id_blacklist_rule() -> None:
    sel = selection({"POLYMM_FILTERS__CONDITION_ID_BLACKLIST": f'["{B.upper().replace("0X", "0x")}"]'})
    assert [ev.market.condition_id for ev in sel.selected] == [A, C]
    assert (sel.rejected[B].rule, sel.rejected[B].detail) == ("id blacklist", "condition id in filters.condition_id_blacklist")
    assert sel.steps[1] == ("id blacklist", 2)


def test_a_disabled_market_is_rejected_with_the_override_named() -> None:
    sel = selection({f"POLYMM_MARKETS__OVERRIDES__{C}__ENABLED": "false"})
    assert sel.rejected[C].rule == "id blacklist"
    assert sel.rejected[C].detail == "disabled by markets.overrides (enabled: false)"
    assert C not in {ev.market.condition_id for ev in sel.selected}


def test_an_order_size_override_sizes_that_market_only() -> None:
    sel = selection({f"POLYMM_MARKETS__OVERRIDES__{A}__ORDER_SIZE": "37"})
    sizes = {ev.market.condition_id: {q.size for q in ev.quotes} for ev in sel.selected}
    assert sizes[A] == {D(37)} and sizes[B] == {D(10)} and sizes[C] == {D(10)}


def test_an_order_size_below_the_minimum_order_is_raised_to_it() -> None:
    sel = selection({f"POLYMM_MARKETS__OVERRIDES__{A}__ORDER_SIZE": "1"})
    assert {q.size for ev in sel.selected if ev.market.condition_id == A for q in ev.quotes} == {D(5)}


def _buy(cid: str, price: str, size: str) -> Place:
    token = f"{cid}-yes"
    order = DesiredOrder(slot_key(cid, token, "BUY", "quote"), cid, token, "BUY", "quote", D(price), D(size), D(1),
                         D("0.01"), False, True, "quote")
    return Place(order, "quote", None)


def test_a_market_cap_override_caps_that_market_and_leaves_the_others_at_the_global_cap() -> None:
    limits = RiskLimits(D(25), D(250), market_caps={A: D(5)})
    result = gate(Plan((), (_buy(A, "0.50", "20"), _buy(B, "0.50", "20")), (), ()), [], [], [], {}, D(1000), limits)
    assert {p.order.condition_id: p.order.size for p in result.places} == {A: D(10), B: D(20)}
    ((_, original, why),) = result.shrunk
    assert original == D(20) and "market 0.00/5" in why


def test_the_controller_takes_market_caps_from_the_overrides(tmp_path: Path) -> None:
    from polymm.controller.core import Controller
    from polymm.ledger import Ledger

    cfg = load_config(environ={f"POLYMM_MARKETS__OVERRIDES__{A}__MAX_EXPOSURE_USDC": "7.5"})
    ledger = Ledger(tmp_path / "l.sqlite")
    try:
        controller = Controller(cfg, None, None, ledger)  # type: ignore[arg-type]  # nothing is read or sent
        assert controller.limits.market_cap(A) == D("7.5") and controller.limits.market_cap(B) == D(25)
    finally:
        ledger.close()


def test_overrides_load_from_yaml_with_unquoted_ids_and_refuse_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"markets:\n  overrides:\n    {A}: {{enabled: false, max_exposure_usdc: 3}}\n"
                    f"filters:\n  condition_id_blacklist: [{B}]\n")
    cfg = load_config(path, environ={})
    assert cfg.markets.override(A.upper().replace("0X", "0x")).max_exposure_usdc == D(3)
    assert cfg.filters.condition_id_blacklist == (B,)
    assert hash(cfg) == hash(load_config(path, environ={}))
    path.write_text(f"markets:\n  overrides:\n    '{A}': {{max_exposure: 3}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == [f"markets.overrides.{A}.max_exposure: 3 — unknown key (allowed keys: enabled, "
                                     "max_exposure_usdc, order_size)"]
    path.write_text("filters:\n  condition_id_blacklist: ['0x12']\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == ["filters.condition_id_blacklist[0]: '0x12' — must be a condition id: 0x followed "
                                     "by 64 hex digits"]
    assert PolymmConfig().markets.overrides == {}


def test_markets_all_shows_the_id_blacklist_as_the_rejection_rule() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}

    def markets(**env: str) -> dict:
        done = subprocess.run([str(POLYMM), "markets", "--all", "--json"], cwd=ROOT, env={**clean, **env},
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first = markets()
    chosen = first["selected"][0]["condition_id"]
    out = markets(POLYMM_FILTERS__CONDITION_ID_BLACKLIST=f'["{chosen}"]')
    assert chosen not in {ev["condition_id"] for ev in out["selected"]}
    (row,) = [r for r in out["rejected"] if r["condition_id"] == chosen]
    assert (row["rule"], row["reason"]) == ("id blacklist", "condition id in filters.condition_id_blacklist")
    assert out["funnel"][1] == {"rule": "id blacklist", "remaining": first["funnel"][0]["remaining"] - 1}
