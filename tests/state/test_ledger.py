"""The actions ledger under two runs at once: a row is handed to the provider by one run only."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dunning.config import Step
from dunning.rules.planner import Channel, Decision, Outcome
from dunning.state.store import AlreadyHandled, StateStore, Trace, state_engine

AS_OF = date(2026, 11, 18)


def reminder_1(invoice_id: str = "I1") -> Decision:
    return Decision(invoice_id=invoice_id, invoice_number=f"FA-{invoice_id}", debtor_id="D1", currency="EUR",
                    residual=Decimal("120.00"), due_date=date(2026, 11, 13), outcome=Outcome.send,
                    reason="reminder_1 due", step=Step.reminder_1, channel=Channel.email,
                    group_key=f"{invoice_id}|reminder_1")


def open_run(store: StateStore, flow_run_id: str) -> Trace:
    run_id = store.open_run(AS_OF, False, Trace(flow_run_id=flow_run_id))
    return Trace(run_id=run_id, flow_run_id=flow_run_id)


def test_a_message_is_claimed_once(backend):
    store = StateStore(state_engine(backend.state_url))
    first = open_run(store, "run-a")
    [message] = store.record_plan(first, AS_OF, [reminder_1()], dry_run=False, languages={})
    assert store.claim(first, message, "fr/reminder_1") == 1
    with pytest.raises(AlreadyHandled):
        store.claim(first, message, "fr/reminder_1")   # already 'sending'


def test_a_second_run_does_not_take_over_a_row_being_sent(backend):
    store = StateStore(state_engine(backend.state_url))
    first, second = open_run(store, "run-a"), open_run(store, "run-b")
    [message] = store.record_plan(first, AS_OF, [reminder_1()], dry_run=False, languages={})
    store.claim(first, message, "fr/reminder_1")
    # The second run planned from an earlier read of the ledger and also wants to send it.
    assert store.record_plan(second, AS_OF, [reminder_1()], dry_run=False, languages={}) == []
    with pytest.raises(AlreadyHandled):
        store.claim(second, message, "fr/reminder_1")
    store.mark_sent(first, message, "sendgrid", "SG-1", None, "sent", AS_OF)
    [row] = store.ledger_for(["I1"])
    assert row.status.value == "sent"


def test_the_later_of_two_queued_plans_owns_the_row(backend):
    store = StateStore(state_engine(backend.state_url))
    first, second = open_run(store, "run-a"), open_run(store, "run-b")
    [stale] = store.record_plan(first, AS_OF, [reminder_1()], dry_run=False, languages={})
    [fresh] = store.record_plan(second, AS_OF, [reminder_1()], dry_run=False, languages={})
    with pytest.raises(AlreadyHandled):
        store.claim(first, stale, "fr/reminder_1")
    assert store.claim(second, fresh, "fr/reminder_1") == 1


def test_the_audit_trail_is_append_only(backend):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    store = StateStore(state_engine(backend.state_url))
    open_run(store, "run-a")
    for statement in ("UPDATE audit_events SET message = 'edited'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(statement))


def test_a_message_stopped_before_sending_is_queued_again_when_the_ladder_plans_it_again(backend):
    from dataclasses import replace

    store = StateStore(state_engine(backend.state_url))
    first = open_run(store, "run-a")
    [message] = store.record_plan(first, AS_OF, [reminder_1()], dry_run=False, languages={})
    store.mark_skipped(first, message, "disputed since planning")
    [row] = store.ledger_for(["I1"])
    assert row.status.value == "skipped"
    # A superseded decision leaves it as it is; a send decision (the dispute was closed) queues it again.
    later = open_run(store, "run-b")
    superseded = replace(reminder_1(), outcome=Outcome.superseded, reason="superseded")
    assert store.record_plan(later, AS_OF, [superseded], dry_run=False, languages={}) == []
    assert store.ledger_for(["I1"])[0].status.value == "skipped"
    [again] = store.record_plan(later, AS_OF, [reminder_1()], dry_run=False, languages={})
    assert again.action_ids == message.action_ids
    assert store.ledger_for(["I1"])[0].status.value == "queued"
    assert store.claim(later, again, "fr/reminder_1") == 1
