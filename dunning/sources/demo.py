"""Realistic French demo data in the reference accounting schema.

The same seed and the same `today` always give the same rows, ids included, so a demo, a bug
report and a test can all point at "INV-000042". Besides ordinary data it stores a few
deliberately bad rows (BAD_ROWS) that the product must quarantine rather than chase.
"""

from __future__ import annotations

import calendar
import math
import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import Enum
from typing import Any

import sqlalchemy
from faker import Faker

from dunning.rules.money import CENT
from dunning.sources.demo_bad_rows import BAD_ROWS, bad_rows
from dunning.sources.reference_schema import create_accounting_schema, drop_accounting_schema, insert_rows

__all__ = ["SeedReport", "seed_demo"]


@dataclass(frozen=True)
class SeedReport:
    """Rows stored by one seeding, bad rows included in every count."""

    customers: int
    invoices: int
    credit_notes: int
    payments: int
    bad_rows: int

    def __str__(self) -> str:
        return (
            f"Seeded {self.customers} customers, {self.invoices} invoices, "
            f"{self.credit_notes} credit notes and {self.payments} payments "
            f"({self.bad_rows} deliberately bad rows to quarantine)"
        )


def seed_demo(
    engine: sqlalchemy.Engine,
    *,
    customers: int = 400,
    invoices: int = 3000,
    seed: int = 42,
    today: date,
) -> SeedReport:
    """Drop and recreate the accounting schema on `engine`, then fill it with demo data.

    `customers` and `invoices` are the row counts of customers and of documents of kind 'invoice'
    (bad rows included); credit notes and payments come on top. Destroys what the three tables held.
    """
    if isinstance(today, datetime) or not isinstance(today, date):
        raise TypeError(f"today must be a date, not {type(today).__name__}")
    if customers < _MIN_CUSTOMERS:
        raise ValueError(f"customers must be at least {_MIN_CUSTOMERS}, not {customers}")
    if invoices < _MIN_INVOICES:
        raise ValueError(f"invoices must be at least {_MIN_INVOICES}, not {invoices}")

    faker = Faker("fr_FR")
    faker.seed_instance(seed)
    book = _DemoBook(rng=random.Random(seed), faker=faker, today=today)
    book.add_customers(customers - 1)  # the bad customer completes the count
    book.add_ladder_showcase()
    book.add_invoices(invoices - _BAD_INVOICE_COUNT - len(_LADDER_SHOWCASE_DAYS))
    book.add_credit_notes(max(1, round(invoices * _CREDIT_NOTE_SHARE)))
    book.add_unallocated_payments(max(2, round(invoices * _UNALLOCATED_PAYMENT_SHARE)))
    customer_rows, invoice_rows, payment_rows = book.rows()

    drop_accounting_schema(engine)
    create_accounting_schema(engine)
    with engine.begin() as connection:
        insert_rows(connection, "customers", customer_rows)
        insert_rows(connection, "invoices", invoice_rows)
        insert_rows(connection, "payments", payment_rows)

    return SeedReport(
        customers=len(customer_rows),
        invoices=sum(1 for row in invoice_rows if row["kind"] == "invoice"),
        credit_notes=sum(1 for row in invoice_rows if row["kind"] == "credit_note"),
        payments=len(payment_rows),
        bad_rows=len(BAD_ROWS),
    )


# --- Shape of the data ------------------------------------------------------------------------

_MIN_CUSTOMERS = 10
_MIN_INVOICES = 50
_HISTORY_DAYS = 455  # about 15 months of invoicing before today

_CONSUMER_SHARE = 0.15
_NO_EMAIL_SHARE = 0.05
_ENGLISH_SHARE = 0.08
_STRATEGIC_SHARE = 0.03
_CREDIT_LIMIT_SHARE_OF_B2B = 0.85
_USD_SHARE = 0.03
_DISPUTED_SHARE = 0.02
_DRAFT_SHARE = 0.01
_CANCELLED_SHARE = 0.015
_CREDIT_NOTE_SHARE = 0.04
_UNALLOCATED_PAYMENT_SHARE = 0.005

# Days overdue as of today (negative: not yet due) of open invoices stored whatever the seed, so
# every bucket of the aged balance and every step of every segment's ladder has a candidate.
_LADDER_SHOWCASE_DAYS = (-6, -2, 2, 9, 17, 26, 33, 47, 58, 66, 85, 120, 210)


