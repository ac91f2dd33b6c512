"""French late-payment law as pure computation: rates by half-year, penalties, prescription.

The numbers come from config/legal_fr.yaml (dated rate tables, fixed amounts, periods) and
config/contracts.yaml (contractual rates per debtor). A question the tables cannot answer (a
half-year nobody entered yet) raises LegalTablesError naming the file and the half-year to add:
the product never guesses a rate. Results are the types of dunning.law_fr.statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Callable, Mapping, Sequence

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from dunning.config import ConfigError
from dunning.law_fr.statement import Basis, InvoicePenalty, PenaltyStatement, RatePeriod
from dunning.rules.money import CENT, ZERO

__all__ = [
    "LEGAL_TABLES_FILE",
    "CONTRACTS_FILE",
    "LegalTablesError",
    "ContractualRateError",
    "HalfYear",
    "LegalTables",
    "ContractRates",
    "commercial_rate",
    "legal_rate",
    "check_contractual_rate",
    "last_covered_day",
    "contracts_below_floor",
    "contracts_to_fix",
    "Payments",
    "invoice_penalty",
    "penalty_statement",
    "prescription_date",
    "prescription_approaching",
    "is_prescribed",
]

LEGAL_TABLES_FILE = "legal_fr.yaml"
CONTRACTS_FILE = "contracts.yaml"

# Interest is computed once per period and divided once; 34 digits keep the unrounded sum exact
# far beyond the cent, whatever decimal context the caller runs in.
_INTEREST_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)
_DAYS_PER_YEAR = 365  # actual/365: every year, leap or not, divides by 365

# Payments received on one invoice: (day received, amount), in the invoice currency.
Payments = Sequence[tuple[date, Decimal]]
_NO_PAYMENTS: Mapping[str, Payments] = MappingProxyType({})


class LegalTablesError(ConfigError):
    """config/legal_fr.yaml cannot answer: a half-year is missing from one of its tables."""


class ContractualRateError(ConfigError):
    """A contractual rate (config/contracts.yaml) that French law does not allow."""


@dataclass(frozen=True, order=True)
class HalfYear:
    """January-June (half 1) or July-December (half 2) of a year: the unit the rates change by."""

    year: int
    half: int

    def __post_init__(self) -> None:
        if self.half not in (1, 2):
            raise ValueError(f"half must be 1 or 2, not {self.half!r}")

    @classmethod
    def of(cls, day: date) -> HalfYear:
        return cls(day.year, 1 if day.month <= 6 else 2)

    @classmethod
    def parse(cls, text: str) -> HalfYear:
        match = re.fullmatch(r"(\d{4})-H([12])", text)
        if not match:
            raise ValueError(f"{text!r} is not a half-year; write it like 2026-H1 or 2026-H2")
        return cls(int(match[1]), int(match[2]))

    @property
    def first_day(self) -> date:
        """1 January or 1 July: also the day whose ECB rate sets the commercial rate (L441-10 II)."""
        return date(self.year, 1, 1) if self.half == 1 else date(self.year, 7, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, 6, 30) if self.half == 1 else date(self.year, 12, 31)

    def next(self) -> HalfYear:
        return HalfYear(self.year, 2) if self.half == 1 else HalfYear(self.year + 1, 1)

    def __str__(self) -> str:
        return f"{self.year}-H{self.half}"


# -- configuration models ----------------------------------------------------------------------------

def _half_year(value: object) -> object:
    return HalfYear.parse(value) if isinstance(value, str) else value


def _number(value: object) -> object:
    # YAML reads `3.15` as a float: its shortest repr is the literal written, so str() recovers it.
    if isinstance(value, bool):
        raise ValueError("expected a number such as \"3.15\"")
    return str(value) if isinstance(value, float) else value


def _debtor_id(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError(f"debtor id {value!r} must be quoted (\"0042\"): YAML reads an unquoted id as a number")
    return value


HalfYearKey = Annotated[HalfYear, BeforeValidator(_half_year)]
TableRate = Annotated[Decimal, BeforeValidator(_number), Field(allow_inf_nan=False, ge=-5, le=30)]
ContractRate = Annotated[Decimal, BeforeValidator(_number), Field(allow_inf_nan=False, gt=0, le=100)]
DebtorId = Annotated[str, BeforeValidator(_debtor_id), Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EcbRateTable(_Strict):
    covers_through: HalfYearKey = Field(
        description="Last half-year whose reference day (1 January or 1 July) the rates answer."
    )
    rates: dict[date, TableRate] = Field(min_length=1, description="Effective date: ECB MRO rate in percent.")

    @field_validator("rates", mode="before")
    @classmethod
    def _dates_as_text(cls, value: object) -> object:
        # YAML reads 2025-06-11 as a date; as text, an error names the key 2025-06-11, not its repr.
        if isinstance(value, dict):
            return {key.isoformat() if isinstance(key, date) else key: rate for key, rate in value.items()}
        return value

    @model_validator(mode="after")
    def _covers_something(self) -> EcbRateTable:
        first = min(self.rates)
        if self.covers_through.first_day < first:
            raise ValueError(
                f"covers_through {self.covers_through} starts on {self.covers_through.first_day}, "
                f"before the first rate ({first}): no half-year would be covered"
            )
        return self

    def rate_on(self, day: date) -> Decimal | None:
        """The rate in force on `day`: the last change effective on or before it."""
        in_force = [effective for effective in self.rates if effective <= day]
        return self.rates[max(in_force)] if in_force else None


class LegalRate(_Strict):
    other_cases: TableRate = Field(description="Taux de l'intérêt légal, all other cases (professional creditor).")
    individual_creditor: TableRate = Field(
        description="Taux de l'intérêt légal when the creditor is an individual not acting professionally."
    )


class CommercialTerms(_Strict):
    margin_points: TableRate = Field(description="Points added to the ECB rate (L441-10 II).")
    recovery_indemnity_eur: Annotated[Decimal, BeforeValidator(_number), Field(ge=0, decimal_places=2)] = Field(
        description="Flat recovery indemnity per overdue invoice, in euros (D441-5)."
    )
    contractual_floor_multiple: Annotated[Decimal, BeforeValidator(_number), Field(gt=0, le=10)] = Field(
        description="A contractual rate below this multiple of the taux de l'intérêt légal is refused."
    )


class PrescriptionPeriods(_Strict):
    business_debtor_years: int = Field(ge=1, le=30, description="L110-4 Code de commerce.")
    consumer_debtor_years: int = Field(ge=1, le=30, description="L218-2 Code de la consommation.")
    approaching_days: int = Field(ge=0, le=730, description="Escalate this many days before prescription.")


class LegalTables(_Strict):
    """config/legal_fr.yaml: what French law says in numbers, dated."""

    ecb_main_refinancing_rate: EcbRateTable
    legal_interest_rate: dict[HalfYearKey, LegalRate] = Field(min_length=1)
    commercial: CommercialTerms
    prescription: PrescriptionPeriods
    # The file the tables came from, as an operator would type it, so an error can name it;
    # set by dunning.config_files.load_legal_tables.
    _source: Path = PrivateAttr(default=Path("config") / LEGAL_TABLES_FILE)

    @field_validator("legal_interest_rate")
    @classmethod
    def _no_gap(cls, rows: dict[HalfYear, LegalRate]) -> dict[HalfYear, LegalRate]:
        # A hole between two entered half-years is a forgotten row, not a coverage limit.
        halves = sorted(rows)
        expected = halves[0]
        for half in halves:
            if half != expected:
                raise ValueError(f"no row for {expected} between {halves[0]} and {halves[-1]}")
            expected = half.next()
        return rows

    @property
    def source(self) -> Path:
        return self._source


class ContractRates(_Strict):
    """config/contracts.yaml: contractual late-payment rates by debtor."""

    late_interest_rates: dict[DebtorId, ContractRate] | None = Field(
        default=None, description="Debtor id: contractual late-payment rate in percent per year."
    )


# -- rates -------------------------------------------------------------------------------------------

def commercial_rate(tables: LegalTables, day: date) -> Decimal:
    """L441-10 II: the ECB rate in force on 1 January (or 1 July) of day's half-year, plus 10 points."""
    half = HalfYear.of(day)
    ecb = tables.ecb_main_refinancing_rate
    if half > ecb.covers_through:
        raise LegalTablesError(
            f"{tables.source}: no ECB main refinancing rate for {half}: ecb_main_refinancing_rate.covers_through "
            f"is {ecb.covers_through}. Add any ECB rate change effective on or before {half.first_day} to "
            f"ecb_main_refinancing_rate.rates, then set ecb_main_refinancing_rate.covers_through to {half}"
        )
    rate = ecb.rate_on(half.first_day)
    if rate is None:
        raise LegalTablesError(
            f"{tables.source}: no ECB main refinancing rate for {half}: ecb_main_refinancing_rate.rates start on "
            f"{min(ecb.rates)}. Add the rate in force on {half.first_day} to ecb_main_refinancing_rate.rates"
        )
    return rate + tables.commercial.margin_points


