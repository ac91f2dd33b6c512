"""The reference accounting schema and the demo seeder, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import re
import uuid
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from dunning.rules.money import to_money
from dunning.sources.demo import SeedReport, seed_demo
from dunning.sources.demo_bad_rows import BAD_ROWS
from dunning.sources.reference_schema import create_accounting_schema, drop_accounting_schema

TODAY = date(2026, 3, 16)
PG_ADMIN_URL = os.environ.get("DUNNING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BAD_IDS = {bad.id for bad in BAD_ROWS}


def sqlite_engine(path: Path) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(f"sqlite:///{path}")


def fetch(engine: sqlalchemy.Engine, sql: str, **parameters: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(sqlalchemy.text(sql), parameters).mappings()]


def dump(engine: sqlalchemy.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            name: [tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {name} ORDER BY id")]
            for name in ("customers", "invoices", "payments")
        }


def day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[sqlalchemy.Engine, SeedReport]]:
    """The default demo (400 customers, 3000 invoices, seed 42) as of TODAY."""
    engine = sqlite_engine(tmp_path_factory.mktemp("demo") / "accounting.db")
    report = seed_demo(engine, today=TODAY)
    yield engine, report
    engine.dispose()


@pytest.fixture(scope="module")
def customers(demo) -> list[dict[str, Any]]:
    return fetch(demo[0], "SELECT * FROM customers")


@pytest.fixture(scope="module")
def invoices(demo) -> list[dict[str, Any]]:
    return fetch(demo[0], "SELECT * FROM invoices")


@pytest.fixture(scope="module")
def payments(demo) -> list[dict[str, Any]]:
    return fetch(demo[0], "SELECT * FROM payments")


# --- Schema -------------------------------------------------------------------------------------


def test_schema_stores_the_junk_a_customer_database_may_hold(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "junk.db")
    create_accounting_schema(engine)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("INSERT INTO customers (id, name, email) VALUES ('C1', 'Garage Petit SARL', 'a@@b')")
        )
        connection.execute(sqlalchemy.text(
            "INSERT INTO invoices (id, number, customer_id, kind, status, issue_date, due_date, currency,"
            " amount_total, amount_residual)"
            " VALUES ('I1', 'FA-1', 'C1', 'invoice', 'posted', '2026-01-05', NULL, 'EUX', 100, -5)"
        ))
    (customer,) = fetch(engine, "SELECT language, country, is_consumer, strategic FROM customers")
    (invoice,) = fetch(engine, "SELECT disputed, due_date FROM invoices")
    assert customer == {"language": "fr", "country": "FR", "is_consumer": 0, "strategic": 0}
    assert invoice == {"disputed": 0, "due_date": None}


def test_schema_creates_the_extraction_indexes(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "indexes.db")
    create_accounting_schema(engine)
    indexes = {row["name"] for row in fetch(engine, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {
        "ix_invoices_customer_id", "ix_invoices_kind_status",
        "ix_payments_invoice_id", "ix_payments_customer_id_paid_on",
    } <= indexes


def test_drop_then_create_again(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "again.db")
    drop_accounting_schema(engine)  # nothing to drop yet
    create_accounting_schema(engine)
    drop_accounting_schema(engine)
    create_accounting_schema(engine)
    assert fetch(engine, "SELECT count(*) AS n FROM invoices") == [{"n": 0}]


def test_unknown_dialect_is_named() -> None:
    engine = sqlalchemy.create_mock_engine("mysql://", lambda *args, **kwargs: None)
    with pytest.raises(ValueError, match="'mysql'"):
        create_accounting_schema(engine)
    with pytest.raises(ValueError, match="'mysql'"):
        drop_accounting_schema(engine)


# --- Seeder arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"today": datetime(2026, 3, 16, 12, 0)}, TypeError),
        ({"today": TODAY, "customers": 3}, ValueError),
        ({"today": TODAY, "invoices": 10}, ValueError),
    ],
)
def test_seed_rejects_bad_arguments(tmp_path: Path, arguments: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        seed_demo(sqlite_engine(tmp_path / "rejected.db"), **arguments)


# --- Reproducibility ----------------------------------------------------------------------------


def test_same_seed_and_day_give_identical_rows(tmp_path: Path, demo) -> None:
    again = sqlite_engine(tmp_path / "again.db")
    assert seed_demo(again, today=TODAY) == demo[1]
    assert dump(again) == dump(demo[0])


def test_reseeding_replaces_the_previous_data(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "twice.db")
    seed_demo(engine, customers=30, invoices=200, seed=7, today=TODAY)
    first = dump(engine)
    seed_demo(engine, customers=30, invoices=200, seed=7, today=TODAY)
    assert dump(engine) == first


def test_another_seed_gives_other_rows(tmp_path: Path, demo) -> None:
    other = sqlite_engine(tmp_path / "other.db")
    seed_demo(other, seed=43, today=TODAY)
    mine, theirs = dump(demo[0]), dump(other)
    assert mine["customers"] != theirs["customers"]
    assert mine["invoices"] != theirs["invoices"]
    assert mine["payments"] != theirs["payments"]


# --- Consistency --------------------------------------------------------------------------------


def test_report_counts_the_stored_rows(demo, customers, invoices, payments) -> None:
    report = demo[1]
    assert report == SeedReport(
        customers=len(customers),
        invoices=sum(1 for row in invoices if row["kind"] == "invoice"),
        credit_notes=sum(1 for row in invoices if row["kind"] == "credit_note"),
        payments=len(payments),
        bad_rows=len(BAD_ROWS),
    )
    assert (report.customers, report.invoices) == (400, 3000)
    assert str(report) == (
        f"Seeded 400 customers, 3000 invoices, {report.credit_notes} credit notes and "
        f"{report.payments} payments (6 deliberately bad rows to quarantine)"
    )


def test_posted_invoice_residual_is_its_total_minus_its_payments(invoices, payments) -> None:
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for payment in payments:
        if payment["invoice_id"] is not None:
            paid[payment["invoice_id"]] += to_money(payment["amount"])
    posted = [
        row for row in invoices
        if row["kind"] == "invoice" and row["status"] == "posted" and row["id"] not in BAD_IDS
    ]
    assert len(posted) > 2500
    for row in posted:
        total, residual = to_money(row["amount_total"]), to_money(row["amount_residual"])
        assert residual == total - paid[row["id"]], row["number"]
        assert Decimal("0.00") <= residual <= total, row["number"]


def test_payments_fall_between_issue_and_today(invoices, payments) -> None:
    issued = {row["id"]: day(row["issue_date"]) for row in invoices}
    for payment in payments:
        paid_on = day(payment["paid_on"])
        assert paid_on <= TODAY, payment["id"]
        if payment["invoice_id"] is not None:
            assert paid_on > issued[payment["invoice_id"]], payment["id"]
            assert to_money(payment["amount"]) > 0, payment["id"]


def test_only_posted_invoices_are_paid(invoices, payments) -> None:
    status = {row["id"]: (row["kind"], row["status"]) for row in invoices}
    assert {status[p["invoice_id"]] for p in payments if p["invoice_id"]} == {("invoice", "posted")}


def test_amounts_are_cents_within_the_demo_range(invoices) -> None:
    for row in invoices:
        if row["id"] in BAD_IDS:
            continue
        total = to_money(row["amount_total"])
        floor = Decimal("50.00") if row["kind"] == "invoice" else Decimal("10.00")
        assert floor <= total <= Decimal("25000.00"), row["number"]
        assert Decimal(str(row["amount_total"])) == total, row["number"]  # no third decimal


def test_documents_are_numbered_in_date_order(invoices) -> None:
    posted = sorted(
        (row for row in invoices if row["kind"] == "invoice" and row["status"] != "draft" and row["id"] not in BAD_IDS),
        key=lambda row: row["id"],
    )
    assert [row["issue_date"] for row in posted] == sorted(row["issue_date"] for row in posted)
    assert all(re.fullmatch(r"FA-20\d\d-\d{5}", row["number"]) for row in posted)


# --- Mix ----------------------------------------------------------------------------------------


def share(rows: list[dict[str, Any]], predicate: Callable[[dict[str, Any]], bool]) -> float:
    return sum(1 for row in rows if predicate(row)) / len(rows)


def siren_is_valid(siren: str) -> bool:
    digits = [int(char) for char in siren]
    doubled = [d * 2 - 9 if d * 2 > 9 else d * 2 for d in digits[-2::-2]]
    return len(siren) == 9 and (sum(digits[-1::-2]) + sum(doubled)) % 10 == 0


def test_customer_mix(customers) -> None:
    assert 0.12 <= share(customers, lambda c: c["is_consumer"]) <= 0.18
    assert 0.03 <= share(customers, lambda c: c["email"] is None) <= 0.07
    assert 0.06 <= share(customers, lambda c: c["language"] == "en") <= 0.10
    assert 0.02 <= share(customers, lambda c: c["strategic"]) <= 0.05
    businesses = [c for c in customers if not c["is_consumer"]]
    assert 0.75 <= share(businesses, lambda c: c["credit_limit"] is not None) <= 0.95


def test_businesses_have_a_valid_siren_and_consumers_none(customers) -> None:
    sirens = [c["siren"] for c in customers if not c["is_consumer"]]
    assert all(siren_is_valid(siren) for siren in sirens)
    assert len(set(sirens)) == len(sirens)
    assert all(c["siren"] is None and not c["strategic"] for c in customers if c["is_consumer"])


def test_customers_look_french(customers) -> None:
    for customer in customers:
        assert re.fullmatch(r"\d{5}", customer["postal_code"]), customer["id"]
        assert customer["country"] == "FR" and customer["address_line"] and customer["city"]
        if not customer["is_consumer"]:
            assert re.search(r" (SAS|SARL|SA|EURL|SASU)$", customer["name"]), customer["name"]
    emails = [c["email"] for c in customers if c["email"] and c["id"] not in BAD_IDS]
    assert all(re.fullmatch(r"[a-z0-9.-]+@[a-z0-9-]+(\.[a-z0-9-]+)+", email) for email in emails)


def test_invoice_mix(invoices) -> None:
    own = [row for row in invoices if row["kind"] == "invoice" and row["id"] not in BAD_IDS]
    assert 0.015 <= share(own, lambda row: row["currency"] == "USD") <= 0.05
    assert {row["currency"] for row in own} == {"EUR", "USD"}
    assert 0.01 <= share(own, lambda row: row["disputed"]) <= 0.03
    assert all(row["disputed_reason"] for row in own if row["disputed"])
    assert all(row["disputed_reason"] is None for row in own if not row["disputed"])
    statuses = {row["status"] for row in own}
    assert statuses == {"draft", "posted", "cancelled"}
    partial = [
        row for row in own
        if row["status"] == "posted" and 0 < to_money(row["amount_residual"]) < to_money(row["amount_total"])
    ]
    assert len(partial) >= 30


def test_credit_notes_some_with_unallocated_credit(invoices) -> None:
    notes = [row for row in invoices if row["kind"] == "credit_note"]
    assert len(notes) >= 60
    assert {row["status"] for row in notes} == {"posted"}
    residuals = [to_money(row["amount_residual"]) for row in notes]
    assert any(residual == 0 for residual in residuals)
    assert any(residual > 0 for residual in residuals)
    assert all(re.fullmatch(r"AV-20\d\d-\d{5}", row["number"]) for row in notes)


def test_some_payments_are_unallocated(payments) -> None:
    unallocated = [p for p in payments if p["invoice_id"] is None]
    assert 5 <= len(unallocated) <= 50


def aging_bucket(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "not_due"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "90+"


@pytest.mark.parametrize("bucket", ["not_due", "1-30", "31-60", "61-90", "90+"])
def test_every_aging_bucket_has_open_invoices(invoices, bucket: str) -> None:
    open_in_bucket = [
        row for row in invoices
        if row["kind"] == "invoice" and row["status"] == "posted" and not row["disputed"]
        and row["id"] not in BAD_IDS and to_money(row["amount_residual"]) > Decimal("1.00")
        and aging_bucket((TODAY - day(row["due_date"])).days) == bucket
    ]
    assert len(open_in_bucket) >= 10


def test_small_seed_still_covers_every_aging_bucket(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "small.db")
    seed_demo(engine, customers=10, invoices=50, seed=1, today=TODAY)
    rows = fetch(engine, "SELECT * FROM invoices WHERE kind = 'invoice' AND status = 'posted'")
    buckets = {
        aging_bucket((TODAY - day(row["due_date"])).days)
        for row in rows
        if row["id"] not in BAD_IDS and to_money(row["amount_residual"]) > Decimal("1.00")
    }
    assert buckets == {"not_due", "1-30", "31-60", "61-90", "90+"}


# --- Bad rows -----------------------------------------------------------------------------------

BAD_ROW_CHECKS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "INV-BAD-01": lambda row: to_money(row["amount_residual"]) < 0,
    "INV-BAD-02": lambda row: to_money(row["amount_residual"]) > to_money(row["amount_total"]),
    "INV-BAD-03": lambda row: row["currency"] == "EUX",
    "INV-BAD-04": lambda row: row["due_date"] is None,
    "CUS-BAD-01": lambda row: row["email"] == "compta@@exemple",
    "INV-BAD-05": lambda row: (
        row["customer_id"] == "CUS-BAD-01" and day(row["due_date"]) < TODAY
        and to_money(row["amount_residual"]) == to_money(row["amount_total"]) > 0
    ),
}


def test_every_bad_row_has_a_check() -> None:
    assert set(BAD_ROW_CHECKS) == BAD_IDS
    assert len(BAD_ROWS) == 6


@pytest.mark.parametrize("bad", BAD_ROWS, ids=lambda bad: bad.id)
def test_bad_row_is_stored_with_its_defect(demo, bad) -> None:
    query = {"customers": "SELECT * FROM customers WHERE id = :id", "invoices": "SELECT * FROM invoices WHERE id = :id"}
    (row,) = fetch(demo[0], query[bad.table], id=bad.id)
    assert BAD_ROW_CHECKS[bad.id](row), bad.defect
    if bad.table == "invoices":
        assert row["number"] == bad.number
        assert (row["kind"], row["status"]) == ("invoice", "posted")


def test_bad_rows_have_no_payments(payments) -> None:
    assert not [p for p in payments if p["invoice_id"] in BAD_IDS]


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_seed_on_postgresql() -> None:
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"dunning_seed_{uuid.uuid4().hex[:12]}"
    quoted = admin.dialect.identifier_preparer.quote(name)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
    except sqlalchemy.exc.OperationalError as error:
        admin.dispose()
        pytest.fail(f"PostgreSQL is required at {PG_ADMIN_URL} (set DUNNING_TEST_PG_URL): {error}")
    engine = sqlalchemy.create_engine(make_url(PG_ADMIN_URL).set(database=name))
    try:
        create_accounting_schema(engine)
        report = seed_demo(engine, customers=30, invoices=200, today=TODAY)
        counts = fetch(engine, """
            SELECT (SELECT count(*) FROM customers) AS customers,
                   (SELECT count(*) FROM invoices WHERE kind = 'invoice') AS invoices,
                   (SELECT count(*) FROM invoices WHERE kind = 'credit_note') AS credit_notes,
                   (SELECT count(*) FROM payments) AS payments
        """)
        assert counts == [{
            "customers": 30, "invoices": 200,
            "credit_notes": report.credit_notes, "payments": report.payments,
        }]
        assert report.bad_rows == 6
        inconsistent = fetch(engine, """
            SELECT i.number
            FROM invoices i
            LEFT JOIN (SELECT invoice_id, SUM(amount) AS paid FROM payments GROUP BY invoice_id) p
                   ON p.invoice_id = i.id
            WHERE i.kind = 'invoice' AND i.status = 'posted' AND i.id NOT LIKE 'INV-BAD-%'
              AND i.amount_residual <> i.amount_total - COALESCE(p.paid, 0)
        """)
        assert inconsistent == []
        (bad,) = fetch(engine, "SELECT * FROM invoices WHERE id = :id", id="INV-BAD-01")
        assert bad["amount_residual"] == Decimal("-80.00") and bad["disputed"] is False
        assert isinstance(bad["issue_date"], date)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        admin.dispose()
