"""One controller per ledger and per account: exclusive `flock` locks that name their owner, and finding it.

Two lock files, each held with an exclusive `fcntl.flock` for the life of the process and holding
a JSON description of the owner (PID, ledger, account, venue, control socket, embedded venue):
- `<ledger>.lock`, next to the ledger: one controller per ledger;
- `account-<address>-<venue hash>.lock` in the runtime directory (runtime_dir()): one controller
  per account on one venue, so two ledgers on one key refuse too (their heartbeats would
  invalidate each other, and the venue's dead-man switch would cancel both controllers' orders).

The runtime directory also holds the control socket, so no other local user may be able to create
or write it: `POLYMM_RUNTIME_DIR`, else systemd's `RuntimeDirectory=` (`$RUNTIME_DIRECTORY`), else
`/run/user/<uid>/polymm`, else `<tmp>/polymm-<uid>` — a shared /tmp name another user could create
first, so every one is used only as a real directory of ours nobody else may write
(UnsafeRuntimePath otherwise). Lock files are opened with `O_NOFOLLOW` and must be regular files:
a planted symlink would have us overwrite its target with the lock's text. An Owner's `uid` is the
lock file's owner as the file system says, which is who the control socket's server must run as.

A lock dies with its process (the kernel drops a `flock` when the last descriptor closes), so a
lock file left by a `kill -9`'d controller is simply taken over: nothing is stale but its text.
Other commands probe a lock with a shared, non-blocking `flock` held for an instant; a controller
that starts during such a probe retries for a moment instead of refusing.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import stat
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ACQUIRE_RETRY_S = 2.0  # how long a starting controller waits out another command's probe
READ_RETRY_S = 2.0  # how long a prober waits for a new owner to write its description


@dataclass
class Owner:
    """Who holds a lock: what other commands need to find and talk to the running controller."""

    pid: int
    ledger: str
    address: str = ""
    venue: str = ""
    control: str = ""  # path of the control socket ("" while the loop is not serving it)
    embedded: dict = field(default_factory=dict)  # the embedded venue's URLs (embedded mode only)
    key_file: str = ""  # the embedded test key (0600), when the loop generated it
    started_at: float = 0.0
    uid: int = -1  # the lock file's owner, read from the file system by a probe (never trusted from the text)

    def describe(self) -> str:
        return f"PID {self.pid} on ledger {self.ledger}"


class AlreadyRunning(Exception):
    """Another live process holds the lock."""

    def __init__(self, owner: Owner | None, lock_path: Path, what: str) -> None:
        self.owner = owner
        self.lock_path = lock_path
        who = owner.describe() if owner else f"an unknown process (lock {lock_path})"
        super().__init__(f"another polymm controller is already running for this {what}: {who}")


class UnsafeRuntimePath(Exception):
    """A directory or lock file polymm would use is not safely its own: a symlink, another user's, writable by others."""


def runtime_dir() -> Path:
    """The private directory for account locks and control sockets (short enough for socket paths)."""
    uid = os.getuid()
    explicit = os.environ.get("POLYMM_RUNTIME_DIR")
    systemd = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]  # RuntimeDirectory= (colon-separated list)
    if explicit:
        path = Path(explicit)
    elif systemd:
        path = Path(systemd)
    elif Path(f"/run/user/{uid}").is_dir():
        path = Path(f"/run/user/{uid}/polymm")
    else:
        path = Path(tempfile.gettempdir()) / f"polymm-{uid}"
    return private_directory(path)


def private_directory(path: Path) -> Path:
    """`path`, created 0700 if missing, once it is checked to be a real directory of ours nobody else may write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    hint = "set POLYMM_RUNTIME_DIR to a directory of this user's (mode 0700)"
    if not stat.S_ISDIR(info.st_mode):
        kind = "a symlink" if stat.S_ISLNK(info.st_mode) else "not a directory"
        raise UnsafeRuntimePath(f"runtime directory {path} is {kind}: {hint}")
    if info.st_uid != os.getuid():
        raise UnsafeRuntimePath(f"runtime directory {path} belongs to uid {info.st_uid}, not to this user "
                                f"(uid {os.getuid()}): another user created it first; {hint}")
    if info.st_mode & 0o022:
        raise UnsafeRuntimePath(f"runtime directory {path} is writable by others (mode "
                                f"{stat.S_IMODE(info.st_mode):04o}): chmod 700 it, or {hint}")
    return path


def _open_lock_file(path: Path, flags: int) -> int:
    """A descriptor on the lock file itself: never through a symlink, never anything but a regular file."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeRuntimePath(f"lock file {path} is a symlink: remove it (polymm never writes through one)") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafeRuntimePath(f"lock file {path} is not a regular file: remove it")
    return fd


