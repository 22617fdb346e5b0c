"""Where the ledger lives: its own package, modules a newcomer reads in a sitting, no import circle with the
pure core — ledger/ uses reconciler/ and statemachines/, never the other way round; statemachines/ holds only the
pure transition tables."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "polymm"
LONGEST = 600  # lines


def imported_packages(package: str) -> set[str]:
    """The polymm subpackages the modules of `package` import (every import statement, at any depth)."""
    out: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            out.update(n.split(".")[1] for n in names if n.startswith("polymm.") and n.count(".") >= 1)
    return out - {package}


def test_no_ledger_module_is_longer_than_a_sitting():
    for path in (ROOT / "ledger").glob("*.py"):
        assert len(path.read_text().splitlines()) <= LONGEST, path.name


def test_statemachines_holds_only_the_transition_tables():
    assert sorted(p.name for p in (ROOT / "statemachines").glob("*.py")) == ["__init__.py", "orders.py", "trades.py"]


def test_no_import_circle_between_ledger_statemachines_and_reconciler():
    uses = {p: imported_packages(p) for p in ("ledger", "statemachines", "reconciler")}
    assert "ledger" not in uses["reconciler"] and "ledger" not in uses["statemachines"]
    assert "reconciler" not in uses["statemachines"]
