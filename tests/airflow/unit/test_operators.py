"""Parse-time validation, the sensor's defer decision, the hook, provider info and the UI."""

from __future__ import annotations

import importlib
import json
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk import Connection
from conftest import needs_start_from_trigger, refuses_start_from_trigger
from pydantic import SecretStr

from cleanshift_airflow import PLAN_XCOM_KEY
from cleanshift_airflow.chart import WIDTH, forecast_svg
from cleanshift_airflow.compat import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    TaskDeferred,
)
from cleanshift_airflow.decorators import carbon_task
from cleanshift_airflow.get_provider_info import get_provider_info
from cleanshift_airflow.hooks import provider_reference, spec_from_connection
from cleanshift_airflow.location import CarbonLocationSensor
from cleanshift_airflow.operators import CarbonAwarePythonOperator, CarbonReceiptOperator
from cleanshift_airflow.sensors import CarbonWindowSensor
from cleanshift_airflow.triggers import CarbonWindowTrigger
from cleanshift_airflow.ui import (
    ReceiptRow,
    energy,
    grams,
    html_page,
    render_receipts_page,
    render_task_page,
    total_avoided,
)
from cleanshift_core import ConfigurationError, Plan


def demo_provider(curve_hour_now: float) -> dict:
    """The mock curve 720× faster, showing ``curve_hour_now`` o'clock right now."""
    return {
        "kind": "mock",
        "speedup": 720,
        "anchor": datetime.now(timezone.utc).isoformat(),
        "anchor_hour": curve_hour_now,
    }


class RecordingTI:
    """Stands in for the runtime task instance: records XCom pushes."""

    def __init__(self, pulls: dict | None = None) -> None:
        self.pushed: dict = {}
        self.pulls = pulls or {}

    def xcom_push(self, key, value):
        self.pushed[key] = json.loads(json.dumps(value))  # what XCom would store

    def xcom_pull(self, task_ids, key):
        return self.pulls.get((task_ids, key))


# --- validation at parse time --------------------------------------------------------------

GOOD = {"task_id": "w", "provider": "mock", "duration": "1h"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"duration": "0s"}, "duration must be positive"),
        ({"duration": "soon"}, "is not a duration"),
        ({"max_delay": "-1h"}, "max_delay"),
        ({"finish_by": datetime(2026, 1, 1)}, "is naive"),
        ({"finish_by": "2026-01-01T00:00:00"}, "is naive"),
        ({"finish_by": "tomorrow"}, "not an ISO-8601 datetime"),
        ({"policy": "greenest"}, "unknown policy 'greenest'; choose one of"),
        ({"policy": "threshold"}, "needs max_intensity"),
        ({"min_savings_pct": 150}, "min_savings_pct must be between 0 and 100"),
        ({"on_provider_error": "retry"}, "unknown on_provider_error"),
        ({"replan_interval": "0s"}, "replan_interval must be positive"),
        ({"provider": "mockk:speedup=1"}, "unknown provider 'mockk'"),
        ({"provider": "mock:speedup=0"}, "speedup must be positive"),
        ({"provider": "mock:colour=green"}, "does not take option(s) colour"),
        ({"provider": "not a conn id!"}, "neither a connection id nor a provider spec"),
        ({"provider": {"kind": "nope", "anchor": "{{ ts }}"}}, "unknown provider kind 'nope'"),
        ({"end_from_trigger": True}, "end_from_trigger=True needs start_from_trigger=True"),
        ({"end_from_trigger": "yes", "start_from_trigger": True}, "must be True or False"),
    ],
)
def test_sensor_arguments_fail_at_parse_with_a_fix(overrides, message):
    with pytest.raises(ConfigurationError, match=None) as err:
        CarbonWindowSensor(**{**GOOD, **overrides})
    assert message in str(err.value)


def test_task_form_and_receipt_operator_validate_too():
    with pytest.raises(ConfigurationError, match="power_kw must be a positive number"):
        CarbonAwarePythonOperator(
            task_id="t",
            python_callable=print,
            power_kw=-1,
            **{k: v for k, v in GOOD.items() if k != "task_id"},
        )
    with pytest.raises(ConfigurationError, match="sensor_task_id must be the task_id"):
        CarbonReceiptOperator(task_id="r", sensor_task_id="")
    with pytest.raises(ConfigurationError, match="unknown policy"):
        carbon_task(provider="mock", duration="1h", policy="fastest")  # at decoration time


