#!/usr/bin/env bash
# The lint gates, run by scripts/test.sh as the suite "lint" (or on their own):
#   ruff check and ruff format --check over the whole tree (rules: [tool.ruff] in pyproject.toml)
#   mypy over src/ ([tool.mypy]): Airflow and Prefect cannot share a venv, so the core and the
#   Airflow adapter are checked in .venvs/airflow, the Prefect adapter in .venvs/prefect
# Every gate runs; the script fails if any of them does. Fix most findings with
#   .venvs/prefect/bin/ruff check --fix . && .venvs/prefect/bin/ruff format .
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x .venvs/prefect/bin/ruff && -x .venvs/airflow/bin/mypy ]] || bash scripts/bootstrap.sh >&2 || exit 1

failed=0
gate() {
    echo "--- $*"
    "$@" || failed=1
}
gate .venvs/prefect/bin/ruff check .
gate .venvs/prefect/bin/ruff format --check .
gate .venvs/airflow/bin/mypy --cache-dir .mypy_cache/airflow -p cleanshift_core -p cleanshift_airflow
gate .venvs/prefect/bin/mypy --cache-dir .mypy_cache/prefect -p cleanshift_prefect
exit $failed
