"""``cleanshift report`` against a real Airflow (api-server, scheduler, triggerer,
dag-processor on 127.0.0.1): receipts written by real DAG runs are read through the REST API
with a user's password or token and totalled; a chunked job counts once; a receipt of an older
cleanshift is skipped with a one-line reason; a wrong password is one line, exit 2."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from cleanshift_airflow import keys
from cleanshift_core.cli import run
from cleanshift_core.readers import AirflowReader, airflow
from cleanshift_core.report import summarise
from tests.airflow.conftest import EXAMPLE_DAGS
from tests.airflow.stack import Api, Stack, running_stack, token

PASSWORD = "cleanshift-e2e"
CHUNKED = "cleanshift_interruptible_training"
REPORT_DAGS = """
from datetime import datetime, timezone

from airflow.sdk import DAG, task

from cleanshift_airflow.decorators import carbon_task
from cleanshift_airflow.operators import CarbonReceiptOperator
from cleanshift_airflow.sensors import CarbonWindowSensor

OPEN_NOW = {"kind": "mock", "region": "RPT"}

with DAG("report_etl", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):

    @carbon_task(provider=OPEN_NOW, duration="2s", max_delay="0s", power_kw=1.5)
    def score() -> int:
        return 1

    gate = CarbonWindowSensor(task_id="gate", provider=OPEN_NOW, duration="2s", max_delay="0s")

    @task
    def transform() -> None:
        pass

    # No power_kw and no energy: a receipt with unknown energy and no grams.
    receipt = CarbonReceiptOperator(task_id="receipt", sensor_task_id="gate")
    score()
    gate >> transform() >> receipt

with DAG("report_legacy", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)):

    @task
    def old_receipt(ti=None) -> None:
        # What cleanshift 0.1 pushed: the first nine fields only.
        ti.xcom_push(key="cleanshift_receipt", value={
            "scheduled_at": "2026-01-01T00:00:00+00:00",
            "ran_at": "2026-01-01T01:00:00+00:00",
            "delay_seconds": 3600.0,
            "duration_seconds": 60.0,
            "avg_intensity_gco2_per_kwh": 100.0,
            "counterfactual_avg_intensity": 200.0,
            "region": "OLD",
            "provider": "mock",
        })

    old_receipt()
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    dags = {
        "report_dags.py": REPORT_DAGS,
        # The example reads its grid file next to itself: point it at the repository's copy.
        f"{CHUNKED}.py": (EXAMPLE_DAGS / f"{CHUNKED}.py")
        .read_text()
        .replace('Path(__file__).parent / "data"', f"Path({str(EXAMPLE_DAGS / 'data')!r})"),
    }
    with running_stack(dags) as stack:
        yield stack


@pytest.fixture(scope="module")
def runs(stack: Stack) -> dict[str, str]:
    """One finished run of each DAG, and when they began (the report's ``since``)."""
    api = Api(stack)
    began = datetime.now(timezone.utc) - timedelta(seconds=1)
    started = {dag: api.trigger(dag) for dag in ("report_etl", "report_legacy", CHUNKED)}
    for dag, run_id in started.items():
        assert api.wait_finished(dag, run_id, timeout=240) == "success", stack.logs()
    return {"since": began.isoformat(), **started}


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop what the runs before logged: only the command's output counts
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_core_reader_uses_the_airflow_keys():
    assert airflow.RECEIPT_XCOM_KEY == keys.RECEIPT_XCOM_KEY
    assert airflow.RECEIPT_PARTS_XCOM_KEY == keys.RECEIPT_PARTS_XCOM_KEY


