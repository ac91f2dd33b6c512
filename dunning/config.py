"""The configuration's models: what config/policy.yaml and config/company.yaml may say.

Pure: strict pydantic models that reject an unknown key or a wrong value, so a finance admin can
fix the YAML without reading a stack trace. The files are read by dunning.sources.config_files.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Annotated

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Step",
    "ClaimPaidLate",
    "AMICABLE_STEPS",
    "PENALTY_STEPS",
    "FIRST_CONTACT_STEPS",
    "Segment",
    "StepAction",
    "StepRule",
    "Policy",
    "WebhookLimits",
    "CompanyIdentity",
    "CREDITOR_MENTIONS",
    "ConsumerMediator",
    "Signatory",
    "EMAIL_PATTERN",
    "ConfigError",
]


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid."""


class Step(str, Enum):
    """The collection ladder, in order. The order is the escalation order."""

    pre_due = "pre_due"
    reminder_1 = "reminder_1"
    reminder_2 = "reminder_2"
    reminder_3 = "reminder_3"
    formal_notice = "formal_notice"
    legal_handoff = "legal_handoff"
    # Not a rung of the ladder: a monthly statement of what invoices paid late in full still owe
    # (L441-10 II, D441-5). Last, so no ladder step's rank moves; dunning.rules.paid_late plans it.
    paid_late_statement = "paid_late_statement"

    @property
    def rank(self) -> int:
        return _STEP_RANKS[self]


# Declaration order is the ladder's order; looked up for every invoice and step of a night, so once.
_STEP_RANKS = {step: rank for rank, step in enumerate(Step)}

AMICABLE_STEPS = (Step.pre_due, Step.reminder_1, Step.reminder_2, Step.reminder_3)
# The steps whose message states late-payment penalties to a business: the planner holds them while
# the rate tables are behind, and the renderer adds the penalty statement to them.
PENALTY_STEPS = frozenset({Step.reminder_2, Step.reminder_3, Step.formal_notice})
# The steps a first contact may start at (rule 2): an amicable reminder, not the courtesy pre_due.
FIRST_CONTACT_STEPS = (Step.reminder_1, Step.reminder_2, Step.reminder_3)


class Segment(str, Enum):
    strategic = "strategic"
    high_risk = "high_risk"
    chronic = "chronic"
    reliable = "reliable"
    standard = "standard"


class StepAction(str, Enum):
    """What reaching a step does: send it, hand it to a person on the phone, or wait for approval."""

    send = "send"
    phone_task = "phone_task"
    approval = "approval"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepRule(_Strict):
    days: int = Field(description="Days from the invoice due date (negative: before it).", ge=-60, le=730)
    action: StepAction = Field(default=StepAction.send, description="send | phone_task | approval")


def _step_rule(value: object) -> object:
    # `reminder_1: 5` is shorthand for `reminder_1: {days: 5}`.
    return {"days": value} if isinstance(value, int) and not isinstance(value, bool) else value


class SegmentLadder(_Strict):
    pre_due: StepRule | None = None
    reminder_1: StepRule | None = None
    reminder_2: StepRule | None = None
    reminder_3: StepRule | None = None
    formal_notice: StepRule | None = None
    legal_handoff: StepRule | None = None

    @model_validator(mode="before")
    @classmethod
    def _expand_shorthand(cls, data: object) -> object:
        if isinstance(data, dict):
            return {key: _step_rule(value) for key, value in data.items()}
        return data

    @field_validator("pre_due")
    @classmethod
    def _pre_due_before_due_date(cls, rule: StepRule | None) -> StepRule | None:
        # A field check, so the error names ladder.<segment>.pre_due and comes before the order check.
        if rule is not None and rule.days >= 0:
            raise ValueError("pre_due must be a negative number of days (before the due date)")
        return rule

    @model_validator(mode="after")
    def _days_increase(self) -> "SegmentLadder":
        previous: tuple[str, int] | None = None
        for step in Step:
            rule = getattr(self, step.value, None)
            if rule is None:
                continue
            if previous and rule.days <= previous[1]:
                raise ValueError(
                    f"{step.value} ({rule.days} days) must come after {previous[0]} ({previous[1]} days)"
                )
            previous = (step.value, rule.days)
        return self

    def rule(self, step: Step) -> StepRule | None:
        return getattr(self, step.value, None)


