#!/usr/bin/env bash
# Creates .venv with Python 3.11 and installs the pinned dependencies (requirements.lock) and
# riskstream itself (editable) into it. Does nothing when the lock file and pyproject.toml
# are unchanged since the last successful install: their hash is kept in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.installed.sha256"
wanted=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  exit 0
fi

python=${PYTHON:-python3.11}
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
if command -v uv >/dev/null 2>&1; then
  # uv resolves nothing here (the lock is already resolved); it only installs, faster than pip.
  uv pip install --quiet --python "$venv/bin/python" -r requirements.lock
  uv pip install --quiet --python "$venv/bin/python" --no-deps -e .
else
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.lock
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
fi
echo "$wanted" >"$stamp"
