"""Retry from the Prefect UI, end to end in a real browser.

A real `prefect server start` on loopback (SQLite), the nightly deployment served by flows/serve.py,
the test SendGrid refusing some addresses with 500 on every attempt: the run ends Failed. The
addresses are then fixed, Debian's Chromium opens the failed run in the Prefect UI and presses
Retry; the same flow run must end Completed having sent only what had failed, each message once.

Needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver):
skipped without them, unless DUNNING_REQUIRE_BROWSER=1 (CI), which makes their absence a failure.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from dunning.state.schema import actions, runs
from dunning.state.store import upgrade_database
from sendgrid_server import TEST_API_KEY

from accounting_db import Accounting

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
NO_BROWSER = "Chromium not installed: apt-get install chromium chromium-driver to run the browser Retry test"
AS_OF = date(2026, 3, 18)   # a Wednesday in a half-year config/legal_fr.yaml covers (see test_flow.py)
FAILING = ("compta@bad1.example.fr", "compta@bad2.example.fr")


# -- what the test needs from the machine ----------------------------------------------------------
def _require_browser() -> None:
    if CHROMIUM.is_file() and CHROMEDRIVER.is_file():
        return
    if os.environ.get("DUNNING_REQUIRE_BROWSER") == "1":
        pytest.fail(NO_BROWSER, pytrace=False)
    pytest.skip(NO_BROWSER)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Child processes in their own process groups, each logging to a file; all killed at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Path:
        log = self.folder / f"{name}.log"
        with log.open("wb") as out:
            self.started.append(subprocess.Popen(argv, cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL, start_new_session=True))
        return log

    def stop_all(self) -> None:
        for process in reversed(self.started):
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                if process.poll() is not None:
                    break
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    pass


def _wait_for(what: str, check, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# -- the Prefect server, through Prefect's own client (it retries a busy SQLite's 503s) ----------------
class PrefectApi:
    def __init__(self, url: str) -> None:
        from prefect.client.orchestration import SyncPrefectClient

        self.url = url
        self.client = SyncPrefectClient(url)
        self.client.__enter__()

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def deployment_id(self, name: str):
        from prefect.exceptions import ObjectNotFound

        try:
            return self.client.read_deployment_by_name(name).id
        except ObjectNotFound:
            return None

    def run_deployment(self, deployment_id, parameters: dict):
        return self.client.create_flow_run_from_deployment(deployment_id, parameters=parameters).id

    def flow_run(self, flow_run_id):
        return self.client.read_flow_run(flow_run_id)

    def state_history(self, flow_run_id) -> list[str]:
        return [s.name for s in sorted(self.client.read_flow_run_states(flow_run_id), key=lambda s: s.timestamp)]

    def wait_until_final(self, flow_run_id, timeout: float, min_run_count: int = 1):
        def final():
            run = self.flow_run(flow_run_id)
            return run if run.state.is_final() and run.run_count >= min_run_count else None
        return _wait_for(f"flow run {flow_run_id} to end (run_count >= {min_run_count})", final, timeout)

    def close(self) -> None:
        self.client.__exit__(None, None, None)


# -- the browser ---------------------------------------------------------------------------------------
def _chromium(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--no-first-run", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # An explicit driver path and binary: Selenium Manager never looks for (or downloads) either.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    return driver


# What the Prefect UI (v1, the default of Prefect 3.8) shows on a flow run's page, found with screenshots:
# the header holds the state badge and a "Retry" button; the button opens a dialog "Retry <run name>?"
# ("Any task runs without a persisted result will be run again.") whose own "Retry" button confirms.
HEADING = "//*[contains(concat(' ', normalize-space(@class), ' '), ' page-heading ')]"
DIALOG = "//*[@role='dialog']"


def _state_badge(driver, name: str):
    """The flow run's state badge in the page header (e.g. 'Failed', 'Completed')."""
    from selenium.webdriver.common.by import By

    badge = f"{HEADING}//*[contains(concat(' ', normalize-space(@class), ' '), ' state-badge ')]"
    for element in driver.find_elements(By.XPATH, f"{badge}[normalize-space(.)='{name}']"):
        if element.is_displayed():
            return element
    return None


