"""Typed outcomes of venue calls: a value, a definite refusal, or Unknown — never a guess.

A timeout, a 5xx, a dropped connection or an unparseable reply is Unknown: the venue may or may
not have acted, and only observation can tell. A 4xx (other than a duplicate order) is a definite
refusal: the venue did not act. A duplicate-order refusal means the order IS at the venue, so it
is Unknown too, and observation resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar, Union

from polymm.domain.unknown import Unknown

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Ok(Generic[T]):
    value: T


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str
    status: int | None = None
    retry_after_s: float | None = None


Outcome = Union[Ok[T], Refused, Unknown]
