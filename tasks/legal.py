"""Handing unresolved invoices to the legal queue (rule 5)."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from pathlib import Path

from dunning.config import Settings, Step
from dunning.documents import recommended_procedure, write_dossier
from dunning.legal import cases_to_open, dossier_context, procedure_text
from dunning.legal_fr import LegalTables, load_contract_rates
from dunning.planner import Decision
from dunning.paths import TEMPLATES_DIR, legal_dir

from .context import store, trace_for


@task(name="enqueue_legal_handoff", cache_policy=NO_CACHE)
def enqueue_legal_handoff(plan: list[Decision], invoices: pd.DataFrame, as_of: date, settings: Settings,
                          legal: LegalTables, run_id: int) -> tuple[list[str], list[str]]:
    """One case per debtor and currency, each with its dossier; returns the case ids opened and extended."""
    state, trace, logger = store(), trace_for(run_id), get_run_logger()
    rows = {row["invoice_id"]: row for row in invoices.to_dict("records")}
    contract_rates = load_contract_rates(settings.config_dir)
    opened, extended = [], []
    for request in cases_to_open(plan, invoices):
        case_id, is_new = state.enqueue_legal_case(trace, as_of, request)
        (opened if is_new else extended).append(str(case_id))
        case = state.case_detail(case_id)
        context = dossier_context(case, rows, legal=legal, company=settings.company,
                                  contract_rate=contract_rates.get(request.debtor_id),
                                  response_days=settings.policy.formal_notice.response_days, as_of=as_of)
        notice = next((Path(e["document"]) for e in case["evidence"]
                       if e["step"] == Step.formal_notice.value and e.get("document", "").endswith(".pdf")), None)
        folder = write_dossier(context, legal_dir(), notice if notice and notice.is_file() else None, TEMPLATES_DIR)
        procedure = procedure_text(recommended_procedure(context))
        state.record_case_dossier(trace, case_id, procedure, context.statement.interest,
                                  context.statement.indemnity, as_of, str(folder))
        logger.info("Legal case %s %s for debtor %s: invoice(s) %s, principal %s %s, penalties %s, indemnity %s; "
                    "recommended procedure: %s. Dossier: %s.", case_id, "opened" if is_new else "extended",
                    request.debtor_id, ", ".join(d.invoice_number for d in request.decisions),
                    context.statement.principal, request.currency, context.statement.interest,
                    context.statement.indemnity, procedure, folder)
    return opened, extended


@task(name="close_paid_cases", cache_policy=NO_CACHE)
def close_paid_cases(invoices: pd.DataFrame, as_of: date, tolerance, run_id: int) -> list[int]:
    """A case whose invoices are all paid is resolved as paid: nobody chases a settled debt in court."""
    still_open = {row["invoice_id"] for row in invoices.to_dict("records")
                  if row["status"] == "posted" and row["residual"] > tolerance}
    closed = store().close_paid_cases(trace_for(run_id), as_of, still_open)
    for case_id in closed:
        get_run_logger().info("Legal case %s resolved as paid: none of its invoices is open any more.", case_id)
    return closed
