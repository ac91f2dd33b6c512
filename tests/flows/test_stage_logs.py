"""What a night's stages log (tasks/context.py): one line with counts, the rows themselves at DEBUG;
and the cycle collector the stages pause.

A 200,000-invoice night must not send a log line per decision through Prefect's API; each decision
and each quarantined row is recorded in the state database, whose audit export an operator reads.
"""

from __future__ import annotations

import gc
import logging
import threading
from datetime import date
from decimal import Decimal

import pytest

from conftest import KeptRecords
from dunning.config import Step
from dunning.rules.planner import Decision, Outcome
from tasks.context import SHOWN_ROWS, cycle_collector_paused, log_decisions, log_rows


@pytest.fixture
def stage_logger(request):
    """A run logger like Prefect's (a LoggerAdapter), at the level the test asks for."""
    logger = logging.getLogger(f"dunning.test.{request.node.name}")
    logger.propagate = False
    kept = KeptRecords()
    logger.addHandler(kept)
    yield logging.LoggerAdapter(logger, {}), logger, kept.records
    logger.removeHandler(kept)


def decision(number: str, outcome: Outcome, step: Step | None) -> Decision:
    return Decision(invoice_id=number, invoice_number=number, debtor_id="C-DUPONT", currency="EUR",
                    residual=Decimal("100.00"), due_date=date(2026, 3, 2), outcome=outcome, reason=f"why {number}",
                    step=step)


PLAN = [decision("FA-1", Outcome.send, Step.reminder_1), decision("FA-2", Outcome.send, Step.reminder_1),
        decision("FA-3", Outcome.deferred, Step.reminder_2), decision("FA-4", Outcome.send, Step.pre_due)]


def test_decisions_are_one_line_with_counts_by_outcome_and_step(stage_logger):
    adapter, logger, records = stage_logger
    logger.setLevel(logging.INFO)

    log_decisions(adapter, PLAN, "Not held back")

    assert [r.getMessage() for r in records] == [
        "Not held back: 4 decision(s) (1 deferred reminder_2, 1 send pre_due, 2 send reminder_1)."]


def test_at_debug_level_each_decision_is_logged_with_its_reason(stage_logger):
    adapter, logger, records = stage_logger
    logger.setLevel(logging.DEBUG)

    log_decisions(adapter, PLAN, "Not held back")

    assert [r.getMessage() for r in records][1:] == [
        "Invoice FA-1: send reminder_1 - why FA-1.", "Invoice FA-2: send reminder_1 - why FA-2.",
        "Invoice FA-3: deferred reminder_2 - why FA-3.", "Invoice FA-4: send pre_due - why FA-4."]


def test_no_decision_is_one_line_without_counts(stage_logger):
    adapter, logger, records = stage_logger
    logger.setLevel(logging.INFO)

    log_decisions(adapter, [], "Invoices paid late")

    assert [r.getMessage() for r in records] == ["Invoices paid late: 0 decision(s)."]


def test_quarantined_rows_beyond_the_first_ones_are_counted_not_listed(stage_logger):
    adapter, logger, records = stage_logger
    logger.setLevel(logging.INFO)
    rows = [f"invoice FA-BAD-{n}: missing due date" for n in range(SHOWN_ROWS + 5)]

    log_rows(adapter, rows, "Quarantined")

    messages = [r.getMessage() for r in records]
    assert messages[:SHOWN_ROWS] == [f"Quarantined {row}." for row in rows[:SHOWN_ROWS]]
    assert messages[SHOWN_ROWS:] == ["Quarantined: 5 more row(s), each recorded with its reason in the state database."]
    assert all(r.levelno == logging.WARNING for r in records)


def test_at_debug_level_every_quarantined_row_is_listed(stage_logger):
    adapter, logger, records = stage_logger
    logger.setLevel(logging.DEBUG)
    rows = [f"invoice FA-BAD-{n}: missing due date" for n in range(SHOWN_ROWS + 5)]

    log_rows(adapter, rows, "Quarantined")

    assert [r.getMessage() for r in records] == [f"Quarantined {row}." for row in rows]


def test_the_cycle_collector_resumes_when_the_last_paused_stage_ends_even_on_an_error():
    assert gc.isenabled()
    inner_started, inner_may_end = threading.Event(), threading.Event()

    def another_stage():
        with cycle_collector_paused():
            inner_started.set()
            inner_may_end.wait(5)

    other = threading.Thread(target=another_stage)
    with pytest.raises(ValueError):
        with cycle_collector_paused():
            other.start()
            inner_started.wait(5)
            assert not gc.isenabled()
            raise ValueError("a stage fails")
    assert not gc.isenabled()          # the other stage still runs
    inner_may_end.set()
    other.join(5)
    assert gc.isenabled()


def test_a_collector_disabled_before_the_stage_stays_disabled():
    gc.disable()
    try:
        with cycle_collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
