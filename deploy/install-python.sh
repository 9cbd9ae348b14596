#!/usr/bin/env bash
# Creates .venv with Python 3.11 and installs the pinned dependencies (requirements.lock) and
# riskstream itself (editable) into it. Does nothing when the lock file and pyproject.toml
# are unchanged since the last successful install: their hash is kept in .venv. Quiet unless
# something fails: then the installer's whole output is shown.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.installed.sha256"
wanted=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  exit 0
fi

install() {
  local python=${PYTHON:-python3.11}
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
}

echo "installing the Python packages of requirements.lock into $venv"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! install >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-python.sh: the install failed; its output is above" >&2
  exit 1
fi
echo "$wanted" >"$stamp"
