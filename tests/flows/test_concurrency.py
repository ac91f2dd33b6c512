"""A double-fired schedule: two runs for the same night, at once, on PostgreSQL, send one set of messages."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import edit_policy
from dunning.config import Step
from dunning.state.schema import actions, legal_case_invoices, legal_cases, runs
from dunning.state.store import state_engine
from ladder import run_the_ladder

DEBTORS = 40


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_two_runs_of_the_same_night_send_one_set_of_messages(backend, sendgrid, tmp_path, prefect_harness):
    dates = run_the_ladder(backend, through=Step.formal_notice)
    books = backend.accounting
    night = dates[Step.legal_handoff]        # L1 goes to the legal queue tonight
    for n in range(DEBTORS):
        books.customer(f"C{n:02d}")
        books.invoice(f"C{n:02d}-1", f"C{n:02d}", due=night - timedelta(days=4))
    earlier = len(sendgrid.accepted)
    edit_policy(backend.config_dir, dispatch={"max_workers": 4})
    sendgrid.slow_down(0.4)          # long enough for the two runs' sends to overlap

    # Two processes, as two workers picking up a double-fired schedule would be.
    processes = []
    for name in ("first", "second"):
        env = {**os.environ, "PREFECT_HOME": str(tmp_path / f"prefect-{name}")}
        env.pop("PREFECT_API_URL", None)
        log = tmp_path / f"{name}.log"
        processes.append((log, subprocess.Popen([str(Path(sys.executable).with_name("dunning")), "run", "--as-of",
                                                 night.isoformat()], env=env, stdout=log.open("w"),
                                                stderr=subprocess.STDOUT)))
    for log, process in processes:
        assert process.wait(300) == 0, log.read_text()[-3000:]

    tonight = sendgrid.accepted[earlier:]
    recipients = Counter(m.payload["personalizations"][0]["to"][0]["email"] for m in tonight)
    assert len(tonight) == DEBTORS and set(recipients.values()) == {1}, recipients.most_common(3)
    with state_engine(backend.state_url).connect() as conn:
        both = conn.execute(select(runs).where(runs.c.as_of == night)).all()
        sent = conn.execute(select(actions.c.provider_message_id).where(
            actions.c.as_of == night, actions.c.status == "sent")).scalars().all()
        handoffs = conn.execute(select(func.count()).where(actions.c.step == "legal_handoff")).scalar_one()
        cases = conn.execute(select(func.count()).select_from(legal_cases)).scalar_one()
        in_cases = conn.execute(select(func.count()).select_from(legal_case_invoices)).scalar_one()
    assert len(both) == 2 and {r.status for r in both} == {"completed"}
    first, second = sorted(both, key=lambda r: r.started_at)
    assert second.started_at < first.finished_at, "the two runs did not overlap: the test proved nothing"
    assert sorted(sent) == sorted(m.message_id for m in tonight)
    assert (handoffs, cases, in_cases) == (1, 1, 1)
    # Each run accounts for every message it planned: sent by itself, or handled by the other one,
    # and says so in its summary rather than "none".
    for run, other in ((first, second), (second, first)):
        counts = run.counts
        elsewhere = counts["handled_elsewhere"]
        assert counts["sent"] + sum(elsewhere.values()) == counts["decisions"]["reminder_1:send"], counts
        assert set(elsewhere) <= {str(other.id)}
        if elsewhere:
            line = f"{elsewhere[str(other.id)]} message(s) already handled by run {other.id}"
            assert line in run.summary and line in run.message, (run.summary, run.message)
    assert first.counts["handled_elsewhere"] or second.counts["handled_elsewhere"], "the runs never met"
