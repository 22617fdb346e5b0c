"""Merging held YES+NO pairs back into collateral (`strategy.merge_pairs`), as a persisted, idempotent action.

A full set (one share of each outcome) is worth exactly 1 in collateral at any price: holding both sides ties up
capital and hedges for nothing. When our ledger holds both outcome tokens of a market, from settled fills only
(no fill of either token MATCHED, MINED or RETRYING: a buy that may still fail is never merged), min(YES, NO)
(rounded down to 10⁻⁶ share, the CTF's unit) is merged through the relayer (polymm.venue.relayer).

Idempotence: the signed transaction is stored in the ledger (state SIGNED) before it is sent; its relayer id
once the relayer answers (SUBMITTED). After a crash, a SIGNED merge is looked up in the relayer's transactions by
its metadata ("polymm merge <id>"); found, it is followed; not found, the same signed bytes are sent again — its
nonce lets at most one of them execute. A SUBMITTED merge is polled until STATE_MINED (on chain: then the ledger's
two positions shrink by the amount and realise 1 − (avg YES + avg NO) a pair, in one transaction) or STATE_FAILED /
STATE_INVALID (nothing moves), and on to STATE_CONFIRMED (a failure after MINED, a reorg, reverses it). One merge
is in flight at a time (one nonce).
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

from polymm.domain.unknown import known
from polymm.venue.outcomes import Ok, Refused
from polymm.venue.relayer import MICRO, TERMINAL_FAILURE, merge_units

log = logging.getLogger("polymm.merge")
CURSOR = "merge_pairs_off"  # the ledger cursor holding why merging is off ("" = on)
FIND_ATTEMPTS = 10  # ticks a SIGNED merge whose resend was refused is looked for before it counts as failed


def metadata_of(merge_id: str) -> str:
    return f"polymm merge {merge_id}"


class Merger:
    def __init__(self, ledger, client, clock, why_not: str = "") -> None:
        """`client` None: merging is off, for `why_not` (said once in the log and in `polymm status`)."""
        self.ledger = ledger
        self.client = client
        self.clock = clock
        self.why_not = why_not
        self._refused: dict[str, int] = {}  # merge id -> ticks its resend was refused and it was not found
        # market -> the (YES, NO) ledger sizes when its last merge failed: not tried again until they change (a
        # ledger above the venue's balance would otherwise revert a merge every tick)
        self._failed: dict[str, tuple] = {}
        ledger.set_cursor(CURSOR, why_not if client is None else "")  # polymm status says why merging is off
        if client is None and why_not:
            log.info("merging YES+NO pairs is off: %s", why_not)

    def step(self, observed) -> list[str]:
        """Follow the merge in flight, else start one; notes for the tick summary."""
        if self.client is None:
            return []
        notes: list[str] = []
        for m in self._in_flight():
            notes += self._follow(m)
        if self._in_flight():
            return notes
        return notes + self._start(observed)

    def _in_flight(self) -> list[dict]:
        """Merges not final: not sent or not yet mined, or mined (recorded) and not yet STATE_CONFIRMED."""
        return [m for m in self.ledger.merges(states=("SIGNED", "SUBMITTED", "CONFIRMED"))
                if m["state"] != "CONFIRMED" or m["relayer_state"] != "STATE_CONFIRMED"]

    # ------------------------------------------------------------------ a new merge
    def _pairs(self, observed):
        markets = {}
        for section in (observed.reward_markets, observed.other_markets):
            if known(section):
                markets.update({m.condition_id: m for m in section})
        positions = self.ledger.positions()
        unsettled = self.ledger.unsettled_tokens()
        for cid, market in markets.items():
            tokens = market.token_ids
            sizes = [positions[t].size if t in positions else Decimal(0) for t in tokens]
            if min(sizes) <= 0 or any(t in unsettled for t in tokens) or self._failed.get(cid) == tuple(sizes):
                continue
            units = merge_units(min(sizes))
            if units > 0:
                yield market, units

    def _start(self, observed) -> list[str]:
        for market, units in self._pairs(observed):
            merge_id = uuid.uuid4().hex
            signed = self.client.signed_merge(market.condition_id, market.neg_risk, units, metadata_of(merge_id))
            if not isinstance(signed, Ok):
                return [f"merge of {market.condition_id[:10]}… not signed: {signed.reason}"]
            shares = Decimal(units) / MICRO
            self.ledger.record_merge(merge_id, market.condition_id, market.token_ids, shares, signed.value)
            log.info("merging %s YES+NO pairs of %s (merge %s)", shares, market.condition_id, merge_id)
            return self._send(merge_id, signed.value)
        return []

    def _send(self, merge_id: str, payload: dict) -> list[str]:
        sent = self.client.submit(payload)
        if isinstance(sent, Ok):
            self.ledger.update_merge(merge_id, transaction_id=sent.value, state="SUBMITTED", relayer_state="STATE_NEW")
            return [f"merge {merge_id[:8]} submitted ({sent.value})"]
        if isinstance(sent, Refused) and "nonce" not in sent.reason.lower():
            self._note_failure(merge_id)
            self.ledger.fail_merge(merge_id, sent.reason)
            log.warning("merge %s refused: %s", merge_id, sent.reason)
            return [f"merge {merge_id[:8]} refused: {sent.reason}"]
        if isinstance(sent, Refused):  # the nonce is spent: by this very merge (look for it), or by another
            self._refused[merge_id] = self._refused.get(merge_id, 0) + 1
        self.ledger.update_merge(merge_id, error=sent.reason)
        return [f"merge {merge_id[:8]}: {sent.reason} (looked up again next tick)"]

    def _note_failure(self, merge_id: str) -> None:
        m = next((x for x in self.ledger.merges() if x["merge_id"] == merge_id), None)
        if m is not None:
            positions = self.ledger.positions()
            self._failed[m["condition_id"]] = tuple(positions[t].size if t in positions else Decimal(0)
                                                    for t in m["token_ids"])

    # ------------------------------------------------------------------ one in flight
    def _follow(self, m: dict) -> list[str]:
        merge_id = m["merge_id"]
        if m["state"] == "SIGNED" or not m["transaction_id"]:
            found = self.client.find(metadata_of(merge_id))
            if not isinstance(found, Ok):
                return [f"merge {merge_id[:8]}: cannot look it up ({found.reason})"]
            if found.value:
                self.ledger.update_merge(merge_id, transaction_id=found.value, state="SUBMITTED")
                m = {**m, "transaction_id": found.value, "state": "SUBMITTED"}
            elif self._refused.get(merge_id, 0) >= FIND_ATTEMPTS:
                self._note_failure(merge_id)
                self.ledger.fail_merge(merge_id, "its nonce was spent by another transaction")
                return [f"merge {merge_id[:8]} failed: its nonce was spent by another transaction"]
            else:
                return self._send(merge_id, m["payload"])
        status = self.client.transaction(m["transaction_id"])
        if not isinstance(status, Ok):
            return [f"merge {merge_id[:8]}: status unknown ({status.reason})"]
        state = status.value["state"]
        if state in ("STATE_MINED", "STATE_CONFIRMED"):
            # on chain from STATE_MINED: the shares are gone there (the Data API and the venue's balance say so), so
            # the ledger records it then, not 32 s later at STATE_CONFIRMED (the positions check would see the
            # ledger apart from the venue meanwhile); a later STATE_FAILED (a reorg) reverses it
            if m["state"] != "CONFIRMED":
                pnl = self.ledger.confirm_merge(merge_id, status.value.get("transactionHash"), self.clock(), state)
                log.info("merge %s on chain (%s): %s pairs of %s, realised %s", merge_id, state, m["amount"],
                         m["condition_id"], pnl)
                return [f"merged {m['amount']} pairs of {m['condition_id'][:10]}… (P&L {pnl})"]
            if state != m.get("relayer_state"):
                self.ledger.update_merge(merge_id, relayer_state=state)
            return []
        if state in TERMINAL_FAILURE:
            why = status.value.get("error") or state
            self._note_failure(merge_id)
            if m["state"] == "CONFIRMED":
                self.ledger.reverse_merge(merge_id, why, state)
            else:
                self.ledger.fail_merge(merge_id, why, state)
            log.warning("merge %s ended %s: %s", merge_id, state, status.value.get("error"))
            return [f"merge {merge_id[:8]} {state}"]
        if state != m.get("relayer_state"):
            self.ledger.update_merge(merge_id, relayer_state=state)
        return []


def merger_for(cfg, ledger, endpoints, key: str, funder: str | None, secrets, clock) -> Merger:
    """The session's merger: on when `strategy.merge_pairs` and the account can merge, else off saying why."""
    from polymm.venue.relayer import RelayerClient

    if not cfg.strategy.merge_pairs:
        return Merger(ledger, None, clock, "strategy.merge_pairs is false")
    if cfg.venue.signature_type != 3 or not funder:
        return Merger(ledger, None, clock, f"signature type {cfg.venue.signature_type}: polymm merges through a "
                      "deposit wallet (type 3, POLYMARKET_FUNDER) only — an EOA has no wallet the relayer acts for, "
                      "proxy and Safe wallets are not implemented")
    api_key, address = secrets.relayer_api_key, secrets.relayer_api_key_address
    if not endpoints.relayer_url or api_key is None or address is None:
        return Merger(ledger, None, clock, "no relayer API key (POLYMARKET_RELAYER_API_KEY and "
                      "POLYMARKET_RELAYER_API_KEY_ADDRESS; made on polymarket.com, Settings > API Keys)")
    client = RelayerClient(endpoints.relayer_url, key, funder, api_key.get_secret_value(),
                           address.get_secret_value(), endpoints.chain_id)
    return Merger(ledger, client, clock)
