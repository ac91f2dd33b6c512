"""Planning today's steps from the ledger, holds and policy, and recording every decision."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dunning.config import Policy
from dunning.law_fr.penalties import LegalTables
from dunning.rules.arrangements import Arrangements
from dunning.rules.calendar import BusinessCalendar
from dunning.rules.delivery_events import AddressFlag
from dunning.rules.planner import Decision, Hold, Outcome, plan_collection
from dunning.state.store import PlannedMessage

from .context import cycle_collector_paused, log_decisions, store, trace_for


@task(name="plan_collection_steps", cache_policy=NO_CACHE)
def plan_collection_steps(invoices: pd.DataFrame, segments: pd.DataFrame, credits: pd.DataFrame, as_of: date,
                          policy: Policy, legal: LegalTables, arrangements: Arrangements, holds: list[Hold],
                          dry_run: bool, run_id: int, address_flags: list[AddressFlag] | None = None,
                          company_currency: str = "EUR", rates_missing: str | None = None,
                          ) -> tuple[list[Decision], list[PlannedMessage]]:
    """`rates_missing` (the tables lack tonight's half-year) holds the steps that state a penalty."""
    state = store()
    with cycle_collector_paused():
        plan = plan_collection(
            invoices, segments, credits,
            holds=holds, arrangements=arrangements, address_flags=address_flags or (),
            ledger=state.ledger_for(invoices["invoice_id"].tolist()),
            as_of=as_of, policy=policy, calendar=BusinessCalendar(policy.calendar.subdivision), legal=legal,
            company_currency=company_currency, rates_missing=rates_missing,
        )
        languages = dict(zip(invoices["debtor_id"], invoices["language"]))
        messages = state.record_plan(trace_for(run_id), as_of, plan, dry_run, languages)
    held = sum(1 for d in plan if d.outcome is Outcome.held)
    logger = get_run_logger()
    logger.info("Planned %d decisions for %d invoices: %d messages to send, %d invoices held back "
                "(each with its reason in the audit trail: dunning export audit).", len(plan), invoices["invoice_id"].nunique(),
                len(messages), held)
    log_decisions(logger, (d for d in plan if d.outcome is not Outcome.held), "Not held back")
    return plan, messages
