"""`make bench`: how the nightly stages scale, measured on this machine (not a test: timings are
reported, never asserted).

For each size, a PostgreSQL accounting database in the reference schema is generated with COPY
(about 10 open invoices and 2 paid invoices per debtor, due dates spread over 200 days), then one
fresh process measures, in the same run: the COPY floor (the open-receivables query copied to CSV
and read by pandas), the product's own extraction, validation, the aged balance, segmentation and
planning (pure, on an empty ledger), and its peak RSS. One table is printed at the end.

Then a mid-size night (200,000 open invoices, 6,000 of them due a reminder) runs end to end as an
operator starts it, `dunning run` in fresh processes on a fresh PostgreSQL state database, sending to
the SendGrid test server of the tests on 127.0.0.1: a dry run, the night, the same night again; the
night's own measure of its send fan-out is set against a bare Prefect mapping of no-op tasks.

    make bench                          # 10,000 and 200,000 open invoices, then the night
    make bench BENCH_SIZES=10000,200000,1000000 BENCH_NIGHT=--no-night
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = os.environ.get("DUNNING_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
AS_OF = date(2026, 6, 30)
INVOICES_PER_DEBTOR = 10
PAID_PER_DEBTOR = 2
STAGES = ("copy_floor", "extract", "validate", "aging", "segment", "plan")


def _database_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


def _fresh_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()


def _spread_due(rng: random.Random, debtor: int, k: int) -> date:
    """The stages' books: due dates spread from 30 days ahead to 200 days behind."""
    return AS_OF - timedelta(days=rng.randint(-30, 200))


def _night_due(messages: int):
    """A mid-size night's books: `messages` debtors have one invoice 10 days overdue (reminder_1 due
    today, standard ladder), everything else falls due in 20 to 120 days (nothing to send yet)."""
    def due(rng: random.Random, debtor: int, k: int) -> date:
        if debtor < messages and k == 0:
            return AS_OF - timedelta(days=10)
        return AS_OF + timedelta(days=rng.randint(20, 120))
    return due


def generate(size: int, name: str, due_date=_spread_due) -> None:
    """A fresh accounting database `name` of `size` open invoices, filled with COPY."""
    from sqlalchemy import create_engine

    from dunning.sources.reference_schema import create_accounting_schema

    _fresh_database(name)
    engine = create_engine(_database_url(name))
    create_accounting_schema(engine)
    rng = random.Random(size)
    debtors = max(size // INVOICES_PER_DEBTOR, 1)
    customers, invoices, payments = io.StringIO(), io.StringIO(), io.StringIO()
    for d in range(debtors):
        customers.write(f"CUS-{d:07d}\tClient {d} SAS\tcompta{d}@bench.example.fr\t\tfr\tf\t\t1 rue du Test\t"
                        f"69001\tLyon\tFR\t{rng.choice(('', '20000.00', '50000.00'))}\tf\t2024-01-01\n")
    number = 0
    for d in range(debtors):
        for k in range(INVOICES_PER_DEBTOR):
            due = due_date(rng, d, k)
            amount = f"{rng.randint(10_000, 900_000) / 100:.2f}"
            # Issued 30 days before it falls due, and never after the as-of date (it would be quarantined).
            issued = min(due - timedelta(days=30), AS_OF - timedelta(days=1))
            invoices.write(f"INV-{number:08d}\tFA-{number:08d}\tCUS-{d:07d}\tinvoice\tposted\t{issued}\t"
                           f"{due}\tEUR\t{amount}\t{amount}\tf\t\n")
            number += 1
        for _ in range(PAID_PER_DEBTOR):
            due = AS_OF - timedelta(days=rng.randint(60, 300))
            paid_on = due + timedelta(days=rng.randint(-5, 40))
            invoices.write(f"INV-{number:08d}\tFA-{number:08d}\tCUS-{d:07d}\tinvoice\tposted\t{due - timedelta(days=30)}\t"
                           f"{due}\tEUR\t500.00\t0.00\tf\t\n")
            payments.write(f"PAY-{number:08d}\tCUS-{d:07d}\tINV-{number:08d}\t{paid_on}\t500.00\ttransfer\n")
            number += 1
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            for table, columns, data in (
                ("customers", "id, name, email, phone, language, is_consumer, siren, address_line, postal_code, city, "
                              "country, credit_limit, strategic, created_on", customers),
                ("invoices", "id, number, customer_id, kind, status, issue_date, due_date, currency, amount_total, "
                             "amount_residual, disputed, disputed_reason", invoices),
                ("payments", "id, customer_id, invoice_id, paid_on, amount, method", payments),
            ):
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT text, NULL '')") as copy:
                    copy.write(data.getvalue())
        raw.commit()
        with raw.cursor() as cursor:
            cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    engine.dispose()


