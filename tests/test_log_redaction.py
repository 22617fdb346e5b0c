"""Secrets never reach a log file, the console or a traceback (a real process, polymm's own logging setup).

The child (tests/helpers/log_secrets.py) takes POLYMARKET_PRIVATE_KEY / _API_SECRET / _API_PASSPHRASE
from its environment as the CLI does and logs them in messages, arguments, exception text, a
log.exception traceback, a dict in the arguments, a thread's uncaught exception and an uncaught exception
at exit. None of the three values may appear anywhere it wrote; the redaction marks must.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "0x" + "4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d"[:64]
API_SECRET = "c2VjcmV0LWZvci10ZXN0aW5nLW9ubHktMTIzNDU2Nzg5MA=="
PASSPHRASE = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"  # 63 hex: not caught by the 64-hex rule


def test_a_private_key_an_api_secret_and_a_passphrase_are_redacted_everywhere(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYMM_", "POLYMARKET_"))}
    env.update({"POLYMARKET_PRIVATE_KEY": KEY, "POLYMARKET_API_KEY": "11111111-2222-3333-4444-555555555555",
                "POLYMARKET_API_SECRET": API_SECRET, "POLYMARKET_API_PASSPHRASE": PASSPHRASE})
    logs = tmp_path / "logs"
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "helpers" / "log_secrets.py"), str(logs)], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr  # the uncaught exception at the end
    files = {p.name: p.read_text() for p in logs.rglob("*.log")}
    assert set(files) >= {"controller.log", "venue.log"}, files.keys()
    outputs = {"stdout": done.stdout, "stderr": done.stderr, **files}
    for name, text in outputs.items():
        for secret in (KEY, KEY[2:], API_SECRET, PASSPHRASE):
            assert secret not in text, f"{secret[:6]}… leaked into {name}:\n{text}"
    assert "[redacted]" in files["controller.log"]
    assert "Traceback" in files["controller.log"] and "RuntimeError" in files["controller.log"]
    assert "Traceback" in done.stderr and "SystemError" in done.stderr and "ValueError" in done.stderr
    assert done.stderr.count("[redacted]") >= 6  # console lines, the thread's and the final traceback
