"""Reading the accounting database: one query per kind of data, retried on connection errors."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.exc import OperationalError

from dunning.sources.accounting import AccountingSource


def _is_connection_error(task, task_run, state) -> bool:
    """A database server that dropped or refused the connection is worth another try; a wrong
    schema is not, and neither is a local SQLite file, whose errors never heal by waiting."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, OperationalError) and not type(error.orig).__module__.startswith("sqlite3")


_IO = dict(retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=_is_connection_error, cache_policy=NO_CACHE)


@task(name="fetch_open_receivables", **_IO)
def fetch_open_receivables(as_of: date) -> pd.DataFrame:
    frame = AccountingSource.from_url().open_receivables(as_of)
    get_run_logger().info("Read %d open invoice rows from the accounting database as of %s.", len(frame), as_of)
    return frame


@task(name="fetch_unapplied_credits", **_IO)
def fetch_unapplied_credits(as_of: date) -> pd.DataFrame:
    frame = AccountingSource.from_url().unapplied_credits(as_of)
    get_run_logger().info("Read %d unapplied credit rows (credit notes, unallocated payments).", len(frame))
    return frame


@task(name="fetch_payment_history", **_IO)
def fetch_payment_history(as_of: date, history_days: int) -> pd.DataFrame:
    frame = AccountingSource.from_url().payment_history(as_of, history_days)
    get_run_logger().info("Read the payment history of %d invoices over the last %d days.", len(frame), history_days)
    return frame


@task(name="fetch_history_payments", **_IO)
def fetch_history_payments(as_of: date, history_days: int) -> pd.DataFrame:
    """The window's lettered payments one by one: each one the history cannot count is quarantined."""
    return AccountingSource.from_url().history_payments(as_of, history_days)
