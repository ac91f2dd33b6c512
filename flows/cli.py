"""`dunning`: the operator's command line (see DESIGN.md, "CLI contract")."""

from __future__ import annotations

import csv
import json
import os
import sys
from datetime import date
from enum import Enum
from typing import Callable, Optional

import typer
from sqlalchemy.exc import SQLAlchemyError

from dunning.config import ConfigError
from dunning.rules.calendar import paris_today
from dunning.sources.accounting import accounting_url
from dunning.state.operator_levers import OperatorDisputeOutcome, OperatorDisputeReason
from dunning.state.store import StateSchemaError, StateStore, check_migrated, state_engine, upgrade_database

from .cli_rates import rates_app, rates_in_use
from .cli_support import (
    demo_accounting_engine, fail as _fail, operator_name as _operator, preflight, prepare_temporary_server, run_flow,
)

app = typer.Typer(help="Receivables collection (relances clients): nightly runs, exports, demo data.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The state database.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data in the accounting database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
action_app = typer.Typer(help="Operator levers on the actions ledger.", no_args_is_help=True)
app.add_typer(action_app, name="action")
legal_app = typer.Typer(help="The legal queue: cases handed over after the formal notice.", no_args_is_help=True)
app.add_typer(legal_app, name="legal")
dispute_app = typer.Typer(help="Disputes (litiges): no reminder goes out on a disputed invoice.", no_args_is_help=True)
app.add_typer(dispute_app, name="dispute")
promise_app = typer.Typer(help="Promises to pay: reminders wait until the promised date plus grace.",
                          no_args_is_help=True)
app.add_typer(promise_app, name="promise")
plan_app = typer.Typer(help="Payment plans (échéanciers): invoices paid by installments instead of chased.",
                       no_args_is_help=True)
app.add_typer(plan_app, name="plan")
hold_app = typer.Typer(help="Holds: pause a debtor or one invoice, for a while or until released.",
                       no_args_is_help=True)
app.add_typer(hold_app, name="hold")
app.add_typer(rates_app, name="rates")


@app.callback()
def _before_any_command(context: typer.Context) -> None:
    prepare_temporary_server(context.invoked_subcommand)


class Format(str, Enum):
    json = "json"
    csv = "csv"


class Export(str, Enum):
    actions = "actions"
    aging = "aging"
    segments = "segments"
    legal_queue = "legal-queue"
    audit = "audit"


def _as_of(value: Optional[str]) -> date:
    if value is None:
        return paris_today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"--as-of must be a date as YYYY-MM-DD, got {value!r}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the state database (DUNNING_STATE_URL, default var/state.sqlite)."""
    try:
        revision = upgrade_database()
    except StateSchemaError as error:
        _fail(str(error))
    except SQLAlchemyError as error:
        _fail(f"could not migrate the state database: {error.__class__.__name__}: {str(error).splitlines()[0]}")
    typer.echo(f"State database at revision {revision}.")


@demo_app.command("seed")
def demo_seed(customers: int = typer.Option(400, min=10), invoices: int = typer.Option(3000, min=50),
              seed: int = typer.Option(42, help="Same seed, same data."),
              today: Optional[str] = typer.Option(None, "--today", help="Date the data is built around (default: today)."),
              replace: bool = typer.Option(False, "--replace-accounting-database",
                                           help="Required when DUNNING_ACCOUNTING_URL is set: its tables are dropped.")) -> None:
    """Fill the accounting database (default var/accounting.sqlite) with demo data, replacing its tables."""
    from dunning.sources.demo import seed_demo

    url = accounting_url()
    if os.environ.get("DUNNING_ACCOUNTING_URL") and not replace:
        _fail("DUNNING_ACCOUNTING_URL is set: seeding would DROP its customers, invoices and payments tables. "
              "The product never writes to a real accounting database; for a demo database, add "
              "--replace-accounting-database.")
    engine = demo_accounting_engine(url)
    report = seed_demo(engine, customers=customers, invoices=invoices, seed=seed, today=_as_of(today))
    typer.echo(str(report))


@demo_app.command("date")
def demo_date() -> None:
    """The as-of date for the demo: today, or the last day the rate tables cover if earlier.

    A real night the tables do not cover runs degraded (penalty steps held, exit 1); the demo shows
    a whole night instead, and says why it is not today's.
    """
    from dunning.law_fr.penalties import last_covered_day

    tables, where = rates_in_use()
    covered, today = last_covered_day(tables), paris_today()
    if covered < today:
        typer.secho(f"note: the rate tables ({where}) cover up to {covered}; the demo runs as of that day. Add "
                    "the next half-year's rates (`dunning rates add`) to run for today.", err=True,
                    fg=typer.colors.YELLOW)
    typer.echo(min(today, covered).isoformat())


@app.command("run")
def run(as_of: Optional[str] = typer.Option(None, "--as-of", help="Business date YYYY-MM-DD (default: today, Paris)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Plan and report; send nothing, write no ledger row.")) -> None:
    """Run the nightly flow once: the same flow the deployment schedules."""
    day = _as_of(as_of)
    if day > paris_today() and not dry_run:
        _fail(f"--as-of {day} is in the future: only --dry-run may look ahead")
    preflight()
    from flows.nightly import nightly_collection

    state = run_flow(nightly_collection, as_of=day, dry_run=dry_run)
    run_row = StateStore(state_engine()).run_for_flow_run(str(state.state_details.flow_run_id))
    if run_row is not None and run_row.summary:
        typer.echo(run_row.summary)
    if not state.is_completed():
        _fail(f"run ended {state.name}: {state.message}", code=1)


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
            Trace(actor=_operator(operator)), action_id,
            LedgerStatus.sent if outcome is Resolution.sent else LedgerStatus.failed, note, provider_message_id)
    except (LookupError, StateSchemaError) as error:
        _fail(str(error))
    typer.echo(message)


