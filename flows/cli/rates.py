"""`dunning rates`: the French rate tables a run uses, and the half-years an operator enters."""

from __future__ import annotations

from typing import Optional

import typer

from dunning.config import ConfigError
from dunning.law_fr.penalties import LEGAL_TABLES_FILE, LegalTables, last_covered_day
from dunning.law_fr.rate_coverage import Coverage, missing_rates, upcoming_gap, with_entries
from dunning.rules.calendar import paris_today
from dunning.sources.config_files import default_config_dir, load_legal_tables, shown_path
from dunning.state.store import StateSchemaError, check_migrated, state_engine

from flows.cli.support import fail, operator_name

__all__ = ["rates_app", "rates_in_use", "rate_lines"]

rates_app = typer.Typer(help="The French rate tables (ECB rate, taux de l'intérêt légal) and their coverage.",
                        no_args_is_help=True)


def _coverage() -> Coverage:
    """The file plus the entered half-years; StateSchemaError when the state database cannot be read."""
    from dunning.state.rates import RateStore

    check_migrated()
    return RateStore(state_engine()).coverage(default_config_dir())


def rates_in_use() -> tuple[LegalTables, str]:
    """The tables a run would use now, and how to name them in a sentence; one line and exit 2 when
    the state database cannot be read, since the entered rates may be what a run would use."""
    try:
        coverage = _coverage()
    except (ConfigError, StateSchemaError) as error:
        fail(str(error))
    where = shown_path(default_config_dir() / LEGAL_TABLES_FILE) + (" and the entered rates" if coverage.applied else "")
    return coverage.tables, where


def rate_lines(coverage: Coverage, today) -> list[str]:
    """The tables half-year by half-year, each with where its numbers come from."""
    tables = coverage.tables
    entered = {e.half_year: e for e in coverage.applied}
    ecb = tables.ecb_main_refinancing_rate
    margin = tables.commercial.margin_points
    lines = [f"{'half-year':<10} {'ECB rate':>9} {'commercial':>11} {'légal (other)':>14} {'légal (individual)':>19}"
             "  from"]
    half, last = min(tables.legal_interest_rate), max(max(tables.legal_interest_rate), ecb.covers_through)
    while half <= last:
        rate = ecb.rate_on(half.first_day) if half <= ecb.covers_through else None
        legal = tables.legal_interest_rate.get(half)
        entry = entered.get(half)
        origin = (f"entered by {entry.entered_by} on {entry.entered_at:%Y-%m-%d %H:%M} UTC ({entry.source})"
                  if entry else shown_path(tables.source))
        lines.append(f"{str(half):<10} {_pct(rate):>9} {_pct(rate + margin if rate is not None else None):>11} "
                     f"{_pct(legal.other_cases if legal else None):>14} "
                     f"{_pct(legal.individual_creditor if legal else None):>19}  {origin}")
        half = half.next()
    lines.append(f"Covered through {last_covered_day(tables)}: a run for a later day holds penalty statements, "
                 "formal notices to businesses and legal dossiers until the rates are added.")
    notes = [missing_rates(tables, today), upcoming_gap(tables, today), *coverage.conflicts]
    lines += [f"WARNING: {note}" for note in notes if note]
    return lines


def _pct(value) -> str:
    return "-" if value is None else f"{value} %"


@rates_app.command("show")
def rates_show() -> None:
    """Every half-year the tables answer, where each number comes from, and what is missing.

    With the state database out of reach the file's tables are still shown (what an operator needs
    to see while it is down), after a warning on stderr that the entered ones are missing, and the
    command exits 2: what it printed is not what a run would use, and a script must notice.
    """
    try:
        coverage, unread = _coverage(), None
    except StateSchemaError as error:
        coverage, unread = _file_coverage(), error
    except ConfigError as error:
        fail(str(error))
    if unread is not None:
        typer.secho(f"WARNING: rates entered with `dunning rates add` are not shown, only those of "
                    f"{shown_path(default_config_dir() / LEGAL_TABLES_FILE)}: {unread}", err=True,
                    fg=typer.colors.YELLOW)
    for line in rate_lines(coverage, paris_today()):
        typer.echo(line)
    if unread is not None:
        raise typer.Exit(2)


def _file_coverage() -> Coverage:
    try:
        return with_entries(load_legal_tables(default_config_dir()), [])
    except ConfigError as error:
        fail(str(error))


@rates_app.command("add")
def rates_add(half_year: str = typer.Option(..., "--half-year", help="The half-year, e.g. 2027-H1."),
              ecb_rate: str = typer.Option(..., "--ecb-rate", help="ECB main refinancing rate in force on its "
                                                                  "first day, percent (e.g. 2.15)."),
              legal_rate_other: str = typer.Option(..., "--legal-rate-other",
                                                   help="Taux de l'intérêt légal, other cases, percent."),
              legal_rate_individual: str = typer.Option(..., "--legal-rate-individual",
                                                        help="Taux de l'intérêt légal, individual creditor, percent."),
              source: str = typer.Option(..., "--source", help="Where the numbers come from: the ECB's key rates "
                                                              "page, the arrêté and its Journal officiel date."),
              operator: Optional[str] = typer.Option(None, "--operator", help="Who (default: DUNNING_OPERATOR).")) -> None:
    """Enter a half-year's rates: checked, kept in the state database (survives upgrades), audited."""
    from dunning.state.rates import RateStore
    from dunning.state.store import Trace

    try:
        check_migrated()
        store = RateStore(state_engine())
        _, entry = store.add_rate_entry(Trace(actor=operator_name(operator)), default_config_dir(), half_year, ecb_rate,
                                     legal_rate_other, legal_rate_individual, source)
    except (ConfigError, StateSchemaError) as error:
        fail(str(error))
    typer.echo(entry.recorded())
    for line in rate_lines(store.coverage(default_config_dir()), paris_today())[-3:]:
        if line.startswith(("Covered", "WARNING")):
            typer.echo(line)
