"""The simulated venue as a real process (`polymm sim serve`) and its admin surface (`/_sim/...`) for the harness.

The venue runs on a free loopback port with a manual clock (speed 0, seeded); `Admin` moves that clock,
places taker orders, sets fault plans and reads the venue's whole state, which the judgement trusts.

`VenueProcess` serves the generated universe by default (`--universe generated`), not the simulator's own
default (the real reward universe, `venue.sim.universe: real`): the harness's seeds and figures were made on
the generator, whose markets the strategy quotes and fills within simulated minutes; on the real universe,
with the default filters, nothing is quoted and a run has nothing to judge. `universe="real"` selects it.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
POLYMM = str(ROOT / ".venv" / "bin" / "polymm")
# the venue requests that change orders (as counted by /_sim/requests); everything else is a read or a heartbeat
WRITES = ("POST /order", "POST /orders", "DELETE /order", "DELETE /orders", "DELETE /cancel-all",
          "DELETE /cancel-market-orders")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



class Admin:
    """The venue's admin surface (`/_sim/...`) and the public reads the checks need."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self._markets: dict[str, dict] = {}

    def state(self) -> dict:
        return self.http.get("/_sim/state").json()

    def requests(self) -> dict[str, int]:
        return self.http.get("/_sim/requests").json()["counts"]

    def advance(self, seconds: float) -> dict:
        return self.http.post("/_sim/advance", json={"seconds": seconds}).json()

    def take(self, token_id: str, side: str, price, size) -> dict:
        r = self.http.post("/_sim/take", json={"token_id": token_id, "side": side, "price": float(price),
                                               "size": float(size)})
        r.raise_for_status()
        return r.json()

    def faults(self, plan: dict) -> dict:
        r = self.http.post("/_sim/faults", json=plan)
        r.raise_for_status()
        return r.json()

    def fired(self) -> list[dict]:
        return self.http.get("/_sim/faults").json()["fired"]

    def mode(self, mode: str) -> dict:
        r = self.http.post("/_sim/mode", json={"mode": mode})
        r.raise_for_status()
        return r.json()

    def book(self, token_id: str) -> dict:
        # a public read: under a storm's fault plan it may be refused or mangled too — read until it parses
        for _ in range(50):
            r = self.http.get("/book", params={"token_id": token_id})
            try:
                if r.status_code == 200:
                    return r.json()
            except ValueError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"GET /book {token_id[:12]}… kept failing: {r.status_code}")

    def market(self, condition_id: str) -> dict:
        if condition_id not in self._markets:
            self._markets[condition_id] = self.http.get(f"/markets/{condition_id}").json()
        return self._markets[condition_id]

    def close(self) -> None:
        self.http.close()


class VenueProcess:
    """`polymm sim serve` as its own process, on a free loopback port; `universe`: "generated" (default, the
    market the harness's seeds were made for) or "real" (the real reward universe)."""

    def __init__(self, seed: int = 1, speed: float = 0, markets: int = 30, scenario: str = "calm",
                 extra: tuple[str, ...] = (), log: Path | None = None, universe: str = "generated") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # the universe is always named (the simulator's default, and venue.sim.universe, is the real one);
        # a `--universe` in `extra` wins
        chosen = () if "--universe" in extra else ("--universe", universe)
        self.args = [POLYMM, "sim", "serve", "--port", str(self.port), "--seed", str(seed), "--speed", str(speed),
                     "--markets", str(markets), "--scenario", scenario, *chosen, *extra]
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> "VenueProcess":
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"venue exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/ok", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("venue did not start within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "VenueProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