def legal_rate(tables: LegalTables, day: date, creditor_is_individual: bool = False) -> Decimal:
    """The taux de l'intérêt légal of day's half-year (arrêté published in the Journal officiel)."""
    half = HalfYear.of(day)
    row = tables.legal_interest_rate.get(half)
    if row is None:
        raise LegalTablesError(
            f"{tables.source}: no taux de l'intérêt légal for {half} ({half.first_day} to {half.last_day}). "
            f"Add `{half}: {{other_cases: \"...\", individual_creditor: \"...\"}}` under legal_interest_rate, "
            "from the arrêté fixing the taux de l'intérêt légal for that half-year"
        )
    return row.individual_creditor if creditor_is_individual else row.other_cases


def last_covered_day(tables: LegalTables) -> date:
    """The last day both tables answer: the latest as-of date a run can use."""
    legal = max(tables.legal_interest_rate)
    return min(tables.ecb_main_refinancing_rate.covers_through, legal).last_day


def contracts_below_floor(tables: LegalTables, contract_rates: Mapping[str, Decimal],
                          first_day: date, last_day: date) -> list[str]:
    """The contractual rates below the legal floor of a half-year from first_day to last_day (both
    included), one line per debtor and half-year: the contracts to fix.

    Such a rate is not applied (invoice_penalty claims the commercial rate instead), so collection
    goes on; the run summary lists these lines. The floor moves with the taux de l'intérêt légal: a
    rate above today's floor can be below an earlier one, so every half-year an invoice's interest
    spans counts. first_day is the first day interest runs (the day after the debtor's earliest due
    date still open); an empty range checks nothing; a half-year the tables lack is left to the
    computation, which names it.
    """
    problems = []
    half, last = HalfYear.of(first_day), HalfYear.of(last_day)
    while first_day <= last_day and half <= last:
        if half in tables.legal_interest_rate:
            for debtor_id, rate in sorted(contract_rates.items()):
                problem = _floor_problem(tables, f"late_interest_rates.{debtor_id}", rate, half.first_day)
                if problem:
                    problems.append(f"{problem}; its invoices are claimed at the commercial rate (ECB rate + 10 "
                                    "points) meanwhile")
        half = half.next()
    return problems