class Ladder(_Strict):
    strategic: SegmentLadder
    high_risk: SegmentLadder
    chronic: SegmentLadder
    reliable: SegmentLadder
    standard: SegmentLadder

    def for_segment(self, segment: Segment) -> SegmentLadder:
        return getattr(self, segment.value)


class ChronicRule(_Strict):
    min_paid_invoices: int = Field(3, ge=1)
    late_days: int = Field(15, ge=0, description="An invoice paid more than this many days late is 'late'.")
    late_share: Decimal = Field(Decimal("0.5"), ge=0, le=1)
    mean_late_days: int = Field(20, ge=0)


class ReliableRule(_Strict):
    min_paid_invoices: int = Field(3, ge=1)
    late_days: int = Field(5, ge=0)
    max_late_share: Decimal = Field(Decimal("0.10"), ge=0, le=1)
    max_overdue_days: int = Field(30, ge=0)


class SegmentRules(_Strict):
    history_days: int = Field(365, ge=30, le=3650, description="Payment history window.")
    high_risk_overdue_days: int = Field(90, ge=1)
    chronic: ChronicRule = ChronicRule()
    reliable: ReliableRule = ReliableRule()


class Gates(_Strict):
    formal_notice_after_reminder_days: int = Field(7, ge=0, description="Rule 4.")
    legal_handoff_after_formal_notice_days: int = Field(10, ge=0, description="Rule 5.")


class Limits(_Strict):
    max_messages_per_debtor_per_day: int = Field(5, ge=1, description="Rule 10.")
    group_invoices_per_step: bool = Field(False, description="One message per debtor and step.")


class CalendarRules(_Strict):
    subdivision: str | None = Field(
        None,
        description="French holiday subdivision as the holidays package codes it: '57' (Moselle) or "
        "'6AE' (Alsace: Bas-Rhin 67 and Haut-Rhin 68) for Alsace-Moselle, '971'..'976' overseas.",
    )

    @field_validator("subdivision", mode="before")
    @classmethod
    def _unquoted_number(cls, value: object) -> object:
        # `subdivision: 57` is read by YAML as an integer; it means the code "57".
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None) -> str | None:
        # Checked at load: an unknown code would otherwise only fail when the planner first
        # builds the calendar, in the middle of the nightly run.
        known = holidays.France.subdivisions
        if value is not None and value not in known:
            raise ValueError(
                f"{value!r} is not a French holiday subdivision; valid: {', '.join(known)}. "
                "Alsace-Moselle is '57' (Moselle) or '6AE' (Alsace: Bas-Rhin 67 and Haut-Rhin 68)"
            )
        return value


class Dispatch(_Strict):
    max_workers: int = Field(8, ge=1, le=64, description="Concurrent sends.")
    retries: int = Field(4, ge=0, le=10, description="Retries of a transient send error.")
    retry_delay_seconds: float = Field(2.0, ge=0, description="First backoff delay; doubles each retry.")
    retry_jitter_factor: float = Field(0.5, ge=0, le=1)
    timeout_seconds: float = Field(15.0, gt=0, le=120)
    resend_interrupted_after_minutes: int = Field(
        60, ge=1, le=7 * 24 * 60,
        description="A reminder left 'sending' by a run that died, with no trace at SendGrid, is sent again "
                    "after this long (a formal notice never is: it waits for an operator).")
    track_business_engagement: bool = Field(
        True, description="Messages to businesses follow the SendGrid account's open and click tracking; false "
                          "turns both off in every request. Messages to consumers never carry them.")

    @model_validator(mode="after")
    def _resend_after_the_answer_could_come(self) -> "Dispatch":
        # Shorter, and a second run would take a send still waiting for its answer for a dead one.
        if self.resend_interrupted_after_minutes * 60 < 2 * self.timeout_seconds:
            raise ValueError("resend_interrupted_after_minutes must leave time for a send's answer: "
                             f"at least 2 x timeout_seconds ({2 * self.timeout_seconds:g} s)")
        return self


