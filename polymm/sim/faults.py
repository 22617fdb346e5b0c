"""A seeded fault plan: per-endpoint rules that make the simulated venue fail the way the real one does.

Each rule has its own RNG derived from the plan's seed and the rule's position, and draws once
per matching request, so the same request sequence always meets the same faults.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal[
    "error_before",  # reply with `status` without executing
    "error_after",  # execute, then reply with `status` (the venue acted; the client sees an error)
    "lost_reply",  # execute, then drop the connection without a reply
    "timeout_after",  # execute, then hold the reply for `delay_s` (past the client's timeout)
    "rate_limit",  # 429 with Retry-After, without executing
    "malformed",  # execute, then reply 200 with a body that is not the expected JSON
    "latency",  # add `latency_ms` before executing
    "stale_orders",  # open-order reads show the state of `stale_s` seconds ago
    "malformed_row",  # execute, then set `field` to `value` in the first row of the listed reply
]
PHASE_BEFORE = ("error_before", "rate_limit", "latency")
PHASE_AFTER = ("error_after", "lost_reply", "timeout_after", "malformed", "malformed_row")


class FaultRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    match: str = Field(description="'METHOD /path/glob', e.g. 'POST /order*' or '* /data/*'")
    kind: FaultKind
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    status: int = Field(default=500, ge=400, le=599)
    retry_after: int = Field(default=1, ge=0)
    latency_ms: int = Field(default=200, ge=0)
    delay_s: float = Field(default=6.0, ge=0)
    stale_s: float = Field(default=3.0, ge=0)
    max_count: int | None = Field(default=None, ge=0)
    field: str = Field(default="status", description="malformed_row: the row field to overwrite")
    value: str | float | int | bool | None = Field(default="PENDING", description="malformed_row: its new value")

    def matches(self, method: str, path: str) -> bool:
        want_method, _, want_path = self.match.partition(" ")
        if not want_path:
            want_method, want_path = "*", want_method
        return fnmatch.fnmatchcase(method, want_method.upper()) and fnmatch.fnmatchcase(path, want_path)


class FaultPlanSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    rules: list[FaultRule] = Field(default_factory=list)


@dataclass
class FiredFault:
    seq: int
    method: str
    path: str
    kind: str


@dataclass
class FaultPlan:
    spec: FaultPlanSpec = field(default_factory=FaultPlanSpec)
    fired: list[FiredFault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rngs = [random.Random(f"fault:{self.spec.seed}:{i}") for i in range(len(self.spec.rules))]
        self._counts = [0] * len(self.spec.rules)
        self._seq = 0

    def draw(self, method: str, path: str) -> list[FaultRule]:
        """The rules that fire for this request (at most one per kind), recorded in `fired`."""
        self._seq += 1
        chosen: dict[str, FaultRule] = {}
        for i, rule in enumerate(self.spec.rules):
            if not rule.matches(method, path):
                continue
            if rule.max_count is not None and self._counts[i] >= rule.max_count:
                continue
            if self._rngs[i].random() >= rule.probability or rule.kind in chosen:
                continue
            self._counts[i] += 1
            chosen[rule.kind] = rule
            self.fired.append(FiredFault(self._seq, method, path, rule.kind))
        return list(chosen.values())

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for fault in self.fired:
            counts[fault.kind] = counts.get(fault.kind, 0) + 1
        return counts
