"""Mock and file providers, the coalescing cache and provider specs."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest

from cleanshift_core import (
    BadSeriesError,
    CachedProvider,
    ConfigurationError,
    FileProvider,
    GridIntensityProvider,
    MockProvider,
    ProviderSpec,
    SignalKind,
    build_provider,
)

from .conftest import T0, FakeClock, hourly


async def test_mock_keeps_the_seed_curve(clock):
    mock = MockProvider(clock=clock)
    series = await mock.forecast(T0, T0 + timedelta(days=1))
    assert len(series) == 24
    assert series.values[3] == pytest.approx(150)  # trough 03:00
    assert series.values[15] == pytest.approx(450)  # peak 15:00


async def test_mock_speedup_compresses_a_day_into_seconds(clock):
    mock = MockProvider(speedup=3600, anchor=T0, anchor_hour=15, clock=clock)
    series = await mock.forecast(T0, T0 + timedelta(seconds=24))
    assert len(series) == 24 and series.ends[0] - series.starts[0] == 1.0
    assert series.values[0] == pytest.approx(450) and series.values[12] == pytest.approx(150)


def test_mock_rejects_negative_curves():
    with pytest.raises(ConfigurationError, match="cannot go negative"):
        MockProvider(base_intensity=100, amplitude=200)


def write_csv(tmp_path, rows):
    path = tmp_path / "grid.csv"
    path.write_text("Time,Carbon Intensity\n" + "".join(f"{t},{v}\n" for t, v in rows))
    return path


async def test_file_provider_reads_grid_exports(tmp_path, clock):
    path = write_csv(
        tmp_path,
        [("2020-01-01 00:00:00", 200), ("2020-01-01 00:15:00", 100), ("2020-01-01 00:30:00", 300)],
    )
    provider = FileProvider(path, region="DE", clock=clock)
    series = provider.series
    assert series.start == datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert series.ends[-1] - series.starts[-1] == 900
    history = await provider.history(series.start, series.end)
    assert history.basis == "measured" and history.values == (200, 100, 300)


async def test_file_replay_maps_onto_today_and_compresses(tmp_path):
    path = write_csv(tmp_path, [(f"2020-05-01 {h:02d}:00:00", 100 + h) for h in range(24)])
    clock = FakeClock(datetime(2026, 3, 2, 10, 30, tzinfo=timezone.utc))
    day = FileProvider(path, replay=True, clock=clock)
    assert day.series.start == datetime(2026, 3, 2, tzinfo=timezone.utc)
    assert (await day.current()).value == 110
    fast = FileProvider(path, replay=True, speedup=3600, clock=clock)
    assert fast.series.start == clock.now() and fast.series.end == clock.now() + timedelta(
        seconds=24
    )


def test_file_json_in_carbon_aware_sdk_shape(tmp_path):
    path = tmp_path / "static.json"
    path.write_text(
        json.dumps(
            {
                "Emissions": [
                    {
                        "Location": "eastus",
                        "Time": "2026-03-02T00:00:00Z",
                        "Rating": 54.0,
                        "Duration": "01:00:00",
                    },
                    {
                        "Location": "eastus",
                        "Time": "2026-03-02T01:00:00Z",
                        "Rating": 40.0,
                        "Duration": "01:00:00",
                    },
                ]
            }
        )
    )
    series = FileProvider(path).series
    assert series.values == (54.0, 40.0) and series.end == T0 + timedelta(hours=2)


@pytest.mark.parametrize(
    "content, message",
    [
        ("Time,Carbon Intensity\n2020-01-01 00:00:00,abc\n2020-01-01 01:00:00,1\n", "cannot read"),
        ("When,What\n2020-01-01 00:00:00,1\n", "no time column"),
        (
            "Time,Carbon Intensity\n2020-01-01 01:00:00,1\n2020-01-01 00:00:00,2\n",
            "non-positive duration",
        ),
    ],
)
def test_file_errors_name_the_row(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(BadSeriesError, match=message):
        FileProvider(path)


def test_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        FileProvider(tmp_path / "nope.csv")


class CountingProvider(GridIntensityProvider):
    kind = "counting"
    forecast_horizon = timedelta(hours=24)

    def __init__(self):
        self.calls = 0

    @property
    def region(self):
        return "R"

    @property
    def signal(self):
        return SignalKind.MARGINAL

    async def current(self):
        raise NotImplementedError

    async def forecast(self, start, end):
        self.calls += 1
        await asyncio.sleep(0.01)  # let concurrent callers pile up on the in-flight fetch
        return hourly(
            [100 + i for i in range(48)], start=start.replace(minute=0, second=0, microsecond=0)
        )

    async def history(self, start, end):
        raise NotImplementedError


async def test_cache_coalesces_a_thousand_waiters_into_one_fetch(clock):
    inner = CountingProvider()
    cached = CachedProvider(inner, ttl=timedelta(minutes=5), clock=clock)
    requests = [cached.forecast(T0, T0 + timedelta(hours=1 + i % 12)) for i in range(1000)]
    results = await asyncio.gather(*requests)
    assert inner.calls == 1
    assert results[0].end <= T0 + timedelta(hours=2) and results[11].end == T0 + timedelta(hours=12)
    clock.current += timedelta(minutes=6)
    await cached.forecast(clock.now(), clock.now() + timedelta(hours=1))
    assert inner.calls == 2  # refreshed after the TTL


async def test_cache_does_not_keep_failures(clock):
    class Flaky(CountingProvider):
        async def forecast(self, start, end):
            self.calls += 1
            if self.calls == 1:
                raise BadSeriesError("boom")
            return await super().forecast(start, end)

    cached = CachedProvider(Flaky(), clock=clock)
    with pytest.raises(BadSeriesError):
        await cached.forecast(T0, T0 + timedelta(hours=1))
    assert len(await cached.forecast(T0, T0 + timedelta(hours=1))) == 1


def test_spec_strings_dicts_and_errors():
    spec = ProviderSpec.parse("mock:region=DE,speedup=720,base_intensity=250.5")
    assert spec.options == {"region": "DE", "speedup": 720, "base_intensity": 250.5}
    assert ProviderSpec.parse({"kind": "mock", "region": "X"}).options == {"region": "X"}
    assert build_provider("mock:region=DE").region == "DE"
    with pytest.raises(ConfigurationError, match="unknown provider 'nope'"):
        build_provider("nope")
    with pytest.raises(ConfigurationError, match="does not take option"):
        build_provider("mock:zone=DE")
    with pytest.raises(ConfigurationError, match="key=value"):
        ProviderSpec.parse("mock:region")


def test_spec_secrets_are_masked_but_still_identify_the_cache():
    a = ProviderSpec("mock", {"api_key": "canary-7f3e"})
    b = ProviderSpec("mock", {"api_key": "other-secret"})
    assert "canary-7f3e" not in repr(a) and "canary-7f3e" not in str(a.public_options())
    assert a.fingerprint() != b.fingerprint()
    assert "canary-7f3e" not in a.fingerprint()


async def test_cache_serves_a_full_horizon_late_in_a_bucket():
    clock = FakeClock(T0 + timedelta(seconds=290))  # bucket started 290 s ago
    mock = MockProvider(speedup=720, anchor=T0, anchor_hour=0, clock=clock)  # horizon 240 s
    cached = CachedProvider(mock, ttl=timedelta(minutes=5), clock=clock)
    series = await cached.forecast(clock.now(), clock.now() + timedelta(seconds=200))
    assert series.end >= clock.now() + timedelta(seconds=200)
