"""What to do with a message a run left 'sending': the run was killed between the claim and the answer.

Nothing is resent blindly. In order:
1. the provider's message id was stored: SendGrid accepted it, it is sent;
2. a delivery event names the message (SendGrid only reports what it accepted): it is sent;
3. a letter whose document reached the print queue: it is printed, so sent;
4. the provider answered 2xx without an id: an operator decides (`dunning action resolve`);
5. until the configured delay has passed, nothing: the run that claimed it may still be waiting
   for the answer, and a delivery event may still come;
6. then the provider's own activity log is asked (SendGrid's Email Activity API, by the message's
   custom arg): a message it processed is sent;
7. a formal notice still unsettled waits for an operator (the product never sends one twice);
8. an amicable step goes back to 'failed' and the run sends it again: knowingly when the activity
   log has no trace of it, blind (and listed as such in the run summary) when the log could not
   be asked (the account has no access to it, or it did not answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Callable

from dunning.config import Step
from dunning.rules.delivery_events import LEDGER_EVENTS
from dunning.rules.planner import Channel

__all__ = ["ABANDONED_RUN_AFTER", "InterruptedSend", "ProviderActivity", "Verdict", "Recovery", "settle_interrupted",
           "provider_id_from_event"]

# A run still 'running' this long after it started has lost its process (a night's run takes
# minutes; the sending window is 11 hours): the next run closes it as failed.
ABANDONED_RUN_AFTER = timedelta(hours=12)

# Events SendGrid emits only for a message it accepted: those the ledger records, and engagement.
ACCEPTANCE_EVENTS = LEDGER_EVENTS | {"group_unsubscribe", "open", "click"}


@dataclass(frozen=True)
class InterruptedSend:
    """The ledger rows of one message found 'sending' when a run starts."""

    message_key: str
    action_ids: tuple[int, ...]
    invoice_numbers: tuple[str, ...]
    debtor_id: str
    step: str
    channel: str
    run_id: int
    updated_at: datetime
    provider: str | None                 # set only when the provider answered 2xx without an id
    provider_message_id: str | None
    document_path: str | None
    delivery_event: tuple[str, str | None] | None = None   # (event, sg_message_id) of the earliest event

    @property
    def what(self) -> str:
        return f"{self.step} for invoice(s) {', '.join(self.invoice_numbers)} of debtor {self.debtor_id}"


@dataclass(frozen=True)
class ProviderActivity:
    """What the provider's activity log says of one message: processed (True), no trace of it
    (False), or it could not tell (None, with why: no access to the log, no answer)."""

    processed: bool | None
    provider_message_id: str | None = None
    detail: str = ""


class Verdict(str, Enum):
    sent = "sent"                   # settled as sent: stored id, delivery event, activity log, print queue
    resend = "resend"               # back to 'failed': the activity log has no trace of it, this run sends it
    blind = "resend_blind"          # back to 'failed' without knowing: the activity log could not be asked
    operator = "operator"           # waits for `dunning action resolve`
    wait = "wait"                   # too recent: the run that claimed it may still be waiting for the answer


@dataclass(frozen=True)
class Recovery:
    verdict: Verdict
    reason: str
    provider: str | None = None
    provider_message_id: str | None = None


def provider_id_from_event(sg_message_id: str | None) -> str | None:
    """SendGrid's event id is the X-Message-Id followed by '.filter…' routing parts."""
    return sg_message_id.split(".", 1)[0] if sg_message_id else None


def settle_interrupted(send: InterruptedSend, now: datetime, resend_after: timedelta,
                       ask: Callable[[str], ProviderActivity] | None = None) -> Recovery:
    """The verdict on one interrupted message, with the sentence the audit trail keeps. `ask` looks
    the message up in the provider's activity log; it is called only when nothing else settles it."""
    if send.provider_message_id:
        return Recovery(Verdict.sent, f"SendGrid had accepted it as {send.provider_message_id}",
                        send.provider or "sendgrid", send.provider_message_id)
    if send.delivery_event is not None:
        event, sg_message_id = send.delivery_event
        provider_id = provider_id_from_event(sg_message_id)
        return Recovery(Verdict.sent, f"SendGrid reported a '{event}' event for it"
                        + (f" (message {provider_id})" if provider_id else ""), "sendgrid", provider_id)
    if send.channel == Channel.letter.value and send.document_path:
        return Recovery(Verdict.sent, f"its letter is in the print queue ({send.document_path})", "print_queue")
    if send.provider:
        return Recovery(Verdict.operator, f"{send.provider} answered without a message id: it may have gone out; "
                        "an operator checks the provider's activity and resolves it")
    waited = now - send.updated_at
    minutes = int(waited.total_seconds() // 60)
    if waited < resend_after:
        # The run that claimed it may still be waiting for the answer, or its delivery event may come.
        left = int((resend_after - waited).total_seconds() // 60) + 1
        return Recovery(Verdict.wait, f"interrupted {minutes} min ago; "
                        f"settled in about {left} min if no trace of it reaches us")
    # A letter alone never reached the provider: there is nothing to ask it.
    activity = ask(send.message_key) if ask is not None and send.channel != Channel.letter.value else None
    if activity is not None and activity.processed:
        provider_id = provider_id_from_event(activity.provider_message_id)
        return Recovery(Verdict.sent, "SendGrid's Email Activity lists it as processed"
                        + (f" (message {provider_id})" if provider_id else ""), "sendgrid", provider_id)
    if activity is not None and activity.processed is False:
        found = f"SendGrid's Email Activity has no trace of it {minutes} min after the run that sent it stopped"
        if send.step == Step.formal_notice.value:
            return Recovery(Verdict.operator, f"{found}; a formal notice is never resent automatically: an operator "
                            "checks the print queue, then resolves it")
        return Recovery(Verdict.resend, f"{found}: sent again")
    unknown = f"no provider id and no delivery event {minutes} min after the run that sent it stopped" + (
        f", and {activity.detail}" if activity is not None and activity.detail else "")
    if send.step == Step.formal_notice.value:
        return Recovery(Verdict.operator, f"{unknown}; a formal notice is never resent automatically: an operator "
                        "checks SendGrid's activity and the print queue, then resolves it")
    return Recovery(Verdict.blind, f"{unknown}: sent again without knowing whether it went out")