class _Profile(Enum):
    """How a debtor pays; it drives lateness only and is not stored."""

    reliable = "reliable"
    occasional = "occasional"
    chronic = "chronic"


_PROFILE_SHARES = {_Profile.reliable: 0.45, _Profile.occasional: 0.35, _Profile.chronic: 0.20}

_LEGAL_FORMS = ("SAS", "SARL", "SA", "EURL", "SASU")
_LEGAL_FORM_WEIGHTS = (40, 32, 12, 8, 8)
# Faker's fr_FR company() sometimes ends with a legal form already; ours replaces it.
_FAKER_LEGAL_FORM = re.compile(r"\s+(S\.A\.R\.L\.|SARL|S\.A\.S\.|SAS|S\.A\.|SA)$")
_BUSINESS_MAILBOXES = ("compta", "comptabilite", "contact", "facturation")
_PERSONAL_MAIL_DOMAINS = ("gmail.com", "orange.fr", "free.fr", "laposte.net", "sfr.fr", "hotmail.fr")
_CREDIT_LIMITS = (3_000, 5_000, 8_000, 10_000, 15_000, 20_000, 30_000, 50_000)
_STRATEGIC_CREDIT_LIMITS = (100_000, 150_000, 250_000)

# (days, end of month): "30 jours net", "45 jours net", "30 jours fin de mois", "45 jours fin de mois".
_TERMS = ((30, False), (45, False), (30, True), (45, True))
_TERM_WEIGHTS = (45, 25, 15, 15)

_B2B_METHODS = ("transfer", "direct_debit", "cheque", "lcr")
_B2B_METHOD_WEIGHTS = (75, 10, 10, 5)
_CONSUMER_METHODS = ("card", "transfer", "cheque")
_CONSUMER_METHOD_WEIGHTS = (45, 35, 20)

_DISPUTE_REASONS = (
    "Marchandise livrée endommagée",
    "Quantités facturées supérieures aux quantités livrées",
    "Prestation non conforme au devis",
    "Prix unitaire contesté",
    "Facture en double",
    "Bon de commande manquant",
    "Remise commerciale non appliquée",
)

_BAD_INVOICE_COUNT = sum(1 for bad in BAD_ROWS if bad.table == "invoices")


# --- Generation -------------------------------------------------------------------------------


@dataclass
class _Debtor:
    id: str
    is_consumer: bool
    profile: _Profile
    weight: float
    row: dict[str, Any]


@dataclass
class _Payment:
    customer_id: str
    document: _Document | None
    paid_on: date
    amount: Decimal
    method: str


@dataclass
class _Document:
    """An invoice or credit note before it gets its id and number, which follow date order."""

    customer_id: str
    kind: str
    status: str
    issue_date: date
    due_date: date
    currency: str
    amount_total: Decimal
    amount_residual: Decimal
    disputed_reason: str | None = None
    payments: list[_Payment] = field(default_factory=list)
    id: str = ""
    number: str = ""


