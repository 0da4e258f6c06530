"""Secrets canary, core venv: a key planted in a provider spec never reaches any output.

The canary travels the whole CLI path (plan → wait → run → receipt) as a real provider's API
key, sent over a real socket to a local API that echoes every request header back in a
garbage answer; planning falls back per ``on_provider_error``, the command runs in its window,
and the receipt is written. Then every place a secret could leak is searched: stdout, stderr,
log records, the receipt file, the plan printed as JSON, and the provider's reprs.
"""

from __future__ import annotations

import logging
import sys

from cleanshift_core import CarbonReceipt, ProviderSpec, build_provider
from cleanshift_core.cli import run

from ..fault_server import FaultyGridServer
from .conftest import T0

CANARY = "CANARY-core-5b7d91e3"


def test_canary_never_leaves_the_spec(tmp_path, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    receipt_file = tmp_path / "receipt.json"
    with FaultyGridServer(T0, lambda t: 300.0) as api:
        api.mode = "echo"  # answers with the request headers: the key is in them
        provider = [
            "--provider",
            "electricitymaps",
            "--region",
            "DE",
            "--api-key",
            CANARY,
            "-o",
            f"base_url={api.url}",
        ]
        planned = run(
            ["schedule", *provider, "--json", "--duration", "1h", "--on-provider-error", "run_now"]
        )
        waited = run(
            [
                "wait",
                *provider,
                "--duration",
                "1s",
                "--max-delay",
                "2s",
                "--on-provider-error",
                "wait_until_deadline",
                "--receipt",
                str(receipt_file),
                "--",
                sys.executable,
                "-c",
                "print('job ran')",
            ]
        )
        bad = run(["schedule", "--provider", f'{{"kind": "x", "api_key": "{CANARY}"}}'])
        optioned = run(["schedule", "--provider", "mock", "-o", f"api_key:{CANARY}"])
    out, err = capfd.readouterr()  # the command's own output too

    assert api.requests and all(mode == "echo" for mode, _ in api.requests)
    assert (planned, waited, bad, optioned) == (0, 0, 2, 2), err
    assert "job ran" in out and "carbon receipt" in err
    receipt = CarbonReceipt.model_validate_json(receipt_file.read_text())
    assert "BadDataError" in receipt.reason  # the echoed page was refused as data...
    everything = [out, err, caplog.text, receipt_file.read_text(), receipt.model_dump_json()]
    assert "**********" in caplog.text  # ...and the echo of the key was scrubbed, not dropped
    assert not [text for text in everything if CANARY in text]


def test_canary_is_masked_in_specs_and_providers():
    for spec in (
        {"kind": "electricitymaps", "region": "DE", "api_key": CANARY},
        f"watttime:region=CAISO_NORTH,username=u,password={CANARY}",
        [{"kind": "electricitymaps", "region": "DE", "api_key": CANARY}, "mock"],
    ):
        parsed = ProviderSpec.parse(spec) if not isinstance(spec, list) else None
        provider = build_provider(spec)
        shown = [repr(provider), str(provider)]
        if parsed is not None:
            shown += [repr(parsed), str(parsed.public_options())]
        assert not [text for text in shown if CANARY in text]