def _button(driver, text: str, inside: str = ""):
    """The first visible, enabled button whose text is exactly `text` (in `inside`, an XPath prefix)."""
    from selenium.webdriver.common.by import By

    for element in driver.find_elements(By.XPATH, f"{inside}//button[normalize-space(.)='{text}']"):
        if element.is_displayed() and element.is_enabled():
            return element
    return None


# -- the scenario --------------------------------------------------------------------------------------
def _books(accounting_url: str) -> None:
    """Five debtors each with one invoice due for reminder_1 on AS_OF; two addresses will refuse
    every send; one debtor has no email, so its reminder is a letter in the print queue."""
    engine = create_engine(accounting_url)
    books = Accounting(engine)
    for debtor in ("OK1", "OK2", "BAD1", "BAD2"):
        books.customer(debtor)
        books.invoice(f"{debtor}-1", debtor, due=date(2026, 3, 13))
    books.customer("POST", email=None)
    books.invoice("POST-1", "POST", due=date(2026, 3, 13))
    engine.dispose()


def _rows(state_url: str, table) -> list[dict]:
    """A state table as it stands, in id order (the ledger is `actions`, the run records `runs`)."""
    engine = create_engine(state_url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.id))]
    engine.dispose()
    return rows


def _action_id(payload) -> str:
    """The ledger id a request to SendGrid carries (a RecordedRequest or an accepted payload)."""
    body = getattr(payload, "body", payload)
    return body["custom_args"]["dunning_action_id"]


