"""Read-only access to the customer's accounting database through the queries in sql/.

One query per kind of data, filtered in the database: no per-invoice round trips, no whole-table
loads. Nothing here ever writes: the accounting system is the customer's, not ours.
"""

from __future__ import annotations

import io
import os
from datetime import date, timedelta
from functools import lru_cache

import pandas as pd
from sqlalchemy import Date, Engine, TextClause, bindparam, create_engine, event, text

from dunning.databases import Database, DatabaseUnavailable
from dunning.paths import PROJECT_DIR, default_var_dir

__all__ = ["SQL_DIR", "AccountingSource", "SourceUnavailable", "accounting_url", "check_source"]

SQL_DIR = PROJECT_DIR / "sql"
# How COPY writes NULL, apart from an empty text (which CSV writes as "").
_NULL = "\\N"


ACCOUNTING_URL_ENV = "DUNNING_ACCOUNTING_URL"
_CHECK = (f"check that the server is up and that {ACCOUNTING_URL_ENV} names the right host, port, database "
          "and role")


class SourceUnavailable(DatabaseUnavailable):
    """The accounting database cannot be read as configured (URL, driver, file, server, role)."""


def accounting_url() -> str:
    return os.environ.get(ACCOUNTING_URL_ENV) or f"sqlite:///{default_var_dir() / 'accounting.sqlite'}"


def accounting_database(url: str | None = None) -> Database:
    url = url or accounting_url()
    return Database("accounting", ACCOUNTING_URL_ENV, url, from_env=url == os.environ.get(ACCOUNTING_URL_ENV))


def _existing(database: Database) -> None:
    """A URL that parses, a driver that loads, a SQLite file that is there: never an empty one created."""
    url = database.parsed(SourceUnavailable)
    path = database.sqlite_file(url)
    if path is not None and not path.is_file():
        raise SourceUnavailable(f"{database.named()} does not exist: check {ACCOUNTING_URL_ENV} (the product never "
                                "creates an accounting database; `dunning demo seed` builds a demo one)")


def check_source(url: str | None = None, *, for_seeding: bool = False) -> None:
    """Raise SourceUnavailable, in one line naming the database and what to check, unless it answers.

    `for_seeding`: the demo seed builds its SQLite file, so only a server's database must exist.
    """
    database = accounting_database(url)
    if for_seeding and database.sqlite_file(database.parsed(SourceUnavailable)) is not None:
        return
    _existing(database)
    database.probe(SourceUnavailable, _CHECK)


@lru_cache(maxsize=16)
def _query(name: str):
    return text((SQL_DIR / f"{name}.sql").read_text(encoding="utf-8"))


def _read_only_sqlite(conn, _record) -> None:
    conn.execute("PRAGMA query_only = ON")
    # Text that is not UTF-8 is read with its bad bytes kept as lone surrogates, so the row is
    # quarantined by validation ("unreadable text") instead of failing the whole query.
    conn.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")


@lru_cache(maxsize=16)
def _read_only_engine(url: str) -> Engine:
    """One engine (and pool) per URL for the life of the process, opened read-only.

    Belt and braces: the product never writes to the accounting database, and the database itself
    is asked to refuse it.
    """
    _existing(accounting_database(url))
    if url.startswith("postgresql"):
        return create_engine(url, connect_args={"options": "-c default_transaction_read_only=on"})
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _read_only_sqlite)
    return engine


