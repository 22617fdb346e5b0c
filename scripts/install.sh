#!/usr/bin/env bash
# Create .venv at the repository root and install polymm with its pinned dependencies (idempotent, fast when up to date).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "polymm needs Python >= 3.11 ($PY not found)" >&2; exit 1
fi
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "polymm needs Python >= 3.11, found $("$PY" --version)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.polymm-installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing polymm into .venv ..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -c "import polymm, py_clob_client_v2, coincurve" || { echo "install failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