def contracts_to_fix(tables: LegalTables, contract_rates: Mapping[str, Decimal], earliest_due: Mapping[str, date],
                     as_of: date) -> list[str]:
    """contracts_below_floor for each debtor with a contractual rate and an open invoice, over the
    half-years from the day after its earliest open due date to as_of."""
    return [line for debtor_id, rate in sorted(contract_rates.items()) if debtor_id in earliest_due
            for line in contracts_below_floor(tables, {debtor_id: rate}, earliest_due[debtor_id] + timedelta(days=1),
                                              as_of)]


def check_contractual_rate(tables: LegalTables, debtor_id: str, rate: Decimal, on: date) -> Decimal:
    """Refuse a contractual rate below 3 x the taux de l'intérêt légal in force on `on`; return that floor.

    The floor uses the "other cases" column: the creditor is a company, not an individual.
    A rate equal to the floor is allowed (L441-10 II: "ne peut être inférieur à").
    """
    problem = _floor_problem(tables, f"late_interest_rates.{debtor_id}", rate, on)
    if problem:
        raise ContractualRateError(problem)
    return tables.commercial.contractual_floor_multiple * legal_rate(tables, on)


def _floor_problem(tables: LegalTables, key: str, rate: Decimal, on: date) -> str | None:
    multiple = tables.commercial.contractual_floor_multiple
    legal = legal_rate(tables, on)
    floor = multiple * legal
    if rate >= floor:
        return None
    return (f"{tables.source.with_name(CONTRACTS_FILE)}: {key}: contractual rate {rate} % is below the legal "
            f"floor of {floor} % for {HalfYear.of(on)} ({multiple} x taux de l'intérêt légal {legal} %, Code de "
            f"commerce L441-10 II). Raise it to at least {floor} % or remove the debtor to apply the commercial "
            "rate (ECB rate + 10 points)")


