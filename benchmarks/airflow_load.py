"""A thousand carbon-window sensors waiting at once on one triggerer, on a real Airflow.

Starts api-server, scheduler, triggerer and dag-processor on 127.0.0.1 (LocalExecutor; the
stack of ``tests/airflow/stack.py``) on SQLite or on a throwaway PostgreSQL, and a fake UK
Carbon Intensity API on 127.0.0.1 that counts requests. The sensors use the real ``ukci``
provider pointed at it with ``base_url`` (the real HTTP client, cache and planner), half of
them for GB national and half for NESO region 13: two distinct provider/region pairs.

For each mode (``defer``: plan on a worker, then defer; ``start_from_trigger``: straight into
the triggerer, resumed on a worker when the window opens; ``end_from_trigger``: straight into
the triggerer and ended there, no worker at all) it

1. serves a 20-second-resolution forecast whose only dip is 50 minutes away, triggers the DAG
   runs and waits until every sensor is deferred (all plan for that far dip);
2. measures the triggerer's memory (PSS and RSS of its process tree) against its idle
   baseline, and samples running/queued task instances for the rest of the wait;
3. moves a deep dip to ~90 s after the next 5-minute forecast-cache refresh: the triggers
   re-plan on the refreshed forecast (``replan_interval=60s``) and all fire at the new start;
4. reads from the metadata database when each trigger's event was handed over
   (``scheduled_dttm``; ``end_date`` for sensors the trigger ended) and the start its plan
   carried, counts provider requests per (process, region, refresh bucket), and watches
   workers resume the sensors for a bounded window.

Every wait is bounded in time; every process (and the database) is stopped at the end.

    .venvs/airflow/bin/python benchmarks/airflow_load.py --database postgres --log-level WARNING
    .venvs/airflow/bin/python benchmarks/airflow_load.py --sensors 200 --modes defer --append
    .venvs/airflow/bin/python benchmarks/airflow_load.py --database postgres --modes end_from_trigger
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "airflow"))
from fake_ukci import FakeUKCI, stamp
from stack import Api, Stack, free_port, running_stack, wait_for

RESULTS = ROOT / "benchmarks" / "results"
STEP = 20  # seconds per forecast point
REFRESH = 300  # the shared forecast cache's refresh (cleanshift_core.providers.cache.DEFAULT_TTL)
REGIONS = ("GB", "GB-13")
SCHEDULER_SETTINGS = {
    "AIRFLOW__CORE__PARALLELISM": "8",  # executor slots (LocalExecutor worker processes)
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "1000",
    "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "256",
    "AIRFLOW__SCHEDULER__MAX_DAGRUNS_PER_LOOP_TO_SCHEDULE": "64",
    "AIRFLOW__TRIGGERER__CAPACITY": "1000",  # the default: one triggerer holds them all
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",  # parse once, not under load
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    "AIRFLOW__CORE__DAG_FILE_PROCESSOR_TIMEOUT": "600",
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",
    "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": "1000",
}

DAG_FILE = """
from datetime import datetime, timezone

from airflow.sdk import DAG

from cleanshift_airflow.sensors import CarbonWindowSensor

PROVIDERS = [
    {{"kind": "ukci", "base_url": "{url}"}},
    {{"kind": "ukci", "region": 13, "base_url": "{url}"}},
]
for d in range({dags}):
    with DAG(
        f"cleanshift_load_{{d:03d}}",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        max_active_tasks=1000,
    ) as dag:
        for k in range({per_dag}):
            CarbonWindowSensor(
                task_id=f"wait_{{k:03d}}",
                provider=PROVIDERS[(d * {per_dag} + k) % 2],
                duration="20s",
                max_delay="60m",
                replan_interval="60s",
                start_from_trigger={start_from_trigger},
                end_from_trigger={end_from_trigger},
            )
    globals()[dag.dag_id] = dag
