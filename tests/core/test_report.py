"""Report totals: grams only where receipts have them, one signal per figure, each unit of work
once, the period by when the work ran, unreadable receipts skipped with a reason."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from cleanshift_core import (
    CarbonReceipt,
    ConfigurationError,
    JobSpec,
    SchedulingRules,
    SignalKind,
    build_receipt,
    decide,
)
from cleanshift_core.measure import EnergyReading, EnergySource
from cleanshift_core.report import (
    JobReceipt,
    OldReceiptError,
    Skipped,
    load_receipt,
    summarise,
    week_start,
)

from .conftest import T0, hourly

CURVE = [400, 400, 100, 100, 300, 300]


def receipt(
    start_h: float = 2,
    *,
    day: int = 0,
    power_kw: float | None = 2.0,
    energy: EnergyReading | None = None,
    signal: SignalKind = SignalKind.AVERAGE_LIFECYCLE,
    region: str = "TEST",
) -> CarbonReceipt:
    """A receipt settled by the core over a real run of one hour, ``day`` days after T0."""
    base = T0 + timedelta(days=day)
    series = hourly(CURVE, start=base, basis="measured", signal=signal, region=region)
    plan = decide(series, JobSpec.create("1h", "4h"), SchedulingRules(), base)
    ran = base + timedelta(hours=start_h)
    return build_receipt(
        plan, [(ran, ran + timedelta(hours=1))], [series], power_kw=power_kw, energy=energy
    )


def test_totals_per_job_and_region_add_up_the_receipts_grams_and_energy():
    etl = [receipt(), receipt(day=1), receipt(region="OTHER")]
    report = summarise([JobReceipt("etl", r) for r in etl] + [JobReceipt("ml", receipt(start_h=0))])
    by_key = {(t.job, t.region): t for t in report.totals}
    assert list(by_key) == [("etl", "OTHER"), ("etl", "TEST"), ("ml", "TEST")]
    etl_test = by_key[("etl", "TEST")]
    assert etl_test.receipts == etl_test.with_grams == etl_test.nominal == 2
    # 2 kW for 1 h at 100 g/kWh against 400 g/kWh at once: 200 g emitted, 600 g avoided, twice.
    assert etl_test.emitted_g == pytest.approx(400)
    assert etl_test.counterfactual_g == pytest.approx(1600)
    assert etl_test.avoided_g == pytest.approx(1200)
    assert etl_test.nominal_kwh == pytest.approx(4.0)
    assert etl_test.savings_pct == pytest.approx(75)
    ml = by_key[("ml", "TEST")]
    assert ml.avoided_g == pytest.approx(0)  # ran at once: nothing avoided
    (overall,) = report.overall
    assert overall.job is None and overall.region is None
    assert overall.receipts == report.receipts == 4
    assert overall.avoided_g == pytest.approx(sum(r.avoided_g or 0 for r in etl))


def test_receipts_without_grams_are_counted_but_add_no_grams():
    measured = EnergyReading(
        EnergySource.MEASURED, kwh=0.5, cpu_kwh=0.4, ram_kwh=0.1, method="cpu_load"
    )
    failed = EnergyReading(EnergySource.UNKNOWN, note="codecarbon failed")
    rs = [receipt(), receipt(power_kw=None, energy=measured), receipt(power_kw=None, energy=failed)]
    assert rs[2].emitted_g is None
    (t,) = summarise(JobReceipt("etl", r) for r in rs).totals
    assert (t.receipts, t.with_grams) == (3, 2)
    assert (t.measured, t.nominal, t.given, t.unknown) == (1, 1, 0, 1)
    assert t.measured_kwh == pytest.approx(0.5)
    assert t.nominal_kwh == pytest.approx(2.0)
    assert t.emitted_g == pytest.approx((rs[0].emitted_g or 0) + (rs[1].emitted_g or 0))


def test_given_energy_is_its_own_source():
    plan_receipt = receipt(power_kw=None)
    given = plan_receipt.model_copy(update={"energy_kwh": 1.5, "energy_source": EnergySource.GIVEN})
    (t,) = summarise([JobReceipt("etl", given)]).totals
    assert (t.given, t.given_kwh, t.unknown) == (1, 1.5, 0)


def test_average_and_marginal_are_never_summed_into_one_figure():
    rs = [
        JobReceipt("etl", receipt()),
        JobReceipt("etl", receipt(signal=SignalKind.MARGINAL)),
        JobReceipt("etl", receipt(signal=SignalKind.MARGINAL, day=1)),
    ]
    report = summarise(rs)
    assert report.signals == (SignalKind.AVERAGE_LIFECYCLE, SignalKind.MARGINAL)
    assert [t.receipts for t in report.overall] == [1, 2]
    assert [(t.signal, t.receipts) for t in report.totals] == [
        (SignalKind.AVERAGE_LIFECYCLE, 1),
        (SignalKind.MARGINAL, 2),
    ]
    assert {w.signal for w in report.weekly} == {SignalKind.AVERAGE_LIFECYCLE, SignalKind.MARGINAL}


def test_chunk_receipts_count_once_as_their_sum():
    report = summarise(
        [
            JobReceipt("etl", receipt()),
            JobReceipt("etl", receipt(), part_of="whole"),
            JobReceipt("etl", receipt(), part_of="whole"),
        ]
    )
    assert report.parts == 2
    assert report.receipts == 1


def test_the_period_is_half_open_on_when_the_work_ran():
    rs = [JobReceipt("etl", receipt(day=d)) for d in range(4)]  # ran 02:00 on days 0..3
    since = T0 + timedelta(days=1, hours=2)  # exactly day 1's start: included
    until = T0 + timedelta(days=3, hours=2)  # exactly day 3's start: excluded
    report = summarise(rs, since=since, until=until)
    assert report.receipts == 2
    assert summarise(rs, since=since).receipts == 3
    assert summarise(rs, until=until).receipts == 3


def test_bounds_are_checked_once_with_a_fix_it_message():
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        summarise([], since=T0.replace(tzinfo=None))
    with pytest.raises(ConfigurationError, match="before until"):
        summarise([], since=T0, until=T0)


def test_avoided_grams_per_iso_week_per_job():
    # T0 is Monday 2026-03-02; day 6 is Sunday (same week), day 7 the next Monday.
    rs = [JobReceipt("etl", receipt(day=d)) for d in (0, 6, 7)] + [
        JobReceipt("ml", receipt(day=7)),
        JobReceipt("ml", receipt(day=8, power_kw=None)),  # no grams: not a point
    ]
    weekly = summarise(rs).weekly
    assert [(w.job, w.iso_week, w.with_grams) for w in weekly] == [
        ("etl", "2026-W10", 2),
        ("etl", "2026-W11", 1),
        ("ml", "2026-W11", 1),
    ]
    assert weekly[0].avoided_g == pytest.approx(2 * (rs[0].receipt.avoided_g or 0))
    assert weekly[1].week_start == date(2026, 3, 9)


def test_week_start_is_the_utc_monday():
    assert week_start(T0 + timedelta(days=6, hours=23, minutes=59)) == T0.date()
    assert week_start(T0 - timedelta(minutes=1)) == date(2026, 2, 23)


def test_load_receipt_reads_the_model_its_json_dict_and_its_json_text():
    r = receipt()
    data = r.model_dump(mode="json")
    assert load_receipt(r) is r
    assert load_receipt(data) == r
    assert load_receipt(json.dumps(data)) == r


def test_a_0_2_receipt_still_loads():
    data = receipt().model_dump(mode="json")
    for key in ("energy_source", "energy_method", "energy_cpu_kwh", "energy_gpu_kwh"):
        data.pop(key)
    data["energy_measured"] = True
    assert load_receipt(data).energy_source is EnergySource.GIVEN


def test_an_older_receipt_is_refused_with_a_one_line_reason():
    data = receipt().model_dump(mode="json")
    old = {k: data[k] for k in list(data)[:8]}  # cleanshift 0.1's first fields only
    with pytest.raises(OldReceiptError) as err:
        load_receipt(old)
    message = str(err.value)
    assert "\n" not in message
    assert "older cleanshift" in message and "planned_start" in message


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("not json", "not JSON"),
        ([1, 2], "a list"),
        ({**receipt().model_dump(mode="json"), "ran_at": "yesterday"}, "ran_at"),
    ],
)
def test_what_is_not_a_receipt_is_refused(value, says):
    with pytest.raises(OldReceiptError, match=says):
        load_receipt(value)


def test_skipped_receipts_are_carried_to_the_report():
    why = Skipped("etl/run-1/receipt", "written by an older cleanshift")
    report = summarise([], skipped=[why])
    assert report.skipped == (why,)
    assert report.receipts == 0 and report.totals == () and report.overall == ()
