"""Claiming the penalties of invoices paid in full but late: one statement a month per debtor."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dunning.config import Policy, Step
from dunning.law_fr.penalties import LegalTables
from dunning.rules.delivery_events import AddressFlag
from dunning.rules.ladder import MESSAGE_CHANNELS, LedgerStatus
from dunning.rules.paid_late import PaidLateInvoice, plan_statements
from dunning.rules.planner import Decision, Hold, Outcome
from dunning.sources.accounting import AccountingSource
from dunning.sources.receivables import paid_late_invoices
from dunning.state.store import PlannedMessage

from .context import log_decisions, store, trace_for
from .extract import _IO


@task(name="fetch_paid_late_invoices", **_IO)
def fetch_paid_late_invoices(as_of: date, lookback_days: int) -> pd.DataFrame:
    frame = AccountingSource.from_url().paid_late_payments(as_of, lookback_days)
    get_run_logger().info("Read %d payment rows of invoices paid in full but late in the last %d days.",
                          len(frame), lookback_days)
    return frame


def _messages_tonight(plan: list[Decision], state, debtors: set[str], as_of: date) -> dict[str, int]:
    """Rule 10: the debtor's messages of tonight's plan, and those already sent today (a rerun)."""
    groups: dict[str, set] = defaultdict(set)
    for d in plan:
        if d.outcome is Outcome.send and d.debtor_id in debtors:
            groups[d.debtor_id].add(d.group_key)
    debtor_of = {d.invoice_id: d.debtor_id for d in plan if d.debtor_id in debtors}
    for e in state.ledger_for(list(debtor_of)):
        if e.as_of == as_of and e.channel in MESSAGE_CHANNELS and e.status in (LedgerStatus.sent, LedgerStatus.sending):
            groups[debtor_of[e.invoice_id]].add(e.step if e.step is Step.formal_notice else (e.step, e.invoice_id))
    return {debtor: len(keys) for debtor, keys in groups.items()}


@task(name="plan_penalty_statements", cache_policy=NO_CACHE)
def plan_penalty_statements(raw: pd.DataFrame, plan: list[Decision], holds: list[Hold],
                            address_flags: list[AddressFlag], as_of: date, policy: Policy, legal: LegalTables,
                            contract_rates: dict[str, Decimal], dry_run: bool, run_id: int,
                            rates_missing: str | None = None,
                            ) -> tuple[list[Decision], list[PlannedMessage], dict[str, PaidLateInvoice]]:
    """Tonight's statements, each decision recorded with its reason before anything is sent."""
    logger = get_run_logger()
    invoices, unreadable = paid_late_invoices(raw)
    for invoice_id, number, debtor_id, why in unreadable:
        logger.warning("Invoice %s (id %s) of debtor %s paid late is not claimed: %s.", number, invoice_id,
                       debtor_id, why)
    state = store()
    ids = [i.invoice_id for i in invoices]
    decisions = plan_statements(invoices, state.ledger_for(ids), holds, state.open_dispute_numbers(ids),
                                _messages_tonight(plan, state, {i.debtor.id for i in invoices}, as_of), as_of, policy,
                                legal, contract_rates, address_flags, rates_missing)
    languages = {i.debtor.id: i.debtor.language for i in invoices}
    messages = state.record_plan(trace_for(run_id), as_of, decisions, dry_run, languages)
    log_decisions(logger, decisions, "Invoices paid late")
    logger.info("Penalty statements: %d to send, covering %d invoice(s) paid late.", len(messages),
                sum(1 for d in decisions if d.outcome is Outcome.send))
    return decisions, messages, {i.invoice_id: i for i in invoices}
