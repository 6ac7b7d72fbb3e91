"""Rows to predict from a CSV file (CLI --file, the Batch page): only an empty cell is a null.

pandas reads "NaN", "NA" or "null" in a cell as missing; for prediction input they are text, refused
by the input checks with the field named, like the string "NaN" in JSON (issue 14).
"""

from __future__ import annotations

import pytest

from mlstack.data import sources
from mlstack.data.spec import load_spec
from mlstack.serving.batch import read_table
from mlstack.serving.inputs import check_rows

HEADER = "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n"
CSV = HEADER + "Biscoe,NaN,15,217,5200,,2008\nBiscoe,47.5,15,217,5200,,2008\nNA,47.5,15,217,5200,male,2008\n"


def problems(frame) -> dict[int, list[str]]:
    _, bad = check_rows(frame, load_spec("penguins"))
    return {p.index: p.reasons for p in bad}


@pytest.mark.parametrize(
    "read",
    [
        lambda: sources.parse(sources.RawBatch("rows.csv", CSV.encode(), "csv"), only_empty_is_missing=True),
        lambda: read_table("rows.csv", CSV.encode()),
    ],
    ids=["cli-file", "batch-page"],
)
def test_nan_or_na_written_in_a_cell_is_refused_and_an_empty_cell_is_a_null(read):
    found = problems(read())
    assert list(found) == [0, 2], found
    assert "'NaN' is not a number" in " ".join(found[0])
    assert "'NA' is not one of" in " ".join(found[2])


def test_data_sources_keep_pandas_missing_values():
    """Ingestion is unchanged: a dataset's "NA" cells are its missing values."""
    frame = sources.parse(sources.RawBatch("data.csv", CSV.encode(), "csv"))
    assert frame["island"].isna().tolist() == [False, False, True]
