"""What the rate tables cover, what they lack, and the operator's rate entries: pure, no IO.

config/legal_fr.yaml ships with the product and ages every six months. Until the next release
brings the new half-year, an operator enters its numbers with `dunning rates add`; the entries
live in the state database (they survive an upgrade of the code and its config/ folder) and are
merged over the file here. The file wins where it already has a half-year: it is the reviewed,
sourced copy. An entry that disagrees with it is reported, never applied silently.

A half-year the merged tables still lack does not stop a run: `missing_rates` says which numbers
are missing in one sentence, and the run holds only what needs them (DESIGN.md, "stale tables").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Sequence

from pydantic import TypeAdapter, ValidationError

from dunning.config import ConfigError
from dunning.law_fr.penalties import EcbRateTable, HalfYear, LegalRate, LegalTables, TableRate

__all__ = ["RateEntry", "RateEntryError", "Coverage", "with_entries", "check_entry", "missing_rates",
           "upcoming_gap", "WARN_DAYS_AHEAD"]

WARN_DAYS_AHEAD = 30   # from this many days before a half-year begins, runs warn that its rates are missing
_RATE = TypeAdapter(TableRate)   # the bounds config/legal_fr.yaml accepts for a rate


class RateEntryError(ConfigError):
    """A rate entry the product refuses: the message says which value and why."""


@dataclass(frozen=True)
class RateEntry:
    """One half-year's numbers as an operator entered them, with who, when and from which publication."""

    half_year: HalfYear
    ecb_rate: Decimal                 # ECB main refinancing rate in force on the half-year's first day
    legal_rate_other: Decimal         # taux de l'intérêt légal, other cases
    legal_rate_individual: Decimal    # taux de l'intérêt légal, individual creditor
    source: str
    entered_by: str
    entered_at: datetime

    def recorded(self) -> str:
        return (f"{self.half_year} rates recorded by {self.entered_by}: ECB {self.ecb_rate} %, taux de l'intérêt "
                f"légal {self.legal_rate_other} % / {self.legal_rate_individual} %. The next run uses them.")


@dataclass(frozen=True)
class Coverage:
    """The tables a run uses (file plus entries), the entries applied, and entries the file contradicts."""

    tables: LegalTables
    applied: tuple[RateEntry, ...] = ()
    conflicts: tuple[str, ...] = ()


def _latest(entries: Sequence[RateEntry]) -> list[RateEntry]:
    """One entry per half-year: the last one entered (a correction replaces, the trail keeps both)."""
    latest: dict[HalfYear, RateEntry] = {}
    for entry in sorted(entries, key=lambda e: e.entered_at):
        latest[entry.half_year] = entry
    return [latest[half] for half in sorted(latest)]


def with_entries(tables: LegalTables, entries: Sequence[RateEntry]) -> Coverage:
    """The file's tables extended by the operator's entries for the half-years the file lacks."""
    ecb = tables.ecb_main_refinancing_rate
    ecb_rates, covers_through = dict(ecb.rates), ecb.covers_through
    legal_rows = dict(tables.legal_interest_rate)
    applied, conflicts = [], []
    for entry in _latest(entries):
        half, used = entry.half_year, False
        if half == covers_through.next():
            ecb_rates[half.first_day] = entry.ecb_rate
            covers_through, used = half, True
        elif half <= covers_through and ecb.rate_on(half.first_day) != entry.ecb_rate:
            conflicts.append(f"{half}: ECB rate {entry.ecb_rate} % entered by {entry.entered_by} differs from "
                             f"{ecb.rate_on(half.first_day)} % in {tables.source}; the file's rate is used")
        row = LegalRate(other_cases=entry.legal_rate_other, individual_creditor=entry.legal_rate_individual)
        if half not in legal_rows and half == max(legal_rows).next():
            legal_rows[half], used = row, True
        elif half in tables.legal_interest_rate and tables.legal_interest_rate[half] != row:
            file_row = tables.legal_interest_rate[half]
            conflicts.append(f"{half}: taux de l'intérêt légal {row.other_cases} / {row.individual_creditor} % "
                             f"entered by {entry.entered_by} differs from {file_row.other_cases} / "
                             f"{file_row.individual_creditor} % in {tables.source}; the file's rates are used")
        if used:
            applied.append(entry)
    if not applied:
        return Coverage(tables, (), tuple(conflicts))
    merged = LegalTables(ecb_main_refinancing_rate=EcbRateTable(covers_through=covers_through, rates=ecb_rates),
                         legal_interest_rate=legal_rows, commercial=tables.commercial,
                         prescription=tables.prescription)
    merged._source = tables.source
    return Coverage(merged, tuple(applied), tuple(conflicts))


