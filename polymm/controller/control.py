"""The control channel of a running loop: a Unix socket that `polymm stop/pause/resume/reload/cancel` talk to.

Where: `control-<hash of the ledger path>.sock` in the runtime directory (see lock.py; a socket
path must stay under 108 bytes, which a ledger's directory need not), mode 0600, its path
recorded in the ledger's lock file — a command finds the live loop through the lock, never by
guessing. Protocol: the client sends one JSON line `{"command": ..., ...}`, the loop answers one
JSON line `{"ok": bool, "message": str, ...}` and closes. Requests are queued and executed by the
loop's own thread between ticks (never concurrently with a tick), so an answer means it is done.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

log = logging.getLogger("polymm.control")
COMMANDS = ("ping", "pause", "resume", "reload", "stop", "cancel_all")
MAX_REQUEST = 64 * 1024


class ControlError(Exception):
    """The running loop could not be reached or did not answer."""


@dataclass
class Request:
    body: dict
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict = field(default_factory=dict)

    def answer(self, ok: bool, message: str, **extra) -> None:
        self.reply = {"ok": ok, "message": message, **extra}
        self.done.set()


class ControlServer:
    """Accepts requests on the socket and hands them to the loop (`pending`); `wake` is set for each."""

    def __init__(self, path: Path, wake: threading.Event, answer_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.wake = wake
        self.answer_timeout_s = answer_timeout_s
        self.pending: queue.Queue[Request] = queue.Queue()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def start(self) -> None:
        self.path.unlink(missing_ok=True)  # left by a killed loop: we hold the ledger lock, so it is ours
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old)
        sock.listen(8)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="polymm-control", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), name="polymm-control-conn", daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                body = json.loads(_read_line(conn) or "null")
                if not isinstance(body, dict) or body.get("command") not in COMMANDS:
                    reply = {"ok": False, "message": f"unknown request; allowed commands: {', '.join(COMMANDS)}"}
                elif body["command"] == "ping":
                    reply = {"ok": True, "message": "pong", "pid": os.getpid()}
                else:
                    request = Request(body)
                    self.pending.put(request)
                    self.wake.set()
                    if request.done.wait(self.answer_timeout_s):
                        reply = request.reply
                    else:
                        reply = {"ok": False, "message": f"the loop did not answer within {self.answer_timeout_s:.0f} s"}
                conn.sendall((json.dumps(reply, default=str) + "\n").encode())
            except (OSError, ValueError) as exc:
                log.warning("control request failed: %s", exc)

    def drain(self, handle: Callable[[Request], None]) -> None:
        """Run every queued request on the calling (loop) thread."""
        while True:
            try:
                request = self.pending.get_nowait()
            except queue.Empty:
                return
            try:
                handle(request)
            except Exception as exc:  # a failing command must not take the loop down
                log.exception("control command %s failed", request.body.get("command"))
                request.answer(False, f"{request.body.get('command')} failed: {exc}")

    def stop(self) -> None:
        self._closed.set()
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(2)
        self.path.unlink(missing_ok=True)
        while True:  # whoever still waits hears that the loop is gone
            try:
                self.pending.get_nowait().answer(False, "the loop stopped before handling this request")
            except queue.Empty:
                break


def request(path: str | Path, command: str, *, reply_within_s: float = 65.0, server_uid: int | None = None,
            **args) -> dict:
    """Send one request to a running loop and return its answer.

    `args` travel in the request (`stop`'s `timeout` is the loop's wait for its hedges); how long this
    client waits for the answer is `reply_within_s`, named apart so that no argument of the command is lost.
    The process serving the socket must run as `server_uid` (default: this user) — a socket planted by
    another user would otherwise answer "paused" while our bids stay live."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(reply_within_s)
    try:
        sock.connect(str(path))
        _check_server(sock, path, os.getuid() if server_uid is None or server_uid < 0 else server_uid)
        sock.sendall((json.dumps({"command": command, **args}) + "\n").encode())
        line = _read_line(sock)
    except OSError as exc:
        raise ControlError(f"cannot reach the running loop at {path}: {exc}") from None
    finally:
        sock.close()
    try:
        reply = json.loads(line)
    except ValueError:
        raise ControlError(f"the running loop at {path} answered something that is not JSON: {line[:200]!r}") from None
    if not isinstance(reply, dict):
        raise ControlError(f"the running loop at {path} answered {reply!r}")
    return reply


def _check_server(sock: socket.socket, path: str | Path, uid: int) -> None:
    """Refuse a control socket whose serving process runs as another user (the kernel's SO_PEERCRED says who)."""
    pid, peer_uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    if peer_uid != uid:
        raise ControlError(f"refusing the control socket {path}: it is served by uid {peer_uid} (PID {pid}), not by "
                           f"the loop's user (uid {uid}) — another user's socket; nothing was sent")


def _read_line(sock: socket.socket) -> str:
    data = b""
    while b"\n" not in data and len(data) < MAX_REQUEST:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")
