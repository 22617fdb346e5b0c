"""The seed bot's configuration keys that polymm names differently, mapped to polymm's names for config.py.

The original bot (the one polymm's strategy comes from) documents its settings in its English
README, section IV "Key Configuration Parameters" (tables 4.1–4.6, document version 1.0,
2026-01-03). Every key there has the same name and meaning in polymm except the Redis address,
which the original nests as `orderbook_service.redis.{host,port}` and polymm flattens into
`orderbook_service.redis_{host,port}`. A config written for the original therefore loads: each
renamed key is moved to its polymm name and reported in one `old → new` note. Keys that are
neither polymm's nor the original's stay errors (validation is unchanged after this step).
"""

from __future__ import annotations

from typing import Any

# old dotted path → new dotted path. `redis.db` is not in the original's table but is the obvious
# third member of that mapping; accepting it keeps a hand-extended seed config loading too.
RENAMED_KEYS: dict[str, str] = {
    "orderbook_service.redis.host": "orderbook_service.redis_host",
    "orderbook_service.redis.port": "orderbook_service.redis_port",
    "orderbook_service.redis.db": "orderbook_service.redis_db",
}
# a mapping left empty once its keys are moved (e.g. `redis:`) is removed with them
_CONTAINERS = {"orderbook_service.redis"}


def map_legacy_keys(*trees: dict[str, Any]) -> tuple[tuple[dict[str, Any], ...], list[str], list[str]]:
    """Each config tree (the file, the environment overrides) with renamed keys moved to polymm's names,
    one note per move, and the problems (an old key given together with its new name in the same
    tree, or a non-mapping where a section goes). Trees are mapped apart so that an override under
    the old name still wins over the file's new name, as any override does."""
    notes: list[str] = []
    problems: list[str] = []
    mapped = tuple(_map_tree(tree, notes, problems) for tree in trees)
    return mapped, notes, problems


def _map_tree(data: dict[str, Any], notes: list[str], problems: list[str]) -> dict[str, Any]:
    tree = _copy(data)
    for old, new in RENAMED_KEYS.items():
        found, value = _pop(tree, old.split("."))
        if not found:
            continue
        present, current = _get(tree, new.split("."))
        if present:
            problems.append(f"{old}: {value!r} — the original bot's name of {new}, which is also set "
                            f"({current!r}); keep one of them")
            continue
        if not _set(tree, new.split("."), value):
            problems.append(f"{old}: {value!r} — cannot be moved to {new}: its section is not a mapping")
            continue
        notes.append(f"{old} → {new} (the original bot's key name; polymm's is {new})")
    for container in _CONTAINERS:
        parts = container.split(".")
        present, value = _get(tree, parts)
        if not present:
            continue
        if isinstance(value, dict):
            _pop(tree, parts)
            allowed = ", ".join(old.rsplit(".", 1)[1] for old in RENAMED_KEYS if old.startswith(container + "."))
            problems.extend(f"{container}.{key}: {item!r} — unknown key (the original bot's {parts[-1]} section "
                            f"allows: {allowed})" for key, item in value.items())
    return tree


def _copy(node: Any) -> Any:
    return {k: _copy(v) for k, v in node.items()} if isinstance(node, dict) else node


def _get(tree: dict, parts: list[str]) -> tuple[bool, Any]:
    node: Any = tree
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _pop(tree: dict, parts: list[str]) -> tuple[bool, Any]:
    present, parent = _get(tree, parts[:-1])
    if not present or not isinstance(parent, dict) or parts[-1] not in parent:
        return False, None
    return True, parent.pop(parts[-1])


def _set(tree: dict, parts: list[str], value: Any) -> bool:
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return False
    node[parts[-1]] = value
    return True
