"""Airflow's simple auth manager plus per-user DAG allow-lists, for the authorisation tests.

The simple auth manager grants by role only (viewer, user, op, admin): every viewer reads
every DAG, unless multi-team mode splits DAG bundles by team. Real deployments restrict DAGs
per user with the FAB or a cloud auth manager; this subclass stands in for them by denying
``is_authorized_dag`` for DAGs outside a user's list, so the plugin's use of the auth
manager's DAG-level check is tested in the real api-server.

``CLEANSHIFT_TEST_DAG_ACCESS="alice=dag_a|dag_b;bob=dag_c"``: users not listed keep their
role's access.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


def allow_lists() -> dict[str, set[str]]:
    raw = os.environ.get("CLEANSHIFT_TEST_DAG_ACCESS", "")
    lists = {}
    for entry in filter(None, raw.split(";")):
        user, _, dags = entry.partition("=")
        lists[user.strip()] = {d.strip() for d in dags.split("|") if d.strip()}
    return lists


class DagScopedAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method: Any, user: Any, access_entity=None, details=None):
        allowed = allow_lists().get(user.username)
        if allowed is not None and (details is None or details.id not in allowed):
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
