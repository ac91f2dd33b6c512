"""The junk a real accounting database holds, seeded on purpose by the demo: the product must
quarantine each of these rows (with its reason) rather than chase it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["BadRow", "BAD_ROWS", "bad_rows"]


@dataclass(frozen=True)
class BadRow:
    """A row the seeder stores on purpose although it makes no sense."""

    table: str
    id: str
    number: str | None
    defect: str


BAD_ROWS: tuple[BadRow, ...] = (
    BadRow("invoices", "INV-BAD-01", "FA-BAD-01", "negative residual (more allocated than invoiced)"),
    BadRow("invoices", "INV-BAD-02", "FA-BAD-02", "residual above the invoice total"),
    BadRow("invoices", "INV-BAD-03", "FA-BAD-03", "unknown currency code 'EUX'"),
    BadRow("invoices", "INV-BAD-04", "FA-BAD-04", "missing due date"),
    BadRow("customers", "CUS-BAD-01", None, "malformed email 'compta@@exemple'"),
    BadRow("invoices", "INV-BAD-05", "FA-BAD-05", "open overdue invoice of CUS-BAD-01, whose email is malformed"),
)


def bad_rows(today: date, owner_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The rows of BAD_ROWS: junk a real accounting database holds, which must be quarantined.

    All invoices are posted and overdue, so a product that does not validate would chase them.
    """

    def invoice(bad_id: str, customer_id: str, due_date: date | None, currency: str,
                total: str, residual: str) -> dict[str, Any]:
        (bad,) = (row for row in BAD_ROWS if row.id == bad_id)
        issue_date = (due_date or today - timedelta(days=20)) - timedelta(days=30)
        return {
            "id": bad.id, "number": bad.number, "customer_id": customer_id, "kind": "invoice",
            "status": "posted", "issue_date": issue_date, "due_date": due_date, "currency": currency,
            "amount_total": Decimal(total), "amount_residual": Decimal(residual),
            "disputed": False, "disputed_reason": None,
        }

    def days_ago(days: int) -> date:
        return today - timedelta(days=days)

    bad_invoices = [
        # Negative residual: 1 330.00 allocated against a 1 250.00 invoice.
        invoice("INV-BAD-01", owner_id, days_ago(40), "EUR", "1250.00", "-80.00"),
        # Residual above the total: 1 640.00 still open on a 640.00 invoice.
        invoice("INV-BAD-02", owner_id, days_ago(25), "EUR", "640.00", "1640.00"),
        # 'EUX' is no ISO 4217 code (a typo for EUR).
        invoice("INV-BAD-03", owner_id, days_ago(55), "EUX", "980.00", "980.00"),
        # No due date, so no step of the ladder can be dated.
        invoice("INV-BAD-04", owner_id, None, "EUR", "2300.00", "2300.00"),
        # A sound invoice whose debtor (below) has a malformed email.
        invoice("INV-BAD-05", "CUS-BAD-01", days_ago(35), "EUR", "1480.00", "1480.00"),
    ]
    # Double '@' and no top-level domain: no message can be addressed to it.
    bad_customer = {
        "id": "CUS-BAD-01", "name": "Établissements Morel SARL", "email": "compta@@exemple",
        "phone": "01 45 67 89 10", "language": "fr", "is_consumer": False, "siren": "732829320",
        "address_line": "12, rue des Tanneurs", "postal_code": "69007", "city": "Lyon",
        "country": "FR", "credit_limit": Decimal("10000.00"), "strategic": False,
        "created_on": days_ago(900),
    }
    return bad_customer, bad_invoices
