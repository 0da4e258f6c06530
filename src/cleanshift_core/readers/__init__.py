"""Readers of the receipts a deployment stores, for ``cleanshift report``: an Airflow
deployment through its REST API (:class:`.airflow.AirflowReader`), a Prefect server through
its artifacts API (:class:`.prefect.PrefectReader`).

Plain HTTP (httpx), no orchestrator import: the report runs from a laptop or CI job that has
neither installed, with the user's own credentials. Each reader returns :class:`Receipts` —
what it could read, and what it skipped and why — and :func:`cleanshift_core.report.summarise`
adds them up. Readers may over-fetch around the period's bounds; ``summarise`` applies the
period exactly.
"""

from ._http import Receipts
from .airflow import AirflowReader
from .prefect import PrefectReader

__all__ = ["AirflowReader", "PrefectReader", "Receipts"]
