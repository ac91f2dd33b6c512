"""The operator's levers: `dunning dispute`, `promise`, `plan`, `hold` and `action resolve`."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer

from dunning.state.operator_levers import OperatorDisputeOutcome, OperatorDisputeReason
from dunning.state.store import StateSchemaError, StateStore, check_migrated, state_engine

from flows.cli.support import (
    GRACE_DAYS, INVOICES, NOTE, OPERATOR, fail, migrated_store, operator_name, option_amount, option_date,
    pull_lever, trace_of,
)

action_app = typer.Typer(help="Operator levers on the actions ledger.", no_args_is_help=True)
dispute_app = typer.Typer(help="Disputes (litiges): no reminder goes out on a disputed invoice.", no_args_is_help=True)
promise_app = typer.Typer(help="Promises to pay: reminders wait until the promised date plus grace.",
                          no_args_is_help=True)
plan_app = typer.Typer(help="Payment plans (échéanciers): invoices paid by installments instead of chased.",
                       no_args_is_help=True)
hold_app = typer.Typer(help="Holds: pause a debtor or one invoice, for a while or until released.",
                       no_args_is_help=True)


class Resolution(str, Enum):
    sent = "sent"
    not_sent = "not-sent"


@action_app.command("resolve")
def action_resolve(action_id: int, outcome: Resolution = typer.Option(..., "--outcome",
                                                                         help="sent: it reached the debtor; "
                                                                              "not-sent: the next run sends it."),
                   note: str = typer.Option(..., "--note", help="Why: what the provider's activity feed showed."),
                   provider_message_id: Optional[str] = typer.Option(None, "--provider-message-id"),
                   operator: Optional[str] = typer.Option(None, "--operator")) -> None:
    """Settle a send left 'sending' (unconfirmed, or interrupted): the product never guesses."""
    from dunning.rules.planner import LedgerStatus
    from dunning.state.store import Trace

    try:
        check_migrated()
        message = StateStore(state_engine()).resolve_unconfirmed(
            Trace(actor=operator_name(operator)), action_id,
            LedgerStatus.sent if outcome is Resolution.sent else LedgerStatus.failed, note, provider_message_id)
    except (LookupError, StateSchemaError) as error:
        fail(str(error))
    typer.echo(message)


@dispute_app.command("open")
def dispute_open(invoice: str = typer.Argument(..., help="Invoice number."),
                 reason: OperatorDisputeReason = typer.Option(..., "--reason", help="What the customer contests."),
                 note: str = typer.Option(..., "--note", help="What the customer said: recorded with the dispute."),
                 operator: Optional[str] = OPERATOR) -> None:
    """Open a dispute on an invoice: no reminder goes out on it while it is open."""
    from dunning.state import operator_levers as levers

    trace = trace_of(operator)
    pull_lever(lambda store, source, today: levers.open_dispute(store, source, trace, invoice, reason, note, today))


@dispute_app.command("close")
def dispute_close(invoice: str = typer.Argument(..., help="Invoice number."),
                  outcome: OperatorDisputeOutcome = typer.Option(..., "--outcome", help="How it ended."),
                  note: str = NOTE, operator: Optional[str] = OPERATOR) -> None:
    """Close an invoice's dispute: collection resumes one step above the last reminder sent."""
    from dunning.state import operator_levers as levers

    trace = trace_of(operator)
    pull_lever(lambda store, source, today: levers.close_dispute(store, source, trace, invoice, outcome, note, today))


@promise_app.command("add")
def promise_add(debtor: str = typer.Argument(..., help="Debtor (customer) id."), invoices: str = INVOICES,
                amount: str = typer.Option(..., "--amount", help="Amount promised, e.g. 1200.00."),
                promised_on: str = typer.Option(..., "--date", help="Date promised, YYYY-MM-DD."),
                grace_days: int = GRACE_DAYS,
                note: str = typer.Option(..., "--note", help="What the customer said: recorded with the promise."),
                operator: Optional[str] = OPERATOR) -> None:
    """Record a promise to pay: reminders on those invoices wait until the date plus grace."""
    from dunning.state import operator_levers as levers

    money, day, trace = option_amount(amount, "--amount"), option_date(promised_on, "--date"), trace_of(operator)
    pull_lever(lambda store, source, today: levers.add_promise(store, source, trace, debtor, invoices, money, day,
                                                          grace_days, note, today))


