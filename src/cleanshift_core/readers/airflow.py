"""Receipts from an Airflow 3 deployment, through its REST API (``/api/v2``).

Every cleanshift receipt is an XCom under ``cleanshift_receipt`` (the task form, the receipt
operator, a chunked job's summed receipt and its chunks'). The list endpoint with ``~`` for
the DAG, run and task ids finds them across all the DAGs the user may read; the values come
one GET per entry (the list carries none), a few at a time.

Authentication is Airflow's own: a JWT from ``POST /auth/token`` for a user name and password,
or a token the user already has. Secrets are held as ``SecretStr`` and sent only in the
``Authorization`` header, never in an error, a log line or a repr.

The period: a DAG run's work starts after the run is due (``run_after``), so runs due before
``until`` hold every receipt of work begun before it. Work can start long after its run is due
(a carbon wait), so runs due up to :data:`LOOKBACK` before ``since`` are read too; a receipt of
work that began more than that after its run was due is missed. Entries written (``timestamp``)
before ``since`` are not fetched: a receipt is written after its work ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from ..errors import ConfigurationError, DeploymentError, OldReceiptError
from ..report import JobReceipt, Skipped, load_receipt
from ._http import Receipts, base_url, gather_bounded, load_json, request, secret, stamp

#: The XCom keys of ``cleanshift_airflow.keys`` (the core imports no Airflow; a test ties them).
RECEIPT_XCOM_KEY = "cleanshift_receipt"
RECEIPT_PARTS_XCOM_KEY = "cleanshift_receipt_parts"

#: How long before ``since`` a DAG run may have been due and still hold a receipt of the period.
LOOKBACK = timedelta(days=7)

PAGE = 100
WHAT = "Airflow"


@dataclass(frozen=True)
class _Entry:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int

    @property
    def where(self) -> str:
        index = "" if self.map_index < 0 else f"[{self.map_index}]"
        return f"{self.dag_id} / {self.run_id} / {self.task_id}{index}"


class AirflowReader:
    """Read the receipts of an Airflow 3 deployment (``url``: the api-server's base URL).

    Give ``username`` and ``password`` (a JWT is requested from ``/auth/token``) or a
    ``token``. Arguments are checked here, once; nothing is sent until :meth:`read`.
    """

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | SecretStr | None = None,
        token: str | SecretStr | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = base_url(url, WHAT)
        if token is not None and (username is not None or password is not None):
            raise ConfigurationError("give Airflow either a token or a user name and password")
        if token is None and (username is None or password is None):
            raise ConfigurationError(
                "Airflow needs credentials: a user name and password, or a token"
            )
        if timeout <= 0:
            raise ConfigurationError(f"timeout must be positive seconds, got {timeout!r}")
        self.username = username
        self._password = secret(password)
        self._token = secret(token)
        self.timeout = timeout

    def __repr__(self) -> str:
        how = "token" if self._token is not None else f"user {self.username!r}"
        return f"AirflowReader({self.url!r}, {how})"

    async def read(self, since: datetime | None = None, until: datetime | None = None) -> Receipts:
        """The deployment's receipts of work that ran around ``[since, until)``."""
        async with httpx.AsyncClient(base_url=self.url, timeout=self.timeout) as client:
            client.headers["Authorization"] = f"Bearer {await self._bearer(client)}"
            receipts = await self._list(client, RECEIPT_XCOM_KEY, since, until)
            parts = await self._list(client, RECEIPT_PARTS_XCOM_KEY, since, until)
            part_values = await gather_bounded(
                parts, lambda e: self._value(client, e, RECEIPT_PARTS_XCOM_KEY)
            )
            summed_of = {
                (e.dag_id, e.run_id, str(load_json(v))): e.task_id
                for e, v in zip(parts, part_values, strict=True)
            }
            values = await gather_bounded(
                receipts, lambda e: self._value(client, e, RECEIPT_XCOM_KEY)
            )
        found: list[JobReceipt] = []
        skipped: list[Skipped] = []
        for entry, value in zip(receipts, values, strict=True):
            try:
                receipt = load_receipt(value)
            except OldReceiptError as exc:
                skipped.append(Skipped(entry.where, str(exc)))
                continue
            part_of = summed_of.get((entry.dag_id, entry.run_id, entry.task_id))
            found.append(JobReceipt(entry.dag_id, receipt, part_of))
        return Receipts(tuple(found), tuple(skipped))

    async def _bearer(self, client: httpx.AsyncClient) -> str:
        if self._token is not None:
            return self._token.get_secret_value()
        assert self._password is not None  # checked at construction
        body = await request(
            client,
            WHAT,
            "POST",
            "/auth/token",
            json={"username": self.username, "password": self._password.get_secret_value()},
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise DeploymentError(f"{WHAT} at {self.url} issued no access_token at /auth/token")
        return token

    async def _list(
        self, client: httpx.AsyncClient, key: str, since: datetime | None, until: datetime | None
    ) -> list[_Entry]:
        params: dict[str, Any] = {"xcom_key": key, "limit": PAGE}
        if since is not None:
            params["run_after_gte"] = (since - LOOKBACK).isoformat()
        if until is not None:
            params["run_after_lt"] = until.isoformat()
        entries: list[_Entry] = []
        offset = 0
        while True:
            page = await request(
                client,
                WHAT,
                "GET",
                "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries",
                params={**params, "offset": offset},
            )
            try:
                batch = page["xcom_entries"]
                total = int(page["total_entries"])
            except (TypeError, KeyError, ValueError):
                raise DeploymentError(
                    f"{WHAT} at {self.url} answered the XCom list without xcom_entries "
                    "(is this an Airflow 3 api-server?)"
                ) from None
            for item in batch:
                if item.get("key") != key:  # an older server may ignore the xcom_key filter
                    continue
                if since is not None and stamp(item["timestamp"]) < since:
                    continue  # written before the period began: its work ran before, too
                entries.append(
                    _Entry(item["dag_id"], item["run_id"], item["task_id"], item["map_index"])
                )
            offset += len(batch)
            if not batch or offset >= total:
                return entries

    async def _value(self, client: httpx.AsyncClient, entry: _Entry, key: str) -> Any:
        path = "/".join(
            (
                "/api/v2/dags",
                quote(entry.dag_id, safe=""),
                "dagRuns",
                quote(entry.run_id, safe=""),
                "taskInstances",
                quote(entry.task_id, safe=""),
                "xcomEntries",
                quote(key, safe=""),
            )
        )
        body = await request(
            client,
            WHAT,
            "GET",
            path,
            params={"map_index": entry.map_index, "deserialize": True, "stringify": False},
        )
        return body.get("value") if isinstance(body, dict) else None