def ledger_lock_path(ledger: Path) -> Path:
    return Path(f"{Path(ledger).resolve()}.lock")


def account_lock_path(address: str, venue_url: str) -> Path:
    venue = hashlib.sha256(venue_url.rstrip("/").lower().encode()).hexdigest()[:10]
    return runtime_dir() / f"account-{address.lower()}-{venue}.lock"


def control_socket_path(ledger: Path) -> Path:
    digest = hashlib.sha256(str(Path(ledger).resolve()).encode()).hexdigest()[:16]
    return runtime_dir() / f"control-{digest}.sock"


class FileLock:
    """One exclusive flock held for the life of this object, its file holding the owner's description."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self.fd: int | None = None

    def acquire(self, owner: Owner) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_lock_file(self.path, os.O_RDWR | os.O_CREAT)
        holder_uid = os.fstat(fd).st_uid
        if holder_uid != os.getuid():  # another user's file: its text would name their socket to our commands
            os.close(fd)
            raise UnsafeRuntimePath(f"lock file {self.path} belongs to uid {holder_uid}, not to this user: remove it")
        deadline = time.monotonic() + ACQUIRE_RETRY_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                holder = _read_owner(fd, wait=False)
                if (holder is not None and holder.pid != os.getpid() and _pid_alive(holder.pid)) \
                        or time.monotonic() > deadline:
                    os.close(fd)
                    raise AlreadyRunning(holder, self.path, self.what) from None
                time.sleep(0.05)  # a probe by another command holds it for an instant
        self.fd = fd
        self.write(owner)

    def write(self, owner: Owner) -> None:
        assert self.fd is not None
        text = json.dumps({k: v for k, v in asdict(owner).items() if k != "uid"}, sort_keys=True).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, text, 0)
        os.fsync(self.fd)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)  # nobody owns it any more; the file may stay
        except OSError:
            pass
        os.close(self.fd)  # drops the flock
        self.fd = None


class InstanceLock:
    """The ledger lock and (once the account is known) the account lock of one controller process."""

    def __init__(self, ledger: Path) -> None:
        self.ledger = Path(ledger).resolve()
        self.owner = Owner(pid=os.getpid(), ledger=str(self.ledger), started_at=time.time())
        self.ledger_lock = FileLock(ledger_lock_path(self.ledger), "ledger")
        self.account_lock: FileLock | None = None

    def acquire_ledger(self) -> None:
        self.ledger_lock.acquire(self.owner)

    def acquire_account(self, address: str, venue_url: str) -> None:
        self.owner.address, self.owner.venue = address, venue_url
        lock = FileLock(account_lock_path(address, venue_url), f"account {address} on {venue_url}")
        lock.acquire(self.owner)
        self.account_lock = lock
        self.ledger_lock.write(self.owner)

    def update(self, **fields) -> None:
        for name, value in fields.items():
            setattr(self.owner, name, value)
        self.ledger_lock.write(self.owner)
        if self.account_lock is not None:
            self.account_lock.write(self.owner)

    def release(self) -> None:
        if self.account_lock is not None:
            self.account_lock.release()
        self.ledger_lock.release()


def live_owner(ledger: Path) -> Owner | None:
    """The live controller holding this ledger's lock, or None when no process holds it."""
    return _probe(ledger_lock_path(ledger))


def _probe(path: Path) -> Owner | None:
    try:
        fd = _open_lock_file(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            owner = _read_owner(fd, wait=True)
            if owner is not None:
                owner.uid = os.fstat(fd).st_uid
            return owner
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_owner(fd: int, wait: bool) -> Owner | None:
    deadline = time.monotonic() + (READ_RETRY_S if wait else 0)
    while True:
        try:
            data = json.loads(_read_all(fd) or "null")
            if isinstance(data, dict):
                fields = {k: v for k, v in data.items() if k in Owner.__dataclass_fields__ and k != "uid"}
                return Owner(**fields)
        except (OSError, ValueError, TypeError):
            pass
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)  # the new owner has the lock but has not written its description yet


def _read_all(fd: int) -> str:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 65536, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks).decode()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for_exit(ledger: Path, pid: int, timeout: float) -> bool:
    """Wait until the process holding this ledger's lock (PID `pid`) has released it or exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owner = live_owner(ledger)
        if (owner is None or owner.pid != pid) and not _pid_alive(pid):
            return True
        if owner is None and _is_zombie_or_gone(pid):
            return True
        time.sleep(0.05)
    return False


def _is_zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] in ("Z", "X")
    except OSError:
        return True
