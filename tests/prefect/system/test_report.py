"""``cleanshift report`` against the suite's real Prefect server, over receipts written by real
flow runs: the report artifact carries the whole receipt, the reader finds it by flow, the CLI
totals it, and a report artifact of an older cleanshift is skipped with a one-line reason."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from cleanshift_core.cli import run
from cleanshift_core.readers import PrefectReader
from cleanshift_core.readers.prefect import receipt_from_markdown
from cleanshift_core.report import summarise
from cleanshift_prefect import carbon_window
from tests.prefect.conftest import (
    POINT_SECONDS,
    artifacts_of,
    seconds_from_now,
    table_rows,
    trough_at,
)


def open_now(region: str) -> dict:
    return trough_at(seconds_from_now(0), region)


@flow(name="Report Nightly ETL")
@carbon_window(open_now("RPT-A"), duration=f"{POINT_SECONDS}s", max_delay="0s", power_kw=2.0)
def nightly() -> int:
    return 1


@task(name="report-score")
@carbon_window(open_now("RPT-B"), duration=f"{POINT_SECONDS}s", max_delay="0s")
def score() -> int:
    return 2


@flow(name="Report Scoring")
def scoring() -> int:
    return score()


@flow(name="Report Legacy")
def legacy() -> None:
    # What cleanshift 0.2 wrote: the report artifact, without the machine-readable receipt.
    create_markdown_artifact(
        key="report-legacy-carbon-report",
        markdown="### Report Legacy: carbon receipt\n\n| | run | if run immediately |\n",
    )


MINE = {"Report Nightly ETL", "Report Scoring"}


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop what the runs before logged: only the command's output counts
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def since_now() -> datetime:
    """The period's start: runs of this process from now on have ``ran_at`` at or after it, and
    a previous test's run (same clock) before it, however late its artifact is written."""
    return datetime.now(timezone.utc)


async def test_the_report_artifact_carries_the_receipt_users_see_in_the_table():
    @flow(name="Report Artifact Check")
    @carbon_window(open_now("RPT-C"), duration=f"{POINT_SECONDS}s", max_delay="0s", power_kw=1.0)
    async def checked() -> int:
        return 3

    state = await checked(return_state=True)
    artifacts = await artifacts_of(state.state_details.flow_run_id)
    report = artifacts["report-artifact-check-carbon-report"].data
    receipt = receipt_from_markdown(report)
    rows = table_rows(artifacts["report-artifact-check-carbon-receipt"])
    assert rows["emitted (g)"] == f"{receipt.emitted_g:,.1f}"
    assert rows["region"] == receipt.region == "RPT-C"
    # What users read is still first; the JSON is one line at the very end.
    assert report.startswith("### Report Artifact Check: carbon receipt")
    assert report.rstrip().endswith("```") and report.count("\n{") == 1


def test_reader_and_cli_total_the_receipts_of_real_flow_runs(
    capsys, prefect_server, tmp_path, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "160")  # the table's width, as in a terminal that wide
    since = since_now()
    nightly()
    nightly()
    scoring()
    reader = PrefectReader(prefect_server)
    read = asyncio.run(reader.read(since))
    # The previous test's report artifact is written asynchronously and may land after `since`.
    receipts = type(read)(tuple(r for r in read.found if r.job in MINE), read.skipped)
    assert receipts.skipped == ()
    assert sorted(r.job for r in receipts.found) == [
        "Report Nightly ETL",
        "Report Nightly ETL",
        "Report Scoring",
    ]
    report = summarise(receipts.found, since=since)
    by_job = {t.job: t for t in report.totals}
    etl, scored = by_job["Report Nightly ETL"], by_job["Report Scoring"]
    assert (etl.receipts, etl.with_grams, etl.nominal, etl.region) == (2, 2, 2, "RPT-A")
    assert etl.emitted_g == sum(
        r.receipt.emitted_g or 0 for r in receipts.found if r.job == "Report Nightly ETL"
    )
    # No power_kw: counted, unknown energy, no grams.
    assert (scored.receipts, scored.with_grams, scored.unknown, scored.emitted_g) == (1, 0, 1, 0)

    chart = tmp_path / "avoided.png"
    code, out, err = cli(
        capsys,
        "report",
        "--prefect",
        prefect_server,
        "--since",
        since.isoformat(),
        "--format",
        "json",
        "--chart",
        str(chart),
    )
    assert code == 0, err
    printed = json.loads(out)
    assert {t["job"]: t["receipts"] for t in printed["totals"]} == {
        "Report Nightly ETL": 2,
        "Report Scoring": 1,
    }
    (overall,) = printed["overall"]
    assert overall["avoided_g"] == report.overall[0].avoided_g
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out, err = cli(
        capsys, "report", "--prefect", prefect_server, "--since", since.isoformat()
    )
    assert code == 0, err
    assert "Report Nightly ETL" in out and "Report Scoring" in out

    code, out, err = cli(
        capsys,
        "report",
        "--prefect",
        prefect_server,
        "--since",
        since.isoformat(),
        "--format",
        "csv",
    )
    header, *rows = out.strip().splitlines()
    assert header.startswith("job,region,signal,receipts,with_grams,")
    assert len(rows) == 3  # two jobs, then the one signal over all


def test_an_older_report_artifact_is_skipped_with_one_line_and_exit_2(capsys, prefect_server):
    since = since_now()
    nightly()
    legacy()
    receipts = asyncio.run(PrefectReader(prefect_server).read(since))
    assert [r.job for r in receipts.found] == ["Report Nightly ETL"]
    (skipped,) = receipts.skipped
    assert skipped.where.startswith("Report Legacy / artifact report-legacy-carbon-report")
    assert "older cleanshift" in skipped.reason

    code, out, err = cli(
        capsys, "report", "--prefect", prefect_server, "--since", since.isoformat()
    )
    assert code == 2
    assert "Report Nightly ETL" in out  # the readable receipts are still totalled
    (line,) = err.strip().splitlines()
    assert line.startswith("cleanshift: error: skipped 1 receipt(s)")
    assert "older cleanshift" in line and "Report Legacy" in line


def test_no_receipts_in_the_period_is_one_line_and_exit_2(capsys, prefect_server):
    start = datetime.now(timezone.utc) + timedelta(days=1)
    code, out, err = cli(
        capsys,
        "report",
        "--prefect",
        prefect_server,
        "--since",
        start.isoformat(),
        "--until",
        (start + timedelta(days=1)).isoformat(),
    )
    assert (code, out) == (2, "")
    assert err.strip() == "cleanshift: error: no receipts in the period; widen --since/--until"
