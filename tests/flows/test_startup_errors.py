"""A database, a host or a folder the product cannot use is one line on the CLI: which one (the
variable that set it, the URL with its password masked) and what to check; exit 2, no traceback.

PostgreSQL is the real server at 127.0.0.1:5432 (trust auth: a role that does not exist is still
refused); a closed port (127.0.0.1:1) stands for a server that is down.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from itertools import product
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dunning.state.store import upgrade_database

AS_OF = date(2026, 3, 18)
PASSWORD = "s3cr3t-pw"
PG = "127.0.0.1:5432"
DOWN = "postgresql+psycopg://alice:{pw}@127.0.0.1:1/accounting"
NO_DATABASE = "postgresql+psycopg://postgres:{pw}@" + PG + "/dunning_no_such_database"
NO_ROLE = "postgresql+psycopg://dunning_no_such_role:{pw}@" + PG + "/postgres"


def _error_line(result, code: int = 2) -> str:
    """The one `error:` line of a CLI result that exited `code`, with nothing else said."""
    output = result.output
    assert result.exit_code == code, output
    assert "Traceback" not in output and PASSWORD not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


@pytest.fixture
def environment(tmp_path, monkeypatch):
    """A migrated SQLite state database and an existing accounting file, nothing else configured."""
    for name in ("DUNNING_ACCOUNTING_URL", "DUNNING_SENDGRID_HOST", "SENDGRID_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    monkeypatch.setenv("DUNNING_STATE_URL", state)
    monkeypatch.setenv("DUNNING_VAR_DIR", str(tmp_path / "var"))
    upgrade_database(state)
    return tmp_path


def _cli(*arguments: str):
    from flows.cli import app

    return CliRunner().invoke(app, list(arguments))


ACCOUNTING_CASES = {
    "not a URL": ("not a url {pw}", "DUNNING_ACCOUNTING_URL is not a SQLAlchemy URL"),
    "unknown driver": ("postgresql+nodriver://alice:{pw}@" + PG + "/accounting", "unknown or uninstalled driver"),
    "driver not installed": ("mysql://alice:{pw}@" + PG + "/accounting", "unknown or uninstalled driver 'mysql'"),
    "missing SQLite file": ("sqlite:///{tmp}/no-such-accounting.sqlite", "does not exist"),
    "server down": (DOWN, "Connection refused"),
    "wrong database name": (NO_DATABASE, 'database "dunning_no_such_database" does not exist'),
    "role that does not exist": (NO_ROLE, 'role "dunning_no_such_role" does not exist'),
}

# Every command that reads the accounting database, before it does anything else.
ACCOUNTING_COMMANDS = {
    "run": ["run", "--as-of", AS_OF.isoformat()],
    "dispute open": ["dispute", "open", "FA-1", "--reason", "other", "--note", "n", "--operator", "alice"],
    "hold add": ["hold", "add", "--debtor", "C1", "--reason", "r", "--operator", "alice"],
    "demo seed": ["demo", "seed", "--replace-accounting-database", "--customers", "10", "--invoices", "50"],
}


# The demo seed builds its SQLite file (that is what it is for): no missing-file case for it.
@pytest.mark.parametrize(("case", "command"), [
    (case, command) for case, command in product(ACCOUNTING_CASES, ACCOUNTING_COMMANDS)
    if not (command == "demo seed" and case == "missing SQLite file")])
def test_an_accounting_database_that_cannot_be_read_is_one_line(environment, monkeypatch, case, command):
    url, expected = ACCOUNTING_CASES[case]
    url = url.format(pw=PASSWORD, tmp=environment)
    monkeypatch.setenv("DUNNING_ACCOUNTING_URL", url)
    line = _error_line(_cli(*ACCOUNTING_COMMANDS[command]))
    assert expected in line and "DUNNING_ACCOUNTING_URL" in line and "accounting database" in line
    assert not (environment / "no-such-accounting.sqlite").exists()   # never an empty accounting file


def test_the_default_accounting_file_missing_says_which_variable_to_set(environment):
    line = _error_line(_cli("run", "--as-of", AS_OF.isoformat()))
    assert "the accounting database sqlite:///" in line and "DUNNING_ACCOUNTING_URL is not set" in line
    assert not (environment / "var" / "accounting.sqlite").exists()


def test_releasing_a_hold_does_not_need_the_accounting_database(environment, monkeypatch):
    monkeypatch.setenv("DUNNING_ACCOUNTING_URL", DOWN.format(pw=PASSWORD))
    line = _error_line(_cli("hold", "release", "999", "--note", "n", "--operator", "alice"))
    assert "accounting" not in line and "999" in line     # refused for the hold it does not find


STATE_UNREACHABLE = {
    "not a URL": ("sqlite//{tmp}/state.sqlite", "DUNNING_STATE_URL is not a SQLAlchemy URL"),
    "folder missing": ("sqlite:///{tmp}/no-such-folder/state.sqlite", "its folder"),
    "server down": (DOWN, "Connection refused"),
    "role that does not exist": (NO_ROLE, 'role "dunning_no_such_role" does not exist'),
    "wrong database name": (NO_DATABASE, 'database "dunning_no_such_database" does not exist'),
}

STATE_COMMANDS = {
    "run": ["run", "--as-of", AS_OF.isoformat()],
    "export": ["export", "actions"],
    "debtor show": ["debtor", "show", "C1"],
    "db upgrade": ["db", "upgrade"],
    "demo date": ["demo", "date"],   # rates entered in the state database may move the demo's date
}


# `dunning db upgrade` creates a missing folder: no folder-missing case for it.
@pytest.mark.parametrize(("case", "command"), [
    (case, command) for case, command in product(STATE_UNREACHABLE, STATE_COMMANDS)
    if not (command == "db upgrade" and case == "folder missing")])
def test_a_state_database_out_of_reach_is_one_line_saying_what_to_check(environment, monkeypatch, case, command):
    url, expected = STATE_UNREACHABLE[case]
    monkeypatch.setenv("DUNNING_STATE_URL", url.format(pw=PASSWORD, tmp=environment))
    line = _error_line(_cli(*STATE_COMMANDS[command]))
    assert expected in line and "DUNNING_STATE_URL" in line
    assert "not migrated" not in line
    if case != "not a URL":
        assert "the state database" in line and "not reachable" in line
    if case in ("server down", "role that does not exist", "wrong database name"):
        assert "check that the server is up" in line and "db upgrade" not in line


def test_a_state_database_that_answers_but_is_not_migrated_says_to_upgrade(environment, monkeypatch, postgres):
    url = postgres.create("dunning_unmigrated")
    monkeypatch.setenv("DUNNING_STATE_URL", url)
    line = _error_line(_cli("run", "--as-of", AS_OF.isoformat()))
    assert "answers but is not migrated" in line and "run `dunning db upgrade`" in line
    assert "not reachable" not in line and url.rsplit("/", 1)[1] in line


@pytest.mark.parametrize("state", ["server down", "unmigrated SQLite file"])
def test_rates_show_without_the_state_database_warns_first_and_exits_2(environment, monkeypatch, state):
    url = DOWN.format(pw=PASSWORD) if state == "server down" else f"sqlite:///{environment / 'empty.sqlite'}"
    if state == "unmigrated SQLite file":
        (environment / "empty.sqlite").touch()
    monkeypatch.setenv("DUNNING_STATE_URL", url)

    result = _cli("rates", "show")

    assert result.exit_code == 2 and "Traceback" not in result.output and PASSWORD not in result.output
    [warning] = result.stderr.splitlines()
    assert warning.startswith("WARNING: rates entered with `dunning rates add` are not shown, only those of "
                              "config/legal_fr.yaml: the state database ")
    assert "DUNNING_STATE_URL" in warning
    assert ("Connection refused" in warning and "check that the server is up" in warning if state == "server down"
            else "answers but is not migrated" in warning and "run `dunning db upgrade`" in warning)
    # The file's tables follow, on stdout, each half-year from the file.
    shown = result.stdout.splitlines()
    assert shown[0].startswith("half-year") and "Covered through" in result.stdout
    assert all(line.endswith("config/legal_fr.yaml") for line in shown if line[:4].isdigit())


@pytest.mark.parametrize("host", ["ftp://api.sendgrid.com", "api.sendgrid.com", "https://", "http://127.0.0.1:port",
                                  "https://api.sendgrid.com/v3/mail", f"https://alice:{PASSWORD}@api.sendgrid.com"])
def test_a_sendgrid_host_that_is_not_http_host_port_is_one_line(environment, monkeypatch, host):
    monkeypatch.setenv("DUNNING_ACCOUNTING_URL", f"sqlite:///{environment / 'accounting.sqlite'}")
    (environment / "accounting.sqlite").touch()
    monkeypatch.setenv("DUNNING_SENDGRID_HOST", host)
    for command in (["run", "--as-of", AS_OF.isoformat()], ["dispatch"], ["resend-failed"]):
        line = _error_line(_cli(*command))
        assert "DUNNING_SENDGRID_HOST must be http(s)://host[:port]" in line


def test_an_unwritable_prefect_home_is_one_line(tmp_path):
    dunning = str(Path(sys.executable).with_name("dunning"))
    (tmp_path / "a-file").write_text("in the way")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DUNNING_", "SENDGRID_"))}
    env.update(PREFECT_HOME=str(tmp_path / "a-file" / "prefect"), DUNNING_VAR_DIR=str(tmp_path / "var"))
    for command in (["run", "--as-of", AS_OF.isoformat()], ["dispatch"], ["resend-failed"]):
        result = subprocess.run([dunning, *command], env=env, capture_output=True, text=True, cwd=tmp_path,
                                timeout=120)
        assert result.returncode == 2, result.stderr
        assert result.stdout == "" and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: PREFECT_HOME "), result.stderr
        assert "a-file" in lines[0] and "writable folder" in lines[0]
