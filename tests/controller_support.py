"""Shared by the controller tests: the process harness of scripts/chaos.py and fixtures built on it.

The package scripts/chaos/ holds the venue and controller processes and the venue-truth checks that the
chaos run and these tests share; it is imported once, as `h`.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_harness():
    scripts = str(ROOT / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    return importlib.import_module("chaos")


h = _load_harness()


def wait_until(predicate, timeout: float, what: str, ctl=None, poll: float = 0.05):
    """The predicate's first truthy value within `timeout` seconds; else fail naming `what` (and the
    controller's log tail when a controller is given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"not within {timeout} s: {what}\n{ctl.log_tail() if ctl else ''}")


@pytest.fixture
def truth(venue):
    admin = h.Admin(venue.url)
    yield admin
    admin.close()


@pytest.fixture
def controllers(venue, tmp_path):
    made: list = []

    def make(label: str, extra_env: dict | None = None, max_markets: int = 3):
        ctl = h.ControllerProcess(venue.url, h.wallet_key(label), tmp_path / label, max_markets, extra_env)
        made.append(ctl)
        return ctl

    yield make
    for ctl in made:
        ctl.stop()
