"""``cleanshift_airflow.hooks``: connection fields and references become provider specs with
masked secrets, and ``airflow connections test`` makes one current-intensity request without
echoing secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from airflow.sdk import Connection
from pydantic import SecretStr

from cleanshift_airflow.hooks import provider_reference, spec_from_connection
from cleanshift_core import ConfigurationError
from tests.airflow.fake_ukci import FakeUKCI

CANARY = "CANARY-connection-test-91b2"


def connections_test(conn_id: str, connection: dict) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
    }
    return subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "test", conn_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # the tests read the exit code
    )


def test_airflow_connections_test_asks_the_provider_once():
    with FakeUKCI(step=1800) as api:
        api.set_dip("GB", int(time.time()) // 1800 * 1800, 123.0)
        done = connections_test(
            "grid_ok",
            {"conn_type": "cleanshift", "host": api.url, "extra": {"provider": "ukci"}},
        )
        requests = len(api.requests)
    assert done.returncode == 0, done.stderr
    assert "Connection success!" in done.stdout
    assert requests == 1


def test_the_hook_says_what_the_provider_answered(monkeypatch):
    """The message the UI's Test button shows (the CLI prints only success / failure)."""
    from cleanshift_airflow.hooks import CleanshiftHook

    with FakeUKCI(step=1800) as api:
        api.set_dip("GB", int(time.time()) // 1800 * 1800, 123.0)
        connection = {"conn_type": "cleanshift", "host": api.url, "extra": {"provider": "ukci"}}
        monkeypatch.setenv("AIRFLOW_CONN_GRID_MSG", json.dumps(connection))
        ok, message = CleanshiftHook("grid_msg").test_connection()
    assert ok and message.startswith("ukci answered: 123 gCO2eq/kWh for ")


def test_a_failing_connection_test_says_why_and_never_shows_the_key():
    done = connections_test(
        "grid_down",
        {
            "conn_type": "cleanshift",
            "host": "http://127.0.0.1:9",  # discard port: nothing listens
            "password": CANARY,
            "extra": {
                "provider": "electricitymaps",
                "region": "DE",
                "options": {"retry": {"attempts": 1}},
            },
        },
    )
    out = done.stdout + done.stderr
    assert "Connection failed" in out and "Error" in out
    assert CANARY not in out


def test_a_missing_connection_says_in_one_line_how_to_create_it():
    import pytest

    from cleanshift_airflow.hooks import resolve_spec
    from cleanshift_core import ConfigurationError

    with pytest.raises(ConfigurationError) as err:
        resolve_spec("cleanshift_default")
    message = str(err.value)
    assert "\n" not in message and "no Airflow connection 'cleanshift_default'" in message
    assert "airflow connections add cleanshift_default --conn-type cleanshift" in message


def test_connection_ids_and_templated_specs_are_kept_for_run_time():
    assert provider_reference("cleanshift_default") == "cleanshift_default"
    templated = {"kind": "mock", "anchor": "{{ dag_run.start_date.isoformat() }}"}
    assert provider_reference(templated) == templated
    assert provider_reference("mock:speedup=720") == {"kind": "mock", "speedup": 720}


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