@dataclass
class _DemoBook:
    rng: random.Random
    faker: Faker
    today: date
    debtors: list[_Debtor] = field(default_factory=list)
    documents: list[_Document] = field(default_factory=list)
    unallocated: list[_Payment] = field(default_factory=list)
    _sirens: set[str] = field(default_factory=set)

    # Customers ---------------------------------------------------------------------------------

    def add_customers(self, count: int) -> None:
        rng = self.rng
        everyone = range(count)
        consumers = set(rng.sample(everyone, round(count * _CONSUMER_SHARE)))
        businesses = [index for index in everyone if index not in consumers]
        strategic = set(rng.sample(businesses, max(1, round(count * _STRATEGIC_SHARE))))
        with_limit = set(rng.sample(businesses, round(len(businesses) * _CREDIT_LIMIT_SHARE_OF_B2B)))
        without_email = set(rng.sample(everyone, round(count * _NO_EMAIL_SHARE)))
        english = set(rng.sample(everyone, round(count * _ENGLISH_SHARE)))
        profiles = _deal(rng, count, _PROFILE_SHARES)
        for index in everyone:
            customer_id = f"CUS-{index + 1:05d}"
            if index in consumers:
                row = self._consumer(customer_id)
                weight = 0.3 * rng.lognormvariate(0, 0.6)
            else:
                row = self._business(customer_id, index in strategic, index in with_limit)
                weight = rng.lognormvariate(0, 0.9) * (4 if index in strategic else 1)
            if index in without_email:
                row["email"] = None
            row["language"] = "en" if index in english else "fr"
            self.debtors.append(_Debtor(customer_id, index in consumers, profiles[index], weight, row))

    def _business(self, customer_id: str, strategic: bool, with_limit: bool) -> dict[str, Any]:
        rng = self.rng
        trade_name = _FAKER_LEGAL_FORM.sub("", self.faker.company())
        legal_form = rng.choices(_LEGAL_FORMS, _LEGAL_FORM_WEIGHTS)[0]
        domain = f"{_slug(trade_name)}.{rng.choice(('fr', 'fr', 'com'))}"
        if strategic:
            credit_limit = _euros(rng.choice(_STRATEGIC_CREDIT_LIMITS))
        else:
            credit_limit = _euros(rng.choice(_CREDIT_LIMITS)) if with_limit else None
        return self._customer_row(
            customer_id,
            name=f"{trade_name} {legal_form}",
            email=f"{rng.choice(_BUSINESS_MAILBOXES)}@{domain}",
            is_consumer=False,
            siren=self._new_siren(),
            credit_limit=credit_limit,
            strategic=strategic,
        )

    def _consumer(self, customer_id: str) -> dict[str, Any]:
        first_name, last_name = self.faker.first_name(), self.faker.last_name()
        return self._customer_row(
            customer_id,
            name=f"{first_name} {last_name}",
            email=f"{_slug(first_name)}.{_slug(last_name)}@{self.rng.choice(_PERSONAL_MAIL_DOMAINS)}",
            is_consumer=True,
            siren=None,
            credit_limit=None,
            strategic=False,
        )

    def _customer_row(self, customer_id: str, **values: Any) -> dict[str, Any]:
        return {
            "id": customer_id,
            **values,
            "phone": self.faker.phone_number(),
            "language": "fr",
            "address_line": self.faker.street_address(),
            "postal_code": self.faker.postcode(),
            "city": self.faker.city(),
            "country": "FR",
            "created_on": self.today - timedelta(days=self.rng.randint(_HISTORY_DAYS + 30, 3650)),
        }

    def _new_siren(self) -> str:
        while True:
            payload = f"{self.rng.randint(3, 9)}{self.rng.randint(0, 9_999_999):07d}"
            siren = payload + _luhn_check_digit(payload)
            if siren not in self._sirens:
                self._sirens.add(siren)
                return siren

    # Invoices ----------------------------------------------------------------------------------

    def add_ladder_showcase(self) -> None:
        """Unpaid posted invoices at fixed distances from their due date (see _LADDER_SHOWCASE_DAYS)."""
        late_payers = [debtor for debtor in self.debtors if debtor.profile is not _Profile.reliable]
        for days_overdue in _LADDER_SHOWCASE_DAYS:
            debtor = self.rng.choice(late_payers)
            due_date = self.today - timedelta(days=days_overdue)
            term_days = self.rng.choice((30, 45))
            total = _amount(self.rng, debtor.is_consumer)
            self.documents.append(_Document(
                customer_id=debtor.id,
                kind="invoice",
                status="posted",
                issue_date=due_date - timedelta(days=term_days),
                due_date=due_date,
                currency="EUR",
                amount_total=total,
                amount_residual=total,
            ))

    def add_invoices(self, count: int) -> None:
        rng = self.rng
        chosen = rng.choices(self.debtors, weights=[debtor.weight for debtor in self.debtors], k=count)
        for debtor in chosen:
            roll = rng.random()
            if roll < _DRAFT_SHARE:
                status, issue_date = "draft", self.today - timedelta(days=rng.randint(0, 6))
            else:
                status = "cancelled" if roll < _DRAFT_SHARE + _CANCELLED_SHARE else "posted"
                issue_date = _previous_weekday(self.today - timedelta(days=rng.randint(0, _HISTORY_DAYS)))
            total = _amount(rng, debtor.is_consumer)
            # Drafts and cancelled invoices keep their residual: only their status says they are
            # not owed, so an extraction that forgets to filter on status shows up in the demo.
            invoice = _Document(
                customer_id=debtor.id,
                kind="invoice",
                status=status,
                issue_date=issue_date,
                due_date=_due_date(issue_date, *rng.choices(_TERMS, _TERM_WEIGHTS)[0]),
                currency="USD" if rng.random() < _USD_SHARE else "EUR",
                amount_total=total,
                amount_residual=total,
            )
            if status == "posted" and rng.random() < _DISPUTED_SHARE:
                invoice.disputed_reason = rng.choice(_DISPUTE_REASONS)  # nothing paid while disputed
            elif status == "posted":
                self._settle(invoice, debtor)
            self.documents.append(invoice)

    def _settle(self, invoice: _Document, debtor: _Debtor) -> None:
        """Record the payments the debtor made up to today; the residual is what they leave."""
        rng = self.rng
        lateness = _lateness(rng, debtor.profile)
        first_possible = invoice.issue_date + timedelta(days=1)
        if first_possible > self.today:
            return
        total = invoice.amount_total
        settled_on = None
        if lateness is not None:
            settled_on = max(invoice.due_date + timedelta(days=lateness), first_possible)
        if settled_on is not None and settled_on <= self.today:
            roll = rng.random()
            if roll < 0.06:  # paid a first instalment, then stopped: partially paid
                first_on = _random_day(rng, first_possible, settled_on)
                self._pay(invoice, debtor, first_on, _instalment(rng, total))
            elif roll < 0.14:  # paid in two instalments
                first_on, first = _random_day(rng, first_possible, settled_on), _instalment(rng, total)
                self._pay(invoice, debtor, first_on, first)
                self._pay(invoice, debtor, settled_on, total - first)
            else:
                self._pay(invoice, debtor, settled_on, total)
        elif rng.random() < 0.07:  # a down payment (acompte) on an invoice still open
            paid_on = _random_day(rng, first_possible, self.today)
            self._pay(invoice, debtor, paid_on, _instalment(rng, total))

    def _pay(self, invoice: _Document, debtor: _Debtor, paid_on: date, amount: Decimal) -> None:
        invoice.payments.append(_Payment(debtor.id, invoice, paid_on, amount, self._method(debtor)))
        invoice.amount_residual -= amount

    def _method(self, debtor: _Debtor) -> str:
        if debtor.is_consumer:
            return self.rng.choices(_CONSUMER_METHODS, _CONSUMER_METHOD_WEIGHTS)[0]
        return self.rng.choices(_B2B_METHODS, _B2B_METHOD_WEIGHTS)[0]

    def add_credit_notes(self, count: int) -> None:
        """Credit notes (avoirs) against posted invoices.

        A credit note with no residual was refunded or set off in the past; that use is not stored
        as payments, which is why the residual rule "total minus payments" covers invoices only.
        """
        rng = self.rng
        posted = [doc for doc in self.documents if doc.kind == "invoice" and doc.status == "posted"]
        for _ in range(count):
            invoice = rng.choice(posted)
            if rng.random() < 0.4:
                total = invoice.amount_total
            else:
                total = max(_instalment(rng, invoice.amount_total), _euros(10))
            issue_date = min(self.today, invoice.issue_date + timedelta(days=rng.randint(3, 45)))
            roll = rng.random()
            if roll < 0.55:
                residual = Decimal("0.00")
            elif roll < 0.9:
                residual = total  # unallocated credit the debtor can still use
            else:
                residual = total - _instalment(rng, total)
            self.documents.append(_Document(
                customer_id=invoice.customer_id,
                kind="credit_note",
                status="posted",
                issue_date=issue_date,
                due_date=issue_date,
                currency=invoice.currency,
                amount_total=total,
                amount_residual=residual,
            ))

    def add_unallocated_payments(self, count: int) -> None:
        """Transfers received without a usable reference, waiting to be matched (invoice_id NULL)."""
        rng = self.rng
        businesses = [debtor for debtor in self.debtors if not debtor.is_consumer]
        for _ in range(count):
            debtor = rng.choice(businesses)
            paid_on = self.today - timedelta(days=rng.randint(1, 300))
            self.unallocated.append(_Payment(debtor.id, None, paid_on, _amount(rng, False), "transfer"))

    # Rows --------------------------------------------------------------------------------------

    def rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """Ids and numbers in date order, as an accounting system hands them out, then the rows."""
        self._number_documents()
        customer_rows = [debtor.row for debtor in self.debtors]
        invoice_rows = [_document_row(doc) for doc in self.documents]
        payments = [payment for doc in self.documents for payment in doc.payments] + self.unallocated
        payments.sort(key=lambda payment: payment.paid_on)  # stable: ties keep generation order
        payment_rows = [
            {
                "id": f"PAY-{position:06d}",
                "customer_id": payment.customer_id,
                "invoice_id": payment.document.id if payment.document else None,
                "paid_on": payment.paid_on,
                "amount": payment.amount,
                "method": payment.method,
            }
            for position, payment in enumerate(payments, start=1)
        ]
        bad_customer, bad_invoices = bad_rows(self.today, self._bad_rows_owner())
        return customer_rows + [bad_customer], invoice_rows + bad_invoices, payment_rows

    def _number_documents(self) -> None:
        self.documents.sort(key=lambda doc: doc.issue_date)  # stable: ties keep generation order
        counters: dict[tuple[str, int], int] = {}

        def next_in(sequence: str, year: int = 0) -> int:
            counters[sequence, year] = counters.get((sequence, year), 0) + 1
            return counters[sequence, year]

        for doc in self.documents:
            prefix = "INV" if doc.kind == "invoice" else "CRN"
            doc.id = f"{prefix}-{next_in(prefix):06d}"
            if doc.status == "draft":
                # French numbering is continuous over validated invoices: a draft has only a
                # provisional reference until it is posted.
                doc.number = f"BROUILLON-{next_in('BROUILLON'):04d}"
            else:
                prefix = "FA" if doc.kind == "invoice" else "AV"
                doc.number = f"{prefix}-{doc.issue_date.year}-{next_in(prefix, doc.issue_date.year):05d}"

    def _bad_rows_owner(self) -> str:
        return next(debtor.id for debtor in self.debtors if not debtor.is_consumer)


