"""Redaction test child: sets up polymm's logging as the CLI does (secrets from the environment), then
logs the secrets every way a bug could: in a message, in its arguments, in exception text and a
traceback through log.exception, from a thread's uncaught exception, and finally as an exception nobody
catches (the interpreter prints its traceback on stderr)."""

from __future__ import annotations

import logging
import sys
import threading

from polymm.cli import secret_values
from polymm.config import PolymmConfig, load_secrets
from polymm.logs import setup_logging

cfg = PolymmConfig.model_validate({"logging": {"directory": sys.argv[1], "level": "DEBUG", "console_level": "DEBUG",
                                               "file_level": "DEBUG"}})
secrets = load_secrets()
setup_logging(cfg, secret_values(secrets))
key = secrets.private_key.get_secret_value()
api_secret = secrets.api_secret.get_secret_value()
passphrase = secrets.api_passphrase.get_secret_value()

log = logging.getLogger("polymm.controller")
log.warning("signing with %s (bare %s), secret %s, passphrase %s", key, key[2:], api_secret, passphrase)
log.error(f"headers {{'POLY_PASSPHRASE': '{passphrase}', 'secret': '{api_secret}'}}")
try:
    raise RuntimeError(f"auth failed for key={key} secret={api_secret} passphrase={passphrase}")
except RuntimeError:
    log.exception("venue call failed")
logging.getLogger("polymm.venue").error("request failed: %s", {"secret": api_secret, "key": key})


def leak() -> None:
    raise ValueError(f"thread leaked {key} / {api_secret} / {passphrase}")


t = threading.Thread(target=leak, name="leaker")
t.start()
t.join()
print(f"stdout is not logging; the CLI never prints secrets: {'ok'}")
raise SystemError(f"uncaught with {key} {api_secret} {passphrase}")
