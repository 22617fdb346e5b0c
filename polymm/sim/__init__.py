"""The simulated Polymarket venue: a seeded, deterministic stand-in for the CLOB, Gamma, Data API, relayer and
WebSocket feeds, served on one loopback port (`polymm sim serve`, the embedded venue of tests and backtests).

Where it lives, and the rule: it stays `polymm.sim`, inside polymm, because it ships with polymm — the CLI's
`polymm sim` and the embedded venue (polymm.sim.runner.SimVenue, used by the controller's endpoints and the backtest)
are part of the product. It imports nothing of polymm but `polymm.domain` (the pure shared rules: EIP-712 signing,
the fee and reward formulas) — no controller, reconciler, venue client, ledger or config — so the venue cannot lean on
the code it tests, and it could move to a package of its own without change.

The layers, each importing only those below it (no import circle):
- model (state and units), settings, auth, fees, lifecycle (a market's life), orders (reading a signed order), wire
  (the JSON shapes);
- engine (accounts, matching on the books, balances, settlement, the clock);
- the participants behind one interface, participants.MarketSource (which markets exist, how their books are seeded
  and re-quoted, what flow arrives each step); the real universe (realdata: the snapshot drawn into markets; realflow:
  their participants) is the default source, the generated universe (universe, traders) the older one;
- history, payouts, relayer: venue services on the engine's clock;
- the HTTP surfaces, one module each over the engine (clob_markets, clob_account, gamma, dataapi, relayer_routes,
  websockets, admin), sharing rest (auth, errors, pagination) and traffic (the front door: limits and faults);
- server (the aiohttp app composing the surfaces) and runner (building and running the whole venue);
- calibration: measures a venue through its public HTTP surface as the real universe's snapshot job measured Polymarket.
"""
