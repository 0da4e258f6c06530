#!/usr/bin/env bash
# Create the project's virtualenvs (editable installs of this checkout):
#   .venvs/airflow      -> .[airflow,plot,test]   newest Airflow the extra allows (full suite)
#   .venvs/prefect      -> .[prefect,plot,test]   newest Prefect the extra allows (core + full suite)
#   .venvs/airflow-min  -> .[airflow,test] + scripts/constraints/airflow-min.txt  (smoke suite)
#   .venvs/airflow-3.2  -> .[airflow,test] + scripts/constraints/airflow-3.2.txt  (smoke suite)
#   .venvs/prefect-min  -> .[prefect,test] + scripts/constraints/prefect-min.txt  (smoke suite)
#   .venvs/docs         -> .[docs]                mkdocs build --strict; imports only cleanshift_core
# Airflow and Prefect need separate venvs: apache-airflow-core 3.3 pins fastapi<0.137, Prefect
# 3.8+ needs fastapi>=0.139 (see pyproject.toml extras). A constraints file pins the lowest
# claimed minor, plus whatever a plain resolve of it gets wrong today.
#   scripts/bootstrap.sh                 all of them  scripts/bootstrap.sh airflow   only that one
#
# Idempotent and quick when nothing changed: each venv keeps a stamp with the hash of
# pyproject.toml + this script + the constraints + the Python version, and is only rebuilt when
# that changes.
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

STAMP_KEY=$( { cat pyproject.toml scripts/bootstrap.sh scripts/constraints/*.txt; "$PY" --version; } \
    | sha256sum | cut -d' ' -f1)

# make_venv NAME EXTRAS   (scripts/constraints/NAME.txt, if it exists, constrains the resolve)
make_venv() {
    local name=$1 extras=$2 dir=$VENVS/$1 constraints=()
    [[ -f scripts/constraints/$name.txt ]] && constraints=(--constraint "scripts/constraints/$name.txt")
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
    "$UV" pip install --quiet --python "$dir/bin/python" "${constraints[@]}" -e ".[$extras]"
    echo "$STAMP_KEY" >"$dir/.bootstrap-stamp"
    echo "bootstrap: .venvs/$name ready in $((SECONDS - t0)) s"
}

declare -A EXTRAS=(
    [airflow]=airflow,plot,test
    [prefect]=prefect,plot,test
    [airflow-min]=airflow,test
    [airflow-3.2]=airflow,test
    [prefect-min]=prefect,test
    [docs]=docs
)
names=("$@")
((${#names[@]})) || names=(airflow prefect airflow-min airflow-3.2 prefect-min docs)
for name in "${names[@]}"; do
    [[ -v EXTRAS[$name] ]] || { echo "bootstrap: unknown venv '$name' (${!EXTRAS[*]})" >&2; exit 1; }
    make_venv "$name" "${EXTRAS[$name]}"
done