def _document_row(doc: _Document) -> dict[str, Any]:
    return {
        "id": doc.id,
        "number": doc.number,
        "customer_id": doc.customer_id,
        "kind": doc.kind,
        "status": doc.status,
        "issue_date": doc.issue_date,
        "due_date": doc.due_date,
        "currency": doc.currency,
        "amount_total": doc.amount_total,
        "amount_residual": doc.amount_residual,
        "disputed": doc.disputed_reason is not None,
        "disputed_reason": doc.disputed_reason,
    }


# --- Small pure helpers -----------------------------------------------------------------------


def _deal(rng: random.Random, count: int, shares: dict[_Profile, float]) -> list[_Profile]:
    """Exactly the given shares (rounded), in random order: small seeds keep the mix."""
    dealt: list[_Profile] = []
    for profile, share in shares.items():
        dealt.extend([profile] * round(count * share))
    last = list(shares)[-1]
    dealt = dealt[:count] + [last] * (count - len(dealt))
    rng.shuffle(dealt)
    return dealt


def _lateness(rng: random.Random, profile: _Profile) -> int | None:
    """Days after the due date the debtor settles (negative: early); None when it never does."""
    roll = rng.random()
    if profile is _Profile.reliable:
        return rng.randint(-7, 3) if roll < 0.85 else rng.randint(4, 12)
    if profile is _Profile.occasional:
        return rng.randint(-5, 7) if roll < 0.6 else rng.randint(10, 40)
    if roll < 0.12:
        return None
    return rng.randint(0, 15) if roll < 0.35 else rng.randint(20, 90)


