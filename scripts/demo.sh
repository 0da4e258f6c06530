#!/usr/bin/env bash
# The main job, end to end: an embedded Airflow 3 (SQLite, throwaway AIRFLOW_HOME) runs the
# example DAG cleanshift_nightly_etl (extract → carbon window → transform → load → receipt)
# with `airflow dags test`, really waiting for the cleanest window of the demo grid, then
# prints the carbon receipt from XCom. About a minute after bootstrap.
#   scripts/demo.sh            KEEP_HOME=1 scripts/demo.sh   (keep the Airflow home to inspect)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

bash scripts/bootstrap.sh
PY=$ROOT/.venvs/airflow/bin/python

export AIRFLOW_HOME
AIRFLOW_HOME=$(mktemp -d "${TMPDIR:-/tmp}/cleanshift-demo.XXXXXX")
[[ ${KEEP_HOME:-0} == 1 ]] || trap 'rm -rf "$AIRFLOW_HOME"' EXIT
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/example_dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
LOG=$AIRFLOW_HOME/dags-test.log
t0=$SECONDS

echo "demo: AIRFLOW_HOME=$AIRFLOW_HOME"
echo "demo: airflow db migrate"
"$PY" -m airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { cat "$AIRFLOW_HOME/migrate.log"; exit 1; }

echo "demo: airflow dags test cleanshift_nightly_etl (the sensor waits for the window; log: $LOG)"
if ! "$PY" -m airflow dags test cleanshift_nightly_etl >"$LOG" 2>&1; then
    tail -n 60 "$LOG"
    echo "demo: FAILED" >&2
    exit 1
fi
grep -Eo "carbon plan: .*|carbon window open: [^ ]+|carbon receipt: .*\)|DagRun Finished: .*state=[a-z]+" "$LOG" \
    | sed -E 's/ \[airflow[^]]*\].*//; s/^/  /'

"$PY" - <<'PYTHON'
"""Print the receipt the run left in XCom (key cleanshift_receipt)."""
from sqlalchemy import select

from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from cleanshift_core import CarbonReceipt

with create_session() as session:
    row = session.scalars(
        select(XComModel)
        .where(XComModel.dag_id == "cleanshift_nightly_etl", XComModel.key == "cleanshift_receipt")
        .order_by(XComModel.timestamp.desc())
    ).first()
    if row is None:
        raise SystemExit("demo: no receipt in XCom")
    receipt = CarbonReceipt.model_validate(XComModel.deserialize_value(row))


def show(value, unit="", fmt=".1f"):
    return "n/a" if value is None else f"{value:{fmt}}{unit}"


print("\nCarbon receipt (XCom 'cleanshift_receipt' of cleanshift_nightly_etl.carbon_receipt)")
for label, value in [
    ("could have started", receipt.scheduled_at.isoformat()),
    ("planned start", receipt.planned_start.isoformat()),
    ("work ran", f"{receipt.ran_at.isoformat()} → {receipt.finished_at.isoformat()}"),
    ("waited", show(receipt.delay_seconds, " s")),
    ("intensity of the run", show(receipt.avg_intensity_gco2_per_kwh, " gCO2eq/kWh")),
    ("if run at once", show(receipt.counterfactual_avg_intensity, " gCO2eq/kWh")),
    ("saving", show(receipt.estimated_savings_pct, " %")),
    ("energy (2 kW nominal)", show(receipt.energy_kwh, " kWh", ".6f")),
    ("emitted / avoided", f"{show(receipt.emitted_g, ' g', '.3f')} / {show(receipt.avoided_g, ' g', '.3f')}"),
    ("basis", f"{receipt.intensity_basis.value if receipt.intensity_basis else 'none'}"
              f"{' (estimate)' if receipt.is_estimate else ''}, {receipt.provider}/{receipt.region}"),
    ("reason", receipt.reason),
]:
    print(f"  {label:<22} {value}")
PYTHON
echo "demo: done in $((SECONDS - t0)) s after bootstrap"
