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


def no_reply_cause(exc: BaseException) -> str | None:
    """For the SDK's `TransportError`, raised from the httpx error it wraps (polymarket-client
    clients/_transport.py, `_request`): the URL and the cause, e.g.
    `http://127.0.0.1:9/auth/derive-api-key: [Errno 111] Connection refused`; None for other errors."""
    cause = exc.__cause__ or exc.__context__
    request = getattr(cause, "_request", None)  # httpx.RequestError keeps the request it failed on
    if cause is None or not type(cause).__module__.startswith("httpx"):
        return None
    text = str(cause) or type(cause).__name__
    return f"{request.url}: {text}" if request is not None else text
