"""Every refusal is one clear line: on the CLI (exit 2, or 1 for a run that ended Failed) and as
the Prefect state's message, with no traceback in the run's logs. A temporary Prefect server that
cannot start says what to do."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import edit_policy
from dunning.rules.calendar import paris_today

AS_OF = date(2026, 3, 18)


def _night(**parameters):
    from flows.nightly import nightly_collection

    return nightly_collection(**parameters, return_state=True)


def _assert_one_line_refusal(state, records, expected: str) -> None:
    assert state.is_failed()
    assert state.message.startswith(expected) and "\n" not in state.message and "Traceback" not in state.message
    logged = [r for r in records if r.getMessage() == state.message]
    assert len(logged) == 1 and logged[0].levelno == logging.ERROR           # the refusal, said once
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records if r.exc_info]


@pytest.mark.usefixtures("prefect_harness")
def test_a_future_date_in_the_flow_is_a_failed_state_with_one_line(backend, prefect_logs):
    tomorrow = paris_today() + timedelta(days=1)
    _assert_one_line_refusal(_night(as_of=tomorrow), prefect_logs, f"as_of {tomorrow} is in the future")


@pytest.mark.usefixtures("prefect_harness")
def test_a_bad_policy_in_the_flow_is_a_failed_state_naming_the_file_and_key(backend, prefect_logs):
    edit_policy(backend.config_dir, limits={"max_messages_per_debtor_per_day": "many"})
    _assert_one_line_refusal(_night(as_of=AS_OF), prefect_logs, str(backend.config_dir / "policy.yaml"))


@pytest.mark.usefixtures("prefect_harness")
def test_sending_to_the_outbox_after_sendgrid_is_refused_in_one_line(backend, sendgrid, prefect_logs, monkeypatch):
    backend.accounting.customer("STD")
    backend.accounting.invoice("R1", "STD", due=date(2026, 3, 13))
    assert _night(as_of=AS_OF).is_completed()
    monkeypatch.delenv("SENDGRID_API_KEY")
    _assert_one_line_refusal(_night(as_of=AS_OF + timedelta(days=1)), prefect_logs, "SENDGRID_API_KEY is not set")


@pytest.mark.usefixtures("prefect_harness")
def test_a_refused_lever_is_a_failed_state_with_one_line(backend, prefect_logs):
    from flows import levers

    state = levers.add_rates("2027-H1", Decimal("2.00"), Decimal("3.00"), Decimal("7.00"), "test values",
                             operator="alice", return_state=True)
    _assert_one_line_refusal(state, prefect_logs, "--half-year 2027-H1")
    state = levers.hand_over_small_claim("FA-NOPE", "why", operator="alice", return_state=True)
    _assert_one_line_refusal(state, prefect_logs, "unknown invoice number FA-NOPE")


def test_an_unmigrated_state_database_is_one_line_on_the_cli(tmp_path, monkeypatch):
    from flows.cli import app

    monkeypatch.setenv("DUNNING_STATE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    result = CliRunner().invoke(app, ["run", "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1
    assert "dunning db upgrade" in result.output or "revision" in result.output


def test_the_temporary_server_gets_a_long_wait_unless_the_user_set_one(monkeypatch):
    from flows.cli import app
    from flows.cli.support import STARTUP_TIMEOUT_ENV

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv(STARTUP_TIMEOUT_ENV, raising=False)
    CliRunner().invoke(app, ["rates", "show"])
    assert os.environ[STARTUP_TIMEOUT_ENV] == "120"
    monkeypatch.setenv(STARTUP_TIMEOUT_ENV, "45")
    CliRunner().invoke(app, ["rates", "show"])
    assert os.environ[STARTUP_TIMEOUT_ENV] == "45"


def test_a_temporary_server_that_does_not_start_is_one_line_saying_what_to_do(tmp_path):
    dunning = str(Path(sys.executable).with_name("dunning"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DUNNING_", "SENDGRID_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), DUNNING_VAR_DIR=str(tmp_path / "var"),
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    subprocess.run([dunning, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp_path)
    (tmp_path / "var" / "accounting.sqlite").touch()   # an accounting database is there: only the server fails
    result = subprocess.run([dunning, "run", "--as-of", AS_OF.isoformat()], env=env, capture_output=True,
                            text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [errors[0]] and "temporary Prefect server did not start" in errors[0]
    assert "PREFECT_API_URL" in errors[0] and "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in errors[0]
    assert "Traceback" not in result.stderr + result.stdout


_DOWN = "postgresql+psycopg://alice:s3cr3t-pw@127.0.0.1:1/accounting"


@pytest.mark.usefixtures("prefect_harness")
def test_an_accounting_database_that_does_not_answer_is_a_failed_state_with_one_line(backend, prefect_logs,
                                                                                      monkeypatch):
    monkeypatch.setenv("DUNNING_ACCOUNTING_URL", _DOWN)
    state = _night(as_of=AS_OF)
    _assert_one_line_refusal(state, prefect_logs, "the accounting database postgresql+psycopg://alice:***@127.0.0.1:1/")
    assert "s3cr3t-pw" not in state.message and "DUNNING_ACCOUNTING_URL" in state.message
    from dunning.state.store import StateStore, state_engine

    assert StateStore(state_engine(backend.state_url)).latest_live_run() is None   # refused before any run row


@pytest.mark.usefixtures("prefect_harness")
def test_a_missing_accounting_file_in_the_flow_is_one_line_and_stays_missing(backend, prefect_logs, monkeypatch,
                                                                              tmp_path):
    missing = tmp_path / "no-such-accounting.sqlite"
    monkeypatch.setenv("DUNNING_ACCOUNTING_URL", f"sqlite:///{missing}")
    _assert_one_line_refusal(_night(as_of=AS_OF), prefect_logs, f"the accounting database sqlite:///{missing}")
    assert not missing.exists()


@pytest.mark.usefixtures("prefect_harness")
def test_a_state_database_that_does_not_answer_is_a_failed_state_with_one_line(backend, prefect_logs, monkeypatch):
    monkeypatch.setenv("DUNNING_STATE_URL", _DOWN)
    state = _night(as_of=AS_OF)
    _assert_one_line_refusal(state, prefect_logs, "the state database postgresql+psycopg://alice:***@127.0.0.1:1/")
    assert "not reachable" in state.message and "s3cr3t-pw" not in state.message


@pytest.mark.usefixtures("prefect_harness")
def test_a_sendgrid_host_that_is_not_one_is_a_failed_state_with_one_line(backend, sendgrid, prefect_logs,
                                                                         monkeypatch):
    monkeypatch.setenv("DUNNING_SENDGRID_HOST", "api.sendgrid.com")
    _assert_one_line_refusal(_night(as_of=AS_OF), prefect_logs, "DUNNING_SENDGRID_HOST must be http(s)://host[:port]")


@pytest.mark.usefixtures("prefect_harness")
def test_a_lever_flow_whose_accounting_database_does_not_answer_is_one_line(backend, prefect_logs, monkeypatch):
    from flows import levers

    monkeypatch.setenv("DUNNING_ACCOUNTING_URL", _DOWN)
    state = levers.hand_over_small_claim("FA-1", "why", operator="alice", return_state=True)
    _assert_one_line_refusal(state, prefect_logs, "the accounting database postgresql+psycopg://alice:***@")
