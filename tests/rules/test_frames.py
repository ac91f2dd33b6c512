"""dunning.rules.frames.records: the rows of a frame as plain dicts, the values to_dict("records") gives."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from dunning.rules.frames import records


def test_records_give_the_python_values_pandas_would():
    frame = pd.DataFrame({
        "count": [1, 2], "ratio": [1.5, np.nan], "amount": pd.Series([Decimal("1.10"), None], dtype=object),
        "due": pd.Series([date(2026, 1, 1), None], dtype=object), "flag": [True, False],
        "at": pd.to_datetime(["2026-01-01", None]), "name": ["Dupont", None],
    })

    rows, expected = records(frame), frame.to_dict("records")

    assert [list(r) for r in rows] == [list(frame.columns)] * 2
    for row, wanted in zip(rows, expected):
        for column, value in wanted.items():
            got = row[column]
            assert type(got) is type(value), column
            assert got == value or (isinstance(value, float) and math.isnan(got)) or value is pd.NaT, column
    assert rows[0]["amount"] == Decimal("1.10") and type(rows[0]["count"]) is int and rows[0]["flag"] is True


def test_records_of_empty_frames():
    assert records(pd.DataFrame(columns=["a", "b"])) == []
    assert records(pd.DataFrame(index=range(2))) == [{}, {}]