def _amount(rng: random.Random, consumer: bool) -> Decimal:
    """Invoice total including VAT: log-normal, consumers smaller, 50 to 25,000 EUR."""
    median, spread, ceiling = (180, 0.8, 3_000) if consumer else (1_400, 1.1, 25_000)
    cents = round(rng.lognormvariate(math.log(median), spread) * 100)
    return Decimal(min(max(cents, 5_000), ceiling * 100)).scaleb(-2)


def _instalment(rng: random.Random, total: Decimal) -> Decimal:
    """A round part (20 to 80 %) of a total, strictly between zero and the total."""
    part = (total * rng.randint(20, 80) / 100).quantize(Decimal(1), rounding=ROUND_DOWN)
    return max(part, Decimal(1)).quantize(CENT)


def _euros(amount: int) -> Decimal:
    return Decimal(amount).quantize(CENT)


def _due_date(issue_date: date, days: int, end_of_month: bool) -> date:
    due_date = issue_date + timedelta(days=days)
    if end_of_month:
        return due_date.replace(day=calendar.monthrange(due_date.year, due_date.month)[1])
    return due_date


def _previous_weekday(day: date) -> date:
    return day - timedelta(days=max(0, day.weekday() - 4))


def _random_day(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, (last - first).days))


def _luhn_check_digit(payload: str) -> str:
    """The digit that makes payload + digit pass the Luhn check, as SIREN numbers do."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended on the right
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return str(-total % 10)


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