def test_retry_pressed_in_the_prefect_ui_sends_only_what_failed(tmp_path, config_dir, sendgrid_server):
    _require_browser()
    accounting_url = f"sqlite:///{tmp_path / 'accounting.sqlite'}"
    state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    _books(accounting_url)
    upgrade_database(state_url)

    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DUNNING_", "SENDGRID_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=api_url,
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               DUNNING_ACCOUNTING_URL=accounting_url, DUNNING_STATE_URL=state_url,
               DUNNING_VAR_DIR=str(tmp_path / "var"), DUNNING_CONFIG_DIR=str(config_dir),
               SENDGRID_API_KEY=TEST_API_KEY, DUNNING_SENDGRID_HOST=sendgrid_server.host)
    processes = Processes(tmp_path)
    api = PrefectApi(api_url)
    driver = None
    served_log = tmp_path / "serve.log"
    screenshot = tmp_path / "failure.png"
    try:
        # No scheduler service: the deployment's nightly schedule cannot start a run during the test.
        server_env = {**env, "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"}
        server_log = processes.start("server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                                "--port", str(port)], server_env)
        _wait_for(f"the Prefect server (log: {server_log})", api.healthy, timeout=90)
        # The served process looks for runs to start every 2 seconds instead of 10.
        served_log = processes.start("serve", [str(BIN / "python"), "-m", "flows.serve"],
                                     {**env, "PREFECT_RUNNER_POLL_FREQUENCY": "2"})
        deployment = _wait_for(f"the nightly deployment to be served (log: {served_log})",
                               lambda: api.deployment_id("nightly-collection/nightly"), timeout=90)

        # 1. Two addresses refuse every send (500, retried until the retries run out): the run fails.
        for email in FAILING:
            sendgrid_server.fail_for(email, 500)
        flow_run_id = api.run_deployment(deployment, {"as_of": AS_OF.isoformat()})
        first = api.wait_until_final(flow_run_id, timeout=180)
        assert first.state.is_failed(), (first.state, f"served log: {served_log}")
        assert "2 of 5 send(s) failed" in first.state.message, first.state.message

        before = {r["id"]: r for r in _rows(state_url, actions)}
        failed = {i for i, r in before.items() if r["status"] == "failed"}
        sent_first = {i for i, r in before.items() if r["status"] == "sent"}
        skipped = {i for i, r in before.items() if r["status"] == "skipped"}   # pre_due, superseded (rule 3)
        assert {before[i]["debtor_id"] for i in failed} == {"BAD1", "BAD2"}, before
        assert {before[i]["debtor_id"] for i in sent_first} == {"OK1", "OK2", "POST"}, before
        assert set(before) == failed | sent_first | skipped, before

        # 2. The addresses are fixed; an operator presses Retry on the failed run in the Prefect UI.
        sendgrid_server.clear_failures()
        requests_before = len(sendgrid_server.requests)
        driver = _chromium(tmp_path / "chromium-profile")
        driver.get(f"http://127.0.0.1:{port}/runs/flow-run/{flow_run_id}")
        _wait_for("the run's Failed badge in the UI", lambda: _state_badge(driver, "Failed"), timeout=60)
        retry = _wait_for("the Retry button in the flow run's header", lambda: _button(driver, "Retry", inside=HEADING),
                          timeout=30)
        driver.save_screenshot(str(tmp_path / "1-failed-run.png"))
        retry.click()
        confirm = _wait_for("the Retry confirmation dialog", lambda: _button(driver, "Retry", inside=DIALOG), timeout=15)
        driver.save_screenshot(str(tmp_path / "2-confirm-retry.png"))
        confirm.click()

        # 3. The same flow run is rerun by the served deployment and ends Completed.
        final = api.wait_until_final(flow_run_id, timeout=180, min_run_count=first.run_count + 1)
        assert final.state.is_completed(), (final.state, f"served log: {served_log}")
        history = api.state_history(flow_run_id)
        assert history.index("AwaitingRetry") > history.index("Failed"), history   # the UI's retry, not a new run
        driver.refresh()
        _wait_for("the run's Completed badge in the UI", lambda: _state_badge(driver, "Completed"), timeout=60)
        driver.save_screenshot(str(tmp_path / "3-completed-run.png"))

        # The ledger: every message due sent, each once; the failed ones on their second run.
        after = {r["id"]: r for r in _rows(state_url, actions)}
        assert set(after) == set(before), "the retry wrote ledger rows of its own"
        assert {r["status"] for r in after.values()} == {"sent", "skipped"}, after
        assert all(after[i]["status"] == before[i]["status"] for i in skipped), "superseded rows changed"
        for i in failed:
            assert after[i]["attempts"] == before[i]["attempts"] + 1 and after[i]["run_id"] != before[i]["run_id"]
        for i in sent_first:
            assert after[i] == before[i], f"action {i}, sent by the first run, was touched by the retry"
        # The run records of this flow run: the first failed, the retry completed, nothing left running.
        assert [(r["flow_run_id"], r["status"]) for r in _rows(state_url, runs)] == [
            (str(flow_run_id), "failed"), (str(flow_run_id), "completed")]

        # The provider's log: what had failed was accepted exactly once after the retry; nothing twice.
        retried = sendgrid_server.requests[requests_before:]
        assert Counter((_action_id(r), r.status) for r in retried) == Counter({(str(i), 202): 1 for i in failed})
        accepted = Counter(_action_id(m.payload) for m in sendgrid_server.accepted)
        emails = {str(i) for i, r in after.items() if r["status"] == "sent" and r["channel"] == "email"}
        assert accepted == Counter({i: 1 for i in emails}), accepted
        for message in sendgrid_server.accepted:
            assert after[int(_action_id(message.payload))]["provider_message_id"] == message.message_id
        assert len(list((tmp_path / "var" / "print_queue").rglob("*.html"))) == 1, "a letter was printed twice"
    except BaseException as error:
        if driver is not None:
            try:
                driver.save_screenshot(str(screenshot))
                (tmp_path / "failure.html").write_text(driver.page_source)
            except Exception:   # the browser itself may be what failed
                pass
        if not isinstance(error, Exception):   # pytest's own outcomes, KeyboardInterrupt
            raise
        what = str(error) if isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
        raise AssertionError(f"{what}\n(screenshot: {screenshot}; served process log: {served_log}; "
                             f"logs and screenshots in {tmp_path})") from error
    finally:
        if driver is not None:
            driver.quit()
        api.close()
        processes.stop_all()
