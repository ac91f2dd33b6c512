"""What one message says: its debtor, its invoices, its step, its figures (MessageContext).

Pure: the dispatcher builds a MessageContext from the plan and the ledger, and dunning.documents.rendering
turns it into an email or a letter through the templates. A context that could not be printed
truthfully (penalties in the wrong currency, a formal notice without its deadline) is refused here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from functools import cached_property

from dunning.config import PENALTY_STEPS as _PENALTY_STEPS, CompanyIdentity, Step
from dunning.law_fr.formal_notice import FormalNoticeFigures, is_abroad
from dunning.law_fr.statement import PenaltyStatement
from dunning.rules.compensation import Offset

__all__ = [
    "INSTALLMENT_STEPS",
    "MESSAGE_STEPS",
    "STATEMENT_STEP",
    "PENALTY_STEPS",
    "LANGUAGES",
    "resolve_language",
    "EarlierReminder",
    "InvoiceLine",
    "Debtor",
    "EarlyPaymentDiscount",
    "InstallmentDue",
    "MessageContext",
]

# One installment of a payment plan, before its due date and once it is overdue: outside the ladder.
INSTALLMENT_STEPS: tuple[str, ...] = ("installment_pre_due", "installment_overdue")
# legal_handoff is a case in the legal queue, not a message to the debtor.
MESSAGE_STEPS: tuple[str, ...] = (
    Step.pre_due.value,
    Step.reminder_1.value,
    Step.reminder_2.value,
    Step.reminder_3.value,
    Step.formal_notice.value,
    *INSTALLMENT_STEPS,
)
# The monthly statement of penalties owed on invoices paid late (dunning.rules.paid_late): outside the ladder.
STATEMENT_STEP = Step.paid_late_statement.value
# Penalties are owed from the day after the due date (B2B), but the courtesy steps do not mention
# them: a first reminder that opens with interest reads as a threat to a customer who simply forgot.
# The steps whose message states late-payment penalties, as template names (one list: dunning.config).
PENALTY_STEPS: tuple[str, ...] = tuple(s.value for s in sorted(_PENALTY_STEPS, key=lambda s: s.rank))
LANGUAGES: tuple[str, ...] = ("fr", "en")
_DEFAULT_LANGUAGE = "fr"
def resolve_language(language: str | None) -> str:
    """The template language for a debtor: 'fr' or 'en' ('en-GB' counts as English); else French."""
    primary = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in LANGUAGES else _DEFAULT_LANGUAGE


@dataclass(frozen=True)
class EarlierReminder:
    """A reminder of a message's invoices that went out before it: the message quotes its date."""

    step: str
    sent_on: date  # the business date it went out, the date its letter carries


@dataclass(frozen=True)
class InvoiceLine:
    number: str
    issue_date: date | None
    due_date: date
    amount_total: Decimal
    residual: Decimal
    days_overdue: int  # as_of - due_date; negative before the due date


@dataclass(frozen=True)
class Debtor:
    """The recipient of a message."""

    id: str
    name: str
    email: str | None
    language: str  # 'fr' or 'en'; anything else renders in French
    is_consumer: bool
    address_line: str | None
    postal_code: str | None
    city: str | None
    country: str | None
    siren: str | None = None  # a business's, when the accounting system has it: printed on the formal notice


@dataclass(frozen=True)
class EarlyPaymentDiscount:
    """Escompte: pay the whole amount by `deadline` and deduct `rate` percent of it."""

    rate: Decimal
    amount: Decimal
    deadline: date


@dataclass(frozen=True)
class InstallmentDue:
    """Installment `seq` of `count` of payment plan `plan_id`: `amount` due on `due_date`."""

    plan_id: int
    seq: int
    count: int
    due_date: date
    amount: Decimal

    def __post_init__(self) -> None:
        if not 1 <= self.seq <= self.count:
            raise ValueError(f"plan {self.plan_id}: installment {self.seq} of {self.count} does not exist")
        if isinstance(self.amount, bool) or not isinstance(self.amount, (Decimal, int)) or self.amount <= 0:
            raise ValueError(f"plan {self.plan_id}: installment {self.seq} needs a positive Decimal amount")


