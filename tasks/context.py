"""What every task needs from its surroundings: the state store, who is acting, and how a stage logs."""

from __future__ import annotations

import gc
import logging
import threading
from collections import Counter
from contextlib import contextmanager
from typing import Iterable, Iterator

from prefect.runtime import flow_run, task_run

from dunning.state.legal_queue import LegalQueueStore
from dunning.state.rates import RateStore
from dunning.state.store import StateStore, Trace, state_engine


def store() -> StateStore:
    return StateStore(state_engine())


def rate_store() -> RateStore:
    return RateStore(state_engine())


def legal_queue() -> LegalQueueStore:
    return LegalQueueStore(state_engine())


def trace_for(run_id: int | None, actor: str = "nightly-run") -> Trace:
    """The run plus the Prefect flow run and task run ids, for the audit trail."""
    return Trace(run_id=run_id, flow_run_id=_id(flow_run.get_id()), task_run_id=_id(task_run.get_id()),
                 actor=actor)


def _id(value: object) -> str | None:
    return str(value) if value else None


# Prefect's logs get one line per stage with its counts; the per-row detail is in the state database
# (decisions, quarantine, audit) and its exports. PREFECT_LOGGING_LEVEL=DEBUG logs every row too.
SHOWN_ROWS = 20


def log_decisions(logger: logging.LoggerAdapter, decisions: Iterable, what: str) -> None:
    """One line counting the decisions by outcome and step; each decision at DEBUG level."""
    decisions = list(decisions)
    counts = Counter((d.outcome.value, d.step.value if d.step else "-") for d in decisions)
    by_kind = ", ".join(f"{n} {outcome} {step}" for (outcome, step), n in sorted(counts.items()))
    logger.info("%s: %d decision(s)%s.", what, len(decisions), f" ({by_kind})" if by_kind else "")
    if logger.isEnabledFor(logging.DEBUG):
        for d in decisions:
            logger.debug("Invoice %s: %s %s - %s.", d.invoice_number, d.outcome.value, d.step.value if d.step else "",
                         d.reason)


def log_rows(logger: logging.LoggerAdapter, lines: list[str], what: str) -> None:
    """The first SHOWN_ROWS lines as warnings, then one line with how many more; every line at DEBUG level."""
    shown = len(lines) if logger.isEnabledFor(logging.DEBUG) else SHOWN_ROWS
    for line in lines[:shown]:
        logger.warning("%s %s.", what, line)
    if len(lines) > shown:
        logger.warning("%s: %d more row(s), each recorded with its reason in the state database.", what,
                       len(lines) - shown)


_paused_stages = 0
_collector_was_enabled = True
_pause_lock = threading.Lock()


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Python's cycle collector waits while a stage builds its rows, decisions and messages.

    A stage creates one object per cell and per decision (a night of 200,000 invoices: millions),
    and the collector, triggered every 700 allocations, rescans the ones that survive: 40 % of the
    stages' time at that size, growing faster than the rows. Those objects hold no reference cycles,
    so nothing waits to be freed; the collector resumes when the last paused stage ends.
    """
    global _paused_stages, _collector_was_enabled
    with _pause_lock:
        if not _paused_stages:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _paused_stages += 1
    try:
        yield
    finally:
        with _pause_lock:
            _paused_stages -= 1
            if not _paused_stages and _collector_was_enabled:
                gc.enable()
