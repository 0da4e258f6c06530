#!/usr/bin/env bash
# Build .venvs/bench: this project plus the peers the planner benchmark races, installed from
# PyPI as the real packages (never project dependencies, never re-implementations):
#   cleanshift==0.1.0                    the seed, with its O(n²) find_cleanest_window
#   climate-aware-task-scheduler==1.2.1  CATS, with its O(n·w) WindowedForecast
# Usage: bash scripts/bench_env.sh && .venvs/bench/bin/python benchmarks/planner_speed.py
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh >/dev/null   # puts uv in .venvs/tools when it is not on PATH
if uv --version >/dev/null 2>&1; then UV=uv; else UV=.venvs/tools/bin/uv; fi
PEERS=(cleanshift==0.1.0 climate-aware-task-scheduler==1.2.1)
if [[ ! -x .venvs/bench/bin/python ]]; then
    "$UV" venv --quiet --python "$(command -v "${PYTHON:-python3.11}")" .venvs/bench
fi
"$UV" pip install --quiet --python .venvs/bench/bin/python -e . "${PEERS[@]}"
echo "bench_env: .venvs/bench has $(.venvs/bench/bin/python -c 'import importlib.metadata as m; print(", ".join(f"{d}=={m.version(d)}" for d in ("cleanshift-suite", "cleanshift", "climate-aware-task-scheduler")))')"