def measure(size: int) -> dict:
    """Every stage once, in this process; seconds per stage and the peak RSS in MB."""
    import pandas as pd
    from sqlalchemy import create_engine

    from dunning.rules.aging import compute_aging
    from dunning.rules.arrangements import Arrangements
    from dunning.rules.calendar import BusinessCalendar
    from dunning.rules.planner import plan_collection
    from dunning.rules.segmentation import segment_debtors
    from dunning.sources.accounting import SQL_DIR, AccountingSource
    from dunning.sources.config_files import load_legal_tables, load_settings
    from dunning.sources.receivables import normalize_credits, split_history, validate_receivables
    from tasks.context import cycle_collector_paused

    policy, legal = load_settings().policy, load_legal_tables()
    engine = create_engine(_database_url(f"dunning_bench_{size}"))
    seconds: dict[str, float] = {}

    def timed(stage, work):
        start = time.perf_counter()
        with cycle_collector_paused():     # as the night's stage tasks run them
            result = work()
        seconds[stage] = time.perf_counter() - start
        return result

    def copy_floor():
        # The extraction's own query, copied as CSV; its one parameter is the bench's fixed date.
        query = (SQL_DIR / "open_receivables.sql").read_text(encoding="utf-8")
        query = query.replace(":as_of", f"DATE '{AS_OF.isoformat()}'").rstrip().rstrip(";")
        raw = engine.raw_connection()
        buffer = io.BytesIO()
        try:
            with raw.cursor() as cursor:
                with cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                    for chunk in copy:
                        buffer.write(chunk)
        finally:
            raw.close()
        buffer.seek(0)
        return pd.read_csv(buffer, dtype=str)

    floor = timed("copy_floor", copy_floor)
    source = AccountingSource(engine)
    raw = timed("extract", lambda: (source.open_receivables(AS_OF), source.unapplied_credits(AS_OF),
                                    source.payment_history(AS_OF, policy.segments.history_days)))
    raw_invoices, raw_credits, raw_history = raw

    def validate():
        return (validate_receivables(raw_invoices, AS_OF).invoices, normalize_credits(raw_credits, "EUR").invoices,
                split_history(raw_history).invoices)

    invoices, credits, history = timed("validate", validate)
    timed("aging", lambda: compute_aging(invoices, credits, AS_OF, policy.tolerance))
    segments = timed("segment", lambda: segment_debtors(invoices, credits, history, AS_OF, policy.segments,
                                                        policy.tolerance, "EUR"))
    plan = timed("plan", lambda: plan_collection(
        invoices, segments, credits, holds=[], arrangements=Arrangements(), address_flags=(), ledger=[],
        as_of=AS_OF, policy=policy, calendar=BusinessCalendar(policy.calendar.subdivision), legal=legal,
        company_currency="EUR"))
    engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size": size, "rows": len(floor), "valid": len(invoices), "debtors": len(segments),
            "decisions": len(plan), "seconds": seconds, "peak_mb": round(peak_mb)}


def _table(results: list[dict]) -> str:
    header = ["open invoices", *STAGES, "stages total", "x floor", "peak RSS MB", "decisions"]
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for r in results:
        s = r["seconds"]
        total = sum(v for k, v in s.items() if k != "copy_floor")
        lines.append(" | ".join([f"{r['size']:,}", *(f"{s[k]:.2f}" for k in STAGES), f"{total:.2f}",
                                 f"{total / s['copy_floor']:.1f}", str(r["peak_mb"]), f"{r['decisions']:,}"]))
    for a, b in zip(results, results[1:]):
        ta = sum(v for k, v in a["seconds"].items() if k != "copy_floor")
        tb = sum(v for k, v in b["seconds"].items() if k != "copy_floor")
        lines.append(f"ratio {b['size']:,} / {a['size']:,}: {tb / ta:.1f} for {b['size'] / a['size']:.0f} x the rows")
    return "\n".join(lines)


NIGHT_INVOICES = 200_000
NIGHT_MESSAGES = 6_000
NOOP_TASKS = 1_000
_MARK = "bench-result:"     # the line a child prints its figure on, among Prefect's own output


def noop_mapping(tasks: int) -> float:
    """Seconds per task of a bare Prefect mapping of no-op tasks, on the send pool's thread runner."""
    from prefect import flow, task
    from prefect.futures import wait
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.sending import max_workers

    @task
    def nothing(i: int) -> int:
        return i

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=max_workers()))
    def mapping(n: int) -> float:
        started = time.perf_counter()
        wait(nothing.map(range(n)))
        return time.perf_counter() - started

    return mapping(tasks) / tasks


def _child(command: list[str], env: dict) -> dict:
    """One command in a fresh process: its wall time, its own peak RSS, its exit code."""
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": time.perf_counter() - started, "peak_mb": round(usage.ru_maxrss / 1024),
            "rc": child.returncode, "tail": output.strip().splitlines()[-3:],
            "lines": output.splitlines(),
            "marked": [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith(_MARK)]}