def test_task_carbon_task_is_the_taskflow_decorator_registered_by_the_provider():
    # Airflow's `task` finds it through the provider's `task-decorators` entry, not an import.
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk import dag, task

    registered = ProvidersManager().taskflow_decorators
    assert registered["carbon_task"] is carbon_task

    @dag(schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc))
    def flow():
        @task.carbon_task(provider="mock", duration="1h", max_delay="6h", power_kw=0.3)
        def score(batch: int) -> int:
            return batch

        score(1)

    op = flow().get_task("score")
    assert isinstance(op, CarbonAwarePythonOperator) and op.custom_operator_name == "@carbon_task"
    assert op.window.duration == timedelta(hours=1) and op.power_kw == 0.3
    with pytest.raises(ConfigurationError, match="unknown policy"):
        task.carbon_task(provider="mock", duration="1h", policy="fastest")


def test_connection_ids_and_templated_specs_are_kept_for_run_time():
    assert provider_reference("cleanshift_default") == "cleanshift_default"
    templated = {"kind": "mock", "anchor": "{{ dag_run.start_date.isoformat() }}"}
    assert provider_reference(templated) == templated
    assert provider_reference("mock:speedup=720") == {"kind": "mock", "speedup": 720}


# --- the sensor's decision -----------------------------------------------------------------


def test_sensor_defers_to_the_carbon_trigger_when_the_window_is_ahead():
    # 18:00 on the curve now; the trough (03:00) is 9 curve hours = 45 real seconds away.
    sensor = CarbonWindowSensor(
        task_id="w",
        provider=demo_provider(18),
        duration="10s",
        max_delay="75s",
        replan_interval="1m",
        deferrable=True,
    )
    ti = RecordingTI()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={"ti": ti})
    trigger = deferred.value.trigger
    assert isinstance(trigger, CarbonWindowTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=sensor.timeout)  # [sensors] default
    plan = Plan.model_validate_json(trigger.plan)
    # the plan the task waits for is in XCom during the deferral (the UI tab shows it)
    assert Plan.model_validate(ti.pushed[PLAN_XCOM_KEY]) == plan
    assert plan.start > datetime.now(timezone.utc) + timedelta(seconds=20)
    assert plan.start <= plan.latest_start
    assert trigger.provider["kind"] == "mock" and trigger.replan_interval == 60.0
    assert trigger.duration == 10.0 and trigger.max_delay == 75.0


def test_sensor_succeeds_without_deferring_when_the_window_is_open():
    ti = RecordingTI()
    sensor = CarbonWindowSensor(
        task_id="w", provider=demo_provider(3), duration="10s", max_delay="75s", deferrable=True
    )
    sensor.execute(context={"ti": ti})  # no TaskDeferred
    plan = Plan.model_validate(ti.pushed[PLAN_XCOM_KEY])
    assert plan.start == plan.earliest_start
    assert "cleanshift_released_at" in ti.pushed


def test_execute_complete_follows_the_event():
    sensor = CarbonWindowSensor(task_id="w", provider="mock", duration="1h")
    now = datetime.now(timezone.utc)
    plan = Plan(
        planned_at=now,
        earliest_start=now,
        latest_start=now,
        duration_seconds=60,
        start=now,
        policy="min_carbon",
        reason="test",
    )
    ti = RecordingTI()
    sensor.execute_complete({"ti": ti}, {"status": "ready", "plan": plan.model_dump(mode="json")})
    assert Plan.model_validate(ti.pushed[PLAN_XCOM_KEY]) == plan
    with pytest.raises(AirflowSkipException, match="too dirty"):
        sensor.execute_complete({"ti": ti}, {"status": "skipped", "message": "too dirty"})
    with pytest.raises(AirflowException, match="boom"):
        sensor.execute_complete({"ti": ti}, {"status": "failed", "message": "boom"})