# -- penalties ---------------------------------------------------------------------------------------

def _half_year_spans(first: date, last: date) -> list[tuple[date, date]]:
    """Consecutive [start, end] day ranges from first to last inclusive, cut at 1 January and 1 July."""
    spans = []
    start = first
    while start <= last:
        end = min(HalfYear.of(start).last_day, last)
        spans.append((start, end))
        start = end + timedelta(days=1)
    return spans


def _balance_spans(first: date, last: date, payments: Payments) -> list[tuple[date, date]]:
    """The half-year spans from first to last, cut again the day after each payment received in them."""
    drops = sorted({paid_on + timedelta(days=1) for paid_on, _ in payments})
    spans = []
    for start, end in _half_year_spans(first, last):
        for drop in drops:
            if start < drop <= end:
                spans.append((start, drop - timedelta(days=1)))
                start = drop
        spans.append((start, end))
    return spans


def _periods(principal: Decimal, payments: Payments, first: date | None, last: date,
             rate_of: Callable[[date], Decimal]) -> tuple[RatePeriod, ...]:
    if first is None:
        return ()
    periods = []
    with localcontext(_INTEREST_CONTEXT):
        for start, end in _balance_spans(first, last, payments):
            days = (end - start).days + 1
            rate = rate_of(start)
            # Interest runs on each day's balance, and a payment bears interest through the day it is
            # received: the amount open on `start` is what is open at the end plus every payment
            # received on or after `start`. (Days late = payment date - due date, as French practice
            # counts them; a payment on or before the due date is already out of the principal.)
            balance = principal + sum((amount for paid_on, amount in payments if paid_on >= start), Decimal(0))
            # One division per period: balance x rate x days is exact, only the quotient is not.
            interest = balance * rate * days / (100 * _DAYS_PER_YEAR)
            periods.append(RatePeriod(start=start, end=end, days=days, principal=balance, rate=rate,
                                      interest=interest))
    return tuple(periods)


def _checked_payments(number: str, payments: Payments, due_date: date, to_date: date) -> Payments:
    """The payments that change interest: those received after the due date, each checked."""
    late = []
    for paid_on, amount in payments:
        if not isinstance(amount, Decimal) or not isinstance(paid_on, date):
            raise TypeError(f"invoice {number}: a payment is (date, Decimal), got ({paid_on!r}, {amount!r})")
        if amount <= 0:
            raise ValueError(f"invoice {number}: payment of {amount} on {paid_on} is not positive")
        if paid_on > to_date:
            # principal is the amount open on to_date: a later payment is not yet out of it.
            raise ValueError(f"invoice {number}: payment of {amount} on {paid_on} is after {to_date}, "
                             "the date penalties are computed to; leave it out")
        if paid_on > due_date:
            late.append((paid_on, amount))
    return tuple(late)


