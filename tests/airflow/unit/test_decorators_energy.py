"""``cleanshift_airflow.decorators``, measured energy with ``dag.test()``: CodeCarbon offline
around the task form's callable, and another task's measured kWh attached to a sensor-gated
receipt by a templated ``energy_kwh`` reading an XCom. (Serialising a scratch DAG folder uses
Airflow 3.3's ``airflow.dag_processing.dagbag``, so this file is not in the smoke suite.)"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from cleanshift_airflow import RECEIPT_XCOM_KEY
from cleanshift_airflow.decorators import carbon_task
from cleanshift_core import CarbonReceipt, ConfigurationError
from tests.airflow.helpers import xcom

HERE = Path(__file__).parent


@pytest.mark.usefixtures("airflow_db")
def test_task_form_measures_its_callable_and_a_receipt_operator_reads_kwh_from_xcom(tmp_path):
    # dag.test() runs serialized DAGs only: serialize this one from a scratch folder first.
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()

    shutil.copy(HERE / "measured_energy_dag.py", tmp_path / "measured_energy_dag.py")
    bag = BundleDagBag(dag_folder=tmp_path, bundle_path=tmp_path, bundle_name="dags-folder")
    sync_bag_to_db(bag, "dags-folder", None)
    spec = importlib.util.spec_from_file_location(
        "measured_energy_dag", tmp_path / "measured_energy_dag.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = module.dag_object.test()
    measured = CarbonReceipt.model_validate(xcom(run.run_id, "score", RECEIPT_XCOM_KEY))
    assert measured.energy_source == "measured" and measured.energy_kwh > 0
    assert measured.energy_method and measured.sci_g_per_unit is not None
    pushed = xcom(run.run_id, "transform", "energy_kwh")
    attached = CarbonReceipt.model_validate(xcom(run.run_id, "receipt", RECEIPT_XCOM_KEY))
    assert attached.energy_source == "given" and attached.energy_kwh == pytest.approx(pushed)
    assert attached.emitted_g == pytest.approx(pushed * attached.avg_intensity_gco2_per_kwh)
    unknown = CarbonReceipt.model_validate(xcom(run.run_id, "empty", RECEIPT_XCOM_KEY))
    assert unknown.energy_source == "unknown" and "rendered empty" in unknown.energy_note


def test_bad_energy_mode_fails_at_parse_time():
    with pytest.raises(ConfigurationError, match="energy must be 'nominal'"):
        carbon_task(provider="mock", duration="1h", energy="watts")
