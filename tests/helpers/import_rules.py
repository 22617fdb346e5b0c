"""The import rules of polymm, as data, and an AST checker for them (no import is executed).

Rules:
- pure: `desired`, `reconciler`, `domain` (and the pure modules they lean on: `observed.state`,
  the state-machine tables) import only the standard-library modules in PURE_STDLIB, the pure
  third-party libraries in PURE_THIRD_PARTY, and other pure modules. No clock (`time`), no logging,
  no files or environment (`os`, the config loader), no venue, SQLite, Redis or the SDK — also not
  through another polymm module. Imports under `if TYPE_CHECKING:` are types only and are skipped;
- owners: only `venue/` imports the SDK; only `ledger/` touches SQLite; only `marketdata/`
  touches Redis.
Every import statement counts, at module level or inside a function.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PURE_PACKAGES = ("desired", "reconciler", "domain")
PURE_MODULES = ("observed.state", "statemachines.orders", "statemachines.trades")
PURE_STDLIB = frozenset({
    "__future__", "abc", "bisect", "collections", "dataclasses", "datetime", "decimal", "enum", "fractions",
    "functools", "heapq", "itertools", "json", "math", "operator", "re", "statistics", "typing",
})
PURE_THIRD_PARTY = frozenset({"coincurve", "eth_hash"})  # EIP-712 hashing: computation, no I/O
OWNERS = {  # top-level module -> the only subpackage allowed to import it
    "py_clob_client_v2": "venue",
    "polymarket": "venue",  # polymarket-client, the SDK
    "sqlite3": "ledger",
    "sqlite_utils": "ledger",
    "redis": "marketdata",
}


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}: {self.rule}"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, module: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, TYPE_CHECKING blocks left out."""
    tree = ast.parse(path.read_text(), str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    out: list[tuple[int, str]] = []
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                base = parts if is_pkg else parts[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            # `from polymm.x import y` may name a submodule y
            for alias in node.names:
                out.append((node.lineno, f"{name}.{alias.name}"))
    return out


def modules_of(root: Path, package: str) -> dict[str, Path]:
    base = root / package
    found: dict[str, Path] = {}
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def check(root: Path, package: str = "polymm") -> list[Violation]:
    """Every rule broken by the package at root/package."""
    modules = modules_of(root, package)
    graph = {m: imports_of(p, m, package) for m, p in modules.items()}

    def sub(mod: str) -> str:  # "polymm.venue.gateway" -> "venue.gateway"
        return mod[len(package) + 1:] if mod.startswith(package + ".") else ""

    def pure(mod: str) -> bool:
        s = sub(mod)
        return s.split(".")[0] in PURE_PACKAGES or s in PURE_MODULES

    def internal(name: str) -> str | None:
        """The polymm module an imported name refers to (a `from m import name` may be an attribute)."""
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    violations: list[Violation] = []
    for mod, imports in graph.items():
        owner_pkg = sub(mod).split(".")[0]
        for line, name in imports:
            top = name.split(".")[0]
            if top in OWNERS and owner_pkg != OWNERS[top]:
                violations.append(Violation(mod, line, name, f"only {package}/{OWNERS[top]}/ may import {top}"))
            if not pure(mod):
                continue
            if top == package:
                target = internal(name)
                if target is not None and target != package and not pure(target):
                    violations.append(Violation(mod, line, name, f"a pure module imports {target}, which is not pure"))
            elif top not in PURE_STDLIB and top not in PURE_THIRD_PARTY:
                violations.append(Violation(mod, line, name, "a pure module imports a module that may do I/O "
                                                             "(allowed: " + ", ".join(sorted(PURE_STDLIB | PURE_THIRD_PARTY)) + ")"))
    unique = {(v.module, v.line, v.imported, v.rule): v for v in violations}
    # `from a import b` is recorded as both `a` and `a.b`: keep one line per (module, line, rule, target)
    return sorted(unique.values(), key=lambda v: (v.module, v.line, v.imported))
