"""A small claim waits for an operator; `dunning legal handoff` sends it to court anyway, once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dunning.config import Step
from dunning.documents.exports import export_rows
from dunning.state.legal_queue import LegalQueueStore
from dunning.state.store import state_engine
from ladder import run_the_ladder

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _night(as_of) -> None:
    from flows.nightly import nightly_collection

    state = nightly_collection(as_of=as_of, return_state=True)
    assert state.is_completed(), state.message


def test_an_operator_hands_a_small_claim_over_anyway(backend, sendgrid):
    from flows.cli import app

    dates = run_the_ladder(backend, debtor="SMALL", invoice="S1", total="98.76")
    store = LegalQueueStore(state_engine(backend.state_url))
    assert export_rows(store, "legal-queue", None) == []
    runner = CliRunner()
    not_waiting = runner.invoke(app, ["legal", "handoff", "FA-NOPE", "--note", "x", "--operator", "lea"])
    assert not_waiting.exit_code == 2 and "unknown invoice number FA-NOPE" in not_waiting.output

    handed = runner.invoke(app, ["legal", "handoff", "FA-S1", "--note", "client de mauvaise foi, 3e impayé",
                                 "--operator", "lea"])
    assert handed.exit_code == 0, handed.output
    assert "handed to legal case" in handed.output
    [case] = export_rows(store, "legal-queue", None)
    assert case["invoice_numbers"] == "FA-S1" and str(case["principal"]) == "98.76"
    row = {(r["invoice_numbers"], r["step"]): r for r in export_rows(store, "actions", None)}[("FA-S1", "legal_handoff")]
    assert row["status"] == "queued" and "handed over anyway by lea: client de mauvaise foi, 3e impayé" in row["reason"]
    trail = {e["event"]: e for e in export_rows(store, "audit", None) if e["actor"] == "lea"}
    assert set(trail) == {"action.handed_over", "case.opened"}
    assert "client de mauvaise foi, 3e impayé" in trail["action.handed_over"]["message"]
    assert trail["action.handed_over"]["subject_id"] == "S1"

    again = runner.invoke(app, ["legal", "handoff", "FA-S1", "--note", "again", "--operator", "lea"])
    assert again.exit_code == 2 and "not waiting for a small-claim decision" in again.output

    _night(dates[Step.legal_handoff] + timedelta(days=1))     # the next run writes the dossier
    assert store.case_detail(int(case["case_id"]))["dossier_path"]
    assert len(export_rows(store, "legal-queue", None)) == 1


def test_a_small_claim_joining_a_case_gets_the_case_dossier_written_again(backend, sendgrid):
    from flows.cli import app

    dates = run_the_ladder(backend, debtor="BIG", invoice="L1", total="4800.00", also={"S1": "98.76"})
    store = LegalQueueStore(state_engine(backend.state_url))
    [case] = export_rows(store, "legal-queue", None)
    assert case["invoice_numbers"] == "FA-L1" and store.case_detail(int(case["case_id"]))["dossier_path"]

    handed = CliRunner().invoke(app, ["legal", "handoff", "FA-S1", "--note", "même dossier", "--operator", "lea"])
    assert handed.exit_code == 0 and "extended" in handed.output, handed.output
    assert int(case["case_id"]) in store.cases_without_dossier()     # its dossier no longer states the claim

    _night(dates[Step.legal_handoff] + timedelta(days=1))
    detail = store.case_detail(int(case["case_id"]))
    assert detail["dossier_path"] and str(detail["principal"]) == "4898.76"
    summary = (Path(detail["dossier_path"]) / "summary.json").read_text()
    assert "FA-S1" in summary and "FA-L1" in summary
