"""What polymm shows a person or a machine: status, dashboard, fills, plan and markets, written by one formatter.

Modules: `format` (money, prices, sizes, market names — for every view and log line), `catalog` (market
names and ticks remembered in the ledger for the views that read only the ledger), `status`,
`dashboard`, `fills` (the ledger-reading commands) and `plan` (the selection and plan tables and JSON).
"""
