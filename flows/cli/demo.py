"""`dunning demo`: demo data in the accounting database, and the date a demo runs as of."""

from __future__ import annotations

import os
from typing import Optional

import typer

from dunning.rules.calendar import paris_today
from dunning.sources.accounting import accounting_url

from flows.cli.rates import rates_in_use
from flows.cli.support import demo_accounting_engine, fail, parse_as_of

demo_app = typer.Typer(help="Demo data in the accounting database.", no_args_is_help=True)


@demo_app.command("seed")
def demo_seed(customers: int = typer.Option(400, min=10), invoices: int = typer.Option(3000, min=50),
              seed: int = typer.Option(42, help="Same seed, same data."),
              today: Optional[str] = typer.Option(None, "--today", help="Date the data is built around (default: today)."),
              replace: bool = typer.Option(False, "--replace-accounting-database",
                                           help="Required when DUNNING_ACCOUNTING_URL is set: its tables are dropped.")) -> None:
    """Fill the accounting database (default var/accounting.sqlite) with demo data, replacing its tables."""
    from dunning.sources.demo import seed_demo

    url = accounting_url()
    if os.environ.get("DUNNING_ACCOUNTING_URL") and not replace:
        fail("DUNNING_ACCOUNTING_URL is set: seeding would DROP its customers, invoices and payments tables. "
              "The product never writes to a real accounting database; for a demo database, add "
              "--replace-accounting-database.")
    engine = demo_accounting_engine(url)
    report = seed_demo(engine, customers=customers, invoices=invoices, seed=seed, today=parse_as_of(today))
    typer.echo(str(report))


@demo_app.command("date")
def demo_date() -> None:
    """The as-of date for the demo: today, or the last day the rate tables cover if earlier.

    A real night the tables do not cover runs degraded (penalty steps held, exit 1); the demo shows
    a whole night instead, and says why it is not today's.
    """
    from dunning.law_fr.penalties import last_covered_day

    tables, where = rates_in_use()
    covered, today = last_covered_day(tables), paris_today()
    if covered < today:
        typer.secho(f"note: the rate tables ({where}) cover up to {covered}; the demo runs as of that day. Add "
                    "the next half-year's rates (`dunning rates add`) to run for today.", err=True,
                    fg=typer.colors.YELLOW)
    typer.echo(min(today, covered).isoformat())

