"""Sending one reminder: retried on transient provider errors only."""

from __future__ import annotations

import time
from datetime import timedelta

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.runtime import task_run
from prefect.utilities.annotations import quote

from dunning.config import Policy
from dunning.delivery.dispatch import Delivery, Dispatcher
from dunning.delivery.gateway import EmailGateway, SendError, TransientSendError, UnansweredSendError
from dunning.rules.calendar import utc_now
from dunning.rules.recovery import ABANDONED_RUN_AFTER, Verdict, settle_interrupted
from dunning.state.store import PlannedMessage

from .context import store, trace_for

# A 429 asks us to wait until its reset time; beyond this we let the backoff decide instead.
MAX_RATE_LIMIT_WAIT_SECONDS = 60.0


def is_transient_send_error(task, task_run, state) -> bool:
    """429, 5xx and timeouts are retried; 400/401/403/413 and anything else are not."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, SendError) and error.transient


def _run_name() -> str:
    message = task_run.parameters["message"]
    if isinstance(message, quote):      # the send fan-out quotes its messages (flows.sending)
        message = message.unquote()
    return f"send-{message.decisions[0].step.value}-{message.message_key}"


@task(name="send_reminder", task_run_name=_run_name, retry_condition_fn=is_transient_send_error,
      cache_policy=NO_CACHE)
def send_reminder(message: PlannedMessage, dispatcher: Dispatcher, run_id: int) -> Delivery:
    """Render, record 'sending', hand over, record the answer. Sent rows are never sent again."""
    logger = get_run_logger()
    attempt = task_run.get_run_count() or 1
    will_retry = attempt <= TaskRunContext.get().task.retries
    try:
        delivery = dispatcher.deliver(message, trace_for(run_id), will_retry=will_retry)
    except TransientSendError as error:
        logger.warning("Message %s: %s (attempt %d).", message.message_key, str(error).rstrip("."), attempt)
        if error.retry_after_seconds and will_retry:
            time.sleep(min(error.retry_after_seconds, MAX_RATE_LIMIT_WAIT_SECONDS))
        raise
    except UnansweredSendError as error:
        logger.warning("Message %s: %s. Left 'sending' until a delivery event or the resend delay settles it.",
                       message.message_key, str(error).rstrip("."))
        raise
    except SendError as error:
        logger.error("Message %s refused: %s. Not retried: the next run tries again once fixed.",
                     message.message_key, str(error).rstrip("."))
        raise
    logger.info(delivery.summary)
    return delivery


@task(name="recover_interrupted_sends", cache_policy=NO_CACHE)
def recover_interrupted_sends(policy: Policy, run_id: int | None, gateway: EmailGateway) -> list[tuple[str, str]]:
    """Settle the messages a killed run left 'sending' or nobody answered, before anything is planned
    or sent; the gateway's activity log is asked before one is sent again.

    Returns (verdict, line) per message, for the run summary.
    """
    logger = get_run_logger()
    state, now = store(), utc_now()
    trace = trace_for(run_id, "nightly-run" if run_id else "dispatch-run")
    delay = timedelta(minutes=policy.dispatch.resend_interrupted_after_minutes)
    for stale_run in state.close_abandoned_runs(trace, now - ABANDONED_RUN_AFTER):
        logger.warning("Run %d was still marked running %s after it started: its process died; closed as failed.",
                       stale_run, ABANDONED_RUN_AFTER)
    outcomes = []
    for send in state.interrupted_sends():
        recovery = settle_interrupted(send, now, delay, gateway.activity)
        changed = state.apply_recovery(trace, send, recovery)
        line = f"action {send.action_ids[0]}: {send.what}: {recovery.reason}"
        if recovery.verdict is Verdict.sent:
            logger.info("Interrupted send settled as sent, %s.", line)
        elif recovery.verdict in (Verdict.resend, Verdict.blind):
            logger.warning("Interrupted send resent, %s.", line)
        elif recovery.verdict is Verdict.operator and changed:
            logger.warning("Interrupted send waits for an operator, %s.", line)
        else:
            logger.info("Interrupted send left as it is, %s.", line)
        outcomes.append((recovery.verdict.value, line))
    return outcomes