@plan_app.command("create")
def plan_create(debtor: str = typer.Argument(..., help="Debtor (customer) id."), invoices: str = INVOICES,
                installment: list[str] = typer.Option(..., "--installment",
                                                      help="DATE:AMOUNT, e.g. 2026-04-30:600.00; once per installment."),
                grace_days: int = GRACE_DAYS,
                note: str = typer.Option(..., "--note", help="What was agreed: recorded with the plan."),
                operator: Optional[str] = OPERATOR) -> None:
    """Create a payment plan: the installments must add up to what the invoices still owe."""
    from dunning.state import operator_levers as levers

    schedule = []
    for value in installment:
        try:
            schedule.append(levers.parse_installment(value))
        except ValueError as error:
            fail(f"--installment: {error}")
    trace = trace_of(operator)
    pull_lever(lambda store, source, today: levers.create_plan(store, source, trace, debtor, invoices, schedule,
                                                          grace_days, note, today))


@plan_app.command("show")
def plan_show(plan_id: int = typer.Argument(..., help="Payment plan id.")) -> None:
    """One payment plan: status, invoices, installments, who created it and why."""
    from dunning.state.levers import LeverStore

    try:
        plan = LeverStore(migrated_store().engine).plan_detail(plan_id)
    except LookupError as error:
        fail(str(error))
    typer.echo(f"Payment plan {plan['id']} - {plan['status']}")
    typer.echo(f"Debtor: {plan['debtor_id']}; {plan['total']} {plan['currency']}; grace {plan['grace_days']} days")
    typer.echo(f"Created on {plan['created_on']} by {plan['created_by']}: {plan['note']}")
    typer.echo("Invoices: " + ", ".join(f"{i['invoice_number']} ({i['amount']})" for i in plan["invoices"]))
    typer.echo("Installments:")
    for i in plan["installments"]:
        typer.echo(f"  {i['seq']:>3}  {i['due_date']}  {i['amount']:>12} {plan['currency']}")
    if plan["ended_on"]:
        typer.echo(f"Ended on {plan['ended_on']} ({plan['status']}): {plan['ended_note']}")


@hold_app.command("add")
def hold_add(debtor: Optional[str] = typer.Option(None, "--debtor", help="Hold every invoice of this debtor."),
             invoice: Optional[str] = typer.Option(None, "--invoice", help="Hold this invoice (number) only."),
             until: Optional[str] = typer.Option(None, "--until", help="Last day held, YYYY-MM-DD (default: "
                                                                      "until released)."),
             reason: str = typer.Option(..., "--reason", help="Why: recorded with the hold."),
             collective_procedure: bool = typer.Option(False, "--collective-procedure",
                                                       help="The debtor is in a procédure collective."),
             bodacc_date: Optional[str] = typer.Option(None, "--bodacc-date",
                                                       help="Date the judgment was published in the BODACC."),
             operator: Optional[str] = OPERATOR) -> None:
    """Pause a debtor or an invoice; a collective procedure also blocks the legal handoff."""
    from dunning.state import operator_levers as levers

    if (debtor is None) == (invoice is None):
        fail("give --debtor ID or --invoice NUMBER (exactly one)")
    if collective_procedure and bodacc_date is None:
        fail("--collective-procedure needs --bodacc-date: the claim declaration deadline runs from the "
              "publication of the judgment in the BODACC")
    if bodacc_date is not None and not collective_procedure:
        fail("--bodacc-date goes with --collective-procedure")
    last_day = option_date(until, "--until") if until else None
    published = option_date(bodacc_date, "--bodacc-date") if bodacc_date else None
    trace = trace_of(operator)
    pull_lever(lambda store, source, today: levers.add_hold(
        store, source, trace, debtor_id=debtor, invoice_number=invoice, until=last_day, reason=reason,
        collective_procedure=collective_procedure, bodacc_published_on=published, on=today))


@hold_app.command("release")
def hold_release(hold_id: int = typer.Argument(..., help="Hold id."), note: str = NOTE,
                 operator: Optional[str] = OPERATOR) -> None:
    """Release a hold: collection resumes at the step due by now."""
    from dunning.state import operator_levers as levers

    trace = trace_of(operator)
    pull_lever(lambda store, source, today: levers.release_hold(store, trace, hold_id, note), reads_accounting=False)

