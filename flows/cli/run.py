"""`dunning run`, `dispatch`, `resend-failed`: the flows, run once in this process."""

from __future__ import annotations

from typing import Callable, Optional

import typer

from dunning.rules.calendar import paris_today
from dunning.state.store import StateStore, state_engine

from flows.cli.support import fail, option_date, parse_as_of, preflight, run_flow

def run(as_of: Optional[str] = typer.Option(None, "--as-of", help="Business date YYYY-MM-DD (default: today, Paris)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Plan and report; send nothing, write no ledger row.")) -> None:
    """Run the nightly flow once: the same flow the deployment schedules."""
    day = parse_as_of(as_of)
    if day > paris_today() and not dry_run:
        fail(f"--as-of {day} is in the future: only --dry-run may look ahead")
    preflight()
    from flows.nightly import nightly_collection

    state = run_flow(nightly_collection, as_of=day, dry_run=dry_run)
    run_row = StateStore(state_engine()).run_for_flow_run(str(state.state_details.flow_run_id))
    if run_row is not None and run_row.summary:
        typer.echo(run_row.summary)
    if not state.is_completed():
        fail(f"run ended {state.name}: {state.message}", code=1)


def _send_flow(name: str, flow: Callable, **parameters) -> None:
    preflight()
    state = run_flow(flow, **parameters)
    if not state.is_completed():
        fail(f"{name} ended {state.name}: {state.message}", code=1)
    typer.echo(f"{name} done: {state.message or state.result()}")


def dispatch() -> None:
    """Send the messages a run queued outside the sending window (the dispatch deployment, once)."""
    from flows.dispatch import dispatch_queue

    _send_flow("dispatch", dispatch_queue)


def resend_failed(as_of: Optional[str] = typer.Option(None, "--as-of", help="Only the failures of this run date."),
                  invoices: list[str] = typer.Option([], "--invoice", help="Only the messages covering this invoice "
                                                                            "number (repeat the option).")) -> None:
    """Send again the messages that failed (the resend-failed deployment, once), inside the sending window."""
    from flows.dispatch import resend_failed as resend

    _send_flow("resend-failed", resend, as_of=option_date(as_of, "--as-of") if as_of else None,
               invoice_numbers=invoices or None)

