"""What every task needs from its surroundings: the state store and who is acting."""

from __future__ import annotations

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
