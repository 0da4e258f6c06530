#!/usr/bin/env bash
# The distribution as a user gets it, not the editable checkout the suites import:
#   1. build the sdist and the wheel (the wheel from the sdist, so the sdist is complete) and
#      check their metadata (twine check --strict: the README renders on PyPI);
#   2. bare wheel, no extras, in a clean venv: `cleanshift --help`, the seed's
#      `schedule --dry-run`, cleanshift_core and the study's workload run, matplotlib is absent;
#   3. wheel[airflow]: cleanshift_airflow imports, the provider is in `airflow providers list`,
#      its plugin in `airflow plugins`, and get_provider_info() validates against the
#      provider_info.schema.json that the installed Airflow ships;
#   4. wheel[prefect]: cleanshift_prefect imports and `prefect block register -m
#      cleanshift_prefect` registers the credentials block (on an ephemeral Prefect server).
# Each venv resolves the extra plainly, as `pip install` would today. Run by scripts/test.sh
# (SUITES=packaging); needs the uv that scripts/bootstrap.sh finds or installs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
if uv --version >/dev/null 2>&1; then UV=uv; else UV=$ROOT/.venvs/tools/bin/uv; fi
PY=$(command -v "${PYTHON:-python3.11}")
export UV_PYTHON_DOWNLOADS=never
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cleanshift-packaging.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
step() { echo "packaging: $*"; }
fail() { echo "packaging: FAILED: $*" >&2; exit 1; }

step "uv build (sdist, then the wheel from it)"
"$UV" build --quiet --out-dir "$WORK/dist" "$ROOT"
SDIST=$(echo "$WORK"/dist/cleanshift_suite-*.tar.gz)
WHEEL=$(echo "$WORK"/dist/cleanshift_suite-*.whl)
[[ -f $SDIST && -f $WHEEL ]] || fail "uv build made no sdist/wheel: $(ls "$WORK/dist")"
step "twine check --strict $(basename "$SDIST") $(basename "$WHEEL")"
"$UV" tool run --quiet --from 'twine>=7,<8' twine check --strict "$SDIST" "$WHEEL"

# clean_venv NAME REQUIREMENT -> path of the venv, with REQUIREMENT installed (not editable)
clean_venv() {
    "$UV" venv --quiet --python "$PY" "$WORK/$1"
    "$UV" pip install --quiet --python "$WORK/$1/bin/python" "$2"
    echo "$WORK/$1"
}

step "bare wheel: cleanshift --help, schedule --dry-run, no matplotlib"
BARE=$(clean_venv bare "$WHEEL")
"$BARE/bin/cleanshift" --help >"$WORK/help.txt" || fail "cleanshift --help: $(cat "$WORK/help.txt")"
grep -q "schedule" "$WORK/help.txt" || fail "cleanshift --help lists no schedule command"
"$BARE/bin/cleanshift" schedule --duration 2h --max-delay 24h --dry-run
"$BARE/bin/python" - <<'PYTHON'
import importlib.util

import cleanshift_core
from cleanshift_core.scenarios import study_ml_jobs

assert importlib.util.find_spec("matplotlib") is None, "matplotlib in a bare install: [plot] leaked"
assert len(study_ml_jobs(n=3)) == 3, "the study's workload needs only the base install (NumPy)"
print(f"packaging: {cleanshift_core.__name__} imports; matplotlib only with [plot]")
PYTHON

step "wheel[airflow]: providers list, plugins, provider-info schema"
AF=$(clean_venv airflow "$WHEEL[airflow]")
export AIRFLOW_HOME=$WORK/airflow-home AIRFLOW__CORE__LOAD_EXAMPLES=False
mkdir -p "$AIRFLOW_HOME"
"$AF/bin/airflow" providers list -o plain >"$WORK/providers.txt" 2>"$WORK/providers.err" \
    || fail "airflow providers list: $(tail -5 "$WORK/providers.err")"
grep -q "^cleanshift-suite" "$WORK/providers.txt" \
    || fail "cleanshift-suite not in airflow providers list: $(cat "$WORK/providers.txt")"
"$AF/bin/airflow" plugins -o plain >"$WORK/plugins.txt" 2>"$WORK/plugins.err" \
    || fail "airflow plugins: $(tail -5 "$WORK/plugins.err")"
grep -q "^cleanshift" "$WORK/plugins.txt" || fail "no cleanshift plugin: $(cat "$WORK/plugins.txt")"
"$AF/bin/python" - <<'PYTHON'
import json
from importlib.resources import files

import jsonschema
from airflow import __version__

import cleanshift_airflow
from cleanshift_airflow.get_provider_info import get_provider_info

schema = json.loads((files("airflow") / "provider_info.schema.json").read_text())
jsonschema.validate(get_provider_info(), schema)
print(f"packaging: {cleanshift_airflow.__name__} imports; get_provider_info() is valid for "
      f"Airflow {__version__}'s provider_info.schema.json")
PYTHON

step "wheel[prefect]: prefect block register -m cleanshift_prefect"
PF=$(clean_venv prefect "$WHEEL[prefect]")
export PREFECT_HOME=$WORK/prefect-home PREFECT_SERVER_ANALYTICS_ENABLED=false
# uv installs without bytecode, so the ephemeral server's first start compiles Prefect's server
# modules; on 2 busy cores that once took longer than Prefect's default 20 s wait for it.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120
unset PREFECT_API_URL PREFECT_API_KEY
"$PF/bin/python" -c "import cleanshift_prefect"
"$PF/bin/prefect" block register -m cleanshift_prefect >"$WORK/register.txt" 2>&1 \
    || fail "prefect block register: $(tail -20 "$WORK/register.txt")"
"$PF/bin/python" - <<'PYTHON'
import asyncio

from prefect import __version__
from prefect.client.orchestration import get_client

from cleanshift_prefect import BLOCK_TYPE_SLUG


async def main() -> None:
    async with get_client() as client:
        block_type = await client.read_block_type_by_slug(BLOCK_TYPE_SLUG)
        schema = await client.get_most_recent_block_schema_for_block_type(block_type.id)
    assert schema is not None and "api_key" in schema.fields["properties"], schema
    print(f"packaging: block type {block_type.slug!r} registered on Prefect {__version__}")


asyncio.run(main())
PYTHON
step "passed"
