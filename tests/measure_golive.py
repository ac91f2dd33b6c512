"""Go-live on the demo data, measured: nights 7 days apart from a first night, up to the legal queue.

    .venv/bin/python tests/measure_golive.py [--first 2026-04-01] [--nights 13] [--folder /tmp/golive]

Seeds the demo accounting data around the first night, runs the nightly flow (outbox, no SendGrid)
every 7 days, then reads the state database and prints: the step of each invoice's first message,
the registered letters (formal notices) per debtor and day, and the legal cases with their
smallest principal. Not a test: a measurement, reported in the issue notes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text


def _dunning(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).with_name("dunning")), *args], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--first", type=date.fromisoformat, default=date(2026, 4, 1))
    parser.add_argument("--nights", type=int, default=13)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/golive"))
    args = parser.parse_args()
    folder = args.folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("accounting.sqlite", "state.sqlite"):
        (folder / name).unlink(missing_ok=True)
    os.environ.update(PREFECT_HOME=str(folder / "prefect"), DUNNING_VAR_DIR=str(folder / "var"), DUNNING_STATE_URL=f"sqlite:///{folder / 'state.sqlite'}",
                      DUNNING_ACCOUNTING_URL=f"sqlite:///{folder / 'accounting.sqlite'}")
    os.environ.pop("SENDGRID_API_KEY", None)
    _dunning("demo", "seed", "--today", args.first.isoformat(), "--replace-accounting-database")
    _dunning("db", "upgrade")
    for night in range(args.nights):
        _dunning("run", "--as-of", (args.first + timedelta(days=7 * night)).isoformat())

    state = create_engine(os.environ["DUNNING_STATE_URL"])
    with state.connect() as conn:
        sent = conn.execute(text(
            "SELECT invoice_id, debtor_id, step, as_of, message_key, amount FROM actions "
            "WHERE status = 'sent' OR (status = 'queued' AND channel = 'phone') ORDER BY as_of, id")).all()
        cases = conn.execute(text("SELECT id, principal FROM legal_cases")).all()
        handed = conn.execute(text("SELECT amount FROM actions WHERE step = 'legal_handoff' "
                                   "AND status <> 'awaiting_approval'")).scalars().all()
        small = conn.execute(text("SELECT count(*) FROM actions WHERE step = 'legal_handoff' "
                                  "AND status = 'awaiting_approval'")).scalar_one()
    first: dict[str, str] = {}
    for row in sent:
        if row.step != "legal_handoff":
            first.setdefault(row.invoice_id, row.step)
    letters = Counter()
    for key in {(r.debtor_id, r.as_of, r.message_key) for r in sent if r.step == "formal_notice"}:
        letters[key[:2]] += 1
    print(f"nights: {args.nights}, {args.first} to {args.first + timedelta(days=7 * (args.nights - 1))}")
    print("first message by step:", dict(sorted(Counter(first.values()).items())))
    print(f"formal notices: {sum(1 for r in sent if r.step == 'formal_notice')} invoices in "
          f"{sum(letters.values())} registered letters; letters per debtor and day: "
          f"{dict(sorted(Counter(letters.values()).items()))}")
    principals = sorted(float(p) for p in handed)
    print(f"legal cases: {len(cases)}, invoices handed over: {len(handed)}, smallest invoice handed over: "
          f"{principals[0] if principals else '-'}, smallest case principal: "
          f"{min((float(c.principal) for c in cases), default='-')}; small claims awaiting a decision: {small}")


if __name__ == "__main__":
    main()
