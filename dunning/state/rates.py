"""The operator's rate entries in the state database, and the rate tables a run uses.

The entries survive an upgrade (the code and config/ are replaced, the state database is not),
and each one is audited with who entered it, when, the values and their source.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select

from dunning.law_fr.penalties import HalfYear
from dunning.law_fr.rate_coverage import Coverage, RateEntry, RateEntryError, check_entry, with_entries
from dunning.rules.calendar import paris_today, utc_now
from dunning.sources.config_files import load_legal_tables
from dunning.state.schema import rate_entries
from dunning.state.store import StateStore, Trace

__all__ = ["RateStore"]


class RateStore(StateStore):
    """The state store plus the half-year rates operators entered."""

    def rate_entries(self) -> list[RateEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(rate_entries).order_by(rate_entries.c.id)).mappings().all()
        return [RateEntry(half_year=HalfYear.parse(r["half_year"]), ecb_rate=Decimal(r["ecb_rate"]),
                          legal_rate_other=Decimal(r["legal_rate_other"]),
                          legal_rate_individual=Decimal(r["legal_rate_individual"]), source=r["source"],
                          entered_by=r["entered_by"], entered_at=r["entered_at"]) for r in rows]

    def coverage(self, config_dir: Path | None = None) -> Coverage:
        """config/legal_fr.yaml with the entered half-years it lacks: the tables every run uses."""
        return with_entries(load_legal_tables(config_dir), self.rate_entries())

    def add_rate_entry(self, trace: Trace, config_dir: Path | None, half_year: str, ecb_rate: str,
                       legal_rate_other: str, legal_rate_individual: str, source: str) -> tuple[int, RateEntry]:
        """Check the values against the tables in use, then append the row and its audit event; returns
        the row's id and the entry."""
        if not source.strip():
            raise RateEntryError("--source: name the publications the rates come from (the ECB's key interest "
                                 "rates, the arrêté in the Journal officiel): a rate without a source is refused")
        half, ecb, other, individual = check_entry(self.coverage(config_dir), half_year, ecb_rate,
                                                   legal_rate_other, legal_rate_individual, paris_today())
        entry = RateEntry(half_year=half, ecb_rate=ecb, legal_rate_other=other, legal_rate_individual=individual,
                          source=source.strip(), entered_by=trace.actor, entered_at=utc_now())
        values = {"half_year": str(half), "ecb_rate": str(ecb), "legal_rate_other": str(other),
                  "legal_rate_individual": str(individual), "source": entry.source}
        with self.engine.begin() as conn:
            entry_id = conn.execute(insert(rate_entries).values(
                **values, entered_by=entry.entered_by, entered_at=entry.entered_at).returning(rate_entries.c.id)
            ).scalar_one()
            self._append_audit(conn, trace, [(
                "rates.added", "rates", str(half),
                f"{half} rates entered by {entry.entered_by}: ECB main refinancing rate in force on "
                f"{half.first_day} {ecb} %, taux de l'intérêt légal {other} % (other cases) / {individual} % "
                f"(individual creditor); source: {entry.source}", values)])
        return entry_id, entry