@needs_start_from_trigger
def test_start_from_trigger_hands_the_triggerer_renderable_kwargs():
    sensor = CarbonWindowSensor(
        task_id="w",
        provider="cleanshift_default",
        duration="2h",
        finish_by="{{ (data_interval_end + macros.timedelta(hours=8)).isoformat() }}",
        start_from_trigger=True,
    )
    args = sensor.start_trigger_args
    assert sensor.start_from_trigger and args.next_method == "execute_complete"
    assert args.trigger_kwargs["finish_by"].startswith("{{")  # rendered in the triggerer
    assert {"provider", "finish_by"} <= set(sensor.template_fields)
    module, _, name = args.trigger_cls.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**args.trigger_kwargs)
    assert trigger.plan is None and trigger.provider == "cleanshift_default"


@needs_start_from_trigger
def test_end_from_trigger_reaches_the_start_trigger_but_not_the_worker_path():
    """The triggerer's trigger ends the task; execute() (the worker and dag.test() path) still
    defers to a trigger that resumes on the worker, because dag.test() would drop the XComs."""
    sensor = CarbonWindowSensor(
        task_id="w",
        provider=demo_provider(18),
        duration="10s",
        max_delay="75s",
        start_from_trigger=True,
        end_from_trigger=True,
    )
    args = sensor.start_trigger_args
    module, _, name = args.trigger_cls.rpartition(".")
    assert getattr(importlib.import_module(module), name)(**args.trigger_kwargs).end_from_trigger
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={"ti": RecordingTI()})
    assert not deferred.value.trigger.end_from_trigger
    assert deferred.value.method_name == "execute_complete"


@refuses_start_from_trigger
@pytest.mark.parametrize(
    ("sensor_cls", "where"),
    [
        (CarbonWindowSensor, {"provider": "mock"}),
        (CarbonLocationSensor, {"locations": {"a": "mock"}}),
    ],
)
def test_start_from_trigger_is_refused_at_parse_time_where_airflow_would_ignore_it(
    sensor_cls, where
):
    with pytest.raises(ConfigurationError, match=r"start_from_trigger=True needs Airflow 3\.3"):
        sensor_cls(task_id="w", duration="1h", start_from_trigger=True, **where)


def test_receipt_operator_refuses_to_invent_a_receipt_without_a_plan():
    op = CarbonReceiptOperator(task_id="r", sensor_task_id="carbon_window", provider="mock")
    with pytest.raises(AirflowFailException, match="no carbon plan from task 'carbon_window'"):
        op.execute({"ti": RecordingTI()})


# --- connection and provider info ----------------------------------------------------------


def test_connection_fields_become_a_provider_spec_with_masked_secrets():
    conn = Connection(
        conn_id="grid",
        conn_type="cleanshift",
        host="https://api.watttime.org",
        login="alice",
        password="canary-pw",
        extra=json.dumps(
            {"provider": "watttime", "region": "CAISO_NORTH", "options": '{"horizon": 24}'}
        ),
    )
    spec = spec_from_connection(conn)
    assert spec.kind == "watttime"
    assert spec.options["username"] == "alice" and spec.options["region"] == "CAISO_NORTH"
    assert spec.options["base_url"] == "https://api.watttime.org" and spec.options["horizon"] == 24
    assert isinstance(spec.options["password"], SecretStr)
    assert "canary-pw" not in repr(spec)

    key_only = Connection(
        conn_id="em",
        conn_type="cleanshift",
        password="canary-key",
        extra=json.dumps({"provider": "electricitymaps", "region": "DE"}),
    )
    assert spec_from_connection(key_only).options["api_key"].get_secret_value() == "canary-key"

    bad = Connection(conn_id="bad", conn_type="cleanshift", extra=json.dumps({"options": "{nope"}))
    with pytest.raises(ConfigurationError, match="must be a JSON object"):
        spec_from_connection(bad)


def test_provider_info_lists_importable_parts():
    info = get_provider_info()
    [conn] = info["connection-types"]
    assert conn["connection-type"] == "cleanshift"
    assert {"provider", "region", "options"} <= set(conn["conn-fields"])
    paths = [
        conn["hook-class-name"],
        *info["extra-links"],
        *(p["plugin-class"] for p in info["plugins"]),
        *(d["class-name"] for d in info["task-decorators"]),
    ]
    for path in paths:
        module, _, name = path.rpartition(".")
        assert getattr(importlib.import_module(module), name)
    for section in ("triggers", "sensors", "operators", "hooks"):
        for module in info[section][0]["python-modules"]:
            importlib.import_module(module)


# --- UI ------------------------------------------------------------------------------------


