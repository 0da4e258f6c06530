"""The ``cleanshift`` CLI: every command, its output contract and its error paths.

In-process runs go through :func:`cleanshift_core.cli.run` (the console script's own code
path, so the one-line errors are what users see); ``wait`` runs as a real subprocess on a
time-compressed replay (one point per second), so its waits are a few seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cleanshift_core import CarbonReceipt, Plan
from cleanshift_core.backtest import JobPattern, backtest, policy_rule, run_immediately
from cleanshift_core.cli import run
from cleanshift_core.providers import read_series_file

NOW = "2026-03-02T12:00:00Z"


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_csv(path: Path, values: list[float], start: datetime, minutes: int = 60) -> Path:
    rows = ["Time,Carbon Intensity"]
    rows += [
        f"{(start + timedelta(minutes=minutes * i)).strftime('%Y-%m-%d %H:%M:%S')},{v}"
        for i, v in enumerate(values)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def assert_one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2
    assert "Traceback" not in out + err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("cleanshift: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


# ---------------------------------------------------------------------------- schedule
def test_schedule_prints_the_seed_lines_and_the_trough(capsys):
    code, out, _ = cli(
        capsys, "schedule", "--duration", "1h", "--max-delay", "24h", "--now", NOW, "--dry-run"
    )
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("Recommended start : "))
    start = datetime.fromisoformat(line.split(" : ", 1)[1])
    # The mock's trough is 03:00 UTC; its hourly point starting then is the cleanest hour.
    assert start == datetime(2026, 3, 3, 3, tzinfo=timezone.utc)
    assert "Provider : mock" in out and "Region   : MOCK" in out
    assert "Delay             : 15h from now" in out


def test_schedule_json_is_a_plan(capsys):
    code, out, _ = cli(
        capsys,
        "schedule",
        "--json",
        "--duration",
        "2h",
        "--max-delay",
        "12h",
        "--now",
        NOW,
        "--region",
        "X",
    )
    assert code == 0
    plan = Plan.model_validate_json(out)
    assert plan.region == "X"
    # The curve falls all evening, so the deadline (00:00) is the best a 2 h job can do.
    assert plan.start == plan.latest_start == datetime(2026, 3, 3, 0, tzinfo=timezone.utc)
    assert plan.expected_intensity == pytest.approx((194.03 + 170.10) / 2, abs=0.05)


def test_schedule_finish_by_and_policy_flags(capsys):
    code, out, _ = cli(
        capsys,
        "schedule",
        "--json",
        "--now",
        NOW,
        "--duration",
        "1h",
        "--finish-by",
        "2026-03-02T18:00:00+00:00",
        "--policy",
        "threshold",
        "--max-intensity",
        "420",
    )
    assert code == 0
    plan = Plan.model_validate_json(out)
    assert plan.policy == "threshold"
    assert plan.latest_start == datetime(2026, 3, 2, 17, tzinfo=timezone.utc)
    assert plan.expected_intensity <= 420


def test_now_or_never_on_a_dirty_grid_is_a_skip_exit_1(capsys):
    args = ["--policy", "now_or_never", "--max-intensity", "200", "--now", NOW]
    code, out, err = cli(capsys, "schedule", *args)
    assert code == 1 and out == ""
    assert err.startswith("skipped:") and "Traceback" not in err
    assert cli(capsys, "schedule", *args[:3], "500", *args[4:])[0] == 0


def test_schedule_min_savings_guard_runs_now(capsys):
    code, out, _ = cli(
        capsys,
        "schedule",
        "--json",
        "--now",
        "2026-03-02T02:00:00Z",
        "--max-delay",
        "3h",
        "--min-savings-pct",
        "50",
    )
    plan = Plan.model_validate_json(out)
    assert code == 0 and plan.start == plan.earliest_start and "min_savings_pct" in plan.reason


def test_schedule_file_provider_on_a_past_file(capsys, tmp_path):
    f = write_csv(
        tmp_path / "grid.csv", [300, 250, 90, 95, 280, 300, 310, 320], datetime(2020, 6, 1)
    )
    code, out, _ = cli(
        capsys,
        "schedule",
        "--provider",
        "file",
        "--path",
        str(f),
        "--duration",
        "2h",
        "--max-delay",
        "5h",
        "--now",
        "2020-06-01T00:00:00Z",
    )
    assert code == 0
    assert "Recommended start : 2020-06-01T02:00:00+00:00" in out


def test_schedule_replayed_file_behaves_like_a_live_forecast(capsys, tmp_path):
    f = write_csv(tmp_path / "grid.csv", [300.0] * 24 + [300.0] * 24, datetime(2020, 6, 1))
    code, out, _ = cli(
        capsys,
        "schedule",
        "--provider",
        "file",
        "--path",
        str(f),
        "--replay",
        "--duration",
        "1h",
        "--max-delay",
        "2h",
    )
    assert code == 0 and "Recommended start : " in out and "Delay             : now" in out


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["schedule", "--duration", "2x"], ["duration='2x' is not a duration"]),
        (["schedule", "--max-delay", "-1h"], ["max_delay"]),
        (["schedule", "--provider", "nope"], ["unknown provider 'nope'", "mock", "file"]),
        (["schedule", "--provider", "file"], ["--provider file needs --path"]),
        (["schedule", "--provider", "file", "--path", "/nonexistent/x.csv"], ["does not exist"]),
        (["schedule", "--finish-by", "2026-03-02T18:00"], ["no UTC offset"]),
        (["schedule", "--finish-by", "tomorrow"], ["not an ISO time"]),
        (["schedule", "--policy", "threshold"], ["needs max_intensity"]),
        (["schedule", "--policy", "greenest"], ["greenest"]),
        (["schedule", "--bogus"], ["--bogus"]),
        (["schedule", "--now", "2026-03-02"], ["no UTC offset"]),
        (["schedule", "-o", "amplitude"], ["KEY=VALUE"]),
        (["schedule", "-o", "amplitude=900"], ["amplitude"]),
        (["check"], ["--max-intensity"]),
        (["check", "--max-intensity", "-5"], ["positive"]),
        (["backtest", "/nonexistent.csv"], ["does not exist"]),
        (["nosuchcommand"], ["nosuchcommand"]),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, args, fragments):
    assert_one_line_error(*cli(capsys, *args), *fragments)


def test_the_seed_provider_name_still_works(capsys):
    code, out, err = cli(capsys, "schedule", "--provider", "electricitymap", "--region", "DE")
    # Resolved to electricitymaps, whose own validation asks for the key (no network needed).
    assert_one_line_error(code, out, err, "electricitymaps", "api_key")
    assert "unknown provider" not in err


def test_secrets_never_echo(capsys):
    canary = "CANARY-s3cr3t-7f1e"
    runs = [
        ["schedule", "--provider", "mock", "--api-key", canary],
        [
            "schedule",
            "--provider",
            "electricitymaps",
            "--api-key",
            canary,
            "--region",
            "DE",
            "-o",
            "base_url=notaurl",
        ],
        [
            "check",
            "--max-intensity",
            "100",
            "--provider",
            "watttime",
            "--username",
            "u",
            "--password",
            canary,
            "-o",
            "timeout=-1",
        ],
        ["schedule", "--provider", "mock", "-o", f"password={canary}"],
    ]
    for args in runs:
        code, out, err = cli(capsys, *args)
        assert code == 2
        assert canary not in out + err


def test_credentials_from_the_environment_reach_only_their_provider(capsys, monkeypatch):
    canary = "CANARY-env-91ab"
    monkeypatch.setenv("CLEANSHIFT_ELECTRICITYMAPS_API_KEY", canary)
    # Another provider ignores it (the mock takes no key and would refuse one)...
    assert cli(capsys, "schedule", "--now", NOW)[0] == 0
    # ...while electricitymaps gets it: no "needs api_key" error, a bad base_url one instead.
    code, out, err = cli(
        capsys,
        "schedule",
        "--provider",
        "electricitymaps",
        "--region",
        "DE",
        "-o",
        "base_url=notaurl",
    )
    assert code == 2 and "api_key" not in err and canary not in out + err


def test_help_lists_the_commands(capsys):
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    for command in ("schedule", "forecast", "wait", "check", "backtest"):
        assert command in out


# ---------------------------------------------------------------------------- forecast
def test_forecast_table_marks_the_window(capsys):
    code, out, _ = cli(
        capsys, "forecast", "--now", NOW, "--duration", "3h", "--max-delay", "24h", "--no-chart"
    )
    assert code == 0
    marked = [line for line in out.splitlines() if "◀ window" in line]
    assert len(marked) == 3
    assert all("2026-03-03T0" in line for line in marked)
    assert "Chosen window: 2026-03-03T02:00:00+00:00" in out


def test_forecast_draws_a_chart_with_the_window(capsys):
    code, out, _ = cli(
        capsys,
        "forecast",
        "--now",
        NOW,
        "--duration",
        "2h",
        "--max-delay",
        "20h",
        "--width",
        "60",
        "--height",
        "14",
    )
    assert code == 0
    assert "chosen window" in out and "hours from now" in out
    assert "█" in out  # the window's solid line


def test_forecast_refuses_a_dead_provider_instead_of_charting_nothing(capsys, tmp_path):
    f = write_csv(tmp_path / "old.csv", [100, 200, 300], datetime(2020, 1, 1))
    assert_one_line_error(
        *cli(capsys, "forecast", "--provider", "file", "--path", str(f)), "no data"
    )


# ---------------------------------------------------------------------------- check
@pytest.mark.parametrize(
    "now, limit, duration, expected",
    [
        ("2026-03-02T03:00:00Z", "200", None, 0),  # trough: 150
        ("2026-03-02T03:00:00Z", "149", None, 1),
        ("2026-03-02T15:00:00Z", "449", None, 1),  # peak: 450
        ("2026-03-02T15:00:00Z", "450", None, 0),  # at the limit passes
        ("2026-03-02T03:00:00Z", "150", "2h", 1),  # 03:00-05:00 averages above the trough
        ("2026-03-02T02:00:00Z", "160", "3h", 0),  # 02:00-05:00: (155 + 150 + 155) / 3
    ],
)
def test_check_exit_codes(capsys, now, limit, duration, expected):
    args = ["check", "--max-intensity", limit, "--now", now] + (
        ["--duration", duration] if duration else []
    )
    code, out, _ = cli(capsys, *args)
    assert code == expected
    assert out.startswith("clean: " if expected == 0 else "dirty: ")


def test_check_on_the_live_clock_reads_the_current_intensity(capsys):
    # The mock stays within 150-450 gCO2eq/kWh, so these hold at any time of day.
    assert cli(capsys, "check", "--max-intensity", "1000")[0] == 0
    assert cli(capsys, "check", "--max-intensity", "100")[0] == 1


def test_check_without_data_is_an_error_not_a_pass(capsys, tmp_path):
    f = write_csv(tmp_path / "old.csv", [100, 200, 300], datetime(2020, 1, 1))
    assert_one_line_error(
        *cli(capsys, "check", "--max-intensity", "500", "--provider", "file", "--path", str(f)),
        "old.csv",
    )


# ---------------------------------------------------------------------------- backtest
def grid_csv(tmp_path: Path) -> Path:
    day = [300.0] * 3 + [90.0] * 2 + [260.0] * 10 + [400.0] * 5 + [310.0] * 4
    return write_csv(
        tmp_path / "grid.csv", [v + (i % 5) for i, v in enumerate(day * 8)], datetime(2020, 6, 1)
    )


def test_backtest_json_matches_the_engine(capsys, tmp_path):
    f = grid_csv(tmp_path)
    code, out, _ = cli(
        capsys,
        "backtest",
        str(f),
        "--release",
        "01:00",
        "--duration",
        "2h",
        "--window",
        "6h",
        "--json",
    )
    assert code == 0
    summary = json.loads(out)
    truth = read_series_file(f)
    pattern = JobPattern.create("01:00", "2h", "6h")
    expected = backtest(truth, pattern, policy_rule())
    assert summary["jobs"] == expected.jobs == 8
    assert summary["saved_pct"] == pytest.approx(expected.saved_pct)
    assert summary["optimal_saved_pct"] == pytest.approx(expected.optimal_saved_pct)
    assert summary["captured_of_optimum"] == pytest.approx(1.0)
    assert summary["mean_intensity_immediate"] == pytest.approx(
        backtest(truth, pattern, run_immediately).mean_actual
    )


def test_backtest_with_noise_averages_seeds(capsys, tmp_path):
    f = grid_csv(tmp_path)
    code, out, _ = cli(
        capsys,
        "backtest",
        str(f),
        "--duration",
        "1h",
        "--max-delay",
        "8h",
        "--noise",
        "0.3",
        "--seeds",
        "4",
        "--json",
    )
    summary = json.loads(out)
    assert code == 0 and summary["seeds"] == 4
    assert summary["saved_pct"] <= summary["optimal_saved_pct"] + 1e-9


def test_backtest_table(capsys, tmp_path):
    code, out, _ = cli(
        capsys, "backtest", str(grid_csv(tmp_path)), "--duration", "2h", "--window", "4h"
    )
    assert code == 0
    for row in ("run at release", "min_carbon", "perfect forecast", "perfect foresight", "100%"):
        assert row in out


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--release", "24:00"], "HH:MM"),
        (["--policy", "halt_if_dirty", "--max-intensity", "100"], "does not model"),
        (["--window", "30d"], "no whole day"),
        (["--noise", "-1"], "fraction"),
    ],
)
def test_backtest_errors(capsys, tmp_path, extra, fragment):
    assert_one_line_error(*cli(capsys, "backtest", str(grid_csv(tmp_path)), *extra), fragment)


def test_backtest_reports_a_bad_file_by_row(capsys, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("Time,Carbon Intensity\n2020-01-01 00:00:00,100\n2020-01-01 01:00:00,lots\n")
    assert_one_line_error(*cli(capsys, "backtest", str(f)), "row 2")


# ---------------------------------------------------------------------------- wait (subprocess)
def _interruptible() -> None:
    # A shell without job control starts background commands with SIGINT ignored, and that
    # disposition is inherited: give the CLI the default Ctrl-C, as a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cleanshift(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cleanshift_core.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,  # noqa: PLW1509 -- one signal() call; no threads fork here
        **kwargs,
    )


def replay_args(csv: Path) -> list[str]:
    # One file hour per real second.
    return ["--provider", "file", "--path", str(csv), "--replay", "--speedup", "3600"]


def test_wait_runs_the_command_in_the_window_and_passes_its_exit_code(tmp_path):
    csv = write_csv(
        tmp_path / "g.csv", [300, 300, 300, 100, 100, 300, 300, 300, 300, 300], datetime(2020, 6, 1)
    )
    receipt_file = tmp_path / "receipt.json"
    proc = cleanshift(
        "wait",
        *replay_args(csv),
        "--duration",
        "1s",
        "--max-delay",
        "5s",
        "--power-kw",
        "2",
        "--receipt",
        str(receipt_file),
        "--",
        sys.executable,
        "-c",
        "import sys; print('job ran'); sys.exit(3)",
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "job ran" in out
    assert "carbon receipt" in err and "Traceback" not in err
    receipt = CarbonReceipt.model_validate_json(receipt_file.read_text())
    assert receipt.delay_seconds >= 2.9  # the valley starts 3 file-hours = 3 s after the replay
    assert receipt.ran_at >= receipt.planned_start
    assert receipt.avg_intensity_gco2_per_kwh == pytest.approx(100.0)
    assert receipt.counterfactual_avg_intensity == pytest.approx(300.0)
    assert receipt.intensity_basis.value == "measured"
    assert receipt.emitted_g == pytest.approx(2 * receipt.duration_seconds / 3600 * 100.0)


def test_wait_halt_if_dirty_pauses_the_command_while_dirty(tmp_path):
    csv = write_csv(
        tmp_path / "g.csv", [100, 500, 500, 100, 100, 100, 100, 100, 100, 100], datetime(2020, 6, 1)
    )
    receipt_file = tmp_path / "receipt.json"
    # About 1.6 s of work in 0.1 s steps: more than the first clean second can hold.
    work = "import time\nfor _ in range(16): time.sleep(0.1)\nprint('done')"
    proc = cleanshift(
        "wait",
        *replay_args(csv),
        "--policy",
        "halt_if_dirty",
        "--max-intensity",
        "200",
        "--poll-interval",
        "0.1",
        "--duration",
        "2s",
        "--receipt",
        str(receipt_file),
        "--",
        sys.executable,
        "-c",
        work,
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "done" in out
    receipt = CarbonReceipt.model_validate_json(receipt_file.read_text())
    assert len(receipt.run_intervals) >= 2  # paused at least once, then resumed
    assert receipt.policy == "halt_if_dirty"
    gap = receipt.run_intervals[1][0] - receipt.run_intervals[0][1]
    assert gap > timedelta(seconds=1)  # stayed frozen through the dirty stretch


def test_ctrl_c_while_waiting_cancels_cleanly(tmp_path):
    csv = write_csv(tmp_path / "g.csv", [300] * 30 + [100] * 5 + [300] * 10, datetime(2020, 6, 1))
    marker = tmp_path / "ran"
    proc = cleanshift(
        "wait",
        *replay_args(csv),
        "--duration",
        "1s",
        "--max-delay",
        "40s",
        "--",
        sys.executable,
        "-c",
        f"open({str(marker)!r}, 'w').close()",
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # no fixed sleep: wait until it says it is waiting
        seen.append(line)
        if line.startswith("Waiting until"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    err = "".join(seen) + err
    assert proc.returncode == 130, err
    assert "cancelled" in err and "Traceback" not in err
    assert not marker.exists()


def test_ctrl_c_while_the_command_runs_stops_it_too(tmp_path):
    pid_file = tmp_path / "pid"
    job = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    proc = cleanshift("wait", "--max-delay", "0s", "--", sys.executable, "-c", job)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("Running:"):
            break
    while not pid_file.exists() or not pid_file.read_text():
        # the child is starting; poll the file it writes, not the clock
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)  # to cleanshift only, as a supervisor would send it
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, "".join(seen) + err
    assert "Traceback" not in err
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_wait_without_a_command_or_with_a_missing_one(capsys):
    assert_one_line_error(*cli(capsys, "wait", "--max-delay", "0s"), "command")
    code, out, err = cli(capsys, "wait", "--max-delay", "0s", "--", "/nonexistent/job.sh")
    assert_one_line_error(code, out, err, "cannot run")


def test_wait_runs_now_when_the_window_is_open(capsys, tmp_path):
    flag = tmp_path / "flag"
    code, _, err = cli(
        capsys,
        "wait",
        "--max-delay",
        "0s",
        "--duration",
        "1s",
        "--",
        sys.executable,
        "-c",
        f"open({str(flag)!r}, 'w').close()",
    )
    assert code == 0 and flag.exists()
    assert "carbon receipt" in err and "Waiting" not in err


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="POSIX signals")
def test_wait_reports_a_killed_command_as_128_plus_signal(capsys):
    code, _, _ = cli(
        capsys,
        "wait",
        "--max-delay",
        "0s",
        "--",
        sys.executable,
        "-c",
        "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
    )
    assert code == 128 + signal.SIGTERM