@dataclass(frozen=True)
class MessageContext:
    """Everything one message says: one debtor, one step, one or more invoices in one currency."""

    step: str
    as_of: date
    company: CompanyIdentity
    debtor: Debtor
    invoices: tuple[InvoiceLine, ...]
    currency: str
    response_deadline: date | None = None  # formal_notice only: as_of + policy response days
    penalties: PenaltyStatement | None = None  # interest and indemnity owed on these invoices
    broken_promise_on: date | None = None      # the debtor promised to pay by then and did not
    discount: EarlyPaymentDiscount | None = None  # escompte offered in reminder_1 when config allows
    installment: InstallmentDue | None = None  # installment steps only: the installment reminded
    # What the ledger says went out before, for these invoices; empty means none: the message claims none.
    earlier_reminders: tuple[EarlierReminder, ...] = ()
    # The debtor's credits set against these invoices (Code civil 1347): deducted from what is claimed.
    credits: tuple[Offset, ...] = ()

    def __post_init__(self) -> None:
        # Steps are str Enums whose str() is 'Step.x'; keep the plain value for template names.
        step = self.step.value if isinstance(self.step, Enum) else self.step
        if step not in MESSAGE_STEPS and step != STATEMENT_STEP:
            raise ValueError(f"no message for step {step!r}; expected one of {', '.join(MESSAGE_STEPS)}")
        if step == STATEMENT_STEP and self.penalties is None:
            raise ValueError(f"{step} to debtor {self.debtor.id} needs its penalties")
        object.__setattr__(self, "step", step)
        if not self.invoices:
            raise ValueError(f"message to debtor {self.debtor.id} at {step} has no invoice")
        object.__setattr__(self, "invoices", tuple(self.invoices))
        if step == Step.formal_notice.value and self.response_deadline is None:
            raise ValueError(f"formal_notice to debtor {self.debtor.id} needs a response_deadline")
        if (step in INSTALLMENT_STEPS) != (self.installment is not None):
            need = "needs an installment" if step in INSTALLMENT_STEPS else "takes no installment"
            raise ValueError(f"message to debtor {self.debtor.id} at {step} {need}")
        if self.penalties is not None:
            self._check_penalties(self.penalties)
        later = [r for r in self.earlier_reminders if r.sent_on >= self.as_of]
        if later:
            raise ValueError(f"message to debtor {self.debtor.id} at {step} of {self.as_of} cannot quote a reminder "
                             f"of {later[0].sent_on} as an earlier one")
        # One mention per reminder: a grouped message's invoices often share theirs.
        unique = sorted({(r.sent_on, getattr(r.step, "value", r.step)) for r in self.earlier_reminders})
        object.__setattr__(self, "earlier_reminders", tuple(EarlierReminder(step=s, sent_on=d) for d, s in unique))

    def _check_penalties(self, statement: PenaltyStatement) -> None:
        # A statement for other invoices or another currency would print figures the debtor does not owe.
        where = f"message to debtor {self.debtor.id} at {self.step}"
        if statement.currency != self.currency:
            raise ValueError(f"{where}: penalties in {statement.currency}, invoices in {self.currency}")
        numbers = {line.number for line in self.invoices}
        foreign = [line.invoice_number for line in statement.lines if line.invoice_number not in numbers]
        if foreign:
            raise ValueError(f"{where}: penalties for invoice(s) not in the message: {', '.join(foreign)}")

    @property
    def language(self) -> str:
        # A formal notice to a consumer in France is in French whatever the language field says
        # (loi n° 94-665 of 4 August 1994, art. 2: French for what is offered to consumers, invoices
        # included); its PDF carries the English copy as an annex (dunning.documents.letters).
        if self.step == Step.formal_notice.value and self.debtor.is_consumer and not is_abroad(self.debtor):
            return _DEFAULT_LANGUAGE
        return resolve_language(self.debtor.language)

    @property
    def debtor_language(self) -> str:
        """The language the debtor asked for, whatever the letter is written in."""
        return resolve_language(self.debtor.language)

    @property
    def total_due(self) -> Decimal:
        """The open amount of the invoices less the credits set against them: what is claimed."""
        return sum((line.residual for line in self.invoices), Decimal("0.00")) - self.credited

    @property
    def credited(self) -> Decimal:
        return sum((credit.amount for credit in self.credits), Decimal("0.00"))

    def credited_to(self, number: str) -> Decimal:
        return sum((c.amount for c in self.credits if c.invoice_number == number), Decimal("0.00"))

    @property
    def payment_reference(self) -> str:
        # An installment: lettering matches the transfer to it, not to one of the plan's invoices.
        if self.installment is not None:
            return f"PLAN-{self.installment.plan_id}-{self.installment.seq}"
        # A penalty statement: its invoices are settled, so the transfer is lettered to the statement.
        if self.step == STATEMENT_STEP:
            return f"PEN-{self.debtor.id}-{self.as_of:%Y%m}"
        # One invoice: its number is what the debtor's bank and our lettering both expect.
        if len(self.invoices) == 1:
            return self.invoices[0].number
        return f"{self.debtor.id}-{self.as_of:%Y%m%d}"

    @property
    def max_days_overdue(self) -> int:
        return max(line.days_overdue for line in self.invoices)

    @property
    def shows_penalties(self) -> bool:
        """Whether the message prints the penalties: from reminder_2 on, and only when something is owed."""
        statement = self.penalties
        return (
            self.step in PENALTY_STEPS
            and statement is not None
            and bool(statement.lines)
            and (statement.interest != 0 or statement.indemnity != 0 or statement.separate_eur_indemnity != 0)
        )

    @cached_property
    def notice(self) -> FormalNoticeFigures | None:
        """The formal notice's figures, which its PDF and its email copy both print; None at other steps."""
        return FormalNoticeFigures.of(self) if self.step == Step.formal_notice.value else None

    @property
    def total_with_penalties(self) -> Decimal:
        """The open amount plus interest and indemnity (the open amount alone when there are none).

        In the message currency: the euro indemnity of invoices in another currency
        (PenaltyStatement.separate_eur_indemnity) is never added; the templates print it apart.
        """
        if self.penalties is None:
            return self.total_due
        return self.total_due + self.penalties.interest + self.penalties.indemnity

    @property
    def amount_to_pay(self) -> Decimal:
        """What the payment block asks the debtor to transfer, beside the payment reference: the
        installment, the formal notice's total (its letter asks for it), a statement's penalties on
        invoices already paid, or else the open amount."""
        if self.installment is not None:
            return self.installment.amount
        if self.notice is not None:
            return self.notice.total
        if self.step == STATEMENT_STEP:
            return self.total_with_penalties
        return self.total_due
