"""The dispatch run: sends what the nightly run queued outside the sending window."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner

from dunning.calendar import paris_today
from dunning.config import load_settings
from dunning.receivables import normalize_credits
from dunning.reports import RunSummary
from dunning.state.store import check_migrated
from tasks.analyse import validate_open_receivables
from tasks.arrangements import plan_installment_reminders
from tasks.context import store
from tasks.extract import fetch_open_receivables, fetch_unapplied_credits

from .sending import failure_message, max_workers, open_gateway, send_messages, within_send_window


@flow(name="dispatch-queued-messages", flow_run_name="dispatch-queued-messages",
      task_runner=ThreadPoolTaskRunner(max_workers=max_workers()))
def dispatch_queue():
    """Send every queued message, re-reading its invoices first; only inside the sending window."""
    logger = get_run_logger()
    settings = load_settings()
    check_migrated()
    window = settings.policy.send_window
    gateway = open_gateway(settings, dry_run=False)
    if not within_send_window(settings, gateway):
        logger.info("Outside the sending window (%02d:00-%02d:00 Europe/Paris%s): nothing sent.", window.start_hour,
                    window.end_hour, ", business days" if window.business_days_only else "")
        return None
    queue = store().queued_messages()
    logger.info("%d queued message(s) to send.", len(queue))
    today = paris_today()
    summary = RunSummary(run_id=0, as_of=str(today), dry_run=False)
    invoices = validate_open_receivables(fetch_open_receivables(today))
    # Payment plans: each installment's own reminders, before it falls due and when it is late.
    installment_messages, installments = plan_installment_reminders(invoices, today, settings.policy)
    if queue or installment_messages:
        # Balances as they stand today: an invoice paid since planning is skipped, not chased, and
        # the messages (days overdue, the formal notice's deadline) are dated the day they go out.
        # A message stating penalties for a half-year config/legal_fr.yaml does not cover fails alone,
        # saying which file to update; the others go out.
        credits = normalize_credits(fetch_unapplied_credits(today), settings.company.currency).invoices
        send_messages(installment_messages + queue, settings, gateway, today, invoices, credits, 0, summary,
                      installments)
    logger.info("Dispatch done: %d message(s) handled, %d failed.", sum(summary.sends.values()), summary.failed)
    if summary.failed:
        return Failed(message=failure_message(summary, len(queue) + len(installment_messages)))
    return summary.counts()
