"""``cleanshift_airflow.keys``: XComs read back the same from a worker or a trigger's end event."""

from __future__ import annotations


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