def _send_flow(name: str, flow: Callable, **parameters) -> None:
    preflight()
    state = run_flow(flow, **parameters)
    if not state.is_completed():
        _fail(f"{name} ended {state.name}: {state.message}", code=1)
    typer.echo(f"{name} done: {state.message or state.result()}")


@app.command("dispatch")
def dispatch() -> None:
    """Send the messages a run queued outside the sending window (the dispatch deployment, once)."""
    from flows.dispatch import dispatch_queue

    _send_flow("dispatch", dispatch_queue)


@app.command("resend-failed")
def resend_failed(as_of: Optional[str] = typer.Option(None, "--as-of", help="Only the failures of this run date."),
                  invoices: list[str] = typer.Option([], "--invoice", help="Only the messages covering this invoice "
                                                                            "number (repeat the option).")) -> None:
    """Send again the messages that failed (the resend-failed deployment, once), inside the sending window."""
    from flows.dispatch import resend_failed as resend

    _send_flow("resend-failed", resend, as_of=_option_date(as_of, "--as-of") if as_of else None,
               invoice_numbers=invoices or None)


def _store() -> StateStore:
    try:
        check_migrated()
    except StateSchemaError as error:
        _fail(str(error))
    return StateStore(state_engine())


def _legal_queue():
    from dunning.state.legal_queue import LegalQueueStore

    return LegalQueueStore(_store().engine)


@legal_app.command("list")
def legal_list(status: Optional[str] = typer.Option(None, help="queued, acknowledged, filed or resolved")) -> None:
    """The cases, newest last: id, debtor, status, principal, penalties, indemnity, invoices."""
    from dunning.documents.exports import export_rows

    rows = [r for r in export_rows(_store(), "legal-queue", None) if status is None or r["status"] == status]
    if not rows:
        typer.echo("No legal case" + (f" with status {status}." if status else "."))
    for r in rows:
        typer.echo(f"{r['case_id']:>5}  {r['status']:<12} {r['debtor_id']:<12} {r['principal']:>12} {r['currency']}  "
                   f"penalties {r['penalties'] or '-'}  indemnity {r['indemnity'] or '-'}  {r['invoice_numbers']}")


