"""Nights over time: one standard invoice nobody pays up its ladder, and what SendGrid reports back."""

from __future__ import annotations

import json
import time
from datetime import date

from dunning.config import Segment, Step
from dunning.documents.exports import export_rows
from dunning.rules.calendar import BusinessCalendar
from dunning.rules.planner import step_dates
from dunning.sources.config_files import load_settings
from dunning.state.store import StateStore, state_engine

LADDER = (Step.pre_due, Step.reminder_1, Step.reminder_2, Step.reminder_3, Step.formal_notice, Step.legal_handoff)


def run_the_ladder(backend, through: Step = Step.legal_handoff, *, debtor: str = "LATE", invoice: str = "L1",
                   total: str = "4800.00", also: dict[str, str] | None = None) -> dict[Step, date]:
    """One invoice due 2026-01-05 (FA-L1 of debtor LATE, 4,800.00, unless told), each night asserted to
    act on it: one night on each step's date of the standard ladder, seven days or more apart. `also`
    gives the debtor more invoices due the same day (id: total). Returns every step's date, those not
    run included."""
    from flows.nightly import nightly_collection

    books = backend.accounting
    books.customer(debtor)
    due = date(2026, 1, 5)
    books.invoice(invoice, debtor, due=due, total=total, issued=date(2025, 12, 1))
    for other, amount in (also or {}).items():
        books.invoice(other, debtor, due=due, total=amount, issued=date(2025, 12, 1))
    policy = load_settings(backend.config_dir).policy
    dates = step_dates(due, policy.ladder.for_segment(Segment.standard), BusinessCalendar())
    store = StateStore(state_engine(backend.state_url))
    for step in LADDER[:LADDER.index(through) + 1]:
        state = nightly_collection(as_of=dates[step], return_state=True)
        assert state.is_completed(), (step, state.message)
        tonight = {r["step"] for r in export_rows(store, "actions", dates[step])
                   if r["status"] != "skipped" and r["invoice_numbers"] == f"FA-{invoice}"}
        assert step.value in tonight, (step, tonight)
    return dates


def record_delivery_event(backend, message_key: str, event: str, sg_message_id: str) -> None:
    """What the webhook stores when SendGrid reports on a message."""
    from dunning.rules.delivery_events import parse_events
    from dunning.state.delivery import DeliveryStore

    body = json.dumps([{"event": event, "sg_event_id": f"ev-{message_key}", "sg_message_id": sg_message_id,
                        "timestamp": int(time.time()), "email": "compta@c.example.fr",
                        "dunning_action_id": message_key}]).encode()
    outcome = DeliveryStore(state_engine(backend.state_url)).record_events(parse_events(body))
    assert outcome.recorded == 1


def let_time_pass(backend, hours: float) -> None:
    """The clock moves on after a crash: what was left 'sending', and the runs left 'running',
    were last touched that much earlier."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from dunning.state.schema import actions, runs

    earlier = timedelta(hours=hours)
    with state_engine(backend.state_url).begin() as conn:
        for row in conn.execute(select(actions.c.id, actions.c.updated_at).where(actions.c.status == "sending")).all():
            conn.execute(update(actions).where(actions.c.id == row.id).values(updated_at=row.updated_at - earlier))
        for run in conn.execute(select(runs.c.id, runs.c.started_at).where(runs.c.status == "running")).all():
            conn.execute(update(runs).where(runs.c.id == run.id).values(started_at=run.started_at - earlier))
