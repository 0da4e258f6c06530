#!/usr/bin/env bash
# Run the test suites, each in the venv that can import its framework:
#   core, prefect -> .venvs/prefect      airflow -> .venvs/airflow (cleanshift_core is there too)
#   lint -> scripts/lint.sh (ruff over the tree, mypy over src/; takes no pytest args)
#   docs -> mkdocs build --strict in .venvs/docs (a broken link, include, image or API reference fails)
# Usage:  scripts/test.sh [extra pytest args...]      e.g. scripts/test.sh -x -k window
#         SUITES="core airflow" scripts/test.sh      (default: all five)
# Every suite must pass AND collect at least one test: pytest's exit code 5 ("no tests
# collected") counts as a failure, so an empty or mis-selected suite cannot pass silently.
set -uo pipefail   # no -e: every suite runs, failures are collected and reported at the end
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh || { echo "test.sh: bootstrap failed" >&2; exit 1; }

SUITES=${SUITES:-lint core prefect airflow docs}
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

declare -a SUMMARY=()
failed=0
for suite in $SUITES; do
    case $suite in
        lint) cmd=(bash scripts/lint.sh) ;;
        core | prefect) cmd=(.venvs/prefect/bin/python -m pytest "tests/$suite" "$@") ;;
        airflow) cmd=(.venvs/airflow/bin/python -m pytest "tests/$suite" "$@") ;;
        docs) cmd=(env NO_MKDOCS_2_WARNING=1 .venvs/docs/bin/mkdocs build --strict
                   --site-dir "$RUN_TMP/site") ;;
        *) SUMMARY+=("$(printf '%-8s FAIL  unknown suite (use lint, core, prefect, airflow, docs)' "$suite")")
           failed=1; continue ;;
    esac
    # Fresh homes per suite so suites cannot see each other's state.
    export AIRFLOW_HOME=$RUN_TMP/$suite/airflow-home
    export PREFECT_HOME=$RUN_TMP/$suite/prefect-home
    export PREFECT_RESULTS_LOCAL_STORAGE_PATH=$PREFECT_HOME/storage
    mkdir -p "$AIRFLOW_HOME" "$PREFECT_HOME"

    echo
    echo "=== suite '$suite' (${cmd[*]:0:4}) ==="
    t0=$SECONDS
    "${cmd[@]}"
    rc=$?
    case $rc in
        0) status="PASS" ;;
        5) status="FAIL  (exit 5: no tests collected)" ;;
        *) status="FAIL  (exit $rc)" ;;
    esac
    [[ $rc == 0 ]] || failed=1
    SUMMARY+=("$(printf '%-8s %-40s %4d s' "$suite" "$status" $((SECONDS - t0)))")
done

echo
echo "=== summary ==="
printf '%s\n' "${SUMMARY[@]}"
if ((failed)); then
    echo "RESULT: FAILED"
    exit 1
fi
echo "RESULT: all suites passed"
