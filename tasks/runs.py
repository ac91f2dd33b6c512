"""Opening and closing a run: the row every other record of the night points to."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dunning.documents.reports import RunSummary

from .context import store, trace_for


@task(name="open_collection_run", cache_policy=NO_CACHE)
def open_collection_run(as_of: date, dry_run: bool) -> int:
    run_id = store().open_run(as_of, dry_run, trace_for(None))
    get_run_logger().info("Collection run %d opened for %s%s.", run_id, as_of, " (dry run)" if dry_run else "")
    return run_id


@task(name="count_messages_handled_elsewhere", cache_policy=NO_CACHE)
def count_messages_handled_elsewhere(run_id: int) -> dict[int, int]:
    """Two runs of one night (a double-fired schedule): what the other run sent of this run's plan."""
    return store().handled_elsewhere(run_id)


@task(name="close_collection_run", cache_policy=NO_CACHE)
def close_collection_run(summary: RunSummary) -> str:
    problems = summary.problems()
    status = "failed" if problems else "completed"
    message = " | ".join(problems) or summary.handled_elsewhere_line() or "All planned messages were handled."
    store().finish_run(trace_for(summary.run_id), status, summary.counts(), message, summary.text())
    get_run_logger().info("Run %d %s: %s", summary.run_id, status, message)
    return status
