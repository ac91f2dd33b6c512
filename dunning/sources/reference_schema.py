"""The reference accounting schema (customers, invoices, payments), created from sql/.

It stands in for the customer's accounting system: the demo seeder fills it and tests build small
named scenarios in it with plain INSERTs. The product itself only ever reads that database.
"""

from __future__ import annotations

import sqlalchemy

from dunning.sources.accounting import SQL_DIR

__all__ = ["SUPPORTED_DIALECTS", "create_accounting_schema", "drop_accounting_schema"]

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
        for table in _TABLES_IN_DROP_ORDER:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {preparer.quote(table)}")


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
