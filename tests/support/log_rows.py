"""The prediction log's direct INSERT against SQLAlchemy's own: the same rows, read back alike."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from mlstack.config import Settings
from mlstack.monitoring.prediction_log import engine_for, log_predictions, predictions
from mlstack.serving.scoring import Prediction

FEATURES = pd.DataFrame(
    {
        "island": np.array(["Dream", None], dtype=object),
        "bill_length_mm": [45.1, np.nan],  # NaN: a missing number, logged as null
        "year": np.array([2008, 2009], dtype="int64"),
    }
)
INPUTS = [
    {"island": "Dream", "bill_length_mm": 45.1, "year": 2008},
    {"island": None, "bill_length_mm": None, "year": 2009},
]
RESULT = Prediction(
    ["Adelie", "Gentoo"],
    [{"Adelie": 0.7, "Chinstrap": 0.1, "Gentoo": 0.2}, {"Adelie": 1 / 3, "Chinstrap": 0.0, "Gentoo": 2 / 3}],
    "penguins-classifier",
    "12",
    "champion",
    "run",
)


def assert_rows_as_sqlalchemy_writes_them(settings: Settings) -> None:
    """Log RESULT twice (from a frame, then from columns, as shadow rows), and the same rows once
    through SQLAlchemy's insert with its JSON and type processing: every column reads back alike."""
    engine = engine_for(settings.resolved_prediction_log_url)
    columns = {name: FEATURES[name].to_numpy() for name in FEATURES.columns}
    assert log_predictions(settings, FEATURES, RESULT, "api", ["a" * 32, "b" * 32]) == 2
    assert log_predictions(settings, columns, RESULT, "api", ["c" * 32, "d" * 32], shadow=True) == 2
    now = datetime.now(UTC)
    reference = [
        {
            "at": now,
            "prediction_id": pid,
            "model_name": RESULT.name,
            "model_version": RESULT.version,
            "source": "api",
            "inputs": inputs,
            "output": {"prediction": RESULT.predictions[i], "probabilities": RESULT.probabilities[i]},
            "shadow": False,
        }
        for i, (pid, inputs) in enumerate(zip(["e" * 32, "f" * 32], INPUTS, strict=True))
    ]
    with engine.begin() as conn:
        conn.execute(predictions.insert(), reference)
        rows = conn.execute(sa.select(predictions).order_by(predictions.c.id)).mappings().all()
    ours, theirs = [dict(r) for r in rows[-6:-2]], [dict(r) for r in rows[-2:]]
    assert [r["prediction_id"] for r in ours] == ["a" * 32, "b" * 32, "c" * 32, "d" * 32]
    assert [r["shadow"] for r in ours] == [False, False, True, True]
    for row in ours:
        assert type(row["at"]) is type(theirs[0]["at"])
        assert abs((row["at"] - theirs[0]["at"]).total_seconds()) < 60
    keys = ["model_name", "model_version", "source", "inputs", "output"]
    assert [{k: r[k] for k in keys} for r in ours] == [{k: r[k] for k in keys} for r in theirs * 2]
