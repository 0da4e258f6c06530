#!/usr/bin/env bash
# Run the test suites and checks, each in the venv that can import its framework (see the
# table in run_suite below; scripts/bootstrap.sh builds the venvs):
#   lint           ruff over the tree, mypy over src/ (scripts/lint.sh)
#   core, prefect  full suites on the newest Prefect (.venvs/prefect)
#   airflow        full suite on the newest Airflow (.venvs/airflow)
#   airflow-min    smoke suite on the lowest claimed Airflow minor (.venvs/airflow-min)
#   airflow-3.2    the same smoke suite on Airflow 3.2, pinned to a working set (.venvs/airflow-3.2)
#   prefect-min    smoke suite on the lowest claimed Prefect minor (.venvs/prefect-min)
#   packaging      sdist + wheel, metadata, non-editable installs (scripts/check_packaging.sh)
#   docs           mkdocs build --strict in .venvs/docs (a broken link, include, image or API
#                  reference fails)
# Usage:  scripts/test.sh [extra pytest args...]      e.g. scripts/test.sh -x -k window
#         SUITES="core airflow" scripts/test.sh      (default: all of them)
# Extra args go to every pytest suite (not to lint, packaging, docs). Every suite must pass AND
# collect at least one test: pytest's exit code 5 ("no tests collected") counts as a failure, so
# an empty or mis-selected suite cannot pass silently.
set -uo pipefail   # no -e: every suite runs, failures are collected and reported at the end
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh || { echo "test.sh: bootstrap failed" >&2; exit 1; }

SUITES=${SUITES:-lint core prefect airflow airflow-min airflow-3.2 prefect-min packaging docs}
[[ -n ${SUITES// /} ]] || { echo "test.sh: SUITES is empty: nothing to run" >&2; exit 1; }

# Per-run scratch dir: Airflow and Prefect write their homes, databases and results here,
# never under ~. Tests may still point these elsewhere themselves.
RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cleanshift-test.XXXXXX")
trap 'rm -rf "$RUN_TMP"' EXIT
unset PREFECT_API_URL PREFECT_API_KEY   # never talk to a developer's real Prefect server
# Prefect's server telemetry can't reach its host from here, and its heartbeat write races the
# test harness for the SQLite lock ("database is locked" tracebacks): off by default.
export PREFECT_SERVER_ANALYTICS_ENABLED=${PREFECT_SERVER_ANALYTICS_ENABLED:-false}
export AIRFLOW__CORE__LOAD_EXAMPLES=${AIRFLOW__CORE__LOAD_EXAMPLES:-False}

# run_pytest VENV PATHS...  (then the caller's extra args)
run_pytest() { local venv=$1; shift; ".venvs/$venv/bin/python" -m pytest "$@" "${ARGS[@]}"; }

# The smoke suite for older Airflow releases: the example DAGs through dag.test() (what
# `airflow dags test` runs) and the unit tests of the provider's modules (tests/airflow/unit/);
# the BaseSensorOperator conventions and measured energy (they use newer Airflow APIs) and the
# trigger faults run in the full suite only.
AIRFLOW_SMOKE=(tests/airflow/system/test_example_dags.py
    tests/airflow/unit/test_{sensors,location,chunks,triggers,operators,decorators}.py
    tests/airflow/unit/test_{hooks,get_provider_info,ui,chart,links,keys}.py)

# One line per suite or check; exit code 127 = unknown suite.
run_suite() {
    case $1 in
        lint)        bash scripts/lint.sh ;;
        core)        run_pytest prefect tests/core ;;
        prefect)     run_pytest prefect tests/prefect ;;
        airflow)     run_pytest airflow tests/airflow ;;
        airflow-min) run_pytest airflow-min "${AIRFLOW_SMOKE[@]}" ;;
        airflow-3.2) run_pytest airflow-3.2 "${AIRFLOW_SMOKE[@]}" ;;
        prefect-min) run_pytest prefect-min tests/prefect/system/test_example_flows.py \
                         tests/prefect/system/test_deployment.py \
                         tests/prefect/unit/test_decorator.py ;;
        packaging)   bash scripts/check_packaging.sh ;;
        docs)        NO_MKDOCS_2_WARNING=1 .venvs/docs/bin/mkdocs build --strict \
                         --site-dir "$RUN_TMP/site" ;;
        *)           return 127 ;;
    esac
}

ARGS=("$@")
declare -a SUMMARY=()
failed=0
for suite in $SUITES; do
    # Fresh homes per suite so suites cannot see each other's state.
    export AIRFLOW_HOME=$RUN_TMP/$suite/airflow-home
    export PREFECT_HOME=$RUN_TMP/$suite/prefect-home
    export PREFECT_RESULTS_LOCAL_STORAGE_PATH=$PREFECT_HOME/storage
    mkdir -p "$AIRFLOW_HOME" "$PREFECT_HOME"

    echo
    echo "=== suite '$suite' ==="
    t0=$SECONDS
    run_suite "$suite"
    rc=$?
    case $rc in
        0) status="PASS" ;;
        5) status="FAIL  (exit 5: no tests collected)" ;;
        127) status="FAIL  unknown suite (see the list at the top of scripts/test.sh)" ;;
        *) status="FAIL  (exit $rc)" ;;
    esac
    [[ $rc == 0 ]] || failed=1
    SUMMARY+=("$(printf '%-12s %-40s %4d s' "$suite" "$status" $((SECONDS - t0)))")
done

echo
echo "=== summary ==="
printf '%s\n' "${SUMMARY[@]}"
if ((failed)); then
    echo "RESULT: FAILED"
    exit 1
fi
echo "RESULT: all suites passed"
