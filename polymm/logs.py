"""Logging setup: everything at or above `logging.level` is logged; the console gets `logging.console_level`
and up, files `logging.file_level` and up under `logs/YYYY-MM-DD/<module>.log` (one file per polymm
module). Secrets are redacted from every formatted line — message, exception text and traceback —
on the console, in files, and in tracebacks of exceptions nobody caught (sys/threading excepthooks).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
import traceback
from pathlib import Path

from polymm.config import PolymmConfig, under_install_dir
from polymm.text.format import visible

REDACTED = "[redacted]"
# a 64-hex value is a private key, or a hash (order ids): either way only its first 10 characters are shown
_HEX64 = re.compile(r"(?<![0-9a-fA-F])(0x)?([0-9a-fA-F]{8})[0-9a-fA-F]{56}(?![0-9a-fA-F])")
_KEY_VALUE = re.compile(
    r"(?i)(secret|passphrase|private_key|privatekey|POLY_SIGNATURE|POLY_PASSPHRASE|POLY_API_KEY|apiKey|api_key"
    r"|POLYMARKET_PRIVATE_KEY|POLYMARKET_RELAYER_API_KEY|POLYMARKET_API_SECRET|POLYMARKET_API_PASSPHRASE|POLYMARKET_API_KEY)"
    r"(['\"]?\s*[:=]\s*['\"]?)([^'\",\s})]+)")


class Redactor:
    """Removes credentials from text: the known secret values (exact, with or without 0x), `name=value`
    pairs whose name says secret, and 64-hex values (cut to 10 characters)."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        values: set[str] = set()
        for s in secrets:
            if s and len(s) >= 4:
                values.add(s)
                if s.lower().startswith("0x"):
                    values.add(s[2:])
        self.secrets = tuple(sorted(values, key=len, reverse=True))  # longest first: no partial leftovers

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        return _HEX64.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}…", text)


class RedactingFormatter(logging.Formatter):
    """Formats the whole record (message, exception, stack) and redacts the finished line. The message is one
    line with its control characters shown as escapes: a market question or a venue's error text holding a
    newline cannot forge a log line, nor an escape sequence reach the journal's terminal (tracebacks, which
    polymm's own code writes, keep their lines)."""

    def __init__(self, fmt: str, datefmt: str, redact: Redactor) -> None:
        super().__init__(fmt, datefmt)
        self.redact = redact

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = visible(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class RedactSecrets(logging.Filter):
    """Redacts the message of a record in place (for handlers polymm did not set up, e.g. an alert queue)."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), ()
        return True


def _install_excepthooks(redact: Redactor) -> None:
    """Tracebacks of exceptions no handler caught are redacted too (they go to stderr, not through logging)."""

    def hook(exc_type, exc, tb) -> None:
        sys.stderr.write(redact("".join(traceback.format_exception(exc_type, exc, tb))))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        sys.stderr.write(f"Exception in thread {name}:\n" + redact(
            "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))))

    sys.excepthook = hook
    threading.excepthook = thread_hook


class _FileHandler(logging.FileHandler):
    """A module's log file whose write errors go to the ModuleFileHandler that owns it."""

    def __init__(self, path: Path, owner: "ModuleFileHandler") -> None:
        super().__init__(path, encoding="utf-8")
        self.owner = owner

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self.owner.handleError(record)


class ModuleFileHandler(logging.Handler):
    """Routes each record to logs/<date>/<module>.log, where module is the second part of the logger name.

    A file that cannot be written (a full disk, a removed directory) costs one line on stderr when it starts
    and one when the files are written again — not logging's traceback for every record, which on a full
    disk is hundreds of them in the journal. The console (the journal) keeps every record meanwhile."""

    def __init__(self, directory: Path, level: int) -> None:
        super().__init__(level)
        self.directory = directory
        self.handlers: dict[tuple[str, str], logging.FileHandler] = {}
        self.failing: str | None = None  # why the files are not written, while they are not
        self._error_in_emit = False

    def emit(self, record: logging.LogRecord) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime(record.created))
        parts = record.name.split(".")
        module = parts[1] if parts[0] == "polymm" and len(parts) > 1 else parts[0]
        handler = self.handlers.get((day, module))
        if handler is None:
            folder = self.directory / day
            try:
                folder.mkdir(parents=True, exist_ok=True)
                handler = _FileHandler(folder / f"{module}.log", self)
            except OSError:
                return self.handleError(record)
            handler.setFormatter(self.formatter)
            self.handlers[(day, module)] = handler
        self._error_in_emit = False
        handler.emit(record)  # a write error comes back through handleError, not as an exception
        if self.failing is not None and not self._error_in_emit:
            self._recovered()

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self._error_in_emit = True
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            return super().handleError(record)  # a bug in a message's formatting: logging's own report
        why = f"{error.strerror or error}" + (f" ({error.filename})" if error.filename else "")
        if self.failing is None:
            self.failing = why
            _stderr_line(f"log files under {self.directory} are not written: {why}; the console keeps "
                         "every line (said once, and again when they are written)")

    def _recovered(self) -> None:
        _stderr_line(f"log files under {self.directory} are written again (they were not: {self.failing})")
        self.failing = None

    def close(self) -> None:
        for handler in self.handlers.values():
            try:
                handler.close()
            except OSError:  # what a full disk kept in the buffer is lost; the console had it
                pass
        super().close()


def _stderr_line(text: str) -> None:
    try:
        sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} WARNING polymm.logs: {text}\n")
        sys.stderr.flush()
    except OSError:
        pass


def setup_logging(cfg: PolymmConfig, secrets: tuple[str, ...] = (), console: bool = True) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(cfg.logging.level)
    redact = Redactor(secrets)
    fmt = RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S", redact)
    if console:
        out = logging.StreamHandler()
        out.setLevel(cfg.logging.console_level)
        out.setFormatter(fmt)
        root.addHandler(out)
    files = ModuleFileHandler(under_install_dir(Path(cfg.logging.directory)), getattr(logging, cfg.logging.file_level))
    files.setFormatter(fmt)
    root.addHandler(files)
    _install_excepthooks(redact)
    # The SDK can log every failed request (polymarket-client clients/_transport.py, `_log_failure`, at
    # WARNING): hundreds of lines in an outage. Each is an outcome polymm handles and reports itself (the
    # reason in the typed outcome, one heartbeat line and one health line per change of state), so the
    # SDK's logger is silenced.
    sdk = logging.getLogger("polymarket")
    sdk.propagate = False
    sdk.setLevel(logging.CRITICAL + 1)
    sdk.handlers[:] = [logging.NullHandler()]
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