def invoice_penalty(
    tables: LegalTables,
    *,
    number: str,
    principal: Decimal,
    due_date: date,
    to_date: date,
    is_consumer: bool,
    contractual_rate: Decimal | None = None,
    formal_notice_on: date | None = None,
    currency: str = "EUR",
    debtor_id: str | None = None,
    payments: Payments = (),
) -> InvoicePenalty:
    """What one invoice costs its debtor on to_date, interest day by day at each half-year's rate.

    Between professionals (L441-10 II, D441-5): interest from the day after the due date through
    to_date inclusive, without any reminder, at the commercial rate or the contractual one; plus
    the 40 EUR indemnity once a payment is late (still open after the due date, or paid after it;
    none for an invoice paid in full on time). A consumer (Code civil 1344-1): moratory
    interest at the taux de l'intérêt légal from the day after the formal notice only, nothing
    without one, no indemnity. debtor_id only names the debtor in a refused-rate error.

    principal is the amount still open on to_date. payments are the (date, amount) received on the
    invoice up to to_date: interest runs on each day's balance, so an amount paid late bears
    interest from the day after the due date through the day it was received, both included.
    Payments on or before the due date change nothing (they are already out of the principal).
    """
    if not isinstance(principal, Decimal) or (contractual_rate is not None and not isinstance(contractual_rate, Decimal)):
        raise TypeError(f"invoice {number}: principal and contractual_rate must be Decimal, never float")
    if principal < 0:
        raise ValueError(f"invoice {number}: principal {principal} is negative; a credit bears no late interest")
    payments = _checked_payments(number, payments, due_date, to_date)
    # Where the rate came from, for an error: the debtor's line of config/contracts.yaml.
    key = f"late_interest_rates.{debtor_id}" if debtor_id is not None else f"late_interest_rates (debtor of invoice {number})"

    if is_consumer:
        if contractual_rate is not None:
            raise ContractualRateError(
                f"{tables.source.with_name(CONTRACTS_FILE)}: {key}: a contractual "
                "late-payment rate applies between professionals only; this debtor is a consumer "
                "(moratory interest at the taux de l'intérêt légal). Remove the debtor from the file"
            )
        basis, refused = Basis.consumer, None
        # Interest never runs before the debt is due, even if the notice was sent earlier.
        first = max(formal_notice_on, due_date) + timedelta(days=1) if formal_notice_on else None
        periods = _periods(principal, payments, first, to_date, lambda day: legal_rate(tables, day))
        indemnity = separate_eur_indemnity = ZERO
    else:
        first = due_date + timedelta(days=1)
        # A contractual rate below the floor of any half-year charged is no valid "disposition
        # contraire" (L441-10 II): the statutory rate, ECB + 10 points, is claimed instead, saying why.
        refused = None if contractual_rate is None else next(filter(None, (
            _floor_problem(tables, key, contractual_rate, start) for start, _ in _half_year_spans(first, to_date)
        )), None)
        if contractual_rate is None or refused:
            basis = Basis.commercial
            periods = _periods(principal, payments, first, to_date, partial(commercial_rate, tables))
        else:
            basis = Basis.contractual
            periods = _periods(principal, payments, first, to_date, lambda day: contractual_rate)
        # L441-10 II owes the indemnity for a late payment: the invoice is still open after its due
        # date, or a payment came after it. Paid in full on time, nothing was late: nothing is owed.
        late = to_date > due_date and (principal > 0 or bool(payments))
        owed = tables.commercial.recovery_indemnity_eur if late else ZERO
        # D441-5 fixes the indemnity in euros. For an invoice in another currency we do not convert
        # (whose rate, which day?): `indemnity` is 0.00 and the euros go to separate_eur_indemnity.
        in_euros = currency.upper() == "EUR"
        indemnity = owed if in_euros else ZERO
        separate_eur_indemnity = ZERO if in_euros else owed

    with localcontext(_INTEREST_CONTEXT):
        unrounded = sum((period.interest for period in periods), Decimal(0))
    # Rounded once, on the invoice total: rounding each period would drift by a cent.
    interest = unrounded.quantize(CENT, rounding=ROUND_HALF_UP)
    return InvoicePenalty(
        invoice_number=number,
        principal=principal,
        due_date=due_date,
        basis=basis,
        periods=periods,
        interest=interest,
        indemnity=indemnity,
        separate_eur_indemnity=separate_eur_indemnity,
        rate_note=refused or "",
    )


