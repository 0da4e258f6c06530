"""Two triggerers on one metadata database: provider requests, failover, CPU, on a real Airflow.

The question (issue #15): the forecast cache that makes a thousand waiting sensors cost one
provider request per region per refresh is per *process*, and Airflow splits the triggers
between triggerers. So what does a second triggerer cost the provider, and what happens to
the triggers of a triggerer that dies?

One stack of ``tests/airflow/stack.py`` (api-server, scheduler, dag-processor, triggerer) on a
throwaway PostgreSQL (``airflow_load.postgres``: Airflow's triggerer HA relies on its row
locks), and the fake UK Carbon Intensity API of ``tests/airflow/fake_ukci.py`` on 127.0.0.1,
which records every request and, by the peer's socket, which triggerer process sent it. The
sensors (``start_from_trigger`` and ``end_from_trigger``: no worker runs at all, so the
triggerers are all there is; ``replan_interval=60s``) use the real ``ukci`` client, half for GB
national and half for NESO region 13. Phases, each bounded in time:

1. **one** triggerer, ``--sensors`` sensors deferred: requests per region in the next complete
   5-minute refresh bucket, CPU of the triggerer's process tree;
2. **two**: a second ``airflow triggerer`` on the same database, then as many sensors again:
   how the new triggers split between the two (``trigger.triggerer_id``), requests per
   triggerer and region in the next refresh bucket, CPU per triggerer;
3. **failover**: the first triggerer's process group is SIGKILLed. Reported: when its triggers
   were reassigned in the database, and when the survivor had run each of them again (the
   trigger plans afresh and rewrites its ``cleanshift_plan`` XCom: the XCom's timestamp);
   then a deep dip is placed just after the next refresh and every trigger must fire there;
4. **check**: every sensor ended ``success`` at try 1 (none lost), each wrote exactly one
   "carbon window open" line over all its trigger log files (one file per triggerer that ran
   it: ``….trigger.<triggerer job id>.log``; none fired twice), and no trigger that was never
   assigned to the killed triggerer has a log file of it (none ran on two triggerers).

    flock /tmp/cleanshift-heavy.lock .venvs/airflow/bin/python benchmarks/airflow_two_triggerers.py
    .venvs/airflow/bin/python benchmarks/airflow_two_triggerers.py --sensors 40 --out /tmp/t.md

Results: ``benchmarks/results/airflow_two_triggerers.md`` (and ``.json``; the raw samples and
requests go next to the stack's home, which is removed at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy
from airflow_load import (
    DAG_FILE,
    REFRESH,
    REGIONS,
    RESULTS,
    ROOT,
    SCHEDULER_SETTINGS,
    STEP,
    ensure_postgres_drivers,
    postgres,
    quantiles,
    tree,
    utc,
)

sys.path.insert(0, str(ROOT / "tests" / "airflow"))
from fake_ukci import FakeUKCI, stamp
from stack import Api, Stack, running_stack, wait_for

REPLAN = 60  # the sensors' replan_interval: every trigger asks the provider this often
OPEN_LINE = "carbon window open"
TRIGGER_LOG = re.compile(r"\.trigger\.(\d+)\.log$")


class Peers:
    """Names the process that sent a request to the fake API, by the peer's socket."""

    def __init__(self) -> None:
        self.pids: dict[str, set[int]] = {}

    def refresh(self, stack: Stack) -> None:
        for name, proc in stack.procs.items():
            if name.startswith("triggerer") and proc.poll() is None:
                self.pids[name] = {p.pid for p in tree(proc.pid)}

    def __call__(self, peer_port: int) -> str:
        for name, pids in list(self.pids.items()):
            for pid in list(pids):
                try:
                    conns = psutil.Process(pid).net_connections(kind="tcp")
                except psutil.Error:
                    continue
                if any(c.laddr and c.laddr.port == peer_port for c in conns):
                    return name
        return "other"