def test_the_reader_finds_every_receipt_of_the_runs_and_a_chunked_job_counts_once(stack, runs):
    since = datetime.fromisoformat(runs["since"])
    api = Api(stack)
    reader = AirflowReader(stack.url, username="admin", password=PASSWORD)
    receipts = asyncio.run(reader.read(since))
    by_task = {(r.job, r.receipt.region, r.part_of) for r in receipts.found}
    assert ("report_etl", "RPT", None) in by_task
    chunks = [r for r in receipts.found if r.job == CHUNKED and r.part_of]
    summed = [r for r in receipts.found if r.job == CHUNKED and not r.part_of]
    assert len(summed) == 1 and len(chunks) == len(api.tis(CHUNKED, runs[CHUNKED], task_id="train"))
    assert {r.part_of for r in chunks} == {"chunks_receipt"}
    # Same values as the XComs the tasks pushed.
    pushed = keys.decoded(api.xcom("report_etl", runs["report_etl"], "score", "cleanshift_receipt"))
    etl = [r.receipt for r in receipts.found if r.job == "report_etl"]
    assert pushed["emitted_g"] in [r.emitted_g for r in etl]

    report = summarise(receipts.found, since=since, skipped=receipts.skipped)
    assert report.parts == len(chunks)
    (etl_total,) = [t for t in report.totals if t.job == "report_etl"]
    assert (etl_total.receipts, etl_total.with_grams, etl_total.nominal, etl_total.unknown) == (
        2,
        1,
        1,
        1,
    )
    assert etl_total.nominal_kwh == pytest.approx(pushed["energy_kwh"])
    (chunked_total,) = [t for t in report.totals if t.job == CHUNKED]
    assert chunked_total.receipts == 1  # the sum, not the sum plus its parts
    assert chunked_total.avoided_g == pytest.approx(summed[0].receipt.avoided_g)

    (old,) = receipts.skipped
    assert old.where.startswith(f"report_legacy / {runs['report_legacy']} / old_receipt")
    assert "older cleanshift" in old.reason and "planned_start" in old.reason


def test_the_cli_with_a_token_prints_the_totals_and_exits_2_for_the_old_receipt(
    stack, runs, capsys
):
    jwt = token(stack)
    code, out, err = cli(
        capsys,
        "report",
        "--airflow",
        stack.url,
        "--token",
        jwt,
        "--since",
        runs["since"],
        "--format",
        "json",
    )
    assert code == 2
    printed = json.loads(out)
    assert {t["job"] for t in printed["totals"]} == {"report_etl", CHUNKED}
    assert printed["chunk_receipts_in_sums"] >= 1
    (line,) = err.strip().splitlines()
    assert line.startswith("cleanshift: error: skipped 1 receipt(s)")
    assert "report_legacy" in line and jwt not in out + err


def test_a_period_without_the_legacy_run_is_clean(stack, runs, capsys, monkeypatch):
    monkeypatch.setenv("CLEANSHIFT_AIRFLOW_USERNAME", "admin")
    monkeypatch.setenv("CLEANSHIFT_AIRFLOW_PASSWORD", PASSWORD)
    start = datetime.now(timezone.utc) + timedelta(days=1)
    code, out, err = cli(
        capsys, "report", "--airflow", stack.url, "--since", start.isoformat(), "--until", "30d"
    )
    assert code == 2 and "must be before --until" in err
    code, out, err = cli(
        capsys,
        "report",
        "--airflow",
        stack.url,
        "--since",
        start.isoformat(),
        "--until",
        (start + timedelta(days=1)).isoformat(),
    )
    assert (code, out) == (2, "")
    assert err.strip() == "cleanshift: error: no receipts in the period; widen --since/--until"


def test_a_wrong_password_is_one_line_exit_2_and_never_shown(stack, capsys):
    wrong = "not-the-password-9f2c"
    code, out, err = cli(
        capsys, "report", "--airflow", stack.url, "--username", "admin", "--password", wrong
    )
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"cleanshift: error: Airflow at {stack.url} refused the credentials")
    assert wrong not in err
    code, out, err = cli(capsys, "report", "--airflow", stack.url, "--token", "forged.jwt.value")
    # Airflow answers a forged JWT with 403, a wrong password with 401: both one line, exit 2.
    assert code == 2 and "denied access (HTTP 403" in err and "forged" not in err
