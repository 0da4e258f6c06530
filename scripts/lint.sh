#!/usr/bin/env bash
# The lint gates, run by scripts/test.sh as the suite "lint" (or on their own):
#   ruff check and ruff format --check over the whole tree (rules: [tool.ruff] in pyproject.toml)
# Every gate runs; the script fails if any of them does. Fix most findings with
#   .venvs/prefect/bin/ruff check --fix . && .venvs/prefect/bin/ruff format .
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x .venvs/prefect/bin/ruff ]] || bash scripts/bootstrap.sh >&2 || exit 1

failed=0
gate() {
    echo "--- $*"
    "$@" || failed=1
}
gate .venvs/prefect/bin/ruff check .
gate .venvs/prefect/bin/ruff format --check .
exit $failed
