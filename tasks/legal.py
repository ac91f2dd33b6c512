"""Handing unresolved invoices to the legal queue (rule 5)."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dunning.config import ConfigError
from dunning.documents.dossier import dossier_context, write_dossier
from dunning.documents.rendering import RenderingError
from dunning.law_fr.penalties import LegalTables
from dunning.law_fr.procedure import procedure_text, recommended_procedure
from dunning.paths import TEMPLATES_DIR, legal_dir
from dunning.rules.frames import records
from dunning.rules.legal_queue import CaseStatus, cases_to_open
from dunning.rules.money import to_money
from dunning.rules.planner import Decision
from dunning.sources.accounting import AccountingSource
from dunning.sources.config_files import Settings, load_contract_rates
from dunning.sources.receivables import late_payments, quarantine_note, split_payments

from .context import legal_queue, trace_for


@task(name="enqueue_legal_handoff", cache_policy=NO_CACHE)
def enqueue_legal_handoff(plan: list[Decision], invoices: pd.DataFrame, as_of: date, settings: Settings,
                          legal: LegalTables, run_id: int, rates_missing: str | None = None,
                          credits: pd.DataFrame | None = None) -> tuple[list[str], list[str], list[str]]:
    """One case per debtor and currency, each with its dossier; returns the case ids opened, extended, and
    those whose dossier waits for `rates_missing` (the penalties to state need the missing rates)."""
    state, trace, logger = legal_queue(), trace_for(run_id), get_run_logger()
    rows = {row["invoice_id"]: row for row in records(invoices)}
    credit_rows = records(credits) if credits is not None else []
    contract_rates = load_contract_rates(settings.config_dir)
    opened, extended, held = [], [], []
    touched = []
    for request in cases_to_open(plan, invoices):
        case_id, is_new = state.enqueue_legal_case(trace, as_of, request)
        if case_id is None:
            logger.info("Debtor %s: invoice(s) already handed over by another run of the same night.",
                        request.debtor_id)
            continue
        (opened if is_new else extended).append(str(case_id))
        touched.append(case_id)
        logger.info("Legal case %s %s for debtor %s: invoice(s) %s.", case_id, "opened" if is_new else "extended",
                    request.debtor_id, ", ".join(d.invoice_number for d in request.decisions))
    # Tonight's cases, and any whose dossier failed before: the handoff stands either way.
    for case_id in dict.fromkeys(touched + state.cases_without_dossier()):
        if rates_missing:
            # The handoff stands; its dossier states penalties to today, which need tonight's rates.
            held.append(str(case_id))
            state.audit(trace, "case.dossier_held", "case", str(case_id),
                        f"Dossier of legal case {case_id} held until the rate tables are updated: {rates_missing}")
            logger.warning("The dossier of legal case %s waits for the rate tables: %s", case_id, rates_missing)
            continue
        try:
            folder, context, procedure = _write_case_dossier(state, case_id, rows, settings, legal, contract_rates,
                                                             as_of, credit_rows)
        except (ConfigError, RenderingError, OSError, LookupError) as error:
            state.audit(trace, "case.dossier_failed", "case", str(case_id),
                        f"Dossier of legal case {case_id} could not be written: {error}. The next run tries again.")
            logger.error("The dossier of legal case %s could not be written: %s. The next run tries again.",
                         case_id, error)
            continue
        statement = context.statement
        state.record_case_dossier(trace, case_id, procedure, statement.principal, statement.interest,
                                  statement.indemnity, as_of, str(folder))
        logger.info("Legal case %s: principal %s %s, penalties %s, indemnity %s to %s; %s. Dossier: %s.", case_id,
                    statement.principal, statement.currency, statement.interest, statement.indemnity, as_of,
                    procedure, folder)
    return opened, extended, held


def _write_case_dossier(state, case_id: int, rows: dict, settings: Settings, legal: LegalTables,
                        contract_rates: dict, as_of: date, credits: list[dict]):
    case = state.case_detail(case_id)
    if not any(i["invoice_id"] in rows for i in case["invoices"]):
        raise LookupError("none of its invoices is open in the accounting system today")
    ids = [i["invoice_id"] for i in case["invoices"] if i["invoice_id"] in rows]
    lettered = split_payments(AccountingSource.from_url().invoice_payments(ids, as_of), ids)
    for row in records(lettered.quarantined):
        # Left out, interest runs on the smaller balance: a claim may be understated, never inflated.
        get_run_logger().warning("Payment left out of the dossier of legal case %s: %s.", case_id,
                                 quarantine_note(row))
    payments = late_payments(lettered.invoices, {i: rows[i] for i in ids})
    context = dossier_context(case, rows, legal=legal, company=settings.company,
                              contract_rate=contract_rates.get(case["debtor_id"]),
                              response_days=settings.policy.formal_notice.response_days, as_of=as_of,
                              payments=payments, credits=credits)
    # A case suspended by a collective procedure gets the claim declaration instead of the injonction.
    collective = state.collective_procedure(case["debtor_id"]) if case["status"] == CaseStatus.suspended.value else None
    folder = write_dossier(context, legal_dir(), TEMPLATES_DIR, collective)
    if collective is not None:
        return folder, context, f"déclaration de créance au mandataire judiciaire au plus tard le {collective[1]}"
    return folder, context, procedure_text(recommended_procedure(context))


@task(name="close_paid_cases", cache_policy=NO_CACHE)
def close_paid_cases(as_of: date, tolerance, run_id: int) -> list[int]:
    """A case whose invoices are all paid is resolved as paid: nobody chases a settled debt in court.

    Only on proof: each invoice read again, posted, with a residual at or below the tolerance. A
    cancelled, quarantined or vanished invoice leaves the case to the operator.
    """
    state = legal_queue()
    candidates = state.open_case_invoices(as_of)
    if not candidates:
        return []
    balances = AccountingSource.from_url().invoice_balances(sorted(candidates))
    paid = {str(r["invoice_id"]) for r in balances
            if r["status"] == "posted" and r["kind"] == "invoice" and r["residual"] is not None
            and to_money(r["residual"]) <= tolerance}
    closed = state.close_paid_cases(trace_for(run_id), as_of, paid)
    for case_id in closed:
        get_run_logger().info("Legal case %s resolved as paid: every one of its invoices is paid.", case_id)
    return closed