def check_entry(coverage: Coverage, half: str, ecb_rate: str, legal_rate_other: str, legal_rate_individual: str,
                today: date) -> tuple[HalfYear, Decimal, Decimal, Decimal]:
    """Parse and check what an operator typed against the tables in use; every problem at once.

    Accepted: the first half-year the tables lack (rows go in order, no gap), or a half-year an
    earlier entry supplied (a correction: the latest entry wins, the trail keeps both). Refused: a
    half-year the file has (correct the file, with its source), a later half-year more than
    WARN_DAYS_AHEAD days before it begins (its arrêté is not out yet), a value outside the bounds
    the file itself accepts.
    """
    problems = []
    try:
        period = HalfYear.parse(half)
    except ValueError as error:
        raise RateEntryError(f"--half-year: {error}") from None
    values = {}
    for option, text in (("--ecb-rate", ecb_rate), ("--legal-rate-other", legal_rate_other),
                         ("--legal-rate-individual", legal_rate_individual)):
        try:
            values[option] = _RATE.validate_python(text)
        except ValidationError as error:
            problems.append(f"{option} {text!r}: {error.errors()[0]['msg']} (a percentage such as 2.15)")
    tables, entered = coverage.tables, {e.half_year for e in coverage.applied}
    first_missing = _first_missing(tables)
    if period > HalfYear.of(today) and (period.first_day - today).days > WARN_DAYS_AHEAD:
        problems.append(f"--half-year {period} starts on {period.first_day}: its rates are not published yet "
                        f"(the taux de l'intérêt légal arrêté appears at the end of the half-year before); "
                        f"enter them from {period.first_day - timedelta(days=WARN_DAYS_AHEAD)}")
    elif period > first_missing:
        problems.append(f"--half-year {period}: enter {first_missing} first (half-years go in order, with no gap)")
    elif period < first_missing and period not in entered:
        problems.append(f"--half-year {period} is already in {tables.source}: correct a shipped rate in the file "
                        "itself, with its source, not here")
    if problems:
        raise RateEntryError("; ".join(problems))
    return period, values["--ecb-rate"], values["--legal-rate-other"], values["--legal-rate-individual"]


def _first_missing(tables: LegalTables) -> HalfYear:
    """The first half-year at least one of the two tables lacks."""
    ecb_next = tables.ecb_main_refinancing_rate.covers_through.next()
    legal_next = max(tables.legal_interest_rate).next()
    return min(ecb_next, legal_next)


def _lacking(tables: LegalTables, half: HalfYear) -> list[str]:
    ecb = tables.ecb_main_refinancing_rate
    lacking = []
    if half > ecb.covers_through or ecb.rate_on(half.first_day) is None:
        lacking.append(f"the ECB main refinancing rate in force on {half.first_day}")
    if half not in tables.legal_interest_rate:
        lacking.append(f"the taux de l'intérêt légal for {half} (other cases and individual creditor)")
    return lacking


def _add_hint(half: HalfYear) -> str:
    return (f"add them with `dunning rates add --half-year {half} --ecb-rate ... --legal-rate-other ... "
            f"--legal-rate-individual ... --source ...` (the ECB's key interest rates; the arrêté fixing the "
            f"taux de l'intérêt légal, Journal officiel)")


def missing_rates(tables: LegalTables, day: date) -> str | None:
    """One sentence naming every number the tables lack for day's half-year, or None."""
    half = HalfYear.of(day)
    lacking = _lacking(tables, half)
    if not lacking:
        return None
    return f"{half} rates missing in {tables.source}: {' and '.join(lacking)}; {_add_hint(half)}"


def upcoming_gap(tables: LegalTables, day: date, days_ahead: int = WARN_DAYS_AHEAD) -> str | None:
    """Within days_ahead of the next half-year, a warning that its rates are missing, else None."""
    half = HalfYear.of(day).next()
    if (half.first_day - day) > timedelta(days=days_ahead) or _lacking(tables, HalfYear.of(day)):
        return None
    lacking = _lacking(tables, half)
    if not lacking:
        return None
    return (f"{half} rates missing in {tables.source}: from {half.first_day}, penalty statements, formal "
            f"notices to businesses and legal dossiers will be held until {' and '.join(lacking)} are added; "
            f"{_add_hint(half)}")
