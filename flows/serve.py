"""Serve the nightly and dispatch deployments, and the operator's levers, from this one machine:
no work pool, no worker.

    python -m flows.serve          # keep it running (systemd, tmux...); Ctrl-C stops it

It needs a Prefect server (`prefect server start`, PREFECT_API_URL pointing at it) to keep the
schedule and the run history. prefect.yaml describes the same deployment for a worker.
"""

from __future__ import annotations

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron

from .dispatch import dispatch_queue, resend_failed
from .levers import LEVER_FLOWS
from .nightly import nightly_collection

NIGHTLY_CRON = "0 2 * * *"
DISPATCH_CRON = "15 8 * * 1-5"   # inside the sending window; a holiday run finds itself outside and waits
TIMEZONE = "Europe/Paris"


def nightly_deployment():
    return nightly_collection.to_deployment(
        name="nightly",
        description="Nightly receivables collection (served from one machine).",
        tags=["collection", "nightly"],
        schedules=[Cron(NIGHTLY_CRON, timezone=TIMEZONE)],
        parameters={"as_of": None, "dry_run": False},
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
    )


def dispatch_deployment():
    return dispatch_queue.to_deployment(
        name="dispatch",
        description="Sends the messages the nightly run queued, inside the sending window.",
        tags=["collection", "dispatch"],
        schedules=[Cron(DISPATCH_CRON, timezone=TIMEZONE)],
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
    )


def resend_failed_deployment():
    """Never scheduled: an operator resends the failures of one night, or of some invoices, from the UI."""
    return resend_failed.to_deployment(
        name="resend-failed",
        description="Sends again the failed messages of one run date and/or of the given invoice numbers.",
        tags=["collection", "operator"],
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
    )


def lever_deployments():
    """One deployment per lever, never scheduled: an operator runs them from the UI's Run form."""
    return [lever.to_deployment(name=name, description=" ".join((lever.__doc__ or "").split("\n\n")[0].split()),
                                tags=["lever"])
            for name, lever in LEVER_FLOWS.items()]


if __name__ == "__main__":
    serve(nightly_deployment(), dispatch_deployment(), resend_failed_deployment(), *lever_deployments())
