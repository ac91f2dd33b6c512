"""`make bench`: how the nightly stages scale, measured on this machine (not a test: timings are
reported, never asserted).

For each size, a PostgreSQL accounting database in the reference schema is generated with COPY
(about 10 open invoices and 2 paid invoices per debtor, due dates spread over 200 days), then one
fresh process measures, in the same run: the COPY floor (the open-receivables query copied to CSV
and read by pandas), the product's own extraction, validation, the aged balance, segmentation and
planning (pure, on an empty ledger), and its peak RSS. One table is printed at the end.

    make bench                          # 10,000 and 200,000 open invoices
    make bench BENCH_SIZES=10000,200000,1000000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
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


def _database_url(size: int) -> str:
    return f"{PG_SERVER}/dunning_bench_{size}"


def generate(size: int) -> None:
    """A fresh accounting database of `size` open invoices, filled with COPY."""
    from sqlalchemy import create_engine, text

    from dunning.sources.reference_schema import create_accounting_schema

    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS dunning_bench_{size}"))
        conn.execute(text(f"CREATE DATABASE dunning_bench_{size}"))
    admin.dispose()
    engine = create_engine(_database_url(size))
    create_accounting_schema(engine)
    rng = random.Random(size)
    debtors = max(size // INVOICES_PER_DEBTOR, 1)
    customers, invoices, payments = io.StringIO(), io.StringIO(), io.StringIO()
    for d in range(debtors):
        customers.write(f"CUS-{d:07d}\tClient {d} SAS\tcompta{d}@bench.example.fr\t\tfr\tf\t\t1 rue du Test\t"
                        f"69001\tLyon\tFR\t{rng.choice(('', '20000.00', '50000.00'))}\tf\t2024-01-01\n")
    number = 0
    for d in range(debtors):
        for _ in range(INVOICES_PER_DEBTOR):
            due = AS_OF - timedelta(days=rng.randint(-30, 200))
            amount = f"{rng.randint(10_000, 900_000) / 100:.2f}"
            invoices.write(f"INV-{number:08d}\tFA-{number:08d}\tCUS-{d:07d}\tinvoice\tposted\t{due - timedelta(days=30)}\t"
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

    policy, legal = load_settings().policy, load_legal_tables()
    engine = create_engine(_database_url(size))
    seconds: dict[str, float] = {}

    def timed(stage, work):
        start = time.perf_counter()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,200000", help="open invoices per database, comma separated")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)   # one size, in a fresh process
    arguments = parser.parse_args()
    if arguments.measure:
        print(json.dumps(measure(arguments.measure)))
        return
    results = []
    for size in (int(s) for s in arguments.sizes.split(",")):
        started = time.perf_counter()
        generate(size)
        print(f"generated {size:,} open invoices in {time.perf_counter() - started:.1f} s", flush=True)
        out = subprocess.run([sys.executable, __file__, "--measure", str(size)], check=True, capture_output=True,
                             text=True, cwd=ROOT)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"measured {size:,}: {results[-1]['seconds']}", flush=True)
    print()
    print(_table(results))


if __name__ == "__main__":
    main()