class SendWindow(_Strict):
    """When messages may go out (Europe/Paris). A run outside it plans and queues; a dispatch run sends."""

    start_hour: int = Field(8, ge=0, le=23, description="First hour messages may go out.")
    end_hour: int = Field(19, ge=1, le=24, description="Messages stop at this hour.")
    business_days_only: bool = Field(True, description="No messages on weekends and public holidays.")

    @model_validator(mode="after")
    def _ordered(self) -> "SendWindow":
        if self.end_hour <= self.start_hour:
            raise ValueError("end_hour must be after start_hour")
        return self


class Escompte(_Strict):
    """An early-payment discount offered in reminder_1 (off by default)."""

    enabled: bool = Field(False, description="Offer it in reminder_1.")
    rate_percent: Decimal = Field(Decimal("1.00"), gt=0, le=10, description="Percent of the amount due.")
    pay_within_days: int = Field(10, ge=1, le=60, description="Days from the reminder to pay and deduct it.")


class Installments(_Strict):
    pre_due_days: int = Field(5, ge=1, le=30, description="Days before an installment's due date to remind.")


class FormalNotice(_Strict):
    response_days: int = Field(8, ge=8, le=15, description="Deadline given in the mise en demeure.")


class LegalThresholds(_Strict):
    min_principal: Decimal = Field(
        Decimal("250.00"), ge=0,
        description="Rule 13: an invoice whose open principal (company currency) is below this is not handed "
                    "to the legal queue; it waits for an operator's decision.")


class ClaimPaidLate(str, Enum):
    """What the nightly run does about invoices paid in full, but late (L441-10 II, D441-5)."""

    off = "off"
    statement = "statement"


class WebhookLimits(_Strict):
    """What `dunning webhook serve` accepts from SendGrid before anything is parsed."""

    max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024,
        description="A posted batch larger than this gets 413 (SendGrid's batches are at most a few MB).")
    max_clock_skew_seconds: int = Field(
        600, ge=30, le=24 * 3600,
        description="A signed post whose timestamp is further than this from now, past or future, is refused "
                    "as a replay.")


