"""First run on a real account: the wallet's API credentials (`polymm keys`) and the checks of
`polymm check-config --remote` — keys, funder, signature type, balance and allowances — each a
one-line finding, before the first order is sent.

Facts relied on:
- API keys are derived (GET /auth/derive-api-key) or created (POST /auth/api-key) with the wallet's
  L1 signature; a wallet that never created one is answered 400 "Could not derive api key!"
  (VENUE.md "Authentication"; the simulator answers the same).
- Signature type 0 is a plain EOA: the signer is the order's maker and holds the funds. Types 1
  (POLY_PROXY, email/Magic accounts), 2 (POLY_GNOSIS_SAFE, browser-wallet accounts) and 3
  (POLY_1271 deposit wallets, new accounts) trade through a contract wallet whose address is the
  funder; the signer, the funder and the API key must agree, else orders are refused ("the order
  signer address has to be the address of the API KEY", "maker address not allowed, please use
  the deposit wallet flow"). Sources: github.com/Polymarket/examples README (Proxy and Safe
  wallets); VENUE.md "wallets" (py-clob-client-v2 issues #70, #76, #77).
- GET /balance-allowance?asset_type=COLLATERAL answers the collateral balance (6 decimals) and an
  `allowances` map of exchange contract → allowance; an allowance of 0 means the exchange cannot
  move the funds, so every buy would be refused "not enough balance / allowance"
  (polymarket-client models/clob `BalanceAllowance`; VENUE.md "balance after a fill").
Every request goes through the trading gateway's guarded calls (venue/guard.py), on polymarket-client.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from polymm.venue import sdk
from polymm.venue.guard import Guard
from polymm.venue.outcomes import Ok, Refused, Unknown
from polymm.venue.trading import ApiCreds, TradingGateway

NO_API_KEY = "Could not derive api key"
SIGNATURE_TYPES = {0: "EOA", 1: "POLY_PROXY", 2: "POLY_GNOSIS_SAFE", 3: "POLY_1271"}
USDC = Decimal(1_000_000)


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.what}: {self.detail}"


def redact(value: str, keep: int = 8) -> str:
    """Enough of an identifier to recognise it, never enough to use it."""
    return value[:keep] + "…" if len(value) > keep else "…"


def signer_address(trading: TradingGateway) -> str:
    return trading.signer_address


def credentials(trading: TradingGateway, create: bool) -> tuple[str, ApiCreds | None, str]:
    """(how they were obtained: env | derived | created | missing, the credentials, the venue's reason if missing)."""
    if trading.client.creds is not None:
        return "env", trading.client.creds, ""
    derived = trading.derive_credentials()
    if isinstance(derived, Ok):
        return "derived", derived.value, ""
    if not create:
        return "missing", None, _reason(derived)
    created = trading.create_credentials()
    if isinstance(created, Ok):
        return "created", created.value, ""
    return "missing", None, _reason(created)


def _reason(outcome: Refused | Unknown) -> str:
    status = getattr(outcome, "status", None)
    return f"{status}: {outcome.reason}" if status else outcome.reason


def wallet_findings(signature_type: int, signer: str, funder: str | None) -> list[Finding]:
    """Signer, funder and signature type agree (local: no request)."""
    name = SIGNATURE_TYPES.get(signature_type, str(signature_type))
    if signature_type == 0:
        if funder and funder.lower() != signer.lower():
            return [Finding(False, "funder", f"POLYMARKET_FUNDER is {funder}, but venue.signature_type 0 (EOA) trades "
                                             f"from the signer {signer} itself: unset POLYMARKET_FUNDER, or set "
                                             "venue.signature_type to 1, 2 or 3 for a proxy, safe or deposit wallet")]
        return [Finding(True, "wallet", f"signer {signer} trades for itself (signature type 0, EOA)")]
    if not funder:
        return [Finding(False, "funder", f"venue.signature_type {signature_type} ({name}) trades through a contract "
                                         "wallet: set POLYMARKET_FUNDER to its address (the one Polymarket shows on "
                                         "your profile)")]
    if funder.lower() == signer.lower():
        return [Finding(False, "funder", f"POLYMARKET_FUNDER equals the signer {signer}, but signature type "
                                         f"{signature_type} ({name}) needs the contract wallet's address; or use "
                                         "venue.signature_type 0 for a plain EOA")]
    return [Finding(True, "wallet", f"signer {signer} trades for funder {funder} (signature type {signature_type}, {name})")]


RELAYER_TYPES = {1: "PROXY", 2: "SAFE", 3: "WALLET"}  # the relayer's names (polymarket-client relayer/deployed.py)


def wallet_deployed(trading: TradingGateway, signature_type: int, funder: str | None) -> Finding | None:
    """Whether the funder of a proxy, Safe or deposit wallet is a deployed wallet of that kind, as the relayer says
    (`GET /deployed?address=&type=`, what polymarket-client asks before trading through one). A counterfactual
    deposit wallet is refused by the venue ("the order signer address has to be the address of the API KEY",
    py-clob-client-v2 issues #64, #83) until its first order from polymarket.com deploys it. None: not checked."""
    relayer = trading.endpoints.relayer_url
    if signature_type not in RELAYER_TYPES or not funder or not relayer:
        return None
    name = SIGNATURE_TYPES.get(signature_type, str(signature_type))
    transport = sdk.transport(relayer, trading.timeout_s)
    try:
        asked = Guard().call(None, lambda: transport.get_json(
            "/deployed", params={"address": funder, "type": RELAYER_TYPES[signature_type]}),
            lambda reply: reply.get("deployed"))
    finally:
        sdk.close_transport(transport)
    if not isinstance(asked, Ok):
        return Finding(False, "funder", f"could not ask the relayer {relayer} whether {funder} is deployed ({_reason(asked)}); "
                                        "set venue.relayer_url, or check the funder on polymarket.com")
    deployed = asked.value
    if deployed is not True:
        return Finding(False, "funder", f"no {name} wallet is deployed at POLYMARKET_FUNDER {funder} (the relayer says so): "
                                        "use the account address polymarket.com shows in the profile menu; a new deposit "
                                        "wallet is deployed by its first order placed on polymarket.com")
    return Finding(True, "funder", f"{funder} is a deployed {name} wallet")


def remote_findings(trading: TradingGateway, signature_type: int, funder: str | None,
                    min_collateral: Decimal) -> list[Finding]:
    """Every check of `check-config --remote`, in order; later checks are skipped when an earlier one makes them moot."""
    signer = signer_address(trading)
    out = wallet_findings(signature_type, signer, funder)
    reachable = trading.venue_reachable()
    if not isinstance(reachable, Ok):
        return out + [Finding(False, "venue", f"{trading.endpoints.clob_url} not reachable ({_reason(reachable)})")]
    out.append(Finding(True, "venue", f"{trading.endpoints.clob_url} reachable"))
    deployed = wallet_deployed(trading, signature_type, funder)
    if deployed is not None:
        out.append(deployed)
    how, creds, reason = credentials(trading, create=False)
    if creds is None:
        hint = "run `polymm keys --create` to create it" if NO_API_KEY in reason else "check the key and the venue URL"
        return out + [Finding(False, "api key", f"this wallet has no API key yet ({reason}): {hint}")]
    trading.use_credentials(creds)
    answered = trading.balance_allowance_reply()
    if not isinstance(answered, Ok):
        source = ("POLYMARKET_API_KEY/SECRET/PASSPHRASE were refused" if how == "env"
                  else "the derived credentials were refused")
        return out + [Finding(False, "api key", f"{source} ({_reason(answered)}): unset them to derive the wallet's own, "
                                                "or run `polymm keys`")]
    reply = answered.value
    out.append(Finding(True, "api key", f"{redact(creds.api_key)} ({'from the environment' if how == 'env' else 'derived from the wallet'}) accepted"))
    try:
        balance = Decimal(str(reply["balance"])) / USDC
    except (KeyError, TypeError, ArithmeticError, ValueError):
        return out + [Finding(False, "balance", f"unreadable balance reply: {str(reply)[:120]}")]
    if balance <= 0:
        out.append(Finding(False, "balance", f"no collateral at the venue ({balance} USDC): deposit USDC to the "
                                             f"{'funder' if signature_type else 'signer'} address first"))
    elif balance < min_collateral:
        out.append(Finding(False, "balance", f"{balance:.2f} USDC is below strategy.max_exposure_per_market_usdc "
                                             f"({min_collateral}): not one market's cap can be quoted"))
    else:
        out.append(Finding(True, "balance", f"{balance:.2f} USDC collateral"))
    allowances = reply.get("allowances") if isinstance(reply, dict) else None
    if not isinstance(allowances, dict) or not allowances:
        out.append(Finding(False, "allowances", "the venue reported no allowances: approve the exchange contracts "
                                                "to spend your USDC (once, on Polygon) before trading"))
    else:
        zero = [addr for addr, amount in allowances.items() if Decimal(str(amount or 0)) <= 0]
        if zero:
            out.append(Finding(False, "allowances", f"no allowance for {', '.join(zero)}: approve "
                                                    "these exchange contracts to spend your USDC (once, on Polygon)"))
        else:
            out.append(Finding(True, "allowances", f"{len(allowances)} exchange contract(s) approved"))
    return out

