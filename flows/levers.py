"""The operator's levers as flows, one per lever, so the Prefect UI's Run form records them.

Each parameter is typed (dates, amounts, the closed lists of reasons and outcomes), so the form
offers date pickers and choices instead of free text. Each flow pulls the same lever as the CLI
(dunning.state.operator_levers); `operator` names who acts, for the audit trail. A refused lever (unknown
invoice, a second open dispute, a plan that does not add up) fails the flow run with the reason.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Callable

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict, Field

from dunning.config import ConfigError
from dunning.rules.calendar import paris_today
from dunning.sources.accounting import AccountingSource, SourceUnavailable
from dunning.state import operator_levers as levers
from dunning.state.levers import LeverStore
from dunning.state.operator_levers import LeverResult, OperatorDisputeOutcome, OperatorDisputeReason
from dunning.state.store import StateSchemaError, Trace, check_migrated, state_engine
from tasks.context import trace_for

from .sending import refused

# What a lever refuses (a LeverRefused is a ValueError), each with a message that says why.
LEVER_REFUSALS = (LookupError, ValueError, ConfigError, StateSchemaError, SourceUnavailable)

__all__ = ["open_dispute", "close_dispute", "add_promise", "create_payment_plan", "add_hold", "release_hold",
           "hand_over_small_claim", "add_rates", "InstallmentTerm", "LEVER_FLOWS"]


class InstallmentTerm(BaseModel):
    """One installment of a payment plan, as the Run form asks for it."""

    model_config = ConfigDict(extra="forbid")

    due_date: date = Field(description="The day the installment is due.")
    amount: Decimal = Field(description="Amount of the installment, e.g. 600.00.", gt=0)


def _store() -> LeverStore:
    check_migrated()
    return LeverStore(state_engine())


def _trace(operator: str) -> Trace:
    if not operator or not operator.strip():
        raise ValueError("operator is required: every lever is audited with who pulled it")
    return trace_for(None, actor=operator.strip())


def _pull(lever: Callable[[], LeverResult]):
    """Pull a lever and log what it did; a refusal (unknown invoice, a second open dispute, a plan that
    does not add up, a missing operator) ends the flow run Failed with its reason as the one-line
    state message, without a traceback."""
    try:
        result = lever()
    except LEVER_REFUSALS as error:
        return refused(error)
    get_run_logger().info(result.message)
    return result.id


@flow(name="open-dispute", flow_run_name="open-dispute-{invoice_number}")
def open_dispute(invoice_number: str, reason: OperatorDisputeReason, note: str, operator: str) -> int:
    """Open a dispute on an invoice: no reminder goes out on it while it is open.

    Args:
        invoice_number: The invoice's number in the accounting system.
        reason: What the customer contests.
        note: What the customer said.
        operator: Who records it (for the audit trail).
    """
    return _pull(lambda: levers.open_dispute(_store(), AccountingSource.checked(), _trace(operator), invoice_number,
                                             reason, note, paris_today()))


@flow(name="close-dispute", flow_run_name="close-dispute-{invoice_number}")
def close_dispute(invoice_number: str, outcome: OperatorDisputeOutcome, note: str, operator: str) -> int:
    """Close an invoice's dispute: collection resumes at the step due by now.

    Args:
        invoice_number: The invoice's number in the accounting system.
        outcome: How the dispute ended.
        note: Why: the credit note's number, the reply to the customer...
        operator: Who records it (for the audit trail).
    """
    return _pull(lambda: levers.close_dispute(_store(), AccountingSource.checked(), _trace(operator), invoice_number,
                                              outcome, note, paris_today()))


@flow(name="add-promise", flow_run_name="add-promise-{debtor_id}")
def add_promise(debtor_id: str, invoice_numbers: list[str], amount: Decimal, promised_on: date, note: str,
                operator: str, grace_days: int = 3) -> int:
    """Record a promise to pay: reminders on those invoices wait until the date plus the grace days.

    Args:
        debtor_id: The debtor (customer id in the accounting system).
        invoice_numbers: The invoices the promise is for.
        amount: Amount promised, e.g. 1200.00.
        promised_on: Date the debtor promised to pay by.
        note: What the customer said.
        operator: Who records it (for the audit trail).
        grace_days: Days after the promised date before the promise counts as broken.
    """
    return _pull(lambda: levers.add_promise(_store(), AccountingSource.checked(), _trace(operator), debtor_id,
                                            invoice_numbers, amount, promised_on, grace_days, note, paris_today()))


@flow(name="create-payment-plan", flow_run_name="create-payment-plan-{debtor_id}")
def create_payment_plan(debtor_id: str, invoice_numbers: list[str], installments: list[InstallmentTerm], note: str,
                        operator: str, grace_days: int = 3) -> int:
    """Create a payment plan (échéancier): the installments must add up to what the invoices still owe.

    Args:
        debtor_id: The debtor (customer id in the accounting system).
        invoice_numbers: The invoices the plan covers.
        installments: Due date and amount of each installment, in order.
        note: What was agreed.
        operator: Who records it (for the audit trail).
        grace_days: Days after an installment's due date before the plan counts as broken.
    """
    schedule = [(term.due_date, term.amount) for term in installments]
    return _pull(lambda: levers.create_plan(_store(), AccountingSource.checked(), _trace(operator), debtor_id,
                                            invoice_numbers, schedule, grace_days, note, paris_today()))


def _hold_run_name() -> str:
    parameters = flow_run.get_parameters()
    return f"add-hold-{parameters.get('debtor_id') or parameters.get('invoice_number')}"


@flow(name="add-hold", flow_run_name=_hold_run_name)
def add_hold(reason: str, operator: str, debtor_id: str | None = None, invoice_number: str | None = None,
             until: date | None = None, collective_procedure: bool = False,
             bodacc_published_on: date | None = None) -> int:
    """Pause a debtor or one invoice. A collective procedure also blocks the legal handoff and
    records the deadline to declare the claim to the mandataire judiciaire.

    Args:
        reason: Why.
        operator: Who records it (for the audit trail).
        debtor_id: Hold every invoice of this debtor (give this or invoice_number).
        invoice_number: Hold this invoice only (give this or debtor_id).
        until: Last day held; empty means until released.
        collective_procedure: The debtor is in a procédure collective (needs bodacc_published_on).
        bodacc_published_on: Date the opening judgment was published in the BODACC.
    """
    return _pull(lambda: levers.add_hold(_store(), AccountingSource.checked(), _trace(operator), debtor_id=debtor_id,
                                         invoice_number=invoice_number, until=until, reason=reason,
                                         collective_procedure=collective_procedure,
                                         bodacc_published_on=bodacc_published_on, on=paris_today()))


@flow(name="release-hold", flow_run_name="release-hold-{hold_id}")
def release_hold(hold_id: int, note: str, operator: str) -> int:
    """Release a hold: collection resumes at the step due by now.

    Args:
        hold_id: The hold's id (printed when it was added).
        note: Why it is released.
        operator: Who releases it (for the audit trail).
    """
    return _pull(lambda: levers.release_hold(_store(), _trace(operator), hold_id, note))


@flow(name="hand-over-small-claim", flow_run_name="hand-over-small-claim-{invoice_number}")
def hand_over_small_claim(invoice_number: str, note: str, operator: str) -> int:
    """Send an invoice below legal.min_principal to the legal queue anyway (the alternatives: a
    payment plan, or a write-off in the accounting system). Its dossier is written by the next run.

    Args:
        invoice_number: The invoice's number in the accounting system.
        note: Why it goes to court despite its size.
        operator: Who decides (for the audit trail).
    """
    return _pull(lambda: levers.hand_over_small_claim(_store(), AccountingSource.checked(), _trace(operator),
                                                      invoice_number, note, paris_today()))


@flow(name="add-rates", flow_run_name="add-rates-{half_year}")
def add_rates(half_year: str, ecb_rate: Decimal, legal_rate_other: Decimal, legal_rate_individual: Decimal,
              source: str, operator: str) -> int:
    """Enter a half-year's rates that config/legal_fr.yaml lacks; the next run uses them.

    Args:
        half_year: The half-year, e.g. 2027-H1.
        ecb_rate: ECB main refinancing rate in force on the half-year's first day, percent (e.g. 2.15).
        legal_rate_other: Taux de l'intérêt légal, other cases, percent (arrêté in the Journal officiel).
        legal_rate_individual: Taux de l'intérêt légal, individual creditor, percent.
        source: Where the numbers come from: the ECB's key rates page, the arrêté and its JO date.
        operator: Who enters them (for the audit trail).
    """
    from dunning.sources.config_files import default_config_dir
    from dunning.state.rates import RateStore

    def enter() -> LeverResult:
        check_migrated()
        entry_id, entry = RateStore(state_engine()).add_rate_entry(
            _trace(operator), default_config_dir(), half_year, str(ecb_rate), str(legal_rate_other),
            str(legal_rate_individual), source)
        return LeverResult(entry_id, entry.recorded())

    return _pull(enter)


# Deployment name -> flow, for flows/serve.py (prefect.yaml lists the same).
LEVER_FLOWS = {
    "open-dispute": open_dispute,
    "close-dispute": close_dispute,
    "add-promise": add_promise,
    "create-payment-plan": create_payment_plan,
    "add-hold": add_hold,
    "release-hold": release_hold,
    "hand-over-small-claim": hand_over_small_claim,
    "add-rates": add_rates,
}
