"""What watches the running service from outside the tick: Prometheus metrics, alerts, and their feed.

Modules: `observers` (fed once per tick by controller/loop.py; starts the other two on demand),
`metrics` (the Prometheus endpoint) and `alerts` (webhook and Telegram, rate-limited and redacted).
"""
