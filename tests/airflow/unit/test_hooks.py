"""The ``cleanshift`` connection: its form lists the real provider kinds, and ``airflow
connections test`` makes one current-intensity request without echoing secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from fake_ukci import FakeUKCI

from cleanshift_airflow.get_provider_info import PROVIDER_KINDS, get_provider_info

CANARY = "CANARY-connection-test-91b2"
REGISTERED_KINDS = (
    "import json; from cleanshift_core.providers import provider_kinds; "
    "print(json.dumps(provider_kinds()))"
)


def test_the_provider_kind_field_offers_exactly_the_registered_kinds():
    # the core's own registry, in a fresh interpreter (tests register extra kinds here)
    registered = subprocess.run(
        [sys.executable, "-c", REGISTERED_KINDS], capture_output=True, text=True, check=True
    ).stdout
    [conn] = get_provider_info()["connection-types"]
    field = conn["conn-fields"]["provider"]
    assert list(PROVIDER_KINDS) == json.loads(registered) == field["schema"]["enum"]
    assert "uk_carbon_intensity" not in field["description"] and "ukci" in field["description"]
    assert conn["conn-fields"]["options"]["schema"]["type"] == ["object", "null"]


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
