"""Receipts from a Prefect server (or Prefect Cloud), through its artifacts API.

Where the receipt is: every carbon-aware step writes a markdown report artifact under
``<slug>-carbon-report`` (a new version per run). Since cleanshift 0.3 its last lines carry
the whole receipt as one line of JSON in a fenced block under :data:`RECEIPT_MARKER`, written
by :func:`receipt_markdown` and read back by :func:`receipt_from_markdown`; what users see
above it is unchanged. The receipt *table* artifact stays display rows only. A report
artifact written before 0.3 has no such block: it is skipped, with that reason.

The job of a receipt is its flow's name (a task's receipt belongs to the flow it ran in),
looked up from the artifact's flow run. Artifacts come newest first; paging stops at the first
one created before ``since`` (a receipt is written after its work ran).

An API key (Prefect Cloud) is sent only in the ``Authorization`` header, held as
``SecretStr``, never in an error, a log line or a repr.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from ..errors import ConfigurationError, DeploymentError, OldReceiptError
from ..receipt import CarbonReceipt
from ..report import JobReceipt, Skipped, load_receipt
from ._http import Receipts, base_url, request, secret, stamp

#: The key suffix of the markdown report artifact (``ArtifactKeys.report`` in cleanshift_prefect).
REPORT_KEY_SUFFIX = "-carbon-report"
#: The line that introduces the machine-readable receipt in a report artifact.
RECEIPT_MARKER = "Receipt as JSON, for `cleanshift report`:"
_BLOCK = re.compile(re.escape(RECEIPT_MARKER) + r"\s*```json\n(?P<json>[^\n]*)\n```")

PAGE = 200  # the Prefect server's default maximum page size
WHAT = "Prefect"


def receipt_markdown(receipt: CarbonReceipt) -> str:
    """The lines appended to a report artifact: the marker, and the receipt as one JSON line."""
    return f"{RECEIPT_MARKER}\n\n```json\n{receipt.model_dump_json()}\n```"


def receipt_from_markdown(markdown: str) -> CarbonReceipt:
    """The receipt :func:`receipt_markdown` put in ``markdown``; :class:`OldReceiptError` if
    there is none (a report written before cleanshift 0.3) or it cannot be read."""
    found = _BLOCK.search(markdown)
    if found is None:
        raise OldReceiptError(
            "written by an older cleanshift (its report artifact carries no machine-readable "
            "receipt); re-run the flow with cleanshift 0.3+ to get one the report can total"
        )
    return load_receipt(found["json"])


class PrefectReader:
    """Read the receipts on a Prefect server (``url``: its API URL, as ``PREFECT_API_URL``,
    e.g. ``http://127.0.0.1:4200/api``); ``api_key`` for Prefect Cloud."""

    def __init__(
        self, url: str, *, api_key: str | SecretStr | None = None, timeout: float = 30.0
    ) -> None:
        self.url = base_url(url, WHAT)
        if timeout <= 0:
            raise ConfigurationError(f"timeout must be positive seconds, got {timeout!r}")
        self._api_key = secret(api_key)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"PrefectReader({self.url!r}{', with an API key' if self._api_key else ''})"

    async def read(self, since: datetime | None = None, until: datetime | None = None) -> Receipts:
        """The server's receipts of work that ran around ``[since, until)`` (``until`` is
        applied by :func:`~cleanshift_core.report.summarise`)."""
        headers = {}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        async with httpx.AsyncClient(
            base_url=self.url + "/", timeout=self.timeout, headers=headers
        ) as client:
            artifacts = await self._artifacts(client, since)
            flows = await self._flow_names(
                client, {a["flow_run_id"] for a in artifacts if a.get("flow_run_id")}
            )
        found: list[JobReceipt] = []
        skipped: list[Skipped] = []
        for artifact in artifacts:
            key = artifact["key"]
            job = flows.get(artifact.get("flow_run_id") or "", key[: -len(REPORT_KEY_SUFFIX)])
            where = f"{job} / artifact {key} ({artifact.get('created', '?')})"
            data = artifact.get("data")
            try:
                if not isinstance(data, str):
                    raise OldReceiptError("not a receipt: the artifact has no markdown")
                receipt = receipt_from_markdown(data)
            except OldReceiptError as exc:
                skipped.append(Skipped(where, str(exc)))
                continue
            found.append(JobReceipt(job, receipt))
        return Receipts(tuple(found), tuple(skipped))

    async def _artifacts(self, client: httpx.AsyncClient, since: datetime | None) -> list[dict]:
        out: list[dict] = []
        offset = 0
        while True:
            batch = await request(
                client,
                WHAT,
                "POST",
                "artifacts/filter",
                json={
                    "artifacts": {
                        "key": {"like_": REPORT_KEY_SUFFIX},
                        "type": {"any_": ["markdown"]},
                    },
                    "sort": "CREATED_DESC",
                    "limit": PAGE,
                    "offset": offset,
                },
            )
            if not isinstance(batch, list):
                raise DeploymentError(
                    f"{WHAT} at {self.url} answered artifacts/filter without a list "
                    "(is this the API URL, ending in /api?)"
                )
            for artifact in batch:
                if since is not None and stamp(artifact["created"]) < since:
                    return out  # newest first: everything after this is older
                if str(artifact.get("key") or "").endswith(REPORT_KEY_SUFFIX):
                    out.append(artifact)
            offset += len(batch)
            if len(batch) < PAGE:
                return out

    async def _flow_names(self, client: httpx.AsyncClient, run_ids: set[str]) -> dict[str, str]:
        """Flow run id → flow name, in as few requests as pages."""
        runs: list[dict[str, Any]] = []
        ids = sorted(run_ids)
        for at in range(0, len(ids), PAGE):
            runs += await request(
                client,
                WHAT,
                "POST",
                "flow_runs/filter",
                json={"flow_runs": {"id": {"any_": ids[at : at + PAGE]}}, "limit": PAGE},
            )
        flow_ids = sorted({r["flow_id"] for r in runs})
        names: dict[str, str] = {}
        for at in range(0, len(flow_ids), PAGE):
            for f in await request(
                client,
                WHAT,
                "POST",
                "flows/filter",
                json={"flows": {"id": {"any_": flow_ids[at : at + PAGE]}}, "limit": PAGE},
            ):
                names[f["id"]] = f["name"]
        return {r["id"]: names.get(r["flow_id"], r["flow_id"]) for r in runs}
