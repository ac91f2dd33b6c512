"""The nightly collection run: extract, age, segment, plan, send, escalate, record."""

from __future__ import annotations

from collections import Counter
from datetime import date

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner

from dunning.config import ClaimPaidLate, Step
from dunning.documents.reports import RunSummary, aging_totals
from dunning.law_fr.penalties import contracts_to_fix
from dunning.law_fr.rate_coverage import missing_rates, upcoming_gap
from dunning.paths import outbox_dir
from dunning.rules.calendar import paris_today
from dunning.rules.frames import records
from dunning.rules.planner import AWAITING_OPERATOR, Decision, Outcome
from dunning.sources.accounting import check_source
from dunning.sources.config_files import load_contract_rates, load_settings
from dunning.state.store import StateSchemaError, check_migrated
from tasks.analyse import compute_aged_balance, publish_aging_artifact, quarantine_invalid_rows, segment_debtors_task
from tasks.arrangements import review_arrangements
from tasks.context import rate_store, store
from tasks.delivery import review_address_flags
from tasks.dispatch import recover_interrupted_sends
from tasks.extract import fetch_history_payments, fetch_open_receivables, fetch_payment_history, fetch_unapplied_credits
from tasks.legal import close_paid_cases, enqueue_legal_handoff
from tasks.paid_late import fetch_paid_late_invoices, plan_penalty_statements
from tasks.plan import plan_collection_steps
from tasks.runs import close_collection_run, count_messages_handled_elsewhere, open_collection_run

from .sending import (
    REFUSALS, RunRefused, failure_message, refused, max_workers, note_interrupted, open_gateway, send_messages, within_send_window,
)


def _business_date(as_of: date | None) -> date:
    """The run's as-of date: the parameter, else the Paris date the run was scheduled for.

    A Retry pressed the next morning on last night's run keeps last night's date.
    """
    if as_of is not None:
        return as_of
    scheduled = flow_run.get_scheduled_start_time()
    return paris_today(scheduled) if scheduled else paris_today()


def _run_name() -> str:
    parameters = flow_run.get_parameters()
    as_of = _business_date(parameters.get("as_of"))
    return f"collection-{as_of}" + ("-dry-run" if parameters.get("dry_run") else "")


def _small_claim(decision: Decision) -> bool:
    """Rule 13: a handoff below legal.min_principal, decided tonight or waiting since an earlier night."""
    return decision.step is Step.legal_handoff and (
        decision.outcome is Outcome.awaiting_approval
        or (decision.outcome is Outcome.held and decision.reason.startswith(AWAITING_OPERATOR)))


def _close_unfinished_run(flow, flow_run, state) -> None:
    """A run that crashed, was cancelled or raised must not stay 'running' in the state database."""
    try:
        check_migrated()
    except StateSchemaError:
        return   # the refusal said so already; a state database out of reach holds no run of this one
    store().fail_unfinished_run(str(flow_run.id), state.message or state.name)


@flow(name="nightly-collection", flow_run_name=_run_name,
      task_runner=ThreadPoolTaskRunner(max_workers=max_workers()),
      on_failure=[_close_unfinished_run], on_crashed=[_close_unfinished_run],
      on_cancellation=[_close_unfinished_run])
def nightly_collection(as_of: date | None = None, dry_run: bool = False):
    """Chase today's due receivables. `as_of` defaults to today in Paris; a past date is a backfill."""
    try:
        return _collect(_business_date(as_of), dry_run)
    except REFUSALS as error:
        return refused(error)


