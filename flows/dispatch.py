"""Sending outside the nightly run: the queue the nightly run left, and an operator's targeted resend."""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner

from dunning.delivery.gateway import EmailGateway
from dunning.documents.reports import RunSummary
from dunning.rules.calendar import paris_today
from dunning.sources.accounting import check_source
from dunning.sources.config_files import Settings, load_settings
from dunning.sources.receivables import normalize_credits
from dunning.state.store import PlannedMessage, check_migrated
from tasks.analyse import validate_open_receivables
from tasks.arrangements import plan_installment_reminders
from tasks.context import store
from tasks.dispatch import recover_interrupted_sends
from tasks.extract import fetch_open_receivables, fetch_unapplied_credits

from .sending import (
    REFUSALS, failure_message, refused, max_workers, note_interrupted, open_gateway, send_messages, within_send_window,
)


def _window(settings: Settings) -> str:
    window = settings.policy.send_window
    return (f"{window.start_hour:02d}:00-{window.end_hour:02d}:00 Europe/Paris"
            + (", business days" if window.business_days_only else ""))


def _send_today(queue: list[PlannedMessage], settings: Settings, gateway: EmailGateway, summary: RunSummary,
                with_installments: bool):
    """Send with today's balances: an invoice paid since planning is skipped, not chased, and the
    messages (days overdue, the formal notice's deadline) are dated the day they go out. A message
    stating penalties for a half-year config/legal_fr.yaml does not cover fails alone, saying which
    file to update; the others go out."""
    logger = get_run_logger()
    today = paris_today()
    invoices = validate_open_receivables(fetch_open_receivables(today), today)
    installment_messages, installments = (plan_installment_reminders(invoices, today, settings.policy)
                                          if with_installments else ([], {}))
    messages = installment_messages + queue
    if messages:
        credits = normalize_credits(fetch_unapplied_credits(today), settings.company.currency).invoices
        send_messages(messages, settings, gateway, today, invoices, credits, 0, summary, installments)
    logger.info("Done: %d message(s) handled, %d failed.", sum(summary.sends.values()), summary.failed)
    if summary.problems():
        return Failed(message=failure_message(summary))
    return summary.counts()


@flow(name="dispatch-queued-messages", flow_run_name="dispatch-queued-messages",
      task_runner=ThreadPoolTaskRunner(max_workers=max_workers()))
def dispatch_queue():
    """Send every queued message, re-reading its invoices first; only inside the sending window."""
    try:
        return _dispatch_queue()
    except REFUSALS as error:
        return refused(error)


def _ready_to_send():
    """What every send needs first: the settings, both databases checked, and the gateway."""
    settings = load_settings()
    check_migrated()
    check_source()
    return settings, open_gateway(settings, dry_run=False)


def _dispatch_queue():
    logger = get_run_logger()
    settings, gateway = _ready_to_send()
    if not within_send_window(settings, gateway):
        logger.info("Outside the sending window (%s): nothing sent.", _window(settings))
        return None
    summary = RunSummary(run_id=0, as_of=str(paris_today()), dry_run=False)
    note_interrupted(summary, recover_interrupted_sends(settings.policy, None, gateway))
    queue = store().queued_messages()
    logger.info("%d queued message(s) to send.", len(queue))
    # Payment plans: each installment's own reminders, before it falls due and when it is late.
    return _send_today(queue, settings, gateway, summary, with_installments=True)


def _resend_name() -> str:
    parameters = flow_run.get_parameters()
    scope = [str(parameters["as_of"])] if parameters.get("as_of") else []
    scope += list(parameters.get("invoice_numbers") or [])
    return "resend-failed-" + ("-".join(scope)[:80] if scope else "all")


@flow(name="resend-failed", flow_run_name=_resend_name, task_runner=ThreadPoolTaskRunner(max_workers=max_workers()))
def resend_failed(as_of: date | None = None, invoice_numbers: list[str] | None = None):
    """An operator's targeted resend: the failed messages of one run date, or of the given invoices
    (all failed messages when neither is given). Inside the sending window only; balances re-read."""
    try:
        return _resend_failed(as_of, invoice_numbers)
    except REFUSALS as error:
        return refused(error)


def _resend_failed(as_of: date | None, invoice_numbers: list[str] | None):
    logger = get_run_logger()
    settings, gateway = _ready_to_send()
    if not within_send_window(settings, gateway):
        return Failed(message=f"Outside the sending window ({_window(settings)}): nothing sent; "
                              "run it again inside the window.")
    numbers = [n.strip() for n in invoice_numbers or [] if n.strip()]
    queue = store().queued_messages(failed_only=True, as_of=as_of, invoice_numbers=numbers)
    covered = {d.invoice_number for m in queue for d in m.decisions}
    missing = [n for n in numbers if n not in covered]
    if missing:
        ledger = store().ledger_status_by_number(missing)
        for number in missing:
            rows = ledger.get(number)
            found = ", ".join(f"{step} {status}" for step, status in rows) if rows else "no ledger row"
            logger.warning("Invoice %s has no failed message%s to resend (ledger: %s).", number,
                           f" from the run of {as_of}" if as_of else "", found)
    logger.info("%d failed message(s) to send again.", len(queue))
    if not queue:
        return Completed(message="Nothing to resend: no failed message matches"
                         + (f" the run of {as_of}" if as_of else "") + (f" invoices {', '.join(numbers)}" if numbers else "")
                         + " (see the run's logs for each invoice's ledger status).")
    summary = RunSummary(run_id=0, as_of=str(paris_today()), dry_run=False)
    return _send_today(queue, settings, gateway, summary, with_installments=False)
