"""The nightly deployment as prefect.yaml and flows/serve.py declare it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.client.orchestration import get_client
from prefect.flows import load_flow_from_entrypoint

from flows.serve import DISPATCH_CRON, NIGHTLY_CRON, TIMEZONE, dispatch_deployment, nightly_deployment

PROJECT = Path(__file__).resolve().parents[2]


def _deployment(name: str) -> dict:
    document = yaml.safe_load((PROJECT / "prefect.yaml").read_text())
    PrefectYamlModel.model_validate(document)
    [deployment] = [d for d in document["deployments"] if d["name"] == name]
    return deployment


@pytest.fixture(scope="module")
def nightly() -> dict:
    return _deployment("nightly")


def test_prefect_yaml_dispatches_inside_the_window_on_weekdays(monkeypatch):
    dispatch = _deployment("dispatch")
    [schedule] = dispatch["schedules"]
    assert (schedule["cron"], schedule["timezone"]) == (DISPATCH_CRON, TIMEZONE) == ("15 8 * * 1-5", "Europe/Paris")
    monkeypatch.chdir(PROJECT)
    assert load_flow_from_entrypoint(dispatch["entrypoint"]).name == "dispatch-queued-messages"


def test_prefect_yaml_schedules_the_nightly_run_at_two_in_paris(nightly):
    [schedule] = nightly["schedules"]
    assert (schedule["cron"], schedule["timezone"], schedule["active"]) == ("0 2 * * *", "Europe/Paris", True)
    assert (schedule["cron"], schedule["timezone"]) == (NIGHTLY_CRON, TIMEZONE)
    assert nightly["concurrency_limit"]["limit"] == 1
    assert nightly["parameters"] == {"as_of": None, "dry_run": False}


def test_prefect_yaml_entrypoint_is_the_nightly_flow(nightly, monkeypatch):
    monkeypatch.chdir(PROJECT)
    flow = load_flow_from_entrypoint(nightly["entrypoint"])
    assert flow.name == "nightly-collection"
    properties = flow.parameters.properties
    assert set(properties) == {"as_of", "dry_run"}
    assert flow.validate_parameters({"as_of": "2026-11-02", "dry_run": False})["as_of"] == date(2026, 11, 2)


@pytest.mark.usefixtures("prefect_harness")
def test_served_deployment_registers_with_schedule_and_limit():
    deployment_id = nightly_deployment().apply()
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment(deployment_id)
    [schedule] = deployment.schedules
    assert schedule.schedule.cron == NIGHTLY_CRON and schedule.schedule.timezone == TIMEZONE
    assert deployment.global_concurrency_limit is not None and deployment.global_concurrency_limit.limit == 1
    assert deployment.parameters == {"as_of": None, "dry_run": False}
    with get_client(sync_client=True) as client:
        dispatch = client.read_deployment(dispatch_deployment().apply())
    assert dispatch.schedules[0].schedule.cron == DISPATCH_CRON


# -- the operator's levers ---------------------------------------------------------------------
LEVERS = {"open-dispute": "open_dispute", "close-dispute": "close_dispute", "add-promise": "add_promise",
          "create-payment-plan": "create_payment_plan", "add-hold": "add_hold", "release-hold": "release_hold",
          "hand-over-small-claim": "hand_over_small_claim", "add-rates": "add_rates"}


@pytest.mark.parametrize(("name", "function"), sorted(LEVERS.items()))
def test_prefect_yaml_declares_each_lever_without_a_schedule(name, function, monkeypatch):
    lever = _deployment(name)
    assert lever["entrypoint"] == f"flows/levers.py:{function}"
    assert not lever.get("schedules") and lever["work_pool"]["name"] == "dunning"
    monkeypatch.chdir(PROJECT)
    flow = load_flow_from_entrypoint(lever["entrypoint"])
    assert flow.name == name
    assert "operator" in flow.parameters.required      # every lever names who pulled it


def test_lever_flows_offer_typed_parameters_to_the_run_form():
    from flows.levers import LEVER_FLOWS

    assert set(LEVER_FLOWS) == set(LEVERS)
    dispute = LEVER_FLOWS["open-dispute"].parameters
    assert dispute.definitions["OperatorDisputeReason"]["enum"] == [
        "pricing", "delivery", "quality", "not_received", "duplicate", "other"]
    outcome = LEVER_FLOWS["close-dispute"].parameters
    assert outcome.definitions["OperatorDisputeOutcome"]["enum"] == ["credit_note_issued", "claim_rejected", "other"]
    promise = LEVER_FLOWS["add-promise"].parameters.properties
    assert promise["promised_on"]["format"] == "date"
    assert promise["invoice_numbers"] == {**promise["invoice_numbers"], "type": "array", "items": {"type": "string"}}
    assert {"type": "string"} in promise["amount"]["anyOf"]          # "1200.00" stays an exact Decimal
    plan = LEVER_FLOWS["create-payment-plan"].parameters
    assert plan.properties["installments"]["items"] == {"$ref": "#/definitions/InstallmentTerm"}
    assert set(plan.definitions["InstallmentTerm"]["required"]) == {"due_date", "amount"}
    validated = LEVER_FLOWS["add-promise"].validate_parameters({
        "debtor_id": "D1", "invoice_numbers": ["FA-1"], "amount": "1200.10", "promised_on": "2026-03-31",
        "note": "n", "operator": "alice"})
    assert str(validated["amount"]) == "1200.10" and validated["promised_on"] == date(2026, 3, 31)


@pytest.mark.usefixtures("prefect_harness")
def test_served_lever_deployments_register_without_schedules():
    from flows.serve import lever_deployments

    with get_client(sync_client=True) as client:
        for deployment in lever_deployments():
            registered = client.read_deployment(deployment.apply())
            assert registered.name in LEVERS and registered.schedules == []
            assert "lever" in registered.tags and registered.parameter_openapi_schema["required"]


# -- the operator's targeted resend -------------------------------------------------------------
def test_prefect_yaml_declares_resend_failed_with_its_parameters(monkeypatch):
    resend = _deployment("resend-failed")
    assert resend["entrypoint"] == "flows/dispatch.py:resend_failed"
    assert not resend.get("schedules") and resend["parameters"] == {"as_of": None, "invoice_numbers": None}
    monkeypatch.chdir(PROJECT)
    flow = load_flow_from_entrypoint(resend["entrypoint"])
    assert flow.name == "resend-failed"
    properties = flow.parameters.properties
    assert {"type": "string", "format": "date"} in properties["as_of"]["anyOf"]
    assert {"type": "array", "items": {"type": "string"}} in properties["invoice_numbers"]["anyOf"]
    assert flow.validate_parameters({"as_of": "2026-03-18", "invoice_numbers": ["FA-1"]}) == {
        "as_of": date(2026, 3, 18), "invoice_numbers": ["FA-1"]}


@pytest.mark.usefixtures("prefect_harness")
def test_served_resend_failed_deployment_registers_without_schedule():
    from flows.serve import resend_failed_deployment

    with get_client(sync_client=True) as client:
        registered = client.read_deployment(resend_failed_deployment().apply())
    assert registered.name == "resend-failed" and registered.schedules == []
    assert set(registered.parameter_openapi_schema["properties"]) == {"as_of", "invoice_numbers"}
    assert registered.global_concurrency_limit is not None and registered.global_concurrency_limit.limit == 1