class CpuMeter:
    """CPU of named triggerers from now on, in seconds per minute of wall time, split into the
    triggerer's supervisor (its DB loop: assigning triggers, handing events over, heartbeats)
    and its trigger-runner subprocess (the event loop the triggers run in)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.t0 = time.monotonic()
        self.c0 = {name: self.cpu(pid) for name, pid in pids.items()}

    @staticmethod
    def cpu(pid: int) -> tuple[float, float]:
        """(supervisor, runner) user + system CPU seconds so far."""
        parts = [0.0, 0.0]
        for proc in tree(pid):
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                parts[proc.pid != pid] += times.user + times.system
        return parts[0], parts[1]

    def per_min(self) -> dict[str, dict[str, float]]:
        scale = 60 / (time.monotonic() - self.t0)
        out = {}
        for name, pid in self.pids.items():
            (s0, r0), (s1, r1) = self.c0[name], self.cpu(pid)
            out[name] = {"supervisor": (s1 - s0) * scale, "runner": (r1 - r0) * scale}
        return out


class Db:
    """The metadata database reads the report needs (the REST API does not show them)."""

    def __init__(self, url: str) -> None:
        self.engine = sqlalchemy.create_engine(url)

    def rows(self, sql: str) -> list[tuple]:
        with self.engine.connect() as db:
            return list(db.execute(sqlalchemy.text(sql)))

    def triggerer_jobs(self) -> list[int]:
        return [
            r[0]
            for r in self.rows("SELECT id FROM job WHERE job_type = 'TriggererJob' ORDER BY id")
        ]

    def assignment(self) -> dict[str, int | None]:
        """Deferred task instance ("dag/task") -> triggerer job id of its trigger."""
        return {
            f"{dag}/{task}": triggerer
            for dag, task, triggerer in self.rows(
                "SELECT ti.dag_id, ti.task_id, t.triggerer_id FROM task_instance ti "
                "JOIN trigger t ON t.id = ti.trigger_id WHERE ti.state = 'deferred'"
            )
        }

    def states(self) -> Counter:
        return Counter(dict(self.rows("SELECT state, count(*) FROM task_instance GROUP BY state")))

    def plan_written(self) -> dict[str, datetime]:
        return {
            f"{dag}/{task}": utc(ts)
            for dag, task, ts in self.rows(
                "SELECT dag_id, task_id, timestamp FROM xcom WHERE key = 'cleanshift_plan'"
            )
        }


def wait_refresh(phase: str, log) -> tuple[int, float]:
    """Sleep past the next refresh boundary plus one re-plan interval (and a margin), so every
    trigger has asked the provider in the new bucket. Returns (bucket, seconds waited)."""
    now = time.time()
    bucket = math.ceil(now / REFRESH) * REFRESH
    until = bucket + REPLAN + 20
    log(f"{phase}: waiting for the refresh at {stamp(bucket)} (until {stamp(until)})")
    time.sleep(max(0.0, until - now))
    return int(bucket), time.time() - now


def per_refresh(requests: list[dict], bucket: int) -> dict[str, int]:
    """Requests in one refresh bucket, per sending process and region."""
    return dict(
        Counter(
            f"{r['source']}/{r['region']}"
            for r in requests
            if int(r["t"] // REFRESH) * REFRESH == bucket
        )
    )


def region_of(key: str, per_dag: int) -> str:
    """The region of sensor "cleanshift_load_DDD/wait_KKK" (``DAG_FILE`` alternates them)."""
    dag, task = key.split("/")
    return REGIONS[(int(dag[-3:]) * per_dag + int(task[-3:])) % 2]


def start_second_triggerer(stack: Stack) -> None:
    """A second ``airflow triggerer`` on the same database (its own process group and log),
    registered with the stack so ``stack.stop()`` stops it too."""
    with open(stack.home / "triggerer-2.log", "wb") as log:
        stack.procs["triggerer-2"] = subprocess.Popen(
            [sys.executable, "-m", "airflow", "triggerer", "--skip-serve-logs"],
            env=stack.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def trigger_logs(home: Path) -> dict[str, dict[int, int]]:
    """Per task instance ("dag/task"): triggerer job id -> "carbon window open" lines in the
    trigger log file that triggerer wrote for it."""
    out: dict[str, dict[int, int]] = {}
    for path in (home / "logs").rglob("*.trigger.*.log"):
        match = TRIGGER_LOG.search(path.name)
        parts = {p.split("=", 1)[0]: p.split("=", 1)[1] for p in path.parts if "=" in p}
        if not match or "dag_id" not in parts:
            continue
        key = f"{parts['dag_id']}/{parts['task_id']}"
        out.setdefault(key, {})[int(match.group(1))] = path.read_text(errors="replace").count(
            OPEN_LINE
        )
    return out


def measure(stack: Stack, fake: FakeUKCI, peers: Peers, db: Db, args, log) -> dict[str, Any]:
    api = Api(stack)
    batch = args.sensors // args.per_dag
    dag_ids = [f"cleanshift_load_{d:03d}" for d in range(2 * batch)]
    wait_for(
        f"{len(dag_ids)} DAGs to be parsed",
        lambda: (
            api.http.get(
                "/api/v2/dags", params={"dag_id_pattern": "cleanshift_load_%", "limit": 1}
            ).json()["total_entries"]
            == len(dag_ids)
        ),
        900,
        every=2,
    )
    out: dict[str, Any] = {}

    def defer(dags: list[str], total: int) -> float:
        t0 = time.monotonic()
        for dag_id in dags:
            api.trigger(dag_id)

        def all_assigned():
            states = db.states()
            if states["failed"] or states["up_for_retry"]:
                raise AssertionError(f"sensors failed: {states}\n{stack.logs()}")
            assigned = db.assignment()
            return len(assigned) == total and all(v is not None for v in assigned.values())

        wait_for(f"{total} sensors deferred and assigned", all_assigned, 900, every=1)
        n = len(fake.requests)  # planning done once no request came for a re-plan interval

        def settled():
            nonlocal n
            time.sleep(5)
            before, n = n, len(fake.requests)
            return before == n

        wait_for("the triggers to settle", settled, 300, every=0)
        return time.monotonic() - t0

    # ---- 0: one idle triggerer (no triggers yet): its fixed cost
    peers.refresh(stack)
    first = stack.procs["triggerer"].pid
    meter = CpuMeter({"triggerer": first})
    time.sleep(args.idle)
    out["idle_cpu_s_per_min"] = meter.per_min()

    # ---- 1: one triggerer
    out["one_defer_s"] = defer(dag_ids[:batch], args.sensors)
    (job1,) = db.triggerer_jobs()
    out["one_planning_requests"] = dict(
        Counter(f"{r['source']}/{r['region']}" for r in fake.requests)
    )
    meter = CpuMeter({"triggerer": first})
    bucket, _ = wait_refresh("one triggerer", log)
    out["one_cpu_s_per_min"] = meter.per_min()
    out["one_requests_per_refresh"] = per_refresh(fake.requests, bucket)
    out["one_refresh"] = stamp(bucket)

    # ---- 2: a second triggerer, then as many sensors again
    start_second_triggerer(stack)
    wait_for("the second triggerer's job", lambda: len(db.triggerer_jobs()) == 2, 180)
    job2 = db.triggerer_jobs()[1]
    second = stack.procs["triggerer-2"].pid
    time.sleep(3)  # its runner subprocess starts after the job row
    peers.refresh(stack)
    meter = CpuMeter({"triggerer": first, "triggerer-2": second})
    time.sleep(args.idle)
    out["two_idle_cpu_s_per_min"] = meter.per_min()  # the second one holds no trigger yet
    mark = len(fake.requests)
    out["two_defer_s"] = defer(dag_ids[batch:], 2 * args.sensors)
    peers.refresh(stack)
    assigned = db.assignment()
    batch_a = {k for k in assigned if int(k.split("/")[0][-3:]) < batch}
    names = {job1: "triggerer", job2: "triggerer-2"}
    out["two_split"] = {
        f"{'first' if part is batch_a else 'new'} {args.sensors}": dict(
            Counter(names.get(assigned[k], str(assigned[k])) for k in part)
        )
        for part in (batch_a, set(assigned) - batch_a)
    }
    out["two_split_by_region"] = dict(
        Counter(
            f"{names.get(v, v)}/{region_of(k, args.per_dag)}"
            for k, v in assigned.items()
            if k not in batch_a
        )
    )
    out["two_planning_requests"] = dict(
        Counter(f"{r['source']}/{r['region']}" for r in fake.requests[mark:])
    )
    meter = CpuMeter({"triggerer": first, "triggerer-2": second})
    bucket, _ = wait_refresh("two triggerers", log)
    out["two_cpu_s_per_min"] = meter.per_min()
    out["two_requests_per_refresh"] = per_refresh(fake.requests, bucket)
    out["two_refresh"] = stamp(bucket)

    # ---- 3: kill the first triggerer
    before_kill = db.assignment()
    orphans = {k for k, v in before_kill.items() if v == job1}
    ever_on_first = set(orphans)
    killed_at = datetime.now(timezone.utc)
    t_kill = time.monotonic()
    stack.kill("triggerer")
    log(f"killed the first triggerer; {len(orphans)} triggers to take over")
    reassigned: dict[str, float] = {}

    def taken_over():
        now = time.monotonic() - t_kill
        for k, v in db.assignment().items():
            if k in orphans and k not in reassigned and v == job2:
                reassigned[k] = now
        return len(reassigned) == len(orphans)

    wait_for("the orphaned triggers to be reassigned", taken_over, 300, every=0.5)

    def rerun():
        written = db.plan_written()
        return all(written.get(k, killed_at) > killed_at for k in orphans) and written

    written = wait_for("the survivor to run the orphaned triggers", rerun, 300, every=1)
    out["failover_orphans"] = len(orphans)
    out["failover_reassigned_s"] = quantiles(list(reassigned.values())) if reassigned else None
    out["failover_rerun_s"] = (
        quantiles([(written[k] - killed_at).total_seconds() for k in orphans]) if orphans else None
    )
    out["failover_others_rewritten"] = sum(
        1 for k, ts in written.items() if k not in orphans and ts > killed_at
    )
    after = db.assignment()
    out["failover_assignment"] = dict(Counter(names.get(v, str(v)) for v in after.values()))
    out["failover_requests_until_rerun"] = dict(
        Counter(
            f"{r['source']}/{r['region']}"
            for r in fake.requests
            if r["t"] >= killed_at.timestamp() and r["t"] <= max(written.values()).timestamp()
        )
    )

    # Place a deep dip after the next refresh: every trigger must re-plan onto it and fire.
    now = time.time()
    boundary = math.ceil(now / REFRESH) * REFRESH
    if boundary - now < 30:
        boundary += REFRESH
    target = int(boundary) + 90
    target -= target % STEP
    starts = {"GB": target, "GB-13": target + 2 * STEP}
    for region, start in starts.items():
        fake.set_dip(region, start, 50.0)
    meter = CpuMeter({"triggerer-2": second})
    log(f"failover: dip moved to {stamp(target)}")

    def all_done():
        states = db.states()
        return (
            states["deferred"] == 0
            and time.time() > max(starts.values())
            and states["success"] + states["failed"] + states["skipped"] >= 2 * args.sensors
        )

    wait_for("every sensor to finish", all_done, (max(starts.values()) - now) + 300, every=2)
    out["failover_cpu_s_per_min"] = meter.per_min()
    out["failover_requests_per_refresh"] = per_refresh(fake.requests, int(boundary))
    out["failover_refresh"] = stamp(boundary)

    # ---- 4: lost or twice?
    rows = db.rows(
        "SELECT ti.dag_id, ti.task_id, ti.state, ti.try_number, ti.end_date, x.value "
        "FROM task_instance ti LEFT JOIN xcom x ON x.dag_id = ti.dag_id AND x.run_id = ti.run_id "
        "AND x.task_id = ti.task_id AND x.key = 'cleanshift_plan'"
    )
    logs = trigger_logs(stack.home)
    late = []
    for _dag, _task, state, _tries, ended, plan in rows:
        if state == "success" and ended is not None and plan is not None:
            value = plan if isinstance(plan, dict) else json.loads(plan)
            while isinstance(value, str):
                value = json.loads(value)
            late.append((utc(ended) - utc(value["start"])).total_seconds())
    keys = {f"{dag}/{task}" for dag, task, *_ in rows}
    opens = Counter(sum(logs.get(k, {}).values()) for k in keys)
    out.update(
        {
            "sensors_total": len(rows),
            "final_states": dict(Counter(r[2] for r in rows)),
            "max_try_number": max(r[3] for r in rows),
            "open_lines_per_sensor": {str(k): v for k, v in sorted(opens.items())},
            "triggerers_that_ran_it": dict(
                Counter(
                    "+".join(names.get(j, str(j)) for j in sorted(logs.get(k, {}))) or "none"
                    for k in keys
                )
            ),
            "ran_on_the_killed_triggerer_without_being_assigned_to_it": sum(
                1 for k in keys if job1 in logs.get(k, {}) and k not in ever_on_first
            ),
            "ended_after_planned_start_s": quantiles(late) if late else None,
            "planned_starts": {r: stamp(s) for r, s in starts.items()},
            "requests_total": dict(Counter(r["source"] for r in fake.requests)),
        }
    )
    (stack.home.parent / "raw-two-triggerers.json").write_text(
        json.dumps({"requests": fake.requests, "result": out}, default=str)
    )
    return out


def report(r: dict[str, Any], settings: dict[str, str]) -> str:
    def q(stats, keys=("min", "p50", "max")):
        return " / ".join(f"{(stats or {}).get(k, float('nan')):.1f}" for k in keys)

    def cpu(d):
        return ", ".join(
            f"{k} {v['supervisor'] + v['runner']:.1f} ({v['supervisor']:.1f} + {v['runner']:.1f})"
            for k, v in d.items()
        )

    n = r["sensors"]
    return "\n".join(
        [
            "# Airflow: two triggerers on one metadata database",
            "",
            (
                f"Machine: {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
                f"Python {platform.python_version()}, LocalExecutor, PostgreSQL; run "
                f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `benchmarks/airflow_two_triggerers.py` "
                "(other work shared the machine). Provider: the real `ukci` client against a fake "
                "UK CI API on 127.0.0.1 (20-second points), requests attributed to the triggerer "
                "process that sent them. Sensors: `start_from_trigger` + `end_from_trigger` (no "
                f"worker runs), `replan_interval=60s`, half GB national, half GB-13; {n} deferred "
                f"on one triggerer, then {n} more with a second triggerer running. Settings: "
                + ", ".join(
                    f"`{k.removeprefix('AIRFLOW__').lower()}={v}`" for k, v in settings.items()
                )
                + ", Airflow's defaults `triggerer_health_check_threshold=30`, "
                "`max_trigger_to_select_per_loop=50`; `job_heartbeat_sec=1`."
            ),
            "",
            "| measure | one triggerer | two triggerers | after killing the first |",
            "|---|---|---|---|",
            (
                f"| sensors waiting (per triggerer) | {n} | {2 * n}: first {n} "
                f"{r['two_split'][f'first {n}']}, new {n} {r['two_split'][f'new {n}']} "
                f"| {r['failover_assignment']} |"
            ),
            (
                f"| provider requests in one refresh (process/region: count) "
                f"| {r['one_requests_per_refresh']} | {r['two_requests_per_refresh']} "
                f"| {r['failover_requests_per_refresh']} |"
            ),
            (
                f"| provider requests while planning (process/region: count) "
                f"| {r['one_planning_requests']} | {r['two_planning_requests']} "
                f"| re-running the orphans: {r['failover_requests_until_rerun']} |"
            ),
            (
                "| triggerer CPU before its triggers arrive, s per minute (supervisor + runner) "
                f"| {cpu(r['idle_cpu_s_per_min'])} | {cpu(r['two_idle_cpu_s_per_min'])} | |"
            ),
            (
                "| triggerer CPU while they wait, s per minute (supervisor + runner) "
                f"| {cpu(r['one_cpu_s_per_min'])} | {cpu(r['two_cpu_s_per_min'])} "
                f"| {cpu(r['failover_cpu_s_per_min'])}, incl. firing all |"
            ),
            "",
            "| failover and outcome | value |",
            "|---|---|",
            f"| triggers of the killed triggerer | {r['failover_orphans']} |",
            (
                "| reassigned to the survivor in the database, s after the kill (min / p50 / max) "
                f"| {q(r['failover_reassigned_s'])} |"
            ),
            (
                "| re-run by the survivor (its plan rewritten), s after the kill (min / p50 / max) "
                f"| {q(r['failover_rerun_s'])} |"
            ),
            f"| survivor's own triggers restarted by the takeover | {r['failover_others_rewritten']} |",
            f"| final states / max try number | {r['final_states']} / {r['max_try_number']} |",
            f'| "{OPEN_LINE}" lines per sensor, over all its trigger logs (count: sensors) | {r["open_lines_per_sensor"]} |',
            f"| triggerers that ran each sensor's trigger (trigger log files) | {r['triggerers_that_ran_it']} |",
            (
                "| ran on the killed triggerer without being assigned to it "
                f"| {r['ran_on_the_killed_triggerer_without_being_assigned_to_it']} |"
            ),
            (
                f"| sensor ended, s after its planned start {r['planned_starts']} (min / p50 / max) "
                f"| {q(r['ended_after_planned_start_s'])} |"
            ),
            f"| wall time | {r['wall_s'] / 60:.1f} min |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=200, help="sensors per phase (2 phases)")
    parser.add_argument("--per-dag", type=int, default=20)
    parser.add_argument(
        "--idle", type=float, default=60, help="seconds to measure a triggerer's idle CPU"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "airflow_two_triggerers.md")
    args = parser.parse_args()
    args.sensors = math.ceil(args.sensors / args.per_dag) * args.per_dag
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"{datetime.now(timezone.utc):%H:%M:%S} {message}", flush=True)

    peers = Peers()
    with (
        tempfile.TemporaryDirectory(prefix="cleanshift-2trig-") as workdir,
        contextlib.ExitStack() as cleanup,
    ):
        env = dict(SCHEDULER_SETTINGS)
        pydeps = ensure_postgres_drivers(Path(workdir))
        if pydeps:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [pydeps, os.environ.get("PYTHONPATH")])
            )
        db_url = cleanup.enter_context(postgres())
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = db_url
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE"] = "5"
        fake = cleanup.enter_context(FakeUKCI(step=STEP, classify=peers))
        far = int(time.time()) + 60 * 60
        far -= far % STEP
        for region in REGIONS:
            fake.set_dip(region, far, 250.0)
        source = DAG_FILE.format(
            url=fake.url,
            dags=2 * args.sensors // args.per_dag,
            per_dag=args.per_dag,
            start_from_trigger=True,
            end_from_trigger=True,
        ).replace('max_delay="60m"', 'max_delay="75m"')
        log("starting the stack")
        stack = cleanup.enter_context(
            running_stack({"cleanshift_load.py": source}, env=env, parent=workdir)
        )
        db = Db(db_url)
        cleanup.callback(db.engine.dispose)
        result = {"sensors": args.sensors, **measure(stack, fake, peers, db, args, log)}
    result["wall_s"] = time.monotonic() - started
    print(json.dumps(result, indent=1, default=str), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    text = report(result, SCHEDULER_SETTINGS)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