@legal_app.command("show")
def legal_show(case_id: int) -> None:
    """One case: parties, amounts, invoices, evidence, every status change, the dossier."""
    try:
        case = _legal_queue().case_detail(case_id)
    except LookupError as error:
        _fail(str(error))
    typer.echo(f"Case {case['id']} - {case['status']}" + (f" ({case['resolution']})" if case["resolution"] else ""))
    typer.echo(f"Debtor: {case['debtor_id']} {case['debtor_name']}")
    typer.echo(f"Opened on {case['opened_on']}; procedure: {case['procedure']}")
    typer.echo(f"Principal {case['principal']} {case['currency']}; penalties {case['penalties'] or '-'}; "
               f"indemnity {case['indemnity'] or '-'}" + (f" (computed to {case['penalties_to']})"
                                                          if case["penalties_to"] else ""))
    typer.echo("Invoices: " + ", ".join(f"{i['invoice_number']} ({i['amount']})" for i in case["invoices"]))
    typer.echo("Evidence:")
    for e in case["evidence"]:
        reference = e.get("provider_message_id") or e.get("document_sha256") or e.get("document") or "-"
        typer.echo(f"  {e['as_of']}  {e['invoice_number']:<14} {e['step']:<14} {e['channel']:<17} {reference}")
    typer.echo("History:")
    for ev in case["events"]:
        typer.echo(f"  {ev['occurred_at']:%Y-%m-%d %H:%M} UTC  {ev['actor']}: {ev['from_status']} -> {ev['to_status']}"
                   + (f" ({ev['resolution']})" if ev["resolution"] else "") + f" - {ev['note']}")
    if case["dossier_path"]:
        typer.echo(f"Dossier: {case['dossier_path']}")


def _move_case(case_id: int, verb: str, note: str, operator: Optional[str], resolution=None) -> None:
    from dunning.state.store import Trace

    try:
        message = _legal_queue().move_case(Trace(actor=_operator(operator)), case_id, verb, note, paris_today(),
                                     resolution)
    except (LookupError, ValueError) as error:
        _fail(str(error))
    typer.echo(message)


_NOTE = typer.Option(..., "--note", help="Why: recorded with the change.")
_OPERATOR = typer.Option(None, "--operator", help="Who (default: DUNNING_OPERATOR, else the login name).")


@legal_app.command("ack")
def legal_ack(case_id: int, note: str = _NOTE, operator: Optional[str] = _OPERATOR) -> None:
    """Take a queued case (a lawyer or the credit manager has it)."""
    _move_case(case_id, "ack", note, operator)


@legal_app.command("file")
def legal_file(case_id: int, note: str = _NOTE, operator: Optional[str] = _OPERATOR) -> None:
    """Record that the injonction de payer request was filed."""
    _move_case(case_id, "file", note, operator)


@legal_app.command("resolve")
def legal_resolve(case_id: int, resolution: str = typer.Option(..., "--resolution",
                                                                help="paid, settled, written_off or abandoned"),
                  note: str = _NOTE, operator: Optional[str] = _OPERATOR) -> None:
    """Close a case with its outcome."""
    from dunning.rules.legal_queue import Resolution

    try:
        outcome = Resolution(resolution)
    except ValueError:
        _fail(f"--resolution must be one of {', '.join(r.value for r in Resolution)}, got {resolution!r}")
    _move_case(case_id, "resolve", note, operator, outcome)


@legal_app.command("handoff")
def legal_handoff(invoice: str = typer.Argument(..., help="Invoice number."), note: str = _NOTE,
                  operator: Optional[str] = _OPERATOR) -> None:
    """Hand a small claim (below legal.min_principal, waiting for a decision) to the legal queue anyway."""
    from dunning.state import operator_levers as levers

    _pull(lambda store, source, today: levers.hand_over_small_claim(store, source, _trace(operator), invoice, note,
                                                                    today))