def _collect(as_of: date, dry_run: bool):
    logger = get_run_logger()
    settings = load_settings()
    policy, company = settings.policy, settings.company
    if as_of > paris_today() and not dry_run:
        raise RunRefused(f"as_of {as_of} is in the future: only a dry run may look ahead "
                         "(messages sent for a future date could never be taken back)")
    check_migrated()
    check_source()
    # Tables that lack tonight's half-year hold only what needs the missing numbers (see README).
    coverage = rate_store().coverage(settings.config_dir)
    legal = coverage.tables
    rates_missing = missing_rates(legal, as_of)
    gateway = open_gateway(settings, dry_run)
    run_id = open_collection_run(as_of, dry_run)
    # Messages a killed run left 'sending' are settled first: the planner must know what went out.
    interrupted = [] if dry_run else recover_interrupted_sends(policy, run_id, gateway)

    # 1. Extract: one query per kind of data.
    raw_invoices = fetch_open_receivables.submit(as_of)
    raw_credits = fetch_unapplied_credits.submit(as_of)
    raw_history = fetch_payment_history.submit(as_of, policy.segments.history_days)
    raw_history_payments = fetch_history_payments.submit(as_of, policy.segments.history_days)

    # 2. Understand: quarantine junk, age the balance, segment the debtors.
    validated, credits, history = quarantine_invalid_rows(raw_invoices.result(), raw_credits.result(),
                                                          raw_history.result(), raw_history_payments.result(),
                                                          as_of, company.currency, run_id)
    invoices = validated.invoices
    # A contractual rate below the legal floor is set aside for the commercial rate: listed, never a stop.
    contracts = contracts_to_fix(legal, load_contract_rates(settings.config_dir),
                                 invoices.groupby("debtor_id")["due_date"].min().to_dict(), as_of)
    arrangements, holds, disputes = review_arrangements(invoices, as_of, dry_run, run_id)
    address_flags, corrected_addresses = review_address_flags(invoices, dry_run, run_id)
    aging = compute_aged_balance(invoices, credits, as_of, policy)
    segments = segment_debtors_task(invoices, credits, history, disputes, as_of, policy, company.currency, run_id)
    publish_aging_artifact(aging, segments, as_of, run_id)

    # 3. Decide: today's step for every invoice, each with its reason, written down before any send.
    plan, messages = plan_collection_steps(invoices, segments, credits, as_of, policy, legal, arrangements, holds,
                                           dry_run, run_id, address_flags, company.currency, rates_missing)

    # 3b. Invoices paid in full but late still owe their penalties (L441-10 II): a monthly statement,
    #     outside the ladder, planned only when it can go out tonight (README, "Invoices paid late").
    statements: dict = {}
    window_open = dry_run or within_send_window(settings, gateway)
    if policy.claim_paid_late is ClaimPaidLate.statement and window_open:
        claims, claim_messages, statements = plan_penalty_statements(
            fetch_paid_late_invoices(as_of, policy.paid_late_lookback_days), plan, holds, address_flags, as_of,
            policy, legal, load_contract_rates(settings.config_dir), dry_run, run_id, rates_missing)
        plan, messages = plan + claims, messages + claim_messages

    summary = RunSummary(run_id=run_id, as_of=str(as_of), dry_run=dry_run,
                         invoices_considered=len(invoices), quarantined=len(validated.quarantined),
                         quarantine_reasons=Counter(validated.quarantined["kind"]),
                         aging=records(aging_totals(aging, segments)),
                         segments=Counter(segments["segment"]),
                         decisions=Counter((d.step.value if d.step else "-", d.outcome.value) for d in plan),
                         prescribed=[d.invoice_number for d in plan if d.reason.startswith("prescribed on")],
                         open_disputes=sum(n for n, _ in disputes.values()),
                         oldest_dispute_days=max((age for _, age in disputes.values()), default=0),
                         addresses_to_correct=address_flags, addresses_corrected=corrected_addresses,
                         rates_missing=rates_missing or "",
                         rates_notes=[note for note in [upcoming_gap(legal, as_of), *coverage.conflicts] if note],
                         held_for_rates=[d.invoice_number for d in plan
                                         if rates_missing and d.outcome is Outcome.held and rates_missing in d.reason],
                         small_claims=[f"{d.invoice_number:<16} {d.debtor_id:<12} {d.residual:>12} {d.currency}  "
                                       f"{d.reason}" for d in plan if _small_claim(d)],
                         contracts_to_fix=contracts)
    for note in ([rates_missing] if rates_missing else []) + summary.rates_notes + contracts:
        logger.warning(note)
    note_interrupted(summary, interrupted)

    # 4. Act: inside the sending window, one task per message; outside it, the messages stay queued
    #    for the dispatch deployment. The legal queue does not wait.
    if not dry_run:
        if within_send_window(settings, gateway):
            send_messages(messages, settings, gateway, as_of, invoices, credits, run_id, summary,
                          statements=statements)
        elif messages:
            summary.queued = len(messages)
        summary.handled_elsewhere.update(count_messages_handled_elsewhere(run_id))
        summary.cases_closed = close_paid_cases(as_of, policy.tolerance, run_id)
        summary.cases_opened, summary.cases_extended, summary.dossiers_held = enqueue_legal_handoff(
            plan, invoices, as_of, settings, legal, run_id, rates_missing, credits)
        if gateway.name == "outbox":
            summary.delivery_note = (f"No SENDGRID_API_KEY: emails were written to {outbox_dir()}, "
                                     "none was sent.")

    # 5. Record and report.
    status = close_collection_run(summary)
    text = summary.text()
    logger.info("Run %d for %s %s: %d invoices, %d quarantined, %d messages handled, %d failed, %d legal case(s) "
                "opened. The full summary is the run-summary artifact.", run_id, as_of, status,
                summary.invoices_considered, summary.quarantined, sum(summary.sends.values()), summary.failed,
                len(summary.cases_opened))
    create_markdown_artifact(key=f"run-summary-{as_of.isoformat()}", markdown=f"```\n{text}\n```",
                             description=f"Collection run {run_id} for {as_of}")
    if status == "failed":
        return Failed(message=failure_message(summary))
    if summary.handled_elsewhere:
        # The run that lost a race for its night says so where people look: its state.
        return Completed(message=summary.handled_elsewhere_line(), data=summary)
    return summary


if __name__ == "__main__":
    nightly_collection()
