"""Unknown: the one value for "could not be read" — from the gateways' outcomes to the views.

A failed read is never an empty list or None: it is `Unknown(reason)`, and whatever depends on it
is held. `known(x)` is the one test for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, Union

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Unknown:
    reason: str


Section = Union[T, Unknown]


def known(section: object) -> bool:
    return not isinstance(section, Unknown)
