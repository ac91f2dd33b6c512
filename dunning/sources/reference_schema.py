"""The reference accounting schema (customers, invoices, payments), created from sql/.

It stands in for the customer's accounting system: the demo seeder fills it and tests build small
named scenarios in it with plain INSERTs; insert_rows writes Decimal amounts exactly on both
dialects. The product itself only ever reads that database.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy
from sqlalchemy import Boolean, Date, Numeric, String, column, insert, table
from sqlalchemy.types import TypeDecorator

from dunning.sources.accounting import SQL_DIR

__all__ = ["SUPPORTED_DIALECTS", "create_accounting_schema", "drop_accounting_schema", "insert_rows"]

SUPPORTED_DIALECTS = ("sqlite", "postgresql")

# Children first, so foreign keys never block the drop.
_TABLES_IN_DROP_ORDER = ("payments", "invoices", "customers")


def create_accounting_schema(engine: sqlalchemy.Engine) -> None:
    """Create the three tables and their indexes; fails if a table already exists.

    Runs in one transaction, so on PostgreSQL a failure leaves nothing half created.
    """
    schema_file = SQL_DIR / f"accounting_schema.{_dialect_of(engine)}.sql"
    statements = _split_statements(schema_file.read_text(encoding="utf-8"))
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)


def drop_accounting_schema(engine: sqlalchemy.Engine) -> None:
    """Drop the three tables (and with them their indexes) if they exist."""
    _dialect_of(engine)
    preparer = engine.dialect.identifier_preparer
    with engine.begin() as connection:
        for name in _TABLES_IN_DROP_ORDER:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {preparer.quote(name)}")


def _dialect_of(engine: sqlalchemy.Engine) -> str:
    name = engine.dialect.name
    if name not in SUPPORTED_DIALECTS:
        raise ValueError(
            f"no accounting schema for the {name!r} dialect; "
            f"supported: {', '.join(SUPPORTED_DIALECTS)}"
        )
    return name


def _split_statements(script: str) -> list[str]:
    """Cut a schema file at its semicolons, dropping the pieces that hold only comments."""
    statements = []
    for piece in script.split(";"):
        lines = (line.strip() for line in piece.splitlines())
        if any(line and not line.startswith("--") for line in lines):
            statements.append(piece.strip())
    return statements


class _Money(TypeDecorator[Decimal]):
    """Decimal bound as its exact text on SQLite, whose driver has no Decimal adapter (no float)."""

    impl = Numeric(14, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: sqlalchemy.Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(Numeric(14, 2))

    def process_bind_param(self, value: Decimal | None, dialect: sqlalchemy.Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return str(value)


_TABLES = {target.name: target for target in (
    table(
        "customers",
        column("id", String), column("name", String), column("email", String),
        column("phone", String), column("language", String), column("is_consumer", Boolean),
        column("siren", String), column("address_line", String), column("postal_code", String),
        column("city", String), column("country", String), column("credit_limit", _Money()),
        column("strategic", Boolean), column("created_on", Date),
    ),
    table(
        "invoices",
        column("id", String), column("number", String), column("customer_id", String),
        column("kind", String), column("status", String), column("issue_date", Date),
        column("due_date", Date), column("currency", String), column("amount_total", _Money()),
        column("amount_residual", _Money()), column("disputed", Boolean),
        column("disputed_reason", String),
    ),
    table(
        "payments",
        column("id", String), column("customer_id", String), column("invoice_id", String),
        column("paid_on", Date), column("amount", _Money()), column("method", String),
    ),
)}
_BATCH_SIZE = 500


def insert_rows(connection: sqlalchemy.Connection, table_name: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows into a reference-schema table, in batches; amounts are Decimal, never float."""
    target = _TABLES[table_name]
    for start in range(0, len(rows), _BATCH_SIZE):
        connection.execute(insert(target), rows[start:start + _BATCH_SIZE])