class Policy(_Strict):
    tolerance: Decimal = Field(Decimal("1.00"), ge=0, description="Residuals at or below are not chased.")
    first_contact_step: Step = Field(
        Step.reminder_1,
        description="Rule 2: where an invoice nothing was ever sent for starts, however old it is "
                    "(reminder_1, reminder_2 or reminder_3; pre_due while it is not yet due).")
    min_days_between_messages: int = Field(
        7, ge=0, le=90, description="Rule 11: days (as-of dates) between two messages for one invoice; 0: none.")
    calendar: CalendarRules = CalendarRules()
    segments: SegmentRules = SegmentRules()
    gates: Gates = Gates()
    limits: Limits = Limits()
    formal_notice: FormalNotice = FormalNotice()
    legal: LegalThresholds = LegalThresholds()
    escompte: Escompte = Escompte()
    installments: Installments = Installments()
    send_window: SendWindow = SendWindow()
    dispatch: Dispatch = Dispatch()
    webhook: WebhookLimits = WebhookLimits()
    claim_paid_late: ClaimPaidLate = Field(
        ClaimPaidLate.off,
        description="off | statement: once a month, a business debtor gets a statement of the late-payment "
                    "interest and 40 EUR indemnity its invoices paid in full but late still owe (L441-10 II).")
    paid_late_min_amount: Decimal = Field(
        Decimal("0.00"), ge=0,
        description="An invoice paid late whose interest and indemnity come to less than this is not claimed.")
    paid_late_lookback_days: int = Field(
        365, ge=1, le=1825,
        description="Invoices whose last late payment is older than this are not claimed (prescription is "
                    "5 years between merchants, L110-4 C. com.).")
    ladder: Ladder

    @field_validator("claim_paid_late", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        # YAML reads an unquoted `off` as false; it means the value "off".
        if value is False:
            return ClaimPaidLate.off.value
        if value is True:
            raise ValueError("claim_paid_late takes off or statement")
        return value

    @field_validator("first_contact_step")
    @classmethod
    def _first_contact_is_a_reminder(cls, step: Step) -> Step:
        if step not in FIRST_CONTACT_STEPS:
            raise ValueError(f"{step.value} cannot be a first contact: use one of "
                             f"{', '.join(s.value for s in FIRST_CONTACT_STEPS)} (a first contact is an amicable "
                             "reminder; pre_due goes first by itself while an invoice is not yet due)")
        return step


# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is SendGrid's job.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
EmailAddress = Annotated[str, Field(pattern=EMAIL_PATTERN)]


class PostalAddress(_Strict):
    line: str
    postal_code: str
    city: str
    country: str = "FR"


class Contact(_Strict):
    name: str
    email: EmailAddress
    phone: str


class Signatory(_Strict):
    name: Annotated[str, Field(min_length=2, description="Who signs the formal notice, e.g. 'Marie Dupont'.")]
    capacity: Annotated[str, Field(min_length=2, description="In what capacity, e.g. 'directrice financière'.")]


class ConsumerMediator(_Strict):
    # C. conso L616-1: the professional gives the consumer the details of the mediator it falls under.
    name: Annotated[str, Field(min_length=2, description="The consumer mediator the company has joined.")]
    website: Annotated[str, Field(pattern=r"^https?://[^\s/]+\.[^\s]+$", description="Its website (https://...).")]
    address: str | None = Field(None, description="Its postal address, when it publishes one.")


# What a formal notice and a legal dossier cannot be printed without (see dunning.law_fr.mentions).
CREDITOR_MENTIONS = ("legal_form", "share_capital", "rcs_city", "signatory")


class CompanyIdentity(_Strict):
    legal_name: str = Field(description="Raison sociale.")
    siren: Annotated[str, Field(pattern=r"^\d{9}$")]
    address: PostalAddress
    iban: str
    bic: Annotated[str, Field(pattern=r"^[A-Z0-9]{8}([A-Z0-9]{3})?$")]
    contact: Contact
    from_email: EmailAddress = Field(description="Sender of reminder emails (DUNNING_FROM_EMAIL overrides).")
    from_name: str
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$", description="Currency of unallocated payments.")
    # Optional in the file so reminders go out without them; a formal notice or a dossier is refused.
    legal_form: Annotated[str, Field(min_length=2, description="Forme juridique, e.g. 'SAS'.")] | None = None
    share_capital: Annotated[Decimal, Field(gt=0, decimal_places=2, description="Capital social, in the currency.")] \
        | None = None
    rcs_city: Annotated[str, Field(min_length=2, description="City of the greffe the company is registered at "
                                   "('RCS Lyon').")] | None = None
    signatory: Signatory | None = None
    consumer_mediator: ConsumerMediator | None = Field(None, description="Named in every letter to a consumer.")

    def missing(self, keys: tuple[str, ...]) -> list[str]:
        """The keys of `keys` the file leaves empty."""
        return [key for key in keys if getattr(self, key) is None]

    @field_validator("iban")
    @classmethod
    def _iban(cls, value: str) -> str:
        compact = value.replace(" ", "").upper()
        digits = "".join(str(int(ch, 36)) for ch in compact[4:] + compact[:4])
        if len(compact) < 15 or not compact.isalnum() or int(digits) % 97 != 1:
            raise ValueError("not a valid IBAN")
        return value
