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

PROJECT = Path(__file__).resolve().parent.parent


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