def _receipt(avoided: float | None) -> dict:
    return {
        "planned_start": "2026-01-01T03:00:00Z",
        "scheduled_at": "2026-01-01T00:00:00Z",
        "ran_at": "2026-01-01T03:00:01Z",
        "finished_at": "2026-01-01T04:00:00Z",
        "delay_seconds": 10801.0,
        "duration_seconds": 3599.0,
        "avg_intensity_gco2_per_kwh": 150.0,
        "counterfactual_avg_intensity": 300.0,
        "estimated_savings_pct": 50.0,
        "avoided_g": avoided,
        "run_intervals": [["2026-01-01T03:00:01Z", "2026-01-01T04:00:00Z"]],
        "provider": "mock",
        "region": "DE",
        "reason": "<b>cleanest</b>",
    }


def test_task_page_renders_the_receipt_and_an_offline_chart():
    plan = {
        "start": "2026-01-01T03:00:00Z",
        "end": "2026-01-01T04:00:00Z",
        "forecast": [
            {
                "start": f"2026-01-01T0{h}:00:00Z",
                "end": f"2026-01-01T0{h + 1}:00:00Z",
                "intensity": v,
            }
            for h, v in enumerate([300, 250, 200, 150, 250])
        ],
    }
    html = render_task_page("t", plan, _receipt(123.4))
    assert "150.0 gCO2eq/kWh" in html and "123.4 g" in html
    assert "<svg" in html and 'class="window"' in html and 'class="run"' in html
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "<b>cleanest</b>" not in html  # escaped
    assert "No cleanshift plan" in render_task_page("t", None, None)
    assert "Basis: the intensity data" in html


def test_the_chart_bands_every_chunk_and_keeps_the_last_time_label_inside():
    forecast = [
        {"start": f"2026-01-01T0{h}:00:00Z", "end": f"2026-01-01T0{h + 1}:00:00Z", "intensity": v}
        for h, v in enumerate([300, 100, 300, 100])
    ]
    chunks = [("2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z")]
    chunks.append(("2026-01-01T03:00:00Z", "2026-01-01T04:00:00Z"))
    svg = forecast_svg(forecast, chunks)
    assert svg.count('class="window"') == 2
    last = svg.rsplit(">04:00:00<", 1)[0].rsplit("<text ", 1)[1]
    x = float(last.split('x="')[1].split('"')[0])
    assert 'text-anchor="end"' in last and x <= WIDTH  # ends at x, so never past the edge
    assert "No forecast" in forecast_svg([], chunks)


def test_energy_and_grams_keep_a_useful_precision():
    assert energy(0.0028) == "2.80 Wh" and energy(0.00004) == "0.0400 Wh"
    assert energy(0.25) == "250 Wh" and energy(2.5) == "2.50 kWh" and energy(0) == "0 Wh"
    assert grams(0.3123) == "0.312 g" and grams(123.4) == "123.4 g" and grams(0.0) == "0.0 g"
    assert "n/a" in energy(None) and "n/a" in grams(None)


def test_task_page_says_plainly_when_a_task_is_not_carbon_aware():
    plain = render_task_page("load", None, None, operator="_PythonDecoratedOperator")
    assert 'id="not-carbon-aware"' in plain and "load (_PythonDecoratedOperator)" in plain
    sensor = render_task_page("w", None, None, operator="CarbonWindowSensor")
    assert "not-carbon-aware" not in sensor and "has not planned yet" in sensor


def test_pages_follow_the_airflow_ui_theme_and_the_os_preference():
    html = bytes(html_page("t", "<p>x</p>").body).decode()
    assert ":root.dark{color-scheme:dark;" in html  # the UI's choice, copied from its <html>
    assert "@media (prefers-color-scheme: dark){:root:not(.light)" in html  # else the OS's
    assert "window.parent.document.documentElement" in html and "MutationObserver" in html
    assert 'localStorage.getItem("theme")' in html  # next-themes' key, for the bare page


