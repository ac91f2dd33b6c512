"""Building small named scenarios in a real accounting database (SQLite file or PostgreSQL)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Engine, column, insert, table

from dunning.sources.reference_schema import create_accounting_schema

_customers = table("customers", *(column(c) for c in (
    "id", "name", "email", "phone", "language", "is_consumer", "siren", "address_line", "postal_code", "city",
    "country", "credit_limit", "strategic", "created_on")))
_invoices = table("invoices", *(column(c) for c in (
    "id", "number", "customer_id", "kind", "status", "issue_date", "due_date", "currency", "amount_total",
    "amount_residual", "disputed", "disputed_reason")))
_payments = table("payments", *(column(c) for c in (
    "id", "customer_id", "invoice_id", "paid_on", "amount", "method")))


class Accounting:
    """The customer's books for one test: write rows the way their accounting system would."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_accounting_schema(engine)

    def _insert(self, target, **values) -> None:
        for key, value in values.items():
            if isinstance(value, Decimal):
                values[key] = str(value) if self.engine.dialect.name == "sqlite" else value
            elif isinstance(value, date) and self.engine.dialect.name == "sqlite":
                values[key] = value.isoformat()
        with self.engine.begin() as conn:
            conn.execute(insert(target).values(**values))

    def customer(self, id: str, *, name: str | None = None, email: str | None = "default",
                 language: str = "fr", is_consumer: bool = False, strategic: bool = False,
                 credit_limit: Decimal | None = None) -> str:
        self._insert(_customers, id=id, name=name or f"Société {id} SAS",
                     email=f"compta@{id.lower()}.example.fr" if email == "default" else email,
                     phone="+33 1 00 00 00 00", language=language, is_consumer=is_consumer,
                     siren=None if is_consumer else "732829320", address_line="1 rue du Test",
                     postal_code="69001", city="Lyon", country="FR", credit_limit=credit_limit,
                     strategic=strategic, created_on=date(2024, 1, 1))
        return id

    def invoice(self, id: str, customer: str, *, due: date | None, total: str = "1200.00",
                residual: str | None = None, kind: str = "invoice", status: str = "posted",
                currency: str = "EUR", disputed: bool = False, issued: date | None = None) -> str:
        self._insert(_invoices, id=id, number=f"FA-{id}", customer_id=customer, kind=kind, status=status,
                     issue_date=issued or date(2026, 1, 2), due_date=due, currency=currency,
                     amount_total=Decimal(total), amount_residual=Decimal(residual if residual is not None else total),
                     disputed=disputed, disputed_reason="prix contesté" if disputed else None)
        return id

    def payment(self, id: str, customer: str, invoice: str | None, *, paid_on: date, amount: str) -> None:
        self._insert(_payments, id=id, customer_id=customer, invoice_id=invoice, paid_on=paid_on,
                     amount=Decimal(amount), method="virement")

    def set_residual(self, invoice_id: str, residual: str) -> None:
        """What the accounting system does when a payment is lettered against an invoice."""
        with self.engine.begin() as conn:
            conn.execute(_invoices.update().where(_invoices.c.id == invoice_id).values(
                amount_residual=residual if self.engine.dialect.name == "sqlite" else Decimal(residual)))

    def set_disputed(self, invoice_id: str, reason: str = "livraison contestée") -> None:
        """What the accounting system records when the customer contests an invoice."""
        with self.engine.begin() as conn:
            conn.execute(_invoices.update().where(_invoices.c.id == invoice_id).values(
                disputed=True, disputed_reason=reason))

    def set_email(self, customer_id: str, email: str | None) -> None:
        """What the accounting system records when someone corrects a customer's address."""
        with self.engine.begin() as conn:
            conn.execute(_customers.update().where(_customers.c.id == customer_id).values(email=email))
