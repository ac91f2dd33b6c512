"""Handing planned messages to the send task: shared by the nightly run and the dispatch run."""

from __future__ import annotations

import os
import time
from datetime import date

import pandas as pd
from prefect import get_run_logger, unmapped
from prefect.client.schemas.objects import State
from prefect.states import Failed
from prefect.blocks.system import Secret
from prefect.futures import wait
from prefect.tasks import exponential_backoff
from prefect.utilities.annotations import quote

from dunning.config import ConfigError
from dunning.delivery.dispatch import Delivery, Dispatcher, PrintQueue
from dunning.delivery.gateway import (
    EmailGateway, GatewayConfigError, UnansweredSendError, gateway_from_environment,
)
from dunning.documents.rendering import Renderer
from dunning.documents.reports import RunSummary
from dunning.paths import TEMPLATES_DIR, outbox_dir, print_queue_dir
from dunning.rules.calendar import BusinessCalendar, utc_now
from dunning.rules.recovery import Verdict
from dunning.sources.accounting import AccountingSource, SourceUnavailable
from dunning.sources.config_files import Settings, load_contract_rates, load_settings
from dunning.state.store import PlannedMessage, StateSchemaError
from tasks.context import rate_store, store
from tasks.dispatch import send_reminder


SECRET_BLOCK_ENV = "DUNNING_SENDGRID_SECRET_BLOCK"


def max_workers() -> int:
    """The send pool's size. It is fixed when a flow is defined; an invalid policy fails the run
    itself, loudly, so the default here only lets the module load."""
    try:
        return load_settings().policy.dispatch.max_workers
    except ConfigError:
        return 8


class RunRefused(ValueError):
    """The run's parameters or environment would make it do something wrong: nothing was done."""


# What stops a run before it acts, each with a message that says what to do (a database that does
# not answer, or a SendGrid host that is not one, included: one line, not a traceback).
REFUSALS = (RunRefused, ConfigError, StateSchemaError, SourceUnavailable, GatewayConfigError)


def refused(error: Exception) -> State:
    """A refusal ends the flow run Failed with its one line, logged once, and no traceback."""
    message = str(error)
    get_run_logger().error(message)
    return Failed(message=message)


def sendgrid_key_from_block() -> str | None:
    """The SendGrid key from the Prefect Secret block DUNNING_SENDGRID_SECRET_BLOCK names, when
    SENDGRID_API_KEY itself is not set. The key is never logged, nor put in an error message."""
    name = os.environ.get(SECRET_BLOCK_ENV, "").strip()
    if not name or os.environ.get("SENDGRID_API_KEY", "").strip():
        return None
    try:
        key = Secret.load(name).get()
    except Exception as error:   # missing block, unreachable Prefect API: never a traceback, never the key
        raise RunRefused(f"{SECRET_BLOCK_ENV} names the Prefect Secret block {name!r}, which could not be read "
                         f"({type(error).__name__}): create it in the UI (Blocks > Secret) or unset it") from None
    if not isinstance(key, str) or not key.strip():
        raise RunRefused(f"the Prefect Secret block {name!r} ({SECRET_BLOCK_ENV}) must hold the SendGrid key as text")
    return key


def open_gateway(settings: Settings, dry_run: bool) -> EmailGateway:
    """SendGrid when a key is set, else the outbox, unless this product has really sent before."""
    gateway = gateway_from_environment(outbox_dir(), settings.policy.dispatch.timeout_seconds,
                                       sendgrid_key_from_block())
    if gateway.name == "outbox" and not dry_run and store().has_sent_through("sendgrid"):
        raise RunRefused("SENDGRID_API_KEY is not set, but this state database has sent through SendGrid "
                         "before: refusing to write messages to the outbox instead of sending them")
    return gateway


def within_send_window(settings: Settings, gateway: EmailGateway) -> bool:
    """Quiet hours protect debtors; the outbox reaches no one, so it is never outside the window."""
    if gateway.name == "outbox":
        return True
    window = settings.policy.send_window
    calendar = BusinessCalendar(settings.policy.calendar.subdivision)
    return calendar.in_send_window(utc_now(), window.start_hour, window.end_hour, window.business_days_only)


def send_messages(messages: list[PlannedMessage], settings: Settings, gateway: EmailGateway, as_of: date,
                  invoices: pd.DataFrame, credits: pd.DataFrame, run_id: int, summary: RunSummary,
                  installments: dict | None = None, statements: dict | None = None) -> None:
    """One send task per message on the flow's bounded pool; outcomes are added to the summary."""
    policy = settings.policy
    dispatcher = Dispatcher(store=store(), renderer=Renderer(TEMPLATES_DIR), gateway=gateway,
                            print_queue=PrintQueue(print_queue_dir()), company=settings.company, policy=policy,
                            as_of=as_of, invoices=invoices, legal=rate_store().coverage(settings.config_dir).tables,
                            contract_rates=load_contract_rates(settings.config_dir),
                            may_send=lambda: within_send_window(settings, gateway),
                            source=AccountingSource.from_url(), credits=credits, installments=installments,
                            statements=statements)
    sender = send_reminder.with_options(
        retries=policy.dispatch.retries,
        retry_delay_seconds=exponential_backoff(policy.dispatch.retry_delay_seconds)(policy.dispatch.retries),
        retry_jitter_factor=policy.dispatch.retry_jitter_factor,
    )
    # A message read back from the queue is claimed under the run that planned it.
    started = time.perf_counter()
    # quote: Prefect need not walk each message's decisions looking for futures (none are there).
    futures = sender.map([quote(m) for m in messages], unmapped(dispatcher), [m.run_id or run_id for m in messages])
    wait(futures)
    if messages:
        took = time.perf_counter() - started
        get_run_logger().info("Send fan-out: %d message(s) in %.1f s, %.1f ms per message (%d worker threads).",
                              len(messages), took, took * 1000 / len(messages), policy.dispatch.max_workers)
    summary.resend_after_minutes = policy.dispatch.resend_interrupted_after_minutes
    for message, future in zip(messages, futures):
        decision = message.decisions[0]
        outcome = future.result(raise_on_failure=False)
        numbers = ", ".join(d.invoice_number for d in message.decisions)
        if isinstance(outcome, Delivery):
            status = "skipped" if outcome.provider == "none" else "sent"   # none: not ours to send any more
            summary.sends[(decision.step.value, outcome.channel, status)] += 1
        elif isinstance(outcome, UnansweredSendError):
            # Not a failure: it may have gone out, and the next run finds out before sending it again.
            summary.sends[(decision.step.value, decision.channel.value, "unanswered")] += 1
            summary.unanswered.append(f"message {message.message_key}: {decision.step.value} for invoice(s) {numbers}")
        else:
            summary.sends[(decision.step.value, decision.channel.value, "failed")] += 1
            summary.failures.append(f"{decision.step.value} for invoice(s) {numbers}: {outcome}")


def note_interrupted(summary: RunSummary, outcomes: list[tuple[str, str]]) -> None:
    for verdict, line in outcomes:
        summary.interrupted[verdict] += 1
        if verdict == Verdict.operator.value:
            summary.awaiting_operator.append(line)
        elif verdict == Verdict.blind.value:
            summary.resent_blind.append(line)


def failure_message(summary: RunSummary) -> str:
    """The one line a failed run's Prefect state and `dunning run` show: every reason at once."""
    return " | ".join(summary.problems())
