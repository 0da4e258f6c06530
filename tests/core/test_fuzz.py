"""Hostile input: every public constructor, the CLI and every provider parser, fuzzed.

The contract under test: whatever arrives, cleanshift either accepts it or raises one of its
own typed errors (:class:`~cleanshift_core.errors.CleanshiftError`) with a one-line message
that is not a Python repr dump; never a ``KeyError``, ``TypeError``, ``OverflowError``... and
never a traceback from the CLI. Example counts are sized for CI (the whole file takes seconds).
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleanshift_core import (
    CleanshiftError,
    IntensityPoint,
    IntensitySeries,
    JobSpec,
    MockProvider,
    ProviderSpec,
    SchedulingRules,
    build_provider,
    carbon_window,
)
from cleanshift_core.cli import run
from cleanshift_core.providers import FileProvider, RetryPolicy, provider_kinds

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)

# ------------------------------------------------------------------------------ strategies
anything_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["2h", "-1h", "0", "1e400", "inf", "nan", "PT2H", "99999999999d", "01:60:61", "1h30m"]
    ),
)
datetimes = st.one_of(
    st.datetimes(),  # naive
    st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-5))])),
)
durations = st.one_of(
    anything_scalar,
    st.timedeltas(),
)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        st.sampled_from(["2025-03-04T18:00Z", "2025-03-04T18:00:00+00:00", "PT5M", "00:05:00"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)


def one_line_typed(exc: BaseException) -> None:
    assert isinstance(exc, CleanshiftError), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert message and "Traceback" not in message


def accepts_or_refuses(build, *args, **kwargs):
    try:
        return build(*args, **kwargs)
    except CleanshiftError as exc:
        one_line_typed(exc)
        return None


# ------------------------------------------------------------------------------ constructors
@FUZZ
@given(
    durations,
    st.one_of(st.none(), durations),
    st.one_of(st.none(), datetimes),
    st.one_of(st.none(), datetimes),
)
def test_jobspec_create(duration, max_delay, finish_by, earliest):
    job = accepts_or_refuses(JobSpec.create, duration, max_delay, finish_by, earliest)
    if job is not None:
        assert job.duration > timedelta(0)
        earliest_start, latest = accepts_or_refuses(job.bounds, NOW) or (None, None)
        if latest is not None:
            assert latest >= earliest_start and latest.tzinfo is not None


POLICIES = st.sampled_from(["min_carbon", "threshold", "now_or_never", "halt_if_dirty"])


@FUZZ
@given(
    st.one_of(POLICIES, anything_scalar),
    st.one_of(st.none(), anything_scalar),
    anything_scalar,
    st.one_of(st.sampled_from(["run_now", "wait_until_deadline", "fail"]), anything_scalar),
)
def test_scheduling_rules(policy, max_intensity, min_savings, on_error):
    accepts_or_refuses(
        SchedulingRules,
        policy=policy,
        max_intensity=max_intensity,
        min_savings_pct=min_savings,
        on_provider_error=on_error,
    )


@FUZZ
@given(
    st.one_of(
        st.none(), st.sampled_from(["mock", "nosuch", "mock:speedup=0", "file:path=/nonexistent"])
    ),
    st.one_of(st.none(), anything_scalar),
    anything_scalar,
    st.one_of(st.none(), anything_scalar),
    anything_scalar,
    durations,
    st.one_of(st.none(), durations),
    st.one_of(st.none(), anything_scalar),
)
def test_seed_carbon_window(provider, delay_hours, policy, limit, poll, duration, replan, power):
    accepts_or_refuses(
        carbon_window,
        provider,
        max_delay_hours=delay_hours,
        policy=policy if policy is not None else "min_carbon",
        max_intensity_gco2_per_kwh=limit,
        poll_interval_seconds=poll,
        duration=duration,
        replan_interval=replan,
        power_kw=power,
    )


spec_strings = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda kind, pairs: f"{kind}:" + ",".join(pairs),
        st.sampled_from([*provider_kinds(), "", "nosuch"]),
        st.lists(st.from_regex(r"[a-z_]{0,12}=?[^,]{0,12}", fullmatch=True), max_size=4),
    ),
    st.builds(json.dumps, json_values),
)
spec_dicts = st.builds(
    lambda kind, options: {"kind": kind, **options},
    st.sampled_from([*provider_kinds(), "nosuch"]),
    st.dictionaries(
        st.sampled_from(
            [
                "region",
                "api_key",
                "zone",
                "speedup",
                "anchor",
                "anchor_hour",
                "path",
                "base_url",
                "timeout",
                "retry",
                "sources",
                "amplitude",
                "base_intensity",
                "resolution",
                "signal_type",
                "username",
                "password",
                "postcode",
                "location",
                "replay",
                "lat",
                "lon",
            ]
        ),
        st.one_of(anything_scalar, json_values),
        max_size=4,
    ),
)


@FUZZ
@given(st.one_of(spec_strings, spec_dicts, json_values))
def test_provider_spec_parse_and_build_for_every_kind(value):
    spec = accepts_or_refuses(ProviderSpec.parse, value)
    if spec is not None:
        assert "Secret" not in repr(spec) or "**********" in repr(spec)
        provider = accepts_or_refuses(build_provider, spec)
        if provider is not None:
            repr(provider)


@FUZZ
@given(
    anything_scalar,
    anything_scalar,
    anything_scalar,
    st.one_of(durations, st.none()),
    anything_scalar,
    st.one_of(st.none(), datetimes, st.text(max_size=30)),
    st.one_of(st.none(), anything_scalar),
)
def test_mock_provider(region, base, amplitude, resolution, speedup, anchor, anchor_hour):
    kwargs = {
        "region": region,
        "base_intensity": base,
        "amplitude": amplitude,
        "speedup": speedup,
        "anchor": anchor,
        "anchor_hour": anchor_hour,
    }
    if resolution is not None:
        kwargs["resolution"] = resolution
    provider = accepts_or_refuses(MockProvider, **kwargs)
    if provider is not None:
        accepts_or_refuses(asyncio.run, provider.forecast(NOW, NOW + timedelta(hours=6)))


file_texts = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda rows: "time,intensity\n" + "\n".join(f"{a},{b}" for a, b in rows),
        st.lists(
            st.tuples(
                st.one_of(
                    st.sampled_from(
                        [
                            "2026-03-02T00:00Z",
                            "2026-03-02T01:00:00+00:00",
                            "2026-03-02 02:00",
                            "x",
                            "",
                        ]
                    ),
                    st.datetimes().map(lambda d: d.isoformat()),
                ),
                st.one_of(st.floats(), st.integers(), st.text(max_size=5)),
            ),
            max_size=8,
        ),
    ),
    st.builds(json.dumps, json_values),
)


@FUZZ
@given(file_texts, st.sampled_from([".csv", ".json", ".txt"]), st.booleans(), st.booleans())
def test_file_provider_on_random_contents(tmp_path, text, suffix, repair, replay):
    path = tmp_path / f"grid{suffix}"
    path.write_text(text)
    provider = accepts_or_refuses(FileProvider, path, repair=repair, replay=replay)
    if provider is not None:
        accepts_or_refuses(asyncio.run, provider.forecast(NOW, NOW + timedelta(hours=6)))
        accepts_or_refuses(asyncio.run, provider.history(NOW - timedelta(days=1), NOW))


def test_file_provider_on_random_bytes(tmp_path):
    path = tmp_path / "grid.csv"
    path.write_bytes(bytes(range(256)) * 3)
    accepts_or_refuses(FileProvider, path)


points = st.builds(
    IntensityPoint,
    st.datetimes(
        min_value=datetime(2020, 1, 1),
        max_value=datetime(2030, 1, 1),
        timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=2))]),
    ),
    st.timedeltas(min_value=timedelta(seconds=-60), max_value=timedelta(hours=3)),
    st.floats(min_value=-10, max_value=3000) | st.floats(),
)


@FUZZ
@given(st.lists(points, max_size=12), st.booleans())
def test_intensity_series_from_points(pts, repair):
    series = accepts_or_refuses(
        IntensitySeries.from_points,
        pts,
        signal="average/lifecycle",
        provider="p",
        region="r",
        repair=repair,
    )
    if series is not None and len(series):
        assert all(math.isfinite(v) and v >= 0 for v in series.values)
        assert list(series.starts) == sorted(series.starts)


def test_intensity_series_refuses_non_points():
    for junk in ([None], [1, 2], ["x"], [{"start": NOW}]):
        accepts_or_refuses(
            IntensitySeries.from_points, junk, signal="average/lifecycle", provider="p", region="r"
        )


# ------------------------------------------------------------------------------ the CLI
FLAGS = [
    "--provider",
    "--duration",
    "--max-delay",
    "--finish-by",
    "--policy",
    "--max-intensity",
    "--min-savings-pct",
    "--on-provider-error",
    "--region",
    "--json",
    "--now",
    "--release",
    "--noise",
    "--seeds",
    "--repair",
    "--help",
    "--chart",
    "--window",
    "--api-key",
]
cli_values = st.one_of(
    st.text(max_size=15),
    st.sampled_from(
        [
            "mock",
            "nosuch",
            "file:path=/nonexistent.csv",
            "2h",
            "-3",
            "nan",
            "1e400",
            "threshold",
            "now_or_never",
            "2026-03-02T00:00",
            "2026-03-02T00:00Z",
            "0",
            "{",
        ]
    ),
)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["schedule", "forecast", "check", "backtest", "providers", "nosuch", ""]),
    st.lists(st.one_of(st.sampled_from(FLAGS), cli_values), max_size=6),
)
def test_cli_random_argv_never_tracebacks(command, rest):
    argv = ([command] if command else []) + rest
    if command == "backtest" and rest:
        argv[1:2] = ["/nonexistent/grid.csv"]  # the file argument
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(argv)
    assert code in (0, 1, 2), (argv, code, err.getvalue())
    errors = err.getvalue()
    assert "Traceback" not in errors and "Traceback" not in out.getvalue()
    if code == 2 and argv:  # (no arguments at all: the help, exit 2, as click does)
        lines = [line for line in errors.splitlines() if line.startswith("cleanshift: error:")]
        assert len(lines) == 1, (argv, errors)


# ------------------------------------------------------------------------------ provider parsers
SAMPLES = Path(__file__).parent / "providers" / "samples"
#: kind → (options, the calls to make); every call goes through the provider's parsers.
PARSED = {
    "electricitymaps": {"region": "DE", "api_key": "k"},
    "watttime": {"region": "CAISO_NORTH", "username": "u", "password": "p"},
    "ukci": {},
    "casdk": {"region": "eastus", "base_url": "http://casdk.test"},
    "energidataservice": {"region": "DK1"},
}


def body_mutations(sample: object) -> st.SearchStrategy:
    """A real sample with one leaf or branch replaced by random JSON."""

    def mutate(data, path_choices, replacement):
        node = data
        for choice in path_choices[:-1]:
            if isinstance(node, dict) and node:
                node = node[sorted(node)[choice % len(node)]]
            elif isinstance(node, list) and node:
                node = node[choice % len(node)]
            else:
                break
        if isinstance(node, dict) and node:
            node[sorted(node)[path_choices[-1] % len(node)]] = replacement
        elif isinstance(node, list) and node:
            node[path_choices[-1] % len(node)] = replacement
        return data

    return st.builds(
        lambda choices, replacement: mutate(json.loads(json.dumps(sample)), choices, replacement),
        st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=5),
        json_values,
    )


def sample_for(kind: str) -> object:
    name = {
        "electricitymaps": "electricitymaps_forecast.json",
        "watttime": "watttime_forecast.json",
        "ukci": "ukci_intensity_fw48h.json",
        "casdk": "casdk_emissions_forecasts_current.json",
        "energidataservice": "energidataservice_co2emisprog.json",
    }[kind]
    return json.loads((SAMPLES / name).read_text())


@pytest.mark.parametrize("kind", sorted(PARSED))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_provider_parsers_only_raise_typed_errors(kind, data):
    body = data.draw(st.one_of(json_values, body_mutations(sample_for(kind))), label="body")
    status = data.draw(st.sampled_from([200, 200, 200, 400, 401, 403, 404, 422]), label="status")
    provider = build_provider({"kind": kind, **PARSED[kind]})
    inner = getattr(provider, "_http", None)
    if inner is not None:
        inner.retry = RetryPolicy(attempts=1)
    with respx.mock(assert_all_called=False) as mock:
        if kind == "watttime":
            mock.get(url__regex=r".*/login$").respond(json={"token": "t"})
        mock.route().mock(return_value=httpx.Response(status, json=body))
        for call in (
            lambda: provider.forecast(NOW, NOW + timedelta(hours=6)),
            lambda: provider.history(NOW - timedelta(hours=6), NOW),
            provider.current,
        ):
            try:
                asyncio.run(call())
            except NotImplementedError:
                pass
            except CleanshiftError as exc:
                one_line_typed(exc)