debtor_app = typer.Typer(help="One debtor, explained.", no_args_is_help=True)
app.add_typer(debtor_app, name="debtor")


@debtor_app.command("show")
def debtor_show(debtor_id: str) -> None:
    """Segment and why, each open invoice's next step or what holds it back, and every action."""
    try:
        view = _store().debtor_view(debtor_id)
    except LookupError as error:
        _fail(str(error))
    typer.echo(f"Debtor {debtor_id}, as the run {view['run_id']} of {view['as_of']} saw it")
    if view["segment"]:
        seg = view["segment"]
        typer.echo(f"Segment: {seg['segment']} (risk score {seg['score']}): {seg['rule']}")
    for dispute in view["disputes"]:
        typer.echo(f"Open dispute on {dispute['invoice_number']} ({dispute['reason']}) since {dispute['opened_on']}: "
                   f"{dispute['note']}")
    for hold in view["holds"]:
        scope = f"invoice {hold['invoice_id']}" if hold["invoice_id"] else "the debtor"
        typer.echo(f"Hold {hold['id']} on {scope}" + (f" until {hold['until']}" if hold["until"] else "")
                   + f": {hold['reason']}")
    typer.echo("Invoices:")
    for d in view["decisions"]:
        if d["outcome"] == "superseded":
            continue
        step = f" {d['step']}" if d["step"] else ""
        typer.echo(f"  {d['invoice_number']:<16} {d['amount']:>12} {d['currency']}  {d['outcome']}{step}: {d['reason']}")
    typer.echo("Actions:")
    for a in view["history"]:
        reference = a["provider_message_id"] or a["document_sha256"] or ""
        typer.echo(f"  {a['as_of']}  {a['invoice_number']:<16} {a['step']:<14} {a['channel']:<17} "
                   f"{a['status']:<10} {reference}")


@app.command("export")
def export(what: Export, as_of: Optional[str] = typer.Option(None, "--as-of"),
           invoice: Optional[str] = typer.Option(None, "--invoice", help="audit only: the trail of one invoice."),
           fmt: Format = typer.Option(Format.json, "--format")) -> None:
    """Machine-readable output on stdout: actions, aging, segments, legal-queue or audit."""
    from dunning.documents.exports import export_rows, invoice_audit_trail

    day = _as_of(as_of) if as_of else None
    if invoice and (what.value != "audit" or day):
        _fail("--invoice goes with `export audit` alone (the trail of one invoice, every date)")
    try:
        check_migrated()
        store = StateStore(state_engine())
        rows = invoice_audit_trail(store, invoice) if invoice else export_rows(store, what.value, day)
    except (LookupError, StateSchemaError) as error:
        _fail(str(error))
    except SQLAlchemyError as error:
        _fail(f"could not read the state database: {error.__class__.__name__}: {str(error).splitlines()[0]}")
    if fmt is Format.json:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1, default=str)
        sys.stdout.write("\n")
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)


# -- the operator's levers: disputes, promises, payment plans, holds ------------------------------
def _pull(lever: Callable, reads_accounting: bool = True) -> None:
    """Call `lever(store, source, today)` (one of dunning.state.operator_levers, as the lever flows do); print what it did.

    Refusals (unknown invoice, a second open dispute, a plan that does not add up, an accounting
    database that does not answer...) exit 2 with the reason.
    """
    from dunning.sources.accounting import AccountingSource, SourceUnavailable
    from dunning.state.levers import LeverStore

    store = LeverStore(_store().engine)
    try:
        result = lever(store, AccountingSource.checked() if reads_accounting else None, paris_today())
    except (LookupError, ValueError, SourceUnavailable) as error:
        _fail(str(error))
    except SQLAlchemyError as error:
        _fail(f"could not read or write a database: {error.__class__.__name__}: {str(error).splitlines()[0]}")
    typer.echo(result.message)


