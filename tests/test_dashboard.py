"""`polymm dashboard` during a run, loaded in a real headless Chromium (Debian's package): health, the
positions and rendered charts are on the page, and a screenshot of it is a non-blank PNG of the size asked.

Set POLYMM_UPDATE_SCREENSHOT=1 to also write the screenshot to docs/dashboard.png (the README shows it)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import time
import zlib
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from controller_support import h
from polymm.text.format import money

ROOT = Path(__file__).resolve().parents[1]
HEDGE_RESTS = {"POLYMM_HEDGE_SELL__MAX_BID_GAP": "0.001", "POLYMM_RISK__MIN_PROTECTION_SIZE_MULTIPLIER_HEDGE": "0"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SIZE = (1280, 1800)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
        capture_output=True, text=True, timeout=120)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) pixels of an 8-bit non-interlaced PNG (enough for chromium's screenshots)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytes(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def test_dashboard_in_headless_chromium_shows_health_positions_and_charts(venue, truth, controllers, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/test installs Debian's `chromium` when apt works)")
    ctl = controllers("dashboard", HEDGE_RESTS)
    ctl.start()
    ctl.wait_ticks(2, timeout=60)
    quote = next(o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"
                 and Decimal("0.2") <= Decimal(o["price"]) <= Decimal("0.8"))
    # one round trip (a fill, its hedge sold: realised P&L), then a second fill left hedged (a position)
    first = quote
    h.take_through(truth, quote, Decimal(1))
    ctl.wait_tick_started_after(time.time())
    hedge = next(o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "SELL")
    h.take_through(truth, hedge, Decimal(1))
    ctl.wait_tick_started_after(time.time())
    quote = next(o for o in h.live_orders(truth.state(), ctl.address) if o["side"] == "BUY"
                 and Decimal("0.2") <= Decimal(o["price"]) <= Decimal("0.8") and o["asset_id"] != quote["asset_id"])
    h.take_through(truth, quote, Decimal(1))
    ctl.wait_tick_started_after(time.time())
    ctl.wait_ticks(4)
    # venue truth of the round trip: what the hedge sold for less what the quote bought for
    realized = (Decimal(hedge["price"]) - Decimal(first["price"])) * Decimal(first["original_size"])
    port = h.free_port()
    board = subprocess.Popen([h.POLYMM, "dashboard", "--port", str(port)], env=ctl.env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and board.poll() is None, board.stdout.read() if board.poll() else ""
            time.sleep(0.1)
        assert httpx.post(url, timeout=2).status_code == 405  # read-only

        done = chromium(tmp_path, "--dump-dom", url)
        assert done.returncode == 0, done.stderr[-2000:]
        dom = done.stdout
        assert re.search(r'id="health"[^>]*data-health="ok"', dom), dom[:2000]
        assert f'class="position" data-token="{quote["asset_id"]}"' in dom
        row = re.search(rf'<tr class="position" data-token="{quote["asset_id"]}">(.*?)</tr>', dom).group(1)
        assert "100%" in row  # the hedge covers the whole position
        for chart in ("pnl", "rewards", "exposure", "ticks"):
            svg = re.search(rf'<svg class="chart" data-chart="{chart}".*?</svg>', dom, re.S)
            assert svg, chart
            points = re.findall(r'<polyline points="([^"]+)"', svg.group(0))
            assert points and len(points[0].split()) >= 2, chart
        assert f"<b>{money(realized)}</b>" in dom  # the realised P&L card, venue truth, in the one money format
        pnl = re.search(r'<svg class="chart" data-chart="pnl".*?</svg>', dom, re.S).group(0)
        ys = {float(y) for y in re.findall(r",([0-9.]+)", re.search(r'points="([^"]+)"', pnl).group(1))}
        assert len(ys) >= 2  # the P&L line steps when the hedge sold
        exposure = re.search(r'<svg class="chart" data-chart="exposure".*?</svg>', dom, re.S).group(0)
        assert 'data-series="cap"' in exposure and 'data-series="exposure"' in exposure
        assert dom.count('<svg class="band"') >= 2  # markets with their reward band and our quote
        assert "cdn" not in dom.lower() and "<script" not in dom.lower()

        shot = tmp_path / "dashboard.png"
        done = chromium(tmp_path, f"--screenshot={shot}", f"--window-size={SIZE[0]},{SIZE[1]}", url)
        assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
        width, height, rows = png_pixels(shot.read_bytes())
        assert (width, height) == SIZE
        colours = {row[i:i + 3] for row in rows[::7] for i in range(0, len(row), 3 * 5)}
        assert len(colours) > 20, "the screenshot is blank"
        top = rows[30]  # the header band is white, the page background is not: the layout rendered
        assert top[:3] != rows[height // 2][:3] or len(colours) > 50
        if os.environ.get("POLYMM_UPDATE_SCREENSHOT"):
            shutil.copy(shot, ROOT / "docs" / "dashboard.png")
    finally:
        board.terminate()
        board.wait(10)
    ctl.terminate()


def test_dashboard_without_a_ledger_says_so_and_serves_json_once_ticks_are_journaled(tmp_path):
    import json
    import threading

    from polymm.config import load_config
    from polymm.views.dashboard import make_server
    from polymm.ledger import Ledger

    cfg = load_config(environ={})
    path = tmp_path / "ledger.sqlite"
    server = make_server(cfg, path, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        missing = httpx.get(f"{base}/", timeout=5)
        assert missing.status_code == 503 and str(path) in missing.text
        with Ledger(path) as ledger:
            now = time.time()
            for i in range(3):
                ledger.journal_tick(now - 3 + i, now - 2.9 + i, {
                    "tick": i + 1, "health": "degraded", "why": "unknown: fills (500)", "seconds": 0.1,
                    "exposure": {"0xabc": str(10 + i)}, "exposure_cap_per_market": "25", "exposure_cap_total": "250",
                    "expected_rewards_per_day": 4.5, "markets": []})
        data = json.loads(httpx.get(f"{base}/api/dashboard", timeout=5).text)
        assert data["status"]["health"] == "degraded" and data["status"]["why"] == "unknown: fills (500)"
        assert [v for _, v in data["history"]["exposure_total"]] == [10.0, 11.0, 12.0]
        assert [v for _, v in data["history"]["exposure_cap_total"]] == [250.0] * 3
        page = httpx.get(f"{base}/", timeout=5).text
        assert 'data-health="degraded"' in page and "unknown: fills (500)" in page
        assert httpx.get(f"{base}/nothing", timeout=5).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
