#!/usr/bin/env bash
# Create the project's two virtualenvs:
#   .venvs/airflow  -> -e ".[cli,airflow,plot,test]"   (Airflow 3.3.x)
#   .venvs/prefect  -> -e ".[cli,prefect,plot,test]"   (Prefect 3.8.x)
#   .venvs/docs     -> -e ".[cli,docs]"                 (MkDocs; no orchestrator)
# They must be separate: apache-airflow-core 3.3 pins fastapi<0.137, Prefect 3.8.8 needs
# fastapi>=0.139 (see pyproject.toml extras).
#
# Idempotent and quick when nothing changed: each venv keeps a stamp with the hash of
# pyproject.toml + this script + the Python version, and is only rebuilt when that changes.
# Needs only python3.11 + pip and access to PyPI; installs uv itself if it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENVS=$ROOT/.venvs
PY=$(command -v "${PYTHON:-python3.11}") ||   # override with PYTHON=/path/to/python3.11
    { echo "bootstrap: ${PYTHON:-python3.11} not found (set PYTHON=...)" >&2; exit 1; }
export UV_PYTHON_DOWNLOADS=never           # only PyPI is reachable: never fetch a Python build
mkdir -p "$VENVS"

# One bootstrap at a time (two shells or CI steps could otherwise clobber the same venv).
exec 9>"$VENVS/.lock"
flock 9

# --- uv -------------------------------------------------------------------------------------
# Run it rather than `command -v`: a pyenv shim named uv can exist with no uv behind it.
if uv --version >/dev/null 2>&1; then
    UV=uv
else
    UV=$VENVS/tools/bin/uv
    if ! "$UV" --version >/dev/null 2>&1; then
        echo "bootstrap: uv not found, installing it into .venvs/tools"
        rm -rf "$VENVS/tools"
        "$PY" -m venv "$VENVS/tools"
        "$VENVS/tools/bin/python" -m pip install --quiet "uv>=0.5,<1"
    fi
fi

STAMP_KEY=$( { cat pyproject.toml scripts/bootstrap.sh; "$PY" --version; } | sha256sum | cut -d' ' -f1)

# make_venv NAME EXTRAS
make_venv() {
    local name=$1 extras=$2 dir=$VENVS/$1
    if [[ -x $dir/bin/python && -f $dir/.bootstrap-stamp && $(<"$dir/.bootstrap-stamp") == "$STAMP_KEY" ]]; then
        echo "bootstrap: .venvs/$name up to date"
        return
    fi
    echo "bootstrap: building .venvs/$name with .[$extras]"
    local t0=$SECONDS
    # Rebuild from scratch so a dependency removed from pyproject really disappears
    # (uv's cache makes this cheap); the stamp is written last, so a failed run retries.
    rm -rf "$dir"
    "$UV" venv --quiet --python "$PY" "$dir"
    "$UV" pip install --quiet --python "$dir/bin/python" -e ".[$extras]"
    echo "$STAMP_KEY" >"$dir/.bootstrap-stamp"
    echo "bootstrap: .venvs/$name ready in $((SECONDS - t0)) s"
}

make_venv airflow cli,airflow,plot,test
make_venv prefect cli,prefect,plot,test
make_venv docs cli,docs   # mkdocs build --strict (the docs site); imports only cleanshift_core