def test_task_page_shows_the_plan_a_task_is_still_waiting_for():
    plan = {
        "start": "2026-01-01T03:00:00Z",
        "end": "2026-01-01T04:00:00Z",
        "latest_start": "2026-01-01T05:00:00Z",
        "planned_at": "2026-01-01T00:30:00Z",
        "expected_savings_pct": 40.0,
        "reason": "re-planned at 2026-01-01T00:30:00Z: 12.0% cleaner than ...",
        "forecast": [],
    }
    waiting = render_task_page("w", plan, None)
    assert 'id="waiting"' in waiting and "2026-01-01T03:00:00Z" in waiting
    assert "40.0 %" in waiting and "<th>Last re-plan</th><td>2026-01-01T00:30:00Z" in waiting
    released = render_task_page("w", plan, None, released_at="2026-01-01T03:00:01Z")
    assert 'id="waiting"' not in released


def test_receipts_page_totals_each_unit_of_work_once_and_links_each_task_instance():
    rows = [
        ReceiptRow("d", "r1", "t", -1, _receipt(100.0)),
        ReceiptRow("d", "r2", "t", -1, _receipt(23.5)),
        ReceiptRow("d", "r3", "t", -1, _receipt(None)),
        ReceiptRow("c", "r/1", "train", 2, _receipt(7.0), part_of="chunks_receipt"),
    ]
    total = total_avoided([(r.receipt, r.part_of is not None) for r in rows])
    assert total == (123.5, 2)  # the chunk is inside its summed receipt, counted there
    html = render_receipts_page(rows, total, matching=4)
    assert "123.5 g" in html and "4 receipt(s) match" in html
    assert 'href="/dags/c/runs/r%2F1/tasks/train/mapped/2" target="_top">train [2]</a>' in html
    assert "(in chunks_receipt)" in html


def test_plugin_app_refuses_requests_without_credentials():
    """No token, no cookie: refused before any handler runs (forged tokens: see the e2e test)."""
    from fastapi.testclient import TestClient

    from cleanshift_airflow.ui import app

    client = TestClient(app)
    assert client.get("/receipts").status_code == 401
    assert client.get("/ti/d/r/t/-1").status_code == 401


def test_sensor_xcoms_read_back_the_same_from_a_worker_or_from_a_trigger_end_event():
    """A TaskSuccessEvent's XComs reach a worker as JSON text in Airflow 3.3 (stored encoded
    once more): ``decoded`` gives back what was pushed; worker-pushed values pass unchanged."""
    import json

    from cleanshift_airflow.keys import decoded

    plan = {"start": "2026-03-29T02:00:00+00:00", "reason": "cleanest window"}
    released = "2026-03-29T02:00:00.104+00:00"
    assert decoded(json.dumps(plan)) == plan == decoded(plan)
    assert decoded(json.dumps(released)) == released == decoded(released)
    assert decoded(None) is None


def test_the_extra_link_opens_the_tab_inside_airflows_ui():
    from airflow.models.taskinstancekey import TaskInstanceKey

    from cleanshift_airflow.links import CarbonReceiptLink

    link = CarbonReceiptLink()
    unmapped = TaskInstanceKey("etl", "carbon_window", "manual__2026-01-01T00:00:00+00:00", 1, -1)
    mapped = TaskInstanceKey("train", "chunk", "r1", 1, 3)
    assert link.get_link(None, ti_key=unmapped) == (
        "/dags/etl/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/tasks/carbon_window"
        "/plugin/cleanshift_receipt"
    )
    assert link.get_link(None, ti_key=mapped).endswith(
        "/tasks/chunk/mapped/3/plugin/cleanshift_receipt"
    )


def test_the_task_form_waits_in_the_triggerer_and_refuses_deferrable_false():
    window = {"provider": "mock", "duration": "1h"}
    # deferrable=True is what the task form does anyway: accepted by both forms.
    assert CarbonAwarePythonOperator(task_id="t", python_callable=print, deferrable=True, **window)
    carbon_task(deferrable=True, **window)
    for build in (
        lambda: CarbonAwarePythonOperator(
            task_id="t", python_callable=print, deferrable=False, **window
        ),
        lambda: carbon_task(deferrable=False, **window),  # at decoration, before any DAG
    ):
        with pytest.raises(ConfigurationError, match="CarbonWindowSensor\\(deferrable=False\\)"):
            build()
    with pytest.raises(ConfigurationError, match="deferrable must be True or False"):
        carbon_task(deferrable="no", **window)
    with pytest.raises(ConfigurationError, match="energy_kwh must be a positive number"):
        carbon_task(energy_kwh=0, **window)