def penalty_statement(
    tables: LegalTables,
    invoices: Sequence[tuple[str, Decimal, date]],
    *,
    to_date: date,
    currency: str,
    is_consumer: bool,
    contractual_rate: Decimal | None = None,
    formal_notice_on: date | None = None,
    debtor_id: str | None = None,
    payments: Mapping[str, Payments] = _NO_PAYMENTS,
    formal_notices: Mapping[str, date] | None = None,
) -> PenaltyStatement:
    """Penalties of one debtor's invoices (number, principal, due date) in one currency, to one date.

    payments: the payments received on each invoice up to to_date, by invoice number (see
    invoice_penalty); an invoice without an entry was paid nothing late.
    formal_notices: the day each invoice's own formal notice was sent, by invoice number, when the
    invoices were put on notice on different days (a case); it replaces formal_notice_on, and an
    invoice without an entry was never put on notice (a consumer owes no moratory interest on it).
    """
    numbers = {number for number, _, _ in invoices}
    for what, given in (("payments", payments), ("formal notices", formal_notices or {})):
        unknown = sorted(set(given) - numbers)
        if unknown:
            raise ValueError(f"{what} for invoice(s) not in the statement: {', '.join(unknown)}")
    if formal_notices is not None and formal_notice_on is not None:
        raise ValueError("give formal_notice_on (one notice for every invoice) or formal_notices (by invoice), not both")

    def notice_of(number: str) -> date | None:
        return formal_notice_on if formal_notices is None else formal_notices.get(number)

    lines = tuple(
        invoice_penalty(
            tables,
            number=number,
            principal=principal,
            due_date=due_date,
            to_date=to_date,
            is_consumer=is_consumer,
            contractual_rate=contractual_rate,
            formal_notice_on=notice_of(number),
            currency=currency,
            debtor_id=debtor_id,
            payments=payments.get(number, ()),
        )
        for number, principal, due_date in invoices
    )
    return PenaltyStatement(computed_to=to_date, currency=currency, lines=lines)


# -- prescription ------------------------------------------------------------------------------------

def prescription_date(due_date: date, is_consumer: bool, tables: LegalTables) -> date:
    """The last day an action can still be brought: due date + 5 years (2 for a consumer debtor).

    Code civil 2229: prescription is acquired once the last day of the period has fully passed, and
    a period in years ends on the same day-of-month (Code de procédure civile 641), so this day
    itself is still actionable. A 29 February due date ends on 28 February (641: no such day, the
    last day of the month). No weekend or holiday extension: escalating a day early is the safe side.
    """
    years = tables.prescription.consumer_debtor_years if is_consumer else tables.prescription.business_debtor_years
    try:
        return due_date.replace(year=due_date.year + years)
    except ValueError:
        return date(due_date.year + years, 2, 28)


def is_prescribed(due_date: date, is_consumer: bool, as_of: date, tables: LegalTables) -> bool:
    """True once the prescription date has passed: from the day after it, never on it."""
    return as_of > prescription_date(due_date, is_consumer, tables)


def prescription_approaching(due_date: date, is_consumer: bool, as_of: date, tables: LegalTables) -> bool:
    """Not yet prescribed and at most `approaching_days` (90) days before the prescription date.

    Both ends included: 90 days before it, and the prescription date itself.
    """
    days_left = (prescription_date(due_date, is_consumer, tables) - as_of).days
    return 0 <= days_left <= tables.prescription.approaching_days