def night(size: int = NIGHT_INVOICES, messages: int = NIGHT_MESSAGES) -> dict:
    """A mid-size night end to end, `dunning run` as an operator starts it, sending to a SendGrid test
    server on 127.0.0.1 that answers at once: a dry run, the night, the same night again."""
    import tempfile

    import yaml

    from sendgrid_server import TEST_API_KEY, SendGridTestServer

    generate(size, "dunning_bench_night", _night_due(messages))
    _fresh_database("dunning_bench_state")
    work = Path(tempfile.mkdtemp(prefix="dunning-bench-"))
    config = work / "config"
    subprocess.run(["cp", "-r", str(ROOT / "config"), str(config)], check=True)
    policy = yaml.safe_load((config / "policy.yaml").read_text(encoding="utf-8"))
    # Sends go whenever the bench runs (the test server reaches no one).
    policy["send_window"] = {"start_hour": 0, "end_hour": 24, "business_days_only": False}
    (config / "policy.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    dunning = str(Path(sys.executable).with_name("dunning"))
    with SendGridTestServer() as server:
        env = {**os.environ, "DUNNING_ACCOUNTING_URL": _database_url("dunning_bench_night"),
               "DUNNING_STATE_URL": _database_url("dunning_bench_state"), "DUNNING_CONFIG_DIR": str(config),
               "DUNNING_VAR_DIR": str(work / "var"), "PREFECT_HOME": str(work / "prefect"),
               "SENDGRID_API_KEY": TEST_API_KEY, "DUNNING_SENDGRID_HOST": server.host}
        env.pop("PREFECT_API_URL", None)
        run = [dunning, "run", "--as-of", AS_OF.isoformat()]
        upgrade = _child([dunning, "db", "upgrade"], env)
        assert upgrade["rc"] == 0, upgrade["tail"]
        result = {"dry_run": _child(run + ["--dry-run"], env), "night": _child(run, env)}
        result["accepted"] = len(server.accepted)
        result["second"] = _child(run, env)
        result["accepted_again"] = len(server.accepted) - result["accepted"]
    result["noop"] = _child([sys.executable, __file__, "--noop", str(NOOP_TASKS)], env)
    result["noop_seconds_per_task"] = float(result["noop"]["marked"][-1])
    result["size"], result["messages"] = size, messages
    subprocess.run(["rm", "-rf", str(work)], check=True)
    return result


def _fan_out_ms(lines: list[str]) -> float | None:
    """The night's own measure of its send fan-out (flows.sending logs it), in ms per message."""
    found = [re.search(r"Send fan-out: \d+ message\(s\) in [\d.]+ s, ([\d.]+) ms per message", line) for line in lines]
    return next((float(m.group(1)) for m in reversed(found) if m), None)


def _night_table(r: dict) -> str:
    per_message = (_fan_out_ms(r["night"]["lines"]) or float("nan")) / 1000
    lines = [f"mid-size night: {r['size']:,} open invoices, {r['messages']:,} messages due",
             "what | wall s | peak RSS MB | exit",
             "--- | --- | --- | ---"]
    for key, label in (("dry_run", "dunning run --dry-run"), ("night", "dunning run (sends)"),
                       ("second", "same night again")):
        lines.append(f"{label} | {r[key]['seconds']:.1f} | {r[key]['peak_mb']} | {r[key]['rc']}")
    lines.append(f"accepted by the test server: {r['accepted']:,} (same night again: {r['accepted_again']:,} more)")
    lines.append(f"send fan-out per message (render, claim, send, record): {per_message * 1000:.1f} ms; bare Prefect no-op task: "
                 f"{r['noop_seconds_per_task'] * 1000:.1f} ms ({NOOP_TASKS:,} mapped); ratio "
                 f"{per_message / r['noop_seconds_per_task']:.2f}")
    for key in ("dry_run", "night", "second"):
        if r[key]["rc"]:
            lines.append(f"{key} ended {r[key]['rc']}: " + " / ".join(r[key]["tail"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,200000", help="open invoices per database, comma separated")
    parser.add_argument("--night", action=argparse.BooleanOptionalAction, default=True,
                        help=f"also run the mid-size night ({NIGHT_INVOICES:,} invoices, {NIGHT_MESSAGES:,} messages)")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)   # one size, in a fresh process
    parser.add_argument("--noop", type=int, help=argparse.SUPPRESS)      # the no-op mapping, in a fresh process
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(arguments.measure)))
        return
    if arguments.noop:
        print(_MARK, noop_mapping(arguments.noop), flush=True)
        return
    results = []
    for size in (int(s) for s in arguments.sizes.split(",")):
        started = time.perf_counter()
        generate(size, f"dunning_bench_{size}")
        print(f"generated {size:,} open invoices in {time.perf_counter() - started:.1f} s", flush=True)
        out = subprocess.run([sys.executable, __file__, "--measure", str(size)], check=True, capture_output=True,
                             text=True, cwd=ROOT)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"measured {size:,}: {results[-1]['seconds']}", flush=True)
    night_result = night() if arguments.night else None
    print()
    print(_table(results))
    if night_result:
        print()
        print(_night_table(night_result))


if __name__ == "__main__":
    main()