def _option_date(value: str, option: str) -> date:
    from dunning.state.operator_levers import parse_date

    try:
        return parse_date(value, option)
    except ValueError as error:
        _fail(str(error))


def _option_amount(value: str, option: str):
    from dunning.state.operator_levers import parse_amount

    try:
        return parse_amount(value, option)
    except ValueError as error:
        _fail(str(error))


def _trace(operator: Optional[str]):
    from dunning.state.store import Trace

    return Trace(actor=_operator(operator))


_INVOICES = typer.Option(..., "--invoices", help="Invoice numbers, comma separated: FA-1,FA-2.")
_GRACE = typer.Option(3, "--grace-days", min=0, help="Days after the date before it counts as missed.")


@dispute_app.command("open")
def dispute_open(invoice: str = typer.Argument(..., help="Invoice number."),
                 reason: OperatorDisputeReason = typer.Option(..., "--reason", help="What the customer contests."),
                 note: str = typer.Option(..., "--note", help="What the customer said: recorded with the dispute."),
                 operator: Optional[str] = _OPERATOR) -> None:
    """Open a dispute on an invoice: no reminder goes out on it while it is open."""
    from dunning.state import operator_levers as levers

    trace = _trace(operator)
    _pull(lambda store, source, today: levers.open_dispute(store, source, trace, invoice, reason, note, today))


@dispute_app.command("close")
def dispute_close(invoice: str = typer.Argument(..., help="Invoice number."),
                  outcome: OperatorDisputeOutcome = typer.Option(..., "--outcome", help="How it ended."),
                  note: str = _NOTE, operator: Optional[str] = _OPERATOR) -> None:
    """Close an invoice's dispute: collection resumes one step above the last reminder sent."""
    from dunning.state import operator_levers as levers

    trace = _trace(operator)
    _pull(lambda store, source, today: levers.close_dispute(store, source, trace, invoice, outcome, note, today))


@promise_app.command("add")
def promise_add(debtor: str = typer.Argument(..., help="Debtor (customer) id."), invoices: str = _INVOICES,
                amount: str = typer.Option(..., "--amount", help="Amount promised, e.g. 1200.00."),
                promised_on: str = typer.Option(..., "--date", help="Date promised, YYYY-MM-DD."),
                grace_days: int = _GRACE,
                note: str = typer.Option(..., "--note", help="What the customer said: recorded with the promise."),
                operator: Optional[str] = _OPERATOR) -> None:
    """Record a promise to pay: reminders on those invoices wait until the date plus grace."""
    from dunning.state import operator_levers as levers

    money, day, trace = _option_amount(amount, "--amount"), _option_date(promised_on, "--date"), _trace(operator)
    _pull(lambda store, source, today: levers.add_promise(store, source, trace, debtor, invoices, money, day,
                                                          grace_days, note, today))


@plan_app.command("create")
def plan_create(debtor: str = typer.Argument(..., help="Debtor (customer) id."), invoices: str = _INVOICES,
                installment: list[str] = typer.Option(..., "--installment",
                                                      help="DATE:AMOUNT, e.g. 2026-04-30:600.00; once per installment."),
                grace_days: int = _GRACE,
                note: str = typer.Option(..., "--note", help="What was agreed: recorded with the plan."),
                operator: Optional[str] = _OPERATOR) -> None:
    """Create a payment plan: the installments must add up to what the invoices still owe."""
    from dunning.state import operator_levers as levers

    schedule = []
    for value in installment:
        try:
            schedule.append(levers.parse_installment(value))
        except ValueError as error:
            _fail(f"--installment: {error}")
    trace = _trace(operator)
    _pull(lambda store, source, today: levers.create_plan(store, source, trace, debtor, invoices, schedule,
                                                          grace_days, note, today))


