"""Logging setup: console at `logging.console_level`, files at `logging.file_level` under
`logs/YYYY-MM-DD/<module>.log` (one file per polymm module), secrets redacted everywhere."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from polymm.config import PolymmConfig

_SECRET_PATTERNS = (
    re.compile(r"0x[0-9a-fA-F]{64}(?![0-9a-fA-F])"),  # a private key (order ids are hashes too: kept short below)
    re.compile(r"(?i)(secret|passphrase|private_key|POLY_SIGNATURE|POLY_PASSPHRASE|apiKey)(['\"]?\s*[:=]\s*['\"]?)([^'\",\s}]+)"),
)


class RedactSecrets(logging.Filter):
    """Masks anything shaped like a credential; 64-hex values (keys, but also order ids) keep 10 characters."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "[redacted]")
        message = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", message)
        record.msg, record.args = message, ()
        return True


class ModuleFileHandler(logging.Handler):
    """Routes each record to logs/<date>/<module>.log, where module is the second part of the logger name."""

    def __init__(self, directory: Path, level: int) -> None:
        super().__init__(level)
        self.directory = directory
        self.handlers: dict[tuple[str, str], logging.FileHandler] = {}

    def emit(self, record: logging.LogRecord) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime(record.created))
        parts = record.name.split(".")
        module = parts[1] if parts[0] == "polymm" and len(parts) > 1 else parts[0]
        handler = self.handlers.get((day, module))
        if handler is None:
            folder = self.directory / day
            folder.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(folder / f"{module}.log", encoding="utf-8")
            handler.setFormatter(self.formatter)
            self.handlers[(day, module)] = handler
        handler.emit(record)

    def close(self) -> None:
        for handler in self.handlers.values():
            handler.close()
        super().close()


def setup_logging(cfg: PolymmConfig, secrets: tuple[str, ...] = (), console: bool = True) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.DEBUG)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    redact = RedactSecrets(secrets)
    if console:
        out = logging.StreamHandler()
        out.setLevel(cfg.logging.console_level)
        out.setFormatter(fmt)
        out.addFilter(redact)
        root.addHandler(out)
    files = ModuleFileHandler(Path(cfg.logging.directory), getattr(logging, cfg.logging.file_level))
    files.setFormatter(fmt)
    files.addFilter(redact)
    root.addHandler(files)
    # The SDK logs every non-200 reply and every refused connection at ERROR
    # (py_clob_client_v2/http_helpers/helpers.py, `request`): hundreds of lines in an outage, and one
    # ("Could not derive api key!") on every normal start, where a new account has no key to derive
    # yet. Each is an outcome polymm handles and reports itself (the reason in the typed outcome, one
    # heartbeat line and one health line per change of state), so the SDK's logger is silenced.
    sdk = logging.getLogger("py_clob_client_v2")
    sdk.propagate = False
    sdk.setLevel(logging.CRITICAL + 1)
    sdk.handlers[:] = [logging.NullHandler()]
    for noisy in ("httpx", "httpcore", "aiohttp.access", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
