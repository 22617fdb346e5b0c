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


# ---------------------------------------------------------------------------------------------- layering
# Each package (or root module) of polymm sits on a layer; a module imports only its own package and packages on
# lower layers. The layers read bottom-up as docs/ARCHITECTURE.md draws them: the domain's values; the pure state
# tables and the adapters that speak to one outside thing each (the venue's HTTP, the simulator, the config file);
# the pure core (observed → desired → reconciler); the stores (ledger, marketdata) and the people-facing text; the
# controller; what presents or drives it (views, backtest); the command line on top.
LAYERS = {
    "domain": 0,
    "statemachines": 1, "venue": 1, "sim": 1, "config": 1, "config_legacy_keys": 0, "text": 1,
    "observed": 2, "logs": 2,
    "desired": 3,
    "reconciler": 4,
    "ledger": 5, "marketdata": 5,
    "telemetry": 6,
    "controller": 7,
    "views": 8, "backtest": 8,
    "cli": 9, "__main__": 9,
}
# the simulator is a venue of its own: it shares only the domain's values with the bot that trades on it
ONLY_FROM = {"sim": frozenset({"domain", "sim"})}


def _packages(root: Path, package: str) -> tuple[dict[str, Path], dict[str, list[tuple[int, str]]]]:
    modules = modules_of(root, package)
    return modules, {m: imports_of(p, m, package) for m, p in modules.items()}


def _internal(name: str, modules: dict[str, Path]) -> str | None:
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def layer_violations(root: Path, package: str = "polymm") -> list[Violation]:
    """Imports that run against the layering (LAYERS, ONLY_FROM); a package missing from LAYERS is a violation
    too, so a new package is placed on purpose."""
    modules, graph = _packages(root, package)

    def top(mod: str) -> str:
        parts = mod.split(".")
        return parts[1] if len(parts) > 1 else ""

    violations: list[Violation] = []
    for mod, imports in graph.items():
        here = top(mod)
        if not here:
            continue
        if here not in LAYERS:
            violations.append(Violation(mod, 0, mod, f"{package}/{here} has no layer in LAYERS: place it"))
            continue
        for line, name in imports:
            target = _internal(name, modules) if name.split(".")[0] == package else None
            there = top(target) if target else ""
            if not there or there == here:
                continue
            if here in ONLY_FROM and there not in ONLY_FROM[here]:
                violations.append(Violation(mod, line, name, f"{package}/{here}/ imports only "
                                                             + ", ".join(sorted(ONLY_FROM[here]))))
            elif there in LAYERS and LAYERS[there] >= LAYERS[here]:
                violations.append(Violation(mod, line, name, f"against the layering: {here} (layer {LAYERS[here]}) "
                                                             f"imports {there} (layer {LAYERS[there]})"))
    return sorted({(v.module, v.line, v.rule): v for v in violations}.values(),
                  key=lambda v: (v.module, v.line, v.imported))


def import_circles(root: Path, package: str = "polymm") -> list[list[str]]:
    """Every circle of imports between modules (function-level imports count; TYPE_CHECKING ones do not)."""
    modules, graph = _packages(root, package)
    edges = {m: sorted({t for _, n in imports if (t := _internal(n, modules)) and t != m and t != package})
             for m, imports in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(m: str) -> None:  # Tarjan's strongly connected components
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for t in edges[m]:
            if t not in index:
                visit(t)
                low[m] = min(low[m], low[t])
            elif t in on_stack:
                low[m] = min(low[m], index[t])
        if low[m] == index[m]:
            component = []
            while True:
                t = stack.pop()
                on_stack.discard(t)
                component.append(t)
                if t == m:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for m in sorted(edges):
        if m not in index:
            visit(m)
    return circles
