"""Market text comes from the venue and is shown as text: a question holding Rich markup, a link, ANSI/OSC escape
sequences and a newline followed by a forged log line crashes none of `status`, `markets`, `fills` and `plan`,
shows whole ("… [again]?"), reaches neither the terminal nor the logs as control characters, forges no log line,
and the dashboard escapes it and refuses a request whose Host is another site's name (DNS rebinding). A real
`polymm reconcile --loop` against the simulator, whose every market carries the hostile question.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from controller_support import h, wait_until
from polymm.config import load_config
from polymm.sim.runner import SimOptions

FORGED = "ERROR polymm.core: forged line"
HOSTILE = ("Will [/] [link=https://evil.example]X[/link] [bold red]win[/] [again]? "
           "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07 \x1b[2J\x9b31m\n" + FORGED)
HOSTILE_OUTCOME = "Yes [/]\x1b[5m"



@pytest.fixture
def sim_options() -> SimOptions:
    """conftest's venue on the seeded generated universe, where the harness's three markets are quoted at once."""
    return SimOptions(seed=7, speed=0, markets=30, scenario="calm", balance_delay_s=0.0, universe="generated")

@pytest.fixture
def hostile_venue(venue):
    def rename() -> None:
        for market in venue.server.engine.markets.values():
            market.question = HOSTILE
            market.outcomes = (HOSTILE_OUTCOME, market.outcomes[1])

    venue.call(rename)
    return venue


def ledger_fills(ctl) -> list:
    with ctl.ledger() as ledger:
        return ledger.fills()


def shows_as_text(output: str) -> None:
    assert "Traceback" not in output
    assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output  # nothing reaches the terminal
    assert "[again]?" in output and "[/]" in output and "[link=https://evil.example]" in output
    assert "\\x1b" in output  # shown, not swallowed
    assert not any(line.lstrip(" │┃|").startswith(FORGED) for line in output.splitlines())


def test_hostile_market_text_is_text_in_status_markets_fills_plan_logs_and_dashboard(hostile_venue, truth, controllers):
    ctl = controllers("hostile-text", {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001",
                                       "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0", "COLUMNS": "400"})
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    quote = wait_until(lambda: next((o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"
                                     and Decimal("0.2") <= Decimal(o["price"]) <= Decimal("0.8")), None),
                       60, "a mid-priced quote", ctl)
    h.take_through(truth, quote, Decimal("0.5"))
    wait_until(lambda: ledger_fills(ctl), 60, "the fill in the ledger", ctl)

    for command in (("status",), ("markets",), ("fills",)):
        done = ctl.run(*command, timeout=120)
        assert done.returncode == 0, f"{command}: {done.stderr[-3000:]}"
        shows_as_text(done.stdout + done.stderr)
    assert ctl.terminate() == 0
    planned = ctl.run("plan", timeout=120)  # with the loop's orders cancelled: quotes to place, named
    assert planned.returncode == 0, planned.stderr[-3000:]
    shows_as_text(planned.stdout + planned.stderr)

    # the logs: the journal's console lines and logs/<date>/<module>.log
    logged = ctl.log_tail(1_000_000) + "".join(p.read_text(errors="replace")
                                              for p in (ctl.workdir / "logs").rglob("*.log"))
    assert "forged line" in logged  # the fill's line names the market
    assert "\x1b" not in logged and "\x07" not in logged
    assert not any(line.startswith(FORGED) for line in logged.splitlines())

    # the dashboard, on the ledger the loop wrote
    from polymm.views.dashboard import make_server

    cfg = load_config(environ={k: v for k, v in ctl.env.items() if k.startswith("POLYMM_")})
    server = make_server(cfg, Path(ctl.ledger_path), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_port
    try:
        def get(host: str) -> tuple[int, str]:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=30) as reply:
                    return reply.status, reply.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()

        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            status, page = get(host)
            assert status == 200, (host, page[:500])
        assert "\x1b" not in page and "[again]?" in page and "<a " not in page and "\\x1b" in page
        for host in (f"evil.example:{port}", "rebind.attacker.test", ""):
            status, page = get(host)
            assert status == 403 and "[again]" not in page, host
    finally:
        server.shutdown()
        server.server_close()


def test_a_venue_text_logged_with_percent_s_forges_no_line_and_sends_no_escape(capsys):
    import logging

    from polymm.logs import RedactingFormatter, Redactor

    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s", "%H", Redactor()))
    logger = logging.getLogger("polymm.test-hostile")
    logger.addHandler(handler)
    try:
        logger.warning("order refused: %s", HOSTILE)
    finally:
        logger.removeHandler(handler)
    written = capsys.readouterr().err
    assert written.count("\n") == 1 and written.startswith("WARNING polymm.test-hostile: order refused: Will [/]")
    assert "\x1b" not in written and "\\x1b" in written and "\\n" + FORGED in written
