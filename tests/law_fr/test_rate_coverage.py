"""What the rate tables cover, the one-sentence gap, the 30-day warning, and the operator's entries.

The rates entered here are test values, not published figures: the product never ships a rate
without its source, and these never leave the tests.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from dunning.law_fr.penalties import HalfYear, commercial_rate, last_covered_day, legal_rate
from dunning.law_fr.rate_coverage import (
    RateEntry, RateEntryError, check_entry, missing_rates, upcoming_gap, with_entries,
)
from dunning.sources.config_files import load_legal_tables
from dunning.state.rates import RateStore
from dunning.state.schema import audit_events
from dunning.state.store import Trace, state_engine

D = Decimal
TEST_SOURCE = "test values (not a published rate)"
H2 = HalfYear(2026, 2)


@pytest.fixture(autouse=True)
def shipped_tables(monkeypatch):
    monkeypatch.delenv("DUNNING_CONFIG_DIR", raising=False)


def _entry(half=H2, ecb="2.00", other="3.00", individual="7.00", by="alice", minutes=0) -> RateEntry:
    return RateEntry(half, D(ecb), D(other), D(individual), TEST_SOURCE, by,
                     datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc) + timedelta(minutes=minutes))


def test_one_sentence_names_both_missing_numbers_and_how_to_add_them():
    tables = load_legal_tables()
    assert missing_rates(tables, date(2026, 6, 30)) is None
    message = missing_rates(tables, date(2026, 12, 3))
    assert message.startswith("2026-H2 rates missing in config/legal_fr.yaml: ")
    assert "ECB main refinancing rate in force on 2026-07-01" in message
    assert "taux de l'intérêt légal for 2026-H2" in message
    assert "dunning rates add --half-year 2026-H2" in message


def test_the_warning_starts_30_days_before_the_half_year_and_names_the_day_it_degrades():
    tables = load_legal_tables()
    assert upcoming_gap(tables, date(2026, 5, 31)) is None           # 31 days before 1 July
    warning = upcoming_gap(tables, date(2026, 6, 1))                 # 30 days before
    assert warning.startswith("2026-H2 rates missing") and "from 2026-07-01" in warning
    # Once the half-year itself is missing, the run's error says it; no second warning about the next.
    assert upcoming_gap(tables, date(2026, 12, 15)) is None


def test_an_entry_extends_both_tables_and_the_rates_are_the_ones_entered():
    coverage = with_entries(load_legal_tables(), [_entry()])
    tables = coverage.tables
    assert missing_rates(tables, date(2026, 12, 3)) is None
    assert last_covered_day(tables) == date(2026, 12, 31)
    assert commercial_rate(tables, date(2026, 9, 1)) == D("12.00")            # 2.00 + 10 points
    assert legal_rate(tables, date(2026, 9, 1)) == D("3.00")
    assert legal_rate(tables, date(2026, 9, 1), creditor_is_individual=True) == D("7.00")
    # The half-years before keep the file's rates.
    assert commercial_rate(tables, date(2026, 3, 1)) == D("12.15")
    assert coverage.applied == (_entry(),) and coverage.conflicts == ()


def test_the_latest_entry_for_a_half_year_wins():
    coverage = with_entries(load_legal_tables(), [_entry(other="3.10", minutes=5), _entry(other="3.00")])
    assert legal_rate(coverage.tables, date(2026, 9, 1)) == D("3.10")
    assert [e.legal_rate_other for e in coverage.applied] == [D("3.10")]


def test_the_file_wins_over_an_entry_for_a_half_year_it_has_and_the_conflict_is_reported():
    coverage = with_entries(load_legal_tables(), [_entry(half=HalfYear(2026, 1), ecb="9.99", other="1.00")])
    assert commercial_rate(coverage.tables, date(2026, 3, 1)) == D("12.15")
    assert legal_rate(coverage.tables, date(2026, 3, 1)) == D("2.62")
    assert len(coverage.conflicts) == 2
    assert "2026-H1: ECB rate 9.99 % entered by alice differs from 2.15 %" in coverage.conflicts[0]


@pytest.mark.parametrize(("half", "ecb", "other", "individual", "error"), [
    ("2026-H3", "2.00", "3.00", "7.00", "--half-year: '2026-H3' is not a half-year"),
    ("2027-H1", "2.00", "3.00", "7.00", "--half-year 2027-H1: enter 2026-H2 first"),
    ("2026-H1", "2.00", "3.00", "7.00", "--half-year 2026-H1 is already in"),
    ("2026-H2", "two", "3.00", "31", "--ecb-rate 'two': Input should be a valid decimal"),
    ("2026-H2", "2.00", "3.00", "31", "--legal-rate-individual '31': Input should be less than or equal to 30"),
])
def test_an_entry_is_checked_before_it_is_kept(half, ecb, other, individual, error):
    coverage = with_entries(load_legal_tables(), [])
    with pytest.raises(RateEntryError, match=error.replace("(", r"\(").replace(".", r"\.")):
        check_entry(coverage, half, ecb, other, individual, today=date(2026, 12, 3))


def test_a_half_year_not_published_yet_is_refused_and_a_correction_is_accepted():
    coverage = with_entries(load_legal_tables(), [_entry()])
    with pytest.raises(RateEntryError, match="2027-H1 starts on 2027-01-01: its rates are not published yet.*"
                                             "enter them from 2026-12-02"):
        check_entry(coverage, "2027-H1", "2.00", "3.00", "7.00", today=date(2026, 12, 1))
    assert check_entry(coverage, "2026-H2", "2.00", "3.05", "7.00", today=date(2026, 12, 3))[2] == D("3.05")
    assert check_entry(coverage, "2027-H1", "2.00", "3.00", "7.00", today=date(2026, 12, 3))[0] == HalfYear(2027, 1)


# -- kept in the state database, audited, append-only ------------------------------------------------

def test_entries_are_kept_audited_and_never_edited(backend):
    store = RateStore(state_engine(backend.state_url))
    store.add_rate_entry(Trace(actor="alice"), backend.config_dir, "2026-H2", "2.00", "3.00", "7.00", TEST_SOURCE)
    store.add_rate_entry(Trace(actor="bob"), backend.config_dir, "2026-H2", "2.00", "3.05", "7.00", TEST_SOURCE)
    assert legal_rate(store.coverage(backend.config_dir).tables, date(2026, 9, 1)) == D("3.05")
    assert [(e.entered_by, e.legal_rate_other) for e in store.rate_entries()] == [("alice", D("3.00")),
                                                                                  ("bob", D("3.05"))]
    with store.engine.connect() as conn:
        trail = conn.execute(select(audit_events).where(audit_events.c.subject_type == "rates")
                             .order_by(audit_events.c.id)).mappings().all()
    assert [(e["event"], e["actor"], e["subject_id"]) for e in trail] == [("rates.added", "alice", "2026-H2"),
                                                                          ("rates.added", "bob", "2026-H2")]
    assert trail[1]["details"]["legal_rate_other"] == "3.05" and trail[1]["details"]["source"] == TEST_SOURCE
    with pytest.raises(Exception, match="append-only"):
        with store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE rate_entries SET legal_rate_other = '9.00'")
    with pytest.raises(RateEntryError, match="--source"):
        store.add_rate_entry(Trace(actor="carol"), backend.config_dir, "2027-H1", "2.00", "3.00", "7.00", " ")


def test_cli_rates_add_then_show(backend):
    from flows.cli import app

    runner = CliRunner()
    refused = runner.invoke(app, ["rates", "add", "--half-year", "2027-H1", "--ecb-rate", "2.00", "--legal-rate-other",
                                  "3.00", "--legal-rate-individual", "7.00", "--source", TEST_SOURCE,
                                  "--operator", "alice"])
    assert refused.exit_code == 2 and "enter 2026-H2 first" in refused.output and "Traceback" not in refused.output
    added = runner.invoke(app, ["rates", "add", "--half-year", "2026-H2", "--ecb-rate", "2.00", "--legal-rate-other",
                                "3.00", "--legal-rate-individual", "7.00", "--source", TEST_SOURCE,
                                "--operator", "alice"])
    assert added.exit_code == 0, added.output
    assert "2026-H2 rates recorded by alice" in added.output
    shown = runner.invoke(app, ["rates", "show"])
    assert shown.exit_code == 0
    [row] = [line for line in shown.output.splitlines() if line.startswith("2026-H2")]
    assert row.split()[:9] == ["2026-H2", "2.00", "%", "12.00", "%", "3.00", "%", "7.00", "%"]
    assert "entered by alice" in row and TEST_SOURCE in row
    assert "Covered through 2026-12-31" in shown.output