@plan_app.command("show")
def plan_show(plan_id: int = typer.Argument(..., help="Payment plan id.")) -> None:
    """One payment plan: status, invoices, installments, who created it and why."""
    from dunning.state.levers import LeverStore

    try:
        plan = LeverStore(_store().engine).plan_detail(plan_id)
    except LookupError as error:
        _fail(str(error))
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
             operator: Optional[str] = _OPERATOR) -> None:
    """Pause a debtor or an invoice; a collective procedure also blocks the legal handoff."""
    from dunning.state import operator_levers as levers

    if (debtor is None) == (invoice is None):
        _fail("give --debtor ID or --invoice NUMBER (exactly one)")
    if collective_procedure and bodacc_date is None:
        _fail("--collective-procedure needs --bodacc-date: the claim declaration deadline runs from the "
              "publication of the judgment in the BODACC")
    if bodacc_date is not None and not collective_procedure:
        _fail("--bodacc-date goes with --collective-procedure")
    last_day = _option_date(until, "--until") if until else None
    published = _option_date(bodacc_date, "--bodacc-date") if bodacc_date else None
    trace = _trace(operator)
    _pull(lambda store, source, today: levers.add_hold(
        store, source, trace, debtor_id=debtor, invoice_number=invoice, until=last_day, reason=reason,
        collective_procedure=collective_procedure, bodacc_published_on=published, on=today))


@hold_app.command("release")
def hold_release(hold_id: int = typer.Argument(..., help="Hold id."), note: str = _NOTE,
                 operator: Optional[str] = _OPERATOR) -> None:
    """Release a hold: collection resumes at the step due by now."""
    from dunning.state import operator_levers as levers

    trace = _trace(operator)
    _pull(lambda store, source, today: levers.release_hold(store, trace, hold_id, note), reads_accounting=False)


# -- delivery events: the SendGrid Event Webhook and the addresses it flags -----------------------
webhook_app = typer.Typer(help="The SendGrid Event Webhook: what happened to each email.", no_args_is_help=True)
app.add_typer(webhook_app, name="webhook")
address_app = typer.Typer(help="Debtor addresses that hard-bounced or were dropped: letters go until corrected.",
                          no_args_is_help=True)
app.add_typer(address_app, name="address")


@webhook_app.command("serve")
def webhook_serve(host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (behind a TLS proxy)."),
                  port: int = typer.Option(8787, "--port", min=1, max=65535)) -> None:
    """Receive SendGrid's signed delivery events on /sendgrid/events (needs SENDGRID_WEBHOOK_PUBLIC_KEY;
    limits in policy.yaml, webhook)."""
    import logging

    import uvicorn

    from dunning.delivery.webhook import WebhookConfigError, app_from_environment

    try:
        service = app_from_environment()
    except (WebhookConfigError, ConfigError, StateSchemaError) as error:
        _fail(str(error))
    # Each batch's counts (never an address or a key) go to the service's log next to uvicorn's access log.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(service, host=host, port=port)


def _deliveries():
    from dunning.state.delivery import DeliveryStore

    return DeliveryStore(_store().engine)


@address_app.command("list")
def address_list() -> None:
    """The flagged addresses: debtor, email, what happened and when, SendGrid's reason."""
    flags = _deliveries().active_address_flags()
    if not flags:
        typer.echo("No address to correct.")
    for f in flags:
        typer.echo(f"{f.debtor_id:<12} {f.email:<32} {f.event:<8} {f.flagged_on}  {f.reason}")


@address_app.command("clear")
def address_clear(debtor: str = typer.Argument(..., help="Debtor (customer) id."), note: str = _NOTE,
                  operator: Optional[str] = _OPERATOR) -> None:
    """Let emails go to the debtor's flagged address again (say why: it was checked, or the bounce was a fluke)."""
    try:
        cleared = _deliveries().clear_address_flags(_trace(operator), debtor, note)
    except (LookupError, ValueError) as error:
        _fail(str(error))
    for f in cleared:
        typer.echo(f"Address {f.email} of debtor {debtor} cleared: emails may go to it again.")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