"""


class TriggererPeers:
    """Tells the fake API which requests came from the triggerer (by the peer's socket)."""

    def __init__(self) -> None:
        self.pids: set[int] = set()

    def __call__(self, peer_port: int) -> str:
        for pid in list(self.pids):
            try:
                conns = psutil.Process(pid).net_connections(kind="tcp")
            except psutil.Error:
                continue
            if any(c.laddr and c.laddr.port == peer_port for c in conns):
                return "triggerer"
        return "worker"


# ------------------------------------------------------------------ measurements
def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def memory_mib(pid: int) -> dict[str, float]:
    """PSS and RSS of a process tree, MiB (PSS shares common pages fairly between processes)."""
    pss = rss = 0
    for proc in tree(pid):
        try:
            info = proc.memory_full_info()
        except psutil.Error:
            continue
        pss += info.pss
        rss += info.rss
    return {"pss": pss / 2**20, "rss": rss / 2**20}


def count_states(api: Api) -> Counter:
    counts: Counter = Counter()
    for state in (
        "deferred",
        "running",
        "queued",
        "scheduled",
        "success",
        "failed",
        "up_for_retry",
    ):
        page = api.http.get(
            "/api/v2/dags/~/dagRuns/~/taskInstances", params={"state": state, "limit": 1}
        )
        page.raise_for_status()
        counts[state] = page.json()["total_entries"]
    return counts


def utc(value: Any) -> datetime:
    stamp_ = (
        value
        if isinstance(value, datetime)
        else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    return stamp_ if stamp_.tzinfo else stamp_.replace(tzinfo=timezone.utc)


def as_json(value: Any) -> Any:
    """Decode JSON text, also JSON text stored inside JSON (XComs a TaskSuccessEvent pushed),
    down to a value that is not JSON text (a plain string such as an ISO instant stays)."""
    while isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return value


def fired_sensors(db_url: str, ended_in_trigger: bool) -> list[dict[str, Any]]:
    """Per fired sensor: when its trigger's event reached the database (the triggerer sets
    ``scheduled_dttm`` as it hands the event over; a sensor the trigger ended gets its
    ``end_date`` then instead) and the planned start the event carried (``next_kwargs`` until
    a worker resumes the task, then its ``cleanshift_plan`` XCom). For ended sensors also the
    instant the trigger yielded (its ``cleanshift_released_at`` XCom, the triggerer's own
    clock), which splits lateness into the trigger's and the hand-over's.
    Read from the metadata database: the triggerer's per-task log files cannot replace it,
    under load they lose their last lines."""
    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as db:
            xcoms = {
                (dag_id, task_id, key): as_json(value)
                for dag_id, task_id, key, value in db.execute(
                    sqlalchemy.text(
                        "SELECT dag_id, task_id, key, value FROM xcom "
                        "WHERE key IN ('cleanshift_plan', 'cleanshift_released_at')"
                    )
                )
            }
            rows = db.execute(
                sqlalchemy.text(
                    "SELECT dag_id, task_id, state, scheduled_dttm, next_kwargs, end_date, try_number "
                    "FROM task_instance WHERE state != 'deferred'"
                )
            ).fetchall()
    finally:
        engine.dispose()
    out = []
    for dag_id, task_id, state, fired, next_kwargs, ended, tries in rows:
        event = (as_json(next_kwargs) or {}).get("event") if next_kwargs else None
        plan = event["plan"] if event else xcoms.get((dag_id, task_id, "cleanshift_plan"))
        released = xcoms.get((dag_id, task_id, "cleanshift_released_at"))
        if ended_in_trigger:
            fired = ended if state == "success" else None
        if plan is None or fired is None:
            continue
        out.append(
            {
                "fired": utc(fired),
                "yielded": utc(released) if ended_in_trigger and released else None,
                "start": utc(plan["start"]),
                "ended": utc(ended) if ended and state == "success" else None,
                "tries": tries,
                "region": plan.get("region"),
            }
        )
    return out


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q):
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    return {
        "min": ordered[0],
        "p50": pick(0.5),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


# ------------------------------------------------------------------ one mode
@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL on 127.0.0.1 for the metadata database, run as the ``postgres``
    user (the server refuses root), removed afterwards. Needs the server binaries (Debian's
    ``postgresql``) and the drivers (see ``ensure_postgres_drivers``)."""
    data = Path(tempfile.mkdtemp(prefix="cleanshift-pg-"))
    shutil.chown(data, "postgres")
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]

    def run(*cmd):
        return subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    try:
        run(*as_pg, "initdb", "-D", str(data / "db"), "-U", "airflow", "--auth=trust")
        run(
            *as_pg,
            "pg_ctl",
            "-D",
            str(data / "db"),
            "-l",
            str(data / "server.log"),
            "-w",
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=300",
            "start",
        )
        try:
            run(
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "airflow",
                "-d",
                "postgres",
                "-c",
                "CREATE DATABASE airflow",
            )
            yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"
        finally:
            subprocess.run(
                [*as_pg, "pg_ctl", "-D", str(data / "db"), "-m", "fast", "-w", "stop"],
                check=False,  # best-effort stop of a scratch database
                capture_output=True,
                timeout=120,
            )
    finally:
        shutil.rmtree(data, ignore_errors=True)


def ensure_postgres_drivers(workdir: Path) -> str | None:
    """Make ``psycopg2`` and ``asyncpg`` (Airflow 3 uses both) importable here and in the
    stack without touching the venv: they are not project dependencies, so they go into a
    scratch directory on PYTHONPATH. Returns that directory (None if both are there)."""
    target = workdir / "pydeps"
    if target.exists():  # installed for an earlier mode of this run
        return str(target)
    try:
        import asyncpg  # noqa: F401
        import psycopg2  # noqa: F401
    except ImportError:
        # The project's venvs are made by uv and have no pip; bootstrap.sh puts uv on PATH or,
        # when it had to install it, into .venvs/tools.
        uv = shutil.which("uv") or str(ROOT / ".venvs" / "tools" / "bin" / "uv")
        installer = (
            [uv, "pip", "install", "--python", sys.executable]
            if Path(uv).exists()
            else [sys.executable, "-m", "pip", "install"]
        )
        subprocess.run(
            [*installer, "-q", "--target", str(target), "psycopg2-binary", "asyncpg"],
            check=True,
            timeout=300,
        )
        sys.path.insert(0, str(target))
        return str(target)
    return None


def run_mode(
    mode: str,
    sensors: int,
    per_dag: int,
    workdir: Path,
    database: str,
    resume_window: float,
    log_level: str | None,
) -> dict[str, Any]:
    dags = math.ceil(sensors / per_dag)
    sensors = dags * per_dag
    started = time.monotonic()
    out: dict[str, Any] = {
        "mode": mode,
        "database": database,
        "sensors": sensors,
        "dags": dags,
        "per_dag": per_dag,
        "log_level": log_level or "INFO (default)",
    }
    peers = TriggererPeers()
    with contextlib.ExitStack() as cleanup:
        env = dict(SCHEDULER_SETTINGS)
        if log_level:
            env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = log_level
        if database == "postgres":
            pydeps = ensure_postgres_drivers(workdir)
            if pydeps:
                env["PYTHONPATH"] = os.pathsep.join(
                    filter(None, [pydeps, os.environ.get("PYTHONPATH")])
                )
            db_url = cleanup.enter_context(postgres())
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = db_url
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE"] = "5"
        fake = cleanup.enter_context(FakeUKCI(step=STEP, classify=peers))
        far = int(time.time()) + 50 * 60
        far -= far % STEP
        for region in REGIONS:
            fake.set_dip(region, far, 250.0)
        source = DAG_FILE.format(
            url=fake.url,
            dags=dags,
            per_dag=per_dag,
            start_from_trigger=mode in ("start_from_trigger", "end_from_trigger"),
            end_from_trigger=mode == "end_from_trigger",
        )
        stack = cleanup.enter_context(
            running_stack({"cleanshift_load.py": source}, env=env, parent=str(workdir))
        )
        if database == "sqlite":
            db_url = f"sqlite:///{stack.home / 'airflow.db'}"
        out.update(
            measure(
                stack, fake, peers, sensors, dags, db_url, resume_window, mode == "end_from_trigger"
            )
        )
    out["wall_s"] = time.monotonic() - started
    return out


def measure(
    stack: Stack,
    fake: FakeUKCI,
    peers: TriggererPeers,
    sensors: int,
    dags: int,
    db_url: str,
    resume_window: float,
    ended_in_trigger: bool,
) -> dict[str, Any]:
    triggerer = stack.procs["triggerer"].pid
    peers.pids = {p.pid for p in tree(triggerer)}
    api = Api(stack)
    dag_ids = [f"cleanshift_load_{d:03d}" for d in range(dags)]

    def all_parsed():
        body = api.http.get(
            "/api/v2/dags", params={"dag_id_pattern": "cleanshift_load_%", "limit": 1}
        ).json()
        return body["total_entries"] == dags

    t_parse = time.monotonic()
    wait_for(f"{dags} DAGs to be parsed", all_parsed, 900, every=2)
    parse_s = time.monotonic() - t_parse
    time.sleep(5)  # let the triggerer settle after start-up before the idle baseline
    idle = memory_mib(triggerer)

    t0 = time.monotonic()
    for dag_id in dag_ids:
        api.trigger(dag_id)
    samples: list[dict[str, Any]] = []

    def sample() -> Counter:
        peers.pids |= {p.pid for p in tree(triggerer)}
        counts = count_states(api)
        samples.append({"t": time.monotonic() - t0, "wall": time.time(), **counts})
        return counts

    def all_deferred():
        counts = sample()
        if counts["failed"] or counts["up_for_retry"]:
            raise AssertionError(f"sensors failed while deferring: {counts}\n{stack.logs()}")
        return counts["deferred"] == sensors

    wait_for(f"all {sensors} sensors to defer", all_deferred, 3600, every=2)
    defer_s = time.monotonic() - t0

    # Every trigger has started (and, from the triggerer, planned) once requests stop coming.
    def settled():
        before = len(fake.requests)
        time.sleep(5)
        return len(fake.requests) == before

    wait_for("the triggers to settle", settled, 300, every=0)
    waiting = memory_mib(triggerer)
    planning_requests = Counter((r["source"], r["region"]) for r in fake.requests)

    # Move a deep dip to just after the next cache refresh (+ one re-plan interval).
    now = time.time()
    boundary = math.ceil(now / REFRESH) * REFRESH
    if boundary - now < 30:
        boundary += REFRESH
    target = int(boundary) + 90
    target -= target % STEP
    plan_starts = {"GB": target, "GB-13": target + 2 * STEP}
    for region, start in plan_starts.items():
        fake.set_dip(region, start, 50.0)
    moved_at = time.time()

    def fired():
        counts = sample()
        return counts["deferred"] == 0 and time.time() > max(plan_starts.values())

    wait_for(
        f"all {sensors} triggers to fire", fired, (plan_starts["GB-13"] - moved_at) + 300, every=2
    )
    at_fire = memory_mib(triggerer)

    # Workers now resume the fired sensors (execute_complete); watch for a bounded window.
    t_fire = time.monotonic()
    success_at_fire = samples[-1]["success"]

    def resumed():
        counts = sample()
        return counts["success"] + counts["failed"] >= sensors

    with contextlib.suppress(AssertionError):  # bounded on purpose: reported as a rate
        wait_for(f"all {sensors} sensors to finish on workers", resumed, resume_window, every=3)
    resume_s = time.monotonic() - t_fire
    resumed_n = samples[-1]["success"] - success_at_fire

    # Results (raw data first, so a summary bug cannot lose a long run).
    done = fired_sensors(db_url, ended_in_trigger)
    raw = stack.home.parent / f"raw-{stack.home.name}.json"
    raw.write_text(
        json.dumps(
            {
                "samples": samples,
                "requests": fake.requests,
                "sensors": done,
                "plan_starts": plan_starts,
                "memory": [idle, waiting, at_fire],
            },
            default=str,
        )
    )
    lateness = [(r["fired"] - r["start"]).total_seconds() for r in done]
    yielded = [(r["yielded"] - r["start"]).total_seconds() for r in done if r["yielded"]]
    to_worker = [(r["ended"] - r["start"]).total_seconds() for r in done if r["ended"]]
    starts = Counter(f"{r['region']} {r['start']:%H:%M:%S}" for r in done)
    after_move = Counter(
        f"{r['source']}/{r['region']}" for r in fake.requests if r["t"] >= moved_at
    )
    per_bucket = Counter(
        (r["source"], r["region"], int(r["t"] // REFRESH) * REFRESH)
        for r in fake.requests
        if r["source"] == "triggerer"
    )
    # While every sensor waits: from the last deferral until the first planned start.
    wait_samples = [
        s for s in samples if s["t"] >= defer_s and s["wall"] < min(plan_starts.values())
    ]
    return {
        "parse_s": parse_s,
        "defer_s": defer_s,
        "resume_s": resume_s,
        "resumed_in_window": resumed_n,
        "resume_rate_per_s": resumed_n / resume_s if resume_s else None,
        "memory_idle_mib": idle,
        "memory_waiting_mib": waiting,
        "memory_at_fire_mib": at_fire,
        "per_sensor_kib": {k: (waiting[k] - idle[k]) * 1024 / sensors for k in ("pss", "rss")},
        "fired": len(done),
        "max_try_number": max((r["tries"] for r in done), default=None),
        "worker_release_after_start_s": quantiles(to_worker) if to_worker else None,
        "lateness_s": quantiles(lateness) if lateness else None,
        "trigger_yield_after_start_s": quantiles(yielded) if yielded else None,
        "late_over_10s": sum(1 for x in lateness if x > 10),
        "early": sum(1 for x in lateness if x < 0),
        "planned_starts": dict(starts),
        "expected_starts": {r: stamp(s) for r, s in plan_starts.items()},
        "max_running_or_queued_while_waiting": max(
            (s["running"] + s["queued"] for s in wait_samples), default=None
        ),
        "max_deferred": max(s["deferred"] for s in samples),
        "wait_samples": len(wait_samples),
        "requests_total": len(fake.requests),
        "planning_requests": {f"{s}/{r}": n for (s, r), n in planning_requests.items()},
        "triggerer_requests_per_refresh": {
            f"{r} @ {stamp(b)}": n
            for (_, r, b), n in sorted(per_bucket.items(), key=lambda x: x[0][2])
        },
        "requests_after_dip_moved": dict(after_move),
    }


# ------------------------------------------------------------------ report
def report(results: list[dict[str, Any]], settings: dict[str, str]) -> str:
    def q(stats: dict | None, keys=("min", "p50", "p95", "p99", "max")) -> str:
        return " / ".join(f"{(stats or {}).get(k, float('nan')):.2f}" for k in keys)

    lines = [
        "# Airflow under load: waiting carbon-window sensors on one triggerer",
        "",
        (
            f"Machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
            f"Python {platform.python_version()}, LocalExecutor; "
            f"run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `benchmarks/airflow_load.py` "
            "(other work shared the machine). Provider: the real `ukci` client against a fake "
            "UK CI API on 127.0.0.1 (20-second points)."
        ),
        "",
        "Settings: "
        + ", ".join(f"`{k.removeprefix('AIRFLOW__').lower()}={v}`" for k, v in settings.items()),
        "",
    ]
    for r in results:
        mem0, mem1 = r["memory_idle_mib"], r["memory_waiting_mib"]
        lines += [
            (
                f"## {r['mode']} on {r['database']}, log level {r.get('log_level', 'INFO (default)')}: "
                f"{r['sensors']} sensors ({r['dags']} DAGs × {r['per_dag']}), 2 provider/region pairs"
            ),
            "",
            "| measure | value |",
            "|---|---|",
            f"| sensors deferred at once (max seen) | {r['max_deferred']} |",
            f"| time to defer all, from triggering the runs | {r['defer_s']:.0f} s |",
            (
                f"| running + queued task instances while all waited (max of {r['wait_samples']} "
                f"samples; executor slots {settings['AIRFLOW__CORE__PARALLELISM']}) "
                f"| {r['max_running_or_queued_while_waiting']} |"
            ),
            f"| triggers fired | {r['fired']} (planned starts: {r['planned_starts']}) |",
            (
                "| event handed to the database, s after the planned start "
                f"(min / p50 / p95 / p99 / max) | {q(r['lateness_s'])} |"
            ),
            f"| fired > 10 s late / fired early | {r['late_over_10s']} / {r['early']} |",
            *(
                [
                    (
                        "| trigger yielded its event (triggerer clock), s after the planned start "
                        f"(min / p50 / p95 / p99 / max) | {q(r['trigger_yield_after_start_s'])} |"
                    )
                ]
                if r.get("trigger_yield_after_start_s")
                else []
            ),
            f"| provider requests while planning (process/region: count) | {r['planning_requests']} |",
            (
                "| triggerer provider requests per forecast refresh (region @ refresh bucket: count) "
                f"| {r['triggerer_requests_per_refresh']} |"
            ),
            (
                f"| requests after the forecast changed (process/region: count) "
                f"| {r['requests_after_dip_moved']} |"
            ),
            f"| triggerer PSS idle → {r['sensors']} waiting | {mem0['pss']:.0f} → {mem1['pss']:.0f} MiB |",
            f"| triggerer RSS idle → {r['sensors']} waiting | {mem0['rss']:.0f} → {mem1['rss']:.0f} MiB |",
            (
                f"| **triggerer memory per waiting sensor, PSS / RSS** | "
                f"**{r['per_sensor_kib']['pss']:.0f} KiB / {r['per_sensor_kib']['rss']:.0f} KiB** |"
            ),
            (
                f"| workers resuming fired sensors (execute_complete) | {r['resumed_in_window']} in "
                f"{r['resume_s']:.0f} s ({(r['resume_rate_per_s'] or 0):.1f}/s); sensor done, s after "
                f"planned start (p50 / p95 / max): {q(r['worker_release_after_start_s'], ('p50', 'p95', 'max'))}; "
                f"max try number {r['max_try_number']} |"
            ),
            f"| wall time of the mode | {r['wall_s'] / 60:.1f} min |",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--per-dag", type=int, default=20)
    parser.add_argument("--modes", default="start_from_trigger,defer")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--resume-window",
        type=float,
        default=120,
        help="seconds to watch workers resume the fired sensors (reported as a rate)",
    )
    parser.add_argument(
        "--log-level",
        default=None,
        help="AIRFLOW__LOGGING__LOGGING_LEVEL for the stack (e.g. WARNING: fewer trigger log lines)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "airflow_load.md")
    parser.add_argument("--append", action="store_true", help="add to the results already in --out")
    args = parser.parse_args()
    previous = args.out.with_suffix(".json")
    results = json.loads(previous.read_text()) if args.append and previous.exists() else []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cleanshift-load-") as workdir:
        for mode in args.modes.split(","):
            print(f"== {mode} on {args.database}: {args.sensors} sensors", flush=True)
            result = run_mode(
                mode,
                args.sensors,
                args.per_dag,
                Path(workdir),
                args.database,
                args.resume_window,
                args.log_level,
            )
            print(json.dumps(result, indent=1, default=str), flush=True)
            results.append(result)
            text = report(results, SCHEDULER_SETTINGS)  # after each mode: partial runs count
            args.out.write_text(text)
            args.out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
