"""``cleanshift report`` bad input, without a deployment: a closed port, a server that is not
Airflow or Prefect, wrong flags; each a one-line answer, exit 2, no secret in sight. (The real
Airflow stack and Prefect server cases are in tests/airflow and tests/prefect.)"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cleanshift_core import ConfigurationError
from cleanshift_core.cli import run
from cleanshift_core.cli.report import PLOT_INSTALL_HINT, when
from cleanshift_core.readers import AirflowReader, PrefectReader

from .test_cli import assert_one_line_error

SECRET = "s3cret-Pa55word-never-shown"


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NotAnApi(BaseHTTPRequestHandler):
    """A web server that is neither Airflow nor Prefect: 404 for everything, or HTML."""

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        code = 200 if self.path.startswith("/html") else 404
        body = b"<html>hello</html>"
        self.send_response(code)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotAnApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_airflow_is_one_line_and_shows_no_password(capsys, closed_port):
    code, out, err = cli(
        capsys,
        "report",
        "--airflow",
        f"http://127.0.0.1:{closed_port}",
        "--username",
        "admin",
        "--password",
        SECRET,
    )
    assert_one_line_error(code, out, err, "cannot reach Airflow", "Connection refused")
    assert SECRET not in out + err


def test_an_unreachable_prefect_is_one_line_and_shows_no_api_key(capsys, closed_port):
    code, out, err = cli(
        capsys, "report", "--prefect", f"http://127.0.0.1:{closed_port}/api", "--api-key", SECRET
    )
    assert_one_line_error(code, out, err, "cannot reach Prefect", "Connection refused")
    assert SECRET not in out + err


def test_credentials_come_from_the_environment_too(capsys, closed_port, monkeypatch):
    monkeypatch.setenv("CLEANSHIFT_AIRFLOW_USERNAME", "admin")
    monkeypatch.setenv("CLEANSHIFT_AIRFLOW_PASSWORD", SECRET)
    code, out, err = cli(capsys, "report", "--airflow", f"http://127.0.0.1:{closed_port}")
    assert_one_line_error(code, out, err, "cannot reach Airflow")  # past the credentials check
    assert SECRET not in out + err


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--airflow", "{web}", "--token", "t"], "Airflow at {web} answered HTTP 404"),
        (["--prefect", "{web}/api"], "Prefect at {web}/api answered HTTP 404"),
        (["--prefect", "{web}/html"], "not JSON (is this the Prefect API URL?)"),
    ],
)
def test_a_server_that_is_not_the_api_is_named_as_such(capsys, web, flags, says):
    code, out, err = cli(capsys, "report", *(f.format(web=web) for f in flags))
    assert_one_line_error(code, out, err, says.format(web=web))


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        ([], "give one of --airflow URL or --prefect URL"),
        (["--airflow", "http://a", "--prefect", "http://b/api"], "give one of"),
        (["--airflow", "http://a"], "needs credentials"),
        (["--airflow", "http://a", "--username", "u"], "needs credentials"),
        (["--airflow", "http://a", "--token", "t", "--username", "u"], "either a token"),
        (["--airflow", "ftp://a", "--token", "t"], "must be http(s)://"),
        (["--airflow", f"http://u:{SECRET}@a", "--token", "t"], "no credentials in the"),
        (["--prefect", "http://a/api", "--since", "yesterday"], "neither an ISO time"),
        (["--prefect", "http://a/api", "--since", "2026-13-01"], "not an ISO time"),
        (["--prefect", "http://a/api", "--since", "2026-11-01T00:00"], "no UTC offset"),
        (["--prefect", "http://a/api", "--since", "1d", "--until", "2d"], "must be before"),
        (["--prefect", "http://a/api", "--format", "xml"], "xml"),
    ],
)
def test_bad_flags_are_one_line_exit_2(capsys, flags, says):
    code, out, err = cli(capsys, "report", *flags)
    assert_one_line_error(code, out, err, says)
    assert SECRET not in out + err


def test_chart_without_matplotlib_names_the_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what find_spec sees when absent
    code, out, err = cli(capsys, "report", "--prefect", "http://a/api", "--chart", "x.png")
    assert_one_line_error(code, out, err, PLOT_INSTALL_HINT)


def test_since_and_until_forms():
    now = datetime(2026, 12, 2, 17, 0, tzinfo=timezone.utc)
    assert when("now", "--until", now) == now
    assert when("30d", "--since", now) == now - timedelta(days=30)
    assert when("12h", "--since", now) == now - timedelta(hours=12)
    assert when("2026-11-01", "--since", now) == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert when("2026-11-01T06:00+01:00", "--since", now) == datetime(
        2026, 11, 1, 5, tzinfo=timezone.utc
    )
    with pytest.raises(ConfigurationError):
        when("soon", "--since", now)


def test_readers_keep_their_secrets_out_of_reprs():
    airflow = AirflowReader("http://a", username="admin", password=SECRET)
    assert SECRET not in repr(airflow) and SECRET not in str(vars(airflow))
    assert SECRET not in repr(AirflowReader("http://a", token=SECRET))
    prefect = PrefectReader("http://a/api", api_key=SECRET)
    assert SECRET not in repr(prefect) and SECRET not in str(vars(prefect))
