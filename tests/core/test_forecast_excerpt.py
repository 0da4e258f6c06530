"""A plan's forecast held as columns: the same JSON, values and equality as a list of Interval."""

from __future__ import annotations

import copy
import gc
import pickle
from datetime import datetime, timedelta, timezone
from enum import Enum

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from cleanshift_core import Interval, JobSpec, Plan, SchedulingRules
from cleanshift_core.plan import ForecastExcerpt
from cleanshift_core.policies import decide

from .test_plan_excerpt import five_minute

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
AS_LIST = TypeAdapter(list[Interval])

interval_lists = st.lists(
    st.tuples(
        st.integers(min_value=-(10**12), max_value=10**13),  # µs from T0, whole seconds or not
        st.integers(min_value=1, max_value=10**11),
        st.floats(min_value=0, max_value=5000, allow_nan=False),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(interval_lists)
def test_columns_dump_exactly_what_a_list_of_intervals_dumped(rows):
    intervals = [
        Interval(
            start=T0 + timedelta(microseconds=a),
            end=T0 + timedelta(microseconds=a + d),
            intensity=v,
        )
        for a, d, v in rows
    ]
    excerpt = ForecastExcerpt.of_intervals(intervals)
    assert list(excerpt) == intervals and excerpt == intervals
    assert AS_LIST.dump_json(intervals) == TypeAdapter(ForecastExcerpt).dump_json(excerpt)
    assert AS_LIST.dump_python(intervals) == TypeAdapter(ForecastExcerpt).dump_python(excerpt)
    assert TypeAdapter(ForecastExcerpt).validate_json(AS_LIST.dump_json(intervals)) == excerpt


def test_a_plan_reads_its_forecast_as_intervals_and_round_trips():
    series = five_minute(7)
    plan = decide(
        series,
        JobSpec(duration=timedelta(hours=4), earliest_start=series.start, finish_by=series.end),
        SchedulingRules(),
        series.start,
    )
    assert isinstance(plan.forecast, ForecastExcerpt)
    first, last = plan.forecast[0], plan.forecast[-1]
    assert isinstance(first, Interval) and first.start == series.start and last.end == series.end
    assert plan.forecast[1:3] == list(plan.forecast)[1:3]
    again = Plan.model_validate_json(plan.model_dump_json())
    assert again == plan and again.forecast == plan.forecast
    assert Plan.model_validate(plan.model_dump()) == plan
    assert pickle.loads(pickle.dumps(plan)) == plan and copy.deepcopy(plan) == plan
    assert Plan.model_json_schema()["properties"]["forecast"]["items"] == {
        "$ref": "#/$defs/Interval"
    }
    # the old form still validates into the new one
    assert plan.model_copy(update={"forecast": []}).forecast == []
    assert Plan.model_validate({**plan.model_dump(), "forecast": list(plan.forecast)}) == plan


def test_a_plan_is_a_few_objects_for_the_garbage_collector_whatever_its_forecast():
    series = five_minute(7)
    job = JobSpec(duration=timedelta(hours=4), earliest_start=series.start, finish_by=series.end)
    plan = decide(series, job, SchedulingRules(), series.start)
    seen, todo = set(), [plan]
    while todo:  # every GC-tracked object reachable from the plan
        obj = todo.pop()
        if id(obj) in seen or not gc.is_tracked(obj) or isinstance(obj, (type, Enum)):
            continue  # classes and enum members are shared, not the plan's own
        seen.add(id(obj))
        todo.extend(gc.get_referents(obj))
    assert len(plan.forecast) > 100
    assert len(seen) < 60  # the plan, its dicts, three alternatives; not one per interval
