"""A night the rate tables do not cover still runs: it holds what needs the missing numbers, sends
the rest, ends Failed naming both rates, and sends what it held once an operator enters them.

The tables are the shipped ones, cut at 2026-H1 so the scenario stays the same after a release
adds 2026-H2. The rates entered are test values, not published figures.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
import yaml
from typer.testing import CliRunner

from dunning.documents.exports import export_rows
from dunning.state.legal_queue import LegalQueueStore
from dunning.state.store import StateStore, state_engine

pytestmark = pytest.mark.usefixtures("prefect_harness")

FIRST_NIGHT = date(2026, 11, 16)     # a Monday in 2026-H2
NIGHT = date(2026, 12, 3)            # a Thursday, 17 days later
TEST_RATES = ["--ecb-rate", "2.00", "--legal-rate-other", "3.00", "--legal-rate-individual", "7.00",
              "--source", "test values (not a published rate)"]


def _tables_through_2026_h1(config_dir) -> None:
    path = config_dir / "legal_fr.yaml"
    tables = yaml.safe_load(path.read_text())
    tables["ecb_main_refinancing_rate"]["covers_through"] = "2026-H1"
    tables["legal_interest_rate"] = {half: row for half, row in tables["legal_interest_rate"].items()
                                     if half <= "2026-H1"}
    path.write_text(yaml.safe_dump(tables))


def _night(as_of: date):
    from flows.nightly import nightly_collection

    return nightly_collection(as_of=as_of, return_state=True)


def _sent(sendgrid) -> Counter:
    """(invoice number in the subject, step template) of every message SendGrid accepted."""
    return Counter(m.payload["subject"] for m in sendgrid.accepted)


@pytest.fixture
def books(backend):
    _tables_through_2026_h1(backend.config_dir)
    b = backend.accounting
    b.customer("PRE")
    b.invoice("PRE1", "PRE", due=date(2026, 12, 8))           # pre_due on 3 December: states no penalty
    b.customer("NEW")
    b.invoice("NEW1", "NEW", due=date(2026, 11, 30))          # reminder_1 on 3 December
    b.customer("BIZ")
    b.invoice("BIZ1", "BIZ", due=date(2026, 11, 10))          # reminder_1 on the first night, reminder_2 now
    b.customer("CONS", is_consumer=True)
    b.invoice("CONS1", "CONS", due=date(2026, 11, 10))        # the same for a consumer: no rate needed
    b.customer("LATE", is_consumer=True)
    b.invoice("LATE1", "LATE", due=date(2025, 1, 20))         # prescribed on 2027-01-20: legal queue now
    return backend


def _ledger(backend) -> dict[tuple[str, str], dict]:
    rows = export_rows(StateStore(state_engine(backend.state_url)), "actions", None)
    return {(r["invoice_numbers"], r["step"]): r for r in rows}


def test_a_night_without_its_rates_sends_what_needs_none_and_sends_the_rest_once_they_are_added(books, sendgrid):
    from flows.cli import app

    first = _night(FIRST_NIGHT)
    assert first.is_failed() and "2026-H2 rates missing" in first.message
    books.accounting.customer("OLD")
    books.accounting.invoice("OLD1", "OLD", due=date(2026, 8, 25))   # 100 days overdue, never contacted

    runner = CliRunner()
    result = runner.invoke(app, ["run", "--as-of", NIGHT.isoformat()])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    error = result.output.strip().splitlines()[-1]
    assert error.startswith("error: run ended Failed: ")
    assert "the ECB main refinancing rate in force on 2026-07-01" in error
    assert "the taux de l'intérêt légal for 2026-H2" in error
    assert "RATE TABLES OUT OF DATE" in result.output

    ledger = _ledger(books)
    for number, step in [("FA-PRE1", "pre_due"), ("FA-NEW1", "reminder_1"), ("FA-OLD1", "reminder_1"),
                         ("FA-BIZ1", "reminder_1"), ("FA-CONS1", "reminder_1"), ("FA-CONS1", "reminder_2")]:
        assert ledger[(number, step)]["status"] == "sent", (number, step)
    assert ("FA-BIZ1", "reminder_2") not in ledger          # held: it states penalties at the missing rate
    held = {r["invoice_numbers"]: r for r in export_rows(StateStore(state_engine(books.state_url)), "actions", NIGHT)
            if r["outcome"] == "held"}
    assert "2026-H2 rates missing" in held["FA-BIZ1"]["reason"]
    # The legal queue goes on; the dossier, which states penalties to today, waits.
    case = ledger[("FA-LATE1", "legal_handoff")]
    assert case["status"] == "queued"
    store = LegalQueueStore(state_engine(books.state_url))
    assert store.cases_without_dossier()

    added = runner.invoke(app, ["rates", "add", "--half-year", "2026-H2", *TEST_RATES, "--operator", "alice"])
    assert added.exit_code == 0, added.output
    before = _sent(sendgrid)
    again = _night(NIGHT)
    assert again.is_completed(), again.message
    new = _sent(sendgrid) - before
    assert len(new) == 1 and sum(new.values()) == 1 and "FA-BIZ1" in next(iter(new))
    assert _ledger(books)[("FA-BIZ1", "reminder_2")]["status"] == "sent"
    assert not store.cases_without_dossier()                 # the held dossier is written now

    assert _night(NIGHT).is_completed()
    assert _sent(sendgrid) - before == new                   # once
