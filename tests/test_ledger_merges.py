"""The ledger's merges (polymm/controller/merger.py): a YES+NO pair merged into collateral shrinks both positions by
the amount and realises 1 − (avg YES + avg NO) a pair, once, in one transaction; the fold keeps it when a position
is refolded after a reversed fill; a failed merge moves nothing; merge rows are no trades (`fills()`)."""

from __future__ import annotations

from decimal import Decimal as D

from polymm.domain.terms import FillTerms
from polymm.domain.types import Fill
from polymm.ledger import Ledger

COND = "0x" + "ab" * 32
YES, NO = "111", "222"


def fill(trade, token, side, size, price, status="CONFIRMED"):
    return Fill(FillTerms(trade, f"o-{trade}", COND, token, side, D(size), D(price), "maker", 1_700_000_000), status)


def test_a_confirmed_merge_shrinks_both_positions_and_realises_the_pairs_edge(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite", clock=lambda: 1000.0)
    ledger.apply_fill(fill("t1", YES, "BUY", "30", "0.40"))
    ledger.apply_fill(fill("t2", NO, "BUY", "20", "0.55"))
    ledger.apply_fill(fill("t3", YES, "BUY", "10", "0.50", status="MATCHED"))
    assert ledger.unsettled_tokens() == {YES}
    ledger.record_merge("m1", COND, (YES, NO), D("20"), {"nonce": "0"})
    ledger.update_merge("m1", transaction_id="tx-1", state="SUBMITTED")
    pnl = ledger.confirm_merge("m1", "0xhash", 1001.0)
    # avg YES = (30 × 0.40 + 10 × 0.50) / 40 = 0.425; avg NO 0.55; 20 × (1 − 0.975) = 0.5
    assert pnl == D("0.5")
    assert ledger.confirm_merge("m1", "0xhash", 1002.0) is None  # once
    pos = ledger.positions()
    assert (pos[YES].size, pos[NO].size) == (D("20"), D("0"))
    assert pos[YES].realized_pnl + pos[NO].realized_pnl == D("0.5")
    assert pos[YES].avg_cost == D("0.425")
    [m] = ledger.merges()
    assert (m["state"], m["pnl"], m["transaction_id"], m["transaction_hash"]) == ("CONFIRMED", D("0.5"), "tx-1", "0xhash")
    assert [f.trade_id for f in ledger.fills()] == ["t1", "t2", "t3"]  # merge rows are no trades
    # the unsettled YES buy fails (the merger would not have merged then; the ledger stays consistent anyway): the
    # position is refolded from its fills, the merge kept in it; the pair's edge is now against the true cost,
    # 20 × (1 − 0.40 − 0.55) = 1.0 (the merge's two prices sum to 1: the collateral it returned)
    ledger.update_fill_status("t3", "o-t3", "FAILED")
    pos = ledger.positions()
    assert (pos[YES].size, pos[NO].size) == (D("10"), D("0"))
    assert pos[YES].realized_pnl + pos[NO].realized_pnl == D("1.0")
    ledger.close()
    reopened = Ledger(tmp_path / "l.sqlite")
    assert reopened.positions()[YES].size == D("10") and reopened.merges()[0]["state"] == "CONFIRMED"
    reopened.close()


def test_a_failed_merge_moves_nothing(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.apply_fill(fill("t1", YES, "BUY", "5", "0.40"))
    ledger.apply_fill(fill("t2", NO, "BUY", "5", "0.55"))
    ledger.record_merge("m1", COND, (YES, NO), D("5"), {})
    ledger.fail_merge("m1", "execution reverted", "STATE_FAILED")
    assert ledger.confirm_merge("m1", None, 0.0) is None
    pos = ledger.positions()
    assert (pos[YES].size, pos[NO].size) == (D("5"), D("5"))
    assert ledger.merges()[0]["state"] == "FAILED"
    ledger.close()


def test_a_merge_recorded_when_mined_and_then_failed_is_reversed(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.apply_fill(fill("t1", YES, "BUY", "5", "0.40"))
    ledger.apply_fill(fill("t2", NO, "BUY", "5", "0.55"))
    ledger.record_merge("m1", COND, (YES, NO), D("5"), {})
    assert ledger.confirm_merge("m1", "0xh", 0.0, "STATE_MINED") == D("0.25")
    ledger.update_merge("m1", relayer_state="STATE_MINED")
    assert ledger.positions()[YES].size == 0
    assert ledger.reverse_merge("m1", "reorg", "STATE_FAILED")
    assert not ledger.reverse_merge("m1", "reorg", "STATE_FAILED")  # once
    pos = ledger.positions()
    assert (pos[YES].size, pos[NO].size, pos[YES].realized_pnl + pos[NO].realized_pnl) == (D("5"), D("5"), 0)
    assert ledger.merges()[0]["state"] == "FAILED"
    ledger.close()


def test_a_merge_that_reverts_is_not_retried_until_the_positions_change(tmp_path):
    """The merger on the real ledger, against a relayer whose merges revert (the ledger above the wallet's
    balance): one attempt, not one a tick."""
    from types import SimpleNamespace

    from polymm.controller.merger import Merger
    from polymm.venue.outcomes import Ok

    class Relayer:
        signed = 0

        def signed_merge(self, condition_id, neg_risk, amount, metadata):
            self.signed += 1
            return Ok({"nonce": str(self.signed), "amount": amount})

        def submit(self, payload):
            return Ok(f"tx-{payload['nonce']}")

        def transaction(self, tx_id):
            return Ok({"state": "STATE_FAILED", "transactionHash": None, "error": "execution reverted"})

        def find(self, metadata):
            return Ok(None)

    ledger = Ledger(tmp_path / "l.sqlite")
    ledger.apply_fill(fill("t1", YES, "BUY", "5", "0.40"))
    ledger.apply_fill(fill("t2", NO, "BUY", "3", "0.55"))
    relayer = Relayer()
    merger = Merger(ledger, relayer, clock=lambda: 0.0)
    observed = SimpleNamespace(reward_markets=(SimpleNamespace(condition_id=COND, token_ids=(YES, NO), neg_risk=False),),
                               other_markets=())
    merger.step(observed)
    assert relayer.signed == 1 and ledger.merges()[0]["amount"] == D("3")
    for _ in range(5):
        merger.step(observed)
    assert relayer.signed == 1 and [m["state"] for m in ledger.merges()] == ["FAILED"]
    ledger.apply_fill(fill("t3", NO, "BUY", "1", "0.55"))  # the positions change: tried again
    merger.step(observed)
    assert relayer.signed == 2
    assert ledger.positions()[YES].size == D("5")  # nothing moved
    ledger.close()


def test_a_schema_2_ledger_gains_the_merges_table(tmp_path):
    import sqlite3

    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE merges")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    ledger = Ledger(path)
    ledger.record_merge("m1", COND, (YES, NO), D("1"), {})
    assert [m["merge_id"] for m in ledger.merges()] == ["m1"]
    ledger.close()


def test_an_unknown_stored_merge_state_is_refused_on_open(tmp_path):
    import sqlite3

    import pytest

    from polymm.ledger import LedgerError

    path = tmp_path / "l.sqlite"
    ledger = Ledger(path)
    ledger.record_merge("m1", COND, (YES, NO), D("1"), {})
    ledger.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE merges SET state = 'DONE'")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match="table merges, key m1: state 'DONE' is not allowed"):
        Ledger(path)
