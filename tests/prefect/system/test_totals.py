"""``publish_carbon_report`` on the suite's real Prefect server: receipts written by real
carbon-aware flow runs, read back through the artifacts API, totalled and published as one
markdown artifact with the weekly text chart."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from cleanshift_core import ConfigurationError, SignalKind
from cleanshift_core.readers.prefect import receipt_from_markdown
from cleanshift_core.report import JobReceipt, WeekAvoided, summarise
from cleanshift_prefect import carbon_window, publish_carbon_report
from cleanshift_prefect.chart import avoided_weeks_chart
from cleanshift_prefect.totals import TOTALS_KEY, totals_markdown
from tests.prefect.conftest import POINT_SECONDS, artifacts_of, seconds_from_now, trough_at


def carbon_flow(name: str, region: str, power_kw: float | None):
    @flow(name=name)
    @carbon_window(
        trough_at(seconds_from_now(0), region),
        duration=f"{POINT_SECONDS}s",
        max_delay="0s",
        power_kw=power_kw,
    )
    async def job() -> int:
        return 1

    return job


async def latest(key: str):
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=50
        )
    return max(found, key=lambda a: a.created)


async def test_totals_artifact_adds_up_the_receipts_real_runs_wrote():
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    written: list[JobReceipt] = []
    for name, region, power in (
        ("totals-etl", "TOTA", 2.0),
        ("totals-etl", "TOTA", 2.0),
        ("totals-ml", "TOTB", None),  # unknown energy: counted, no grams
    ):
        state = await carbon_flow(name, region, power)(return_state=True)
        assert await state.result() == 1
        report = (await artifacts_of(state.state_details.flow_run_id))[f"{name}-carbon-report"]
        written.append(JobReceipt(name, receipt_from_markdown(report.data)))

    @flow
    async def weekly_report():
        return publish_carbon_report(since=since)

    published = await weekly_report()
    expected = summarise(written, since=since)
    mine = [t for t in published.totals if t.job in ("totals-etl", "totals-ml")]
    assert mine == list(expected.totals)  # other tests' runs came before `since`

    artifact = await latest(TOTALS_KEY)
    markdown = artifact.data
    assert markdown == totals_markdown(published)
    etl, ml = mine
    assert etl.receipts == etl.with_grams == etl.nominal == 2 and etl.avoided_g >= 0
    assert ml.receipts == ml.unknown == 1 and ml.with_grams == 0
    assert etl.emitted_g == pytest.approx(sum(r.receipt.emitted_g for r in written[:2]))
    assert etl.avoided_g == pytest.approx(sum(r.receipt.avoided_g for r in written[:2]))
    row = next(line for line in markdown.splitlines() if line.startswith("| totals-etl | TOTA |"))
    assert "| 2 | 2 |" in row and "nominal " in row and " kWh (2) |" in row
    if etl.savings_pct is not None:
        assert f"| {etl.savings_pct:.1f}% |" in row
    assert re.search(
        r"^\| totals-ml \| TOTB \| .* \| 1 \| 0 \| – \| – \| – \| – \| unknown \(1\) \|$",
        markdown,
        re.MULTILINE,
    )
    assert "```text" in markdown and "totals-etl │" in markdown  # the weekly chart
    assert "totals-ml │" not in markdown  # no grams, no bar


async def test_a_run_with_nothing_in_the_period_says_so():
    @flow
    async def empty_report():
        return publish_carbon_report(
            since=datetime.now(timezone.utc) + timedelta(days=1), key="empty-carbon-totals"
        )

    report = await empty_report()
    assert report.totals == ()
    assert (
        "No receipts of work that ran in this period." in (await latest("empty-carbon-totals")).data
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"since": datetime(2026, 1, 1)}, "timezone-aware"),
        (
            {
                "since": datetime(2026, 2, 1, tzinfo=timezone.utc),
                "until": datetime(2026, 1, 1, tzinfo=timezone.utc),
            },
            "must be before until",
        ),
        ({"key": "Carbon Totals"}, "e.g. 'carbon-totals'"),
    ],
)
def test_bad_arguments_fail_before_any_request(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        publish_carbon_report.fn(**kwargs)


def test_text_chart_scales_bars_and_marks_a_dirtier_week():
    weekly = [
        WeekAvoided("etl", SignalKind.MARGINAL, date(2026, 3, 2), 40.0, 2),
        WeekAvoided("ml", SignalKind.MARGINAL, date(2026, 3, 2), 10.0, 1),
        WeekAvoided("etl", SignalKind.MARGINAL, date(2026, 3, 9), -20.0, 1),
    ]
    lines = avoided_weeks_chart(weekly).splitlines()
    assert lines[0].startswith("2026-W10 etl │" + "█" * 32)
    assert lines[1].startswith("         ml  │" + "█" * 8 + " ")
    assert lines[2].startswith("2026-W11 etl │" + "░" * 16 + " ")
    assert lines[2].endswith("-20 g") and "░ more than at once" in lines[3]