class AccountingSource:
    """The extraction queries, returning raw DataFrames (validated downstream)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str | None = None) -> "AccountingSource":
        return cls(_read_only_engine(url or accounting_url()))

    @classmethod
    def checked(cls, url: str | None = None) -> "AccountingSource":
        """The source once it has answered: for commands about to read it."""
        check_source(url)
        return cls.from_url(url)

    def _read(self, name: str, **params: date) -> pd.DataFrame:
        query = _query(name).bindparams(*(bindparam(key, type_=Date) for key in params))
        if self.engine.dialect.name == "postgresql":
            return self._copy(query, params)
        with self.engine.connect() as conn:
            # coerce_float=False: PostgreSQL NUMERIC arrives as Decimal and must stay one; pandas'
            # default would turn every Decimal column into float64 before validation sees it.
            return pd.read_sql_query(query, conn, params=params, coerce_float=False)

    def _copy(self, query: TextClause, params: dict[str, date]) -> pd.DataFrame:
        """PostgreSQL: the query's rows through `COPY (...) TO STDOUT` as CSV, parsed by pandas in one go,
        the floor of moving rows out of the server (three times faster than fetching them row by row).

        Every value arrives as text, typed by validation as it types SQLite's; NULL is None and an empty
        text stays "" (a text that is exactly `\\N` reads as NULL: CSV cannot tell them apart). The date
        parameters are bound by the driver, quoted as literals (COPY takes no server-side parameters).
        """
        compiled = query.compile(dialect=self.engine.dialect)
        statement = compiled.string.strip().rstrip(";")
        buffer = io.BytesIO()
        with self.engine.connect() as conn:
            with conn.connection.driver_connection.cursor() as cursor:
                with cursor.copy(f"COPY ({statement}\n) TO STDOUT WITH (FORMAT csv, HEADER, NULL '{_NULL}')",
                                 params) as copy:
                    for chunk in copy:
                        buffer.write(chunk)
        buffer.seek(0)
        frame = pd.read_csv(buffer, dtype=str, keep_default_na=False, na_values=[_NULL], encoding="utf-8")
        return frame.astype(object).where(frame.notna(), None)

    def open_receivables(self, as_of: date) -> pd.DataFrame:
        return self._read("open_receivables", as_of=as_of)

    def unapplied_credits(self, as_of: date) -> pd.DataFrame:
        return self._read("unapplied_credits", as_of=as_of)

    def payment_history(self, as_of: date, history_days: int) -> pd.DataFrame:
        return self._read("payment_history", as_of=as_of, since=as_of - timedelta(days=history_days))

    def history_payments(self, as_of: date, history_days: int) -> pd.DataFrame:
        """payment_id, debtor_id, invoice_id, known_invoice_id, paid_on, amount of the window's lettered payments."""
        return self._read("history_payments", as_of=as_of, since=as_of - timedelta(days=history_days))

    def paid_late_payments(self, as_of: date, lookback_days: int) -> pd.DataFrame:
        """The payments of the invoices paid in full but late, the last late one in the lookback window."""
        return self._read("paid_late_payments", as_of=as_of, since=as_of - timedelta(days=lookback_days))

    def invoices_by_number(self, numbers: list[str]) -> pd.DataFrame:
        """invoice_id, number, customer_id, currency, amount_residual (plus kind, status) of these numbers."""
        return self._read_list("invoices_by_number", "numbers", numbers)

    def customers_by_id(self, ids: list[str]) -> pd.DataFrame:
        """customer_id, name of these customers (the ones that exist)."""
        return self._read_list("customers_by_id", "ids", ids)

    def invoice_payments(self, ids: list[str], as_of: date) -> pd.DataFrame:
        """payment_id, invoice_id, paid_on, amount of the payments lettered to these invoices up to as_of."""
        return self._read_list("invoice_payments", "ids", ids, as_of=as_of)

    def invoice_balances(self, ids: list[str]) -> list[dict]:
        """invoice_id, number, debtor_id, kind, status, currency, residual, disputed(_reason), as of now.

        Plain rows, no DataFrame: a send reads its few invoices again just before it goes (one query
        per message, thousands a night)."""
        query = _query("invoice_balances").bindparams(bindparam("ids", expanding=True))
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query, {"ids": list(ids)}).mappings()]

    def _read_list(self, name: str, key: str, values: list[str], **dates: date) -> pd.DataFrame:
        query = _query(name).bindparams(bindparam(key, expanding=True),
                                        *(bindparam(d, type_=Date) for d in dates))
        with self.engine.connect() as conn:
            return pd.read_sql_query(query, conn, params={key: list(values), **dates}, coerce_float=False)
