"""Deployment mode with ``serve()``: the wait releases the process.

Start it, then trigger a run (UI "Quick run", or ``prefect deployment run
'nightly-etl/nightly-etl-carbon'``). The run plans, creates a run of the same deployment in a
``Scheduled`` state named "Carbon window" at the window's start, and ends ``Completed`` with
the name "Deferred". No flow process exists until the runner starts the continuation when the
window opens; it runs the ETL with the original parameters and writes the receipt.

    prefect server start &                       # or use Prefect Cloud
    python example_flows/serve_deferred.py

For a work pool instead of serve(), see example_flows/prefect.yaml.
"""

from nightly_etl import nightly_etl

if __name__ == "__main__":
    nightly_etl.serve(name="nightly-etl-carbon", cron="0 1 * * *", parameters={"day": "today"})
