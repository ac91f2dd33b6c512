"""Delivering one planned message: render it, record the attempt, hand it over, record the answer.

The ledger row is marked 'sending' before the provider is called and only its id travels in
custom_args, so a crash or a retry can always be reconciled from our own records.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Callable

import pandas as pd

from dunning.config import CompanyIdentity, Policy, Step
from dunning.delivery.gateway import (
    ACTION_ID_ARG, EmailGateway, OutboundEmail, PermanentSendError, SendError, UnansweredSendError,
    UnconfirmedSendError,
)
from dunning.documents.letters import (
    FormalNoticeLetter, ar_cover_path, render_ar_cover_pdf, render_formal_notice_pdf, sha256_hex,
)
from dunning.documents.rendering import Renderer, RenderingError
from dunning.law_fr.penalties import LegalTables, penalty_statement
from dunning.law_fr.statement import PenaltyStatement
from dunning.rules.arrangements import Installment, PaymentPlan
from dunning.rules.compensation import Compensation, debtor_compensation
from dunning.rules.frames import records
from dunning.rules.messages import (
    PENALTY_STEPS, Debtor, EarlierReminder, EarlyPaymentDiscount, InstallmentDue, InvoiceLine,
    MessageContext,
)
from dunning.rules.money import ZERO, to_money
from dunning.rules.paid_late import PaidLateInvoice, statement_context
from dunning.rules.planner import Channel, covering_credits
from dunning.sources.accounting import AccountingSource
from dunning.sources.receivables import late_payments, quarantine_note, split_payments
from dunning.state.store import AlreadyHandled, PlannedMessage, StateStore, Trace

__all__ = ["Delivery", "DeliveryError", "EmailCopyNotDelivered", "PrintQueue", "Dispatcher"]

logger = logging.getLogger("dunning.delivery.dispatch")


class DeliveryError(RuntimeError):
    """A message that could not be prepared or printed: recorded as failed, never retried blindly."""


class EmailCopyNotDelivered(PermanentSendError):
    """A formal notice whose registered letter is queued but whose email copy was not accepted."""


@dataclass(frozen=True)
class Delivery:
    message_key: str
    channel: str
    provider: str
    provider_message_id: str | None
    document_path: str | None
    summary: str            # one sentence for the log and the audit trail: ids and numbers only


class PrintQueue:
    """Letters waiting to be printed and posted, by as-of date: HTML letters, and for a formal
    notice its PDF and the cover sheet of the registered letter."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, as_of: date, message: PlannedMessage, name: str, content: str | bytes, suffix: str) -> Path:
        day = self.folder / as_of.isoformat()
        day.mkdir(parents=True, exist_ok=True)
        debtor = re.sub(r"[^A-Za-z0-9_-]", "_", message.decisions[0].debtor_id)
        return self.write_file(day / f"{name}-{debtor}-{message.message_key}{suffix}", content)

    @staticmethod
    def write_file(path: Path, content: str | bytes) -> Path:
        """Write whole or not at all: a reader never sees half a letter."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        tmp.replace(path)
        return path


@dataclass(frozen=True)
class _Letter:
    """What goes to the print queue for one message."""

    name: str
    content: str | bytes
    suffix: str
    cover: bytes | None = None     # the registered letter's cover sheet (formal notice)


class Dispatcher:
    """Everything one night's sends share; `deliver` handles one message end to end."""

    def __init__(self, *, store: StateStore, renderer: Renderer, gateway: EmailGateway, print_queue: PrintQueue,
                 company: CompanyIdentity, policy: Policy, as_of: date, invoices: pd.DataFrame,
                 legal: LegalTables, contract_rates: dict[str, Decimal],
                 may_send: Callable[[], bool] = lambda: True, source: AccountingSource | None = None,
                 credits: pd.DataFrame | None = None,
                 installments: dict[str, tuple[PaymentPlan, Installment]] | None = None,
                 statements: dict[str, PaidLateInvoice] | None = None) -> None:
        self.store, self.renderer, self.gateway, self.print_queue = store, renderer, gateway, print_queue
        self.may_send, self.source = may_send, source
        # Debtors whose unapplied credit covers what they owe, from credits read when sending starts.
        self._covered = covering_credits(invoices, credits, as_of, policy.tolerance) if credits is not None else {}
        # Installment reminders stand for a payment plan's installment, not for one invoice.
        self.installments = installments or {}
        # Penalty statements stand for invoices already paid (dunning.rules.paid_late), not for open ones.
        self.statements = statements or {}
        self.company, self.policy, self.as_of = company, policy, as_of
        self.legal, self.contract_rates = legal, contract_rates
        self._invoices = {row["invoice_id"]: row for row in records(invoices)}
        # Each debtor's open invoices and credits in one currency: what compensation sets against each other.
        self._of_debtor: dict[tuple[str, str], list[str]] = defaultdict(list)
        for invoice_id, row in self._invoices.items():
            self._of_debtor[(row["debtor_id"], row["currency"])].append(invoice_id)
        self._credits: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for row in records(credits) if credits is not None else []:
            self._credits[(row["debtor_id"], row["currency"])].append(row)

    def context(self, message: PlannedMessage, fresh: dict[str, Decimal] | None = None) -> MessageContext:
        """The message's content; `fresh` residuals (read just before sending) replace the planned ones."""
        if message.decisions[0].invoice_id in self.installments:
            return self._installment_context(message)
        if message.decisions[0].invoice_id in self.statements:
            return statement_context(message.decisions, self.statements, self.company, self.as_of, self.legal,
                                     self.contract_rates)
        rows = [dict(self._invoices[d.invoice_id], residual=(fresh or {}).get(d.invoice_id,
                                                                               self._invoices[d.invoice_id]["residual"]))
                for d in message.decisions]
        first = rows[0]
        step = message.decisions[0].step
        # The debtor's credits are set against all its due invoices, oldest first (Code civil 1347):
        # this message claims its own invoices net of what fell on them.
        mine = [dict(self._invoices[i], residual=(fresh or {}).get(i, self._invoices[i]["residual"]))
                for i in self._of_debtor[(first["debtor_id"], first["currency"])]]
        offsets = debtor_compensation(mine, self._credits.get((first["debtor_id"], first["currency"]), []),
                                      first["debtor_id"], first["currency"], self.as_of)
        return MessageContext(
            step=step.value,
            as_of=self.as_of,
            company=self.company,
            debtor=self._debtor(first),
            invoices=self._lines(rows),
            currency=first["currency"],
            response_deadline=self.as_of + timedelta(days=self.policy.formal_notice.response_days)
            if step is Step.formal_notice else None,
            credits=offsets.of(r["number"] for r in rows),
            penalties=self._penalties(step, first, rows, offsets),
            broken_promise_on=message.decisions[0].broken_promise_on,
            discount=self._discount(step, sum((offsets.net(r["number"], r["residual"]) for r in rows), ZERO)),
            earlier_reminders=self._earlier_reminders(message),
        )

    def _earlier_reminders(self, message: PlannedMessage) -> tuple[EarlierReminder, ...]:
        """What the ledger says went out before for the message's invoices; MessageContext merges a
        grouped message's reminders of one date and step into one mention."""
        sent = self.store.earlier_reminders([d.invoice_id for d in message.decisions], before=self.as_of,
                                            excluding=message.action_ids)
        return tuple(EarlierReminder(step=r.step.value, sent_on=r.sent_on) for r in sent)

    def _installment_context(self, message: PlannedMessage) -> MessageContext:
        plan, installment = self.installments[message.decisions[0].invoice_id]
        rows = [r for i, r in self._invoices.items() if i in plan.invoice_ids]
        if not rows:
            raise ValueError(f"payment plan {plan.id}: none of its invoices is open any more")
        first = rows[0]
        return MessageContext(
            step=message.decisions[0].step.value, as_of=self.as_of, company=self.company,
            debtor=self._debtor(first), invoices=self._lines(rows), currency=plan.currency,
            installment=InstallmentDue(plan_id=plan.id, seq=installment.seq, count=len(plan.installments),
                                       due_date=installment.due_date, amount=installment.amount),
        )

    def _discount(self, step: Step, due: Decimal) -> EarlyPaymentDiscount | None:
        """The escompte on what the message claims (net of credits)."""
        offer = self.policy.escompte
        if not offer.enabled or step is not Step.reminder_1:
            return None
        return EarlyPaymentDiscount(rate=offer.rate_percent, amount=to_money(due * offer.rate_percent / 100),
                                    deadline=self.as_of + timedelta(days=offer.pay_within_days))

    @staticmethod
    def _debtor(row: dict) -> Debtor:
        return Debtor(id=row["debtor_id"], name=row["debtor_name"], email=row["email"], language=row["language"],
                      is_consumer=row["is_consumer"], address_line=row["address_line"],
                      postal_code=row["postal_code"], city=row["city"], country=row["country"],
                      siren=row.get("siren"))

    def _lines(self, rows: list[dict]) -> tuple[InvoiceLine, ...]:
        return tuple(InvoiceLine(number=r["number"], issue_date=r["issue_date"], due_date=r["due_date"],
                                 amount_total=r["amount_total"], residual=r["residual"],
                                 days_overdue=(self.as_of - r["due_date"]).days) for r in rows)

    def _penalties(self, step: Step, debtor: dict, rows: list[dict], offsets: Compensation) -> PenaltyStatement | None:
        """Late-payment interest and indemnity to today, for the steps that state them."""
        if step.value not in PENALTY_STEPS:
            return None
        payments = {}
        if self.source is not None:
            ids = [r["invoice_id"] for r in rows]
            lettered = split_payments(self.source.invoice_payments(ids, self.as_of), ids)
            for row in records(lettered.quarantined):
                # Left out, interest runs on the smaller balance: a claim may be understated, never inflated.
                logger.warning("Payment left out of the penalties of invoice(s) %s: %s.",
                               ", ".join(r["number"] for r in rows), quarantine_note(row))
            payments = late_payments(lettered.invoices, {r["invoice_id"]: r for r in rows})
        claimed, payments = offsets.claim(rows, payments)
        return penalty_statement(
            self.legal, claimed, to_date=self.as_of,
            currency=debtor["currency"], is_consumer=debtor["is_consumer"],
            contractual_rate=self.contract_rates.get(debtor["debtor_id"]),
            # A consumer owes moratory interest from the formal notice only: from this letter on.
            formal_notice_on=self.as_of if step is Step.formal_notice else None, debtor_id=debtor["debtor_id"],
            payments=payments)

    def _stale(self, message: PlannedMessage) -> tuple[str | None, dict[str, Decimal]]:
        """Read the invoices again right before sending: why not to send, or their residuals now."""
        if self.source is None or message.decisions[0].invoice_id in self.installments:
            return None, {}   # an installment's plan was reviewed against payments just before
        if message.decisions[0].invoice_id in self.statements:
            disputed = self.store.open_dispute_numbers([d.invoice_id for d in message.decisions])
            return (f"invoice(s) {', '.join(sorted(disputed))} disputed since planning" if disputed else None), {}
        ids = [d.invoice_id for d in message.decisions]
        now = {str(r["invoice_id"]): r for r in self.source.invoice_balances(ids)}
        disputed = self.store.open_dispute_numbers(ids)
        fresh: dict[str, Decimal] = {}
        for d in message.decisions:
            row = now.get(d.invoice_id)
            if row is None or row["status"] != "posted":
                return f"invoice {d.invoice_number} is no longer posted in the accounting system", {}
            residual = to_money(row["residual"])
            if residual <= self.policy.tolerance:
                return f"invoice {d.invoice_number} was paid since planning (residual {residual})", {}
            if row["disputed"] in (True, 1, "1", "t", "true") or d.invoice_id in disputed:
                return f"invoice {d.invoice_number} has been disputed since planning", {}
            covered = self._covered.get((d.debtor_id, d.currency))
            if covered:
                return covered, {}
            fresh[d.invoice_id] = residual
        return None, fresh

    def _letter(self, context: MessageContext) -> _Letter:
        if context.step == Step.formal_notice.value:
            notice = FormalNoticeLetter(context=context, place=self.company.address.city, letter_date=self.as_of)
            return _Letter("formal_notice", render_formal_notice_pdf(notice, self.renderer.templates_dir), ".pdf",
                           cover=render_ar_cover_pdf(notice, self.renderer.templates_dir))
        return _Letter(context.step, self.renderer.render_letter(context), ".html")

    def deliver(self, message: PlannedMessage, trace: Trace, will_retry: bool) -> Delivery:
        """Send or print one message; every outcome is on the ledger before this returns or raises.

        Raises a SendError when the email was not accepted (recorded as failed, or as unconfirmed
        when it may have gone out), DeliveryError when the message could not even be prepared.
        """
        decision = message.decisions[0]
        numbers = ", ".join(d.invoice_number for d in message.decisions)
        what = f"{decision.step.value} for invoice(s) {numbers} of debtor {decision.debtor_id}"
        channel = decision.channel
        if not self.may_send():
            # Checked per message: a long queue must not run past the end of the sending window.
            return Delivery(message.message_key, channel.value, "none", None, None,
                            f"{what} left queued: the sending window has closed; the dispatch run sends it.")
        closed = [d.invoice_number for d in message.decisions
                  if d.invoice_id not in self._invoices and d.invoice_id not in self.installments
                  and d.invoice_id not in self.statements]
        reason, fresh = self._stale(message)
        if closed or reason:
            # Stale-balance protection: what was paid, cancelled or disputed since planning is not chased.
            reason = reason or f"invoice(s) {', '.join(closed)} no longer open in the accounting system since planning"
            self.store.mark_skipped(trace, message, reason)
            return Delivery(message.message_key, channel.value, "none", None, None, f"{what} not sent: {reason}.")
        # Prepare everything before claiming the rows: a template or data error must not leave a row
        # marked 'sending', where it would wait for an operator.
        try:
            context = self.context(message, fresh)
            letter = self._letter(context) if channel is not Channel.email else None
            email = self._email(context, message) if channel is not Channel.letter else None
        except (RenderingError, ValueError) as error:   # ConfigError (legal tables) is a ValueError
            self.store.mark_failed(trace, message, f"could not be prepared: {error}", will_retry=False)
            raise DeliveryError(f"{what} could not be prepared: {error}") from error
        template = f"{context.language}/{context.step}"
        try:
            self.store.claim(trace, message, template)
        except AlreadyHandled:
            summary = f"{what} was already handled by another run; nothing done."
            return Delivery(message.message_key, channel.value, "none", None, None, summary)

        document = None
        if letter is not None:
            # A retry must not print the same letter twice.
            document = self.store.document_of(message)
            if document is None:
                try:
                    printed = self.print_queue.write(self.as_of, message, letter.name, letter.content, letter.suffix)
                    if letter.cover is not None:
                        self.print_queue.write_file(ar_cover_path(printed), letter.cover)
                    document = str(printed)
                except OSError as error:
                    self.store.mark_failed(trace, message, f"print queue not writable: {error}", will_retry=False)
                    raise DeliveryError(f"{what}: the print queue is not writable ({error})") from error
                content = letter.content if isinstance(letter.content, bytes) else letter.content.encode("utf-8")
                self.store.record_document(message, document, sha256_hex(content))
        if email is None:
            summary = f"{what} placed in the print queue (no email address)."
            self.store.mark_sent(trace, message, "print_queue", None, document, summary, self.as_of)
            return Delivery(message.message_key, channel.value, "print_queue", None, document, summary)

        try:
            provider_id = self.gateway.send(email)
        except UnconfirmedSendError as error:
            self.store.mark_unconfirmed(trace, message, self.gateway.name, str(error))
            raise
        except SendError as error:
            if document is not None and not (will_retry and error.transient):
                # The registered letter is the formal notice; the email is its copy. The letter is
                # queued, so the action stands; the missing copy is recorded and reported.
                summary = f"{what}: registered letter queued for printing; its email copy did not go through ({error})."
                self.store.mark_sent(trace, message, "print_queue", None, document, summary, self.as_of,
                                     last_error=f"email copy not delivered: {error}")
                raise EmailCopyNotDelivered(f"email copy not delivered (letter queued): {error.reason}",
                                            status=error.status) from error
            if isinstance(error, UnansweredSendError):
                self.store.mark_unanswered(trace, message, str(error),
                                           self.policy.dispatch.resend_interrupted_after_minutes)
                raise
            self.store.mark_failed(trace, message, str(error), will_retry=will_retry and error.transient)
            raise
        where = "written to the outbox (no SendGrid key: not sent)" if self.gateway.name == "outbox" \
            else f"accepted by SendGrid as {provider_id}"
        letter = " and its registered letter queued for printing" if document else ""
        summary = f"{what} {where}{letter}."
        self.store.mark_sent(trace, message, self.gateway.name, provider_id, document, summary, self.as_of)
        return Delivery(message.message_key, channel.value, self.gateway.name, provider_id, document, summary)

    def _email(self, context: MessageContext, message: PlannedMessage) -> OutboundEmail:
        rendered = self.renderer.render_message(context)
        return OutboundEmail(
            to_email=context.debtor.email, to_name=context.debtor.name,
            from_email=self.company.from_email, from_name=self.company.from_name,
            reply_to=self.company.contact.email, subject=rendered.subject, html=rendered.html,
            text=rendered.text, custom_args={ACTION_ID_ARG: message.message_key},
            categories=("dunning", context.step),
            # A consumer's opens and clicks are never tracked; a business's as the policy says.
            track_engagement=not context.debtor.is_consumer and self.policy.dispatch.track_business_engagement,
        )
