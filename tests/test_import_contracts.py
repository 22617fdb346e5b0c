"""The import rules (tests/helpers/import_rules.py) hold for polymm, and the checker catches a break.

Pure modules (desired/, reconciler/, domain/) import no I/O — no clock, no logging, no config loading,
no venue, SQLite, Redis or SDK, not even through another module; only venue/ imports the SDK, only
ledger/ touches SQLite, only marketdata/ touches Redis.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

from import_rules import check  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_polymm_keeps_its_import_rules():
    violations = check(ROOT, "polymm")
    assert not violations, "\n".join(map(str, violations))


def make_package(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for d in {p.parent for p in (root / "pkg").rglob("*.py")} | {root / "pkg"}:
        (d / "__init__.py").touch()


CLEAN = {
    "domain/types.py": "from dataclasses import dataclass\nfrom decimal import Decimal\n",
    "reconciler/plan.py": "from pkg.domain.types import Decimal\n",
    "venue/gateway.py": "import httpx\nimport py_clob_client_v2\n",
    "ledger/store.py": "import sqlite3\n",
    "marketdata/store.py": "import redis\n",
}


def test_a_clean_package_passes(tmp_path):
    make_package(tmp_path, CLEAN)
    assert check(tmp_path, "pkg") == []


@pytest.mark.parametrize("module, source, expected", [
    ("reconciler/plan.py", "import sqlite3\n", "only pkg/ledger/ may import sqlite3"),
    ("statemachines/orders.py", "import sqlite3\n", "only pkg/ledger/ may import sqlite3"),
    ("domain/types.py", "import time\n", "a pure module imports a module that may do I/O"),
    ("desired/state.py", "def f():\n    import logging\n", "a pure module imports a module that may do I/O"),
    ("desired/state.py", "from pkg.venue.gateway import X\n", "a pure module imports pkg.venue.gateway, which is not pure"),
    ("reconciler/plan.py", "from ..ledger import store\n", "a pure module imports pkg.ledger.store"),
    ("controller/core.py", "import redis\n", "only pkg/marketdata/ may import redis"),
    ("controller/session.py", "from py_clob_client_v2.clob_types import ApiCreds\n", "only pkg/venue/ may import"),
])
def test_the_checker_fails_when_a_rule_is_broken(tmp_path, module, source, expected):
    make_package(tmp_path, {**CLEAN, module: source})
    violations = check(tmp_path, "pkg")
    assert any(expected in str(v) and v.module == "pkg." + module[:-3].replace("/", ".") for v in violations), violations


def test_imports_for_type_checking_only_are_allowed(tmp_path):
    make_package(tmp_path, {**CLEAN, "desired/funnel.py":
                            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.venue.gateway import X\n"})
    assert check(tmp_path, "pkg") == []


def test_polymm_keeps_its_layering_and_has_no_import_circle():
    from import_rules import import_circles, layer_violations

    violations = layer_violations(ROOT, "polymm")
    assert not violations, "\n".join(map(str, violations))
    assert import_circles(ROOT, "polymm") == []


LAYERED = {
    "domain/types.py": "from dataclasses import dataclass\n",
    "reconciler/tick.py": "from pkg.domain.types import dataclass\n",
    "ledger/store.py": "import sqlite3\nfrom pkg.reconciler.tick import dataclass\n",
    "controller/core.py": "from pkg.ledger.store import sqlite3\n",
    "views/status.py": "from pkg.controller.core import sqlite3\n",
    "sim/engine.py": "from pkg.domain.types import dataclass\n",
}


def test_a_layered_package_passes(tmp_path):
    from import_rules import import_circles, layer_violations

    make_package(tmp_path, LAYERED)
    assert layer_violations(tmp_path, "pkg") == [] and import_circles(tmp_path, "pkg") == []


@pytest.mark.parametrize("module, source, expected", [
    ("controller/core.py", "from pkg.views.status import X\n", "against the layering: controller (layer 7) imports views"),
    ("ledger/store.py", "def f():\n    from pkg.controller.core import X\n", "against the layering: ledger"),
    ("sim/engine.py", "from pkg.ledger.store import X\n", "pkg/sim/ imports only domain, sim"),
    ("sim/engine.py", "from pkg.reconciler.tick import X\n", "pkg/sim/ imports only domain, sim"),
    ("gadgets/thing.py", "import json\n", "pkg/gadgets has no layer in LAYERS"),
])
def test_the_layering_check_fails_on_a_planted_violation(tmp_path, module, source, expected):
    from import_rules import layer_violations

    make_package(tmp_path, {**LAYERED, module: source})
    violations = layer_violations(tmp_path, "pkg")
    assert any(expected in str(v) and v.module == "pkg." + module[:-3].replace("/", ".") for v in violations), violations


def test_the_circle_check_finds_a_planted_circle(tmp_path):
    from import_rules import import_circles

    make_package(tmp_path, {**LAYERED, "controller/core.py": "from pkg.controller.loop import X\n",
                            "controller/loop.py": "def f():\n    from pkg.controller.core import Y\n"})
    assert import_circles(tmp_path, "pkg") == [["pkg.controller.core", "pkg.controller.loop"]]
