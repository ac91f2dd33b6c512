"""Property-based: whatever junk the accounting database holds, validation never crashes and never
loses a row: each one comes out typed or quarantined with a reason."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import raw_receivable, raw_receivables
from dunning.receivables import validate_receivables

AS_OF = date(2026, 3, 18)

junk = st.one_of(
    st.none(), st.text(max_size=12), st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
)
columns = st.sampled_from(["kind", "status", "due_date", "issue_date", "currency", "amount_total", "residual_now",
                           "paid_after_as_of", "email", "language", "credit_limit", "customer_id", "disputed",
                           "is_consumer", "strategic", "number", "debtor_name"])
corruption = st.dictionaries(columns, junk, max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(corruption, min_size=1, max_size=8))
def test_every_row_comes_out_typed_or_quarantined_with_a_reason(corruptions):
    raw = raw_receivables(*(raw_receivable(f"INV-{i}", **changes) for i, changes in enumerate(corruptions)))
    result = validate_receivables(raw, AS_OF)

    kept, quarantined = set(result.invoices["invoice_id"]), set(result.quarantined["source_id"])
    assert kept | quarantined == set(raw["invoice_id"]) and not kept & quarantined   # nothing lost, nothing twice
    assert all(reason and kind for reason, kind in zip(result.quarantined["reason"], result.quarantined["kind"]))
    for row in result.invoices.to_dict("records"):
        assert isinstance(row["residual"], Decimal) and isinstance(row["amount_total"], Decimal)
        assert Decimal("0") <= row["residual"] <= row["amount_total"]
        assert isinstance(row["due_date"], date) and row["currency"].isalpha() and len(row["currency"]) == 3
