"""Deployment mode with ``serve()``: the wait releases the process.

Start it, then trigger a run (UI "Quick run", or ``prefect deployment run
'nightly-etl/nightly-etl-carbon'``). The run plans, moves itself to a ``Scheduled`` state named
"Carbon window" at the window's start (its message says when and what that saves) and its
process exits. No flow process exists until the runner starts the same flow run again when
the window opens; it runs the ETL and writes the receipt, and only then does the run complete
(so ``run_deployment``, hooks and automations see the real work).

    prefect server start &                       # or use Prefect Cloud
    python example_flows/serve_deferred.py

For a work pool instead of serve(), see example_flows/prefect.yaml.
"""

from nightly_etl import nightly_etl

if __name__ == "__main__":
    nightly_etl.serve(name="nightly-etl-carbon", cron="0 1 * * *", parameters={"day": "today"})
