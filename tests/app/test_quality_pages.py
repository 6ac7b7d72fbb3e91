"""Live quality on the Monitoring page and the challenger in shadow on the Models page
(`streamlit.testing.v1.AppTest`, a real embedded registry with a model trained by the pipeline)."""

from __future__ import annotations

import pandas as pd
import pytest

from mlstack.config import load_settings
from mlstack.monitoring.feedback import record_feedback
from mlstack.monitoring.prediction_log import log_predictions
from mlstack.serving import service
from mlstack.serving.loader import ModelServer
from mlstack.serving.scoring import Prediction
from tests.app.support import GOOD_ROW, SPEC, assert_no_exception, open_app, texts

pytestmark = pytest.mark.app


def _frame(at, column: str) -> pd.DataFrame:
    """The one table with `column` (AppTest does not expose a table's key)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def _labelled_traffic(rows: int = 60) -> list[str]:
    """Served predictions of v1, labels for all of them (half wrong), and a shadow "v2" that
    agrees on half of them."""
    settings = load_settings()
    served = service.predict(ModelServer(settings, SPEC), [GOOD_ROW] * rows, "test")
    ids = list(served.prediction_ids)  # the champion answers Gentoo for this row
    truth = ["Gentoo"] * (rows // 2) + ["Adelie"] * (rows - rows // 2)
    shadow = Prediction(
        ["Gentoo"] * (rows // 2) + ["Chinstrap"] * (rows - rows // 2),
        None,
        served.prediction.name,
        "2",
        "challenger",
        "r",
    )
    log_predictions(settings, served.features, shadow, "test", ids, shadow=True)
    record_feedback(settings, SPEC, pd.DataFrame({"prediction_id": ids, "species": truth}), "test")
    return ids


def test_monitoring_shows_live_quality_beside_the_offline_metric(app_home, trained_home):
    at = open_app("monitoring")
    assert any("No labelled predictions yet" in i for i in texts(at, "info"))
    _labelled_traffic()
    at = open_app("monitoring")
    assert_no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    live = metrics["live f1_macro (v1, 7d)"]
    assert float(live) < 0.8  # half the labels disagree with the champion
    offline = trained_home[1]["metrics"]["f1_macro"]
    assert metrics["offline, at promotion"] == f"{offline:.4f}"
    assert metrics["labels in the window"] == "60"
    table = _frame(at, "offline")
    assert set(zip(table["model_version"], table["shadow"], strict=True)) == {("1", False), ("2", True)}
    assert "BELOW the floor" in " ".join(texts(at, "caption"))


def test_models_page_shows_the_shadow_agreement(app_home):
    _labelled_traffic()
    at = open_app("models")
    assert_no_exception(at)
    rates = _frame(at, "agreement")
    row = rates.iloc[0]
    assert (row["champion_version"], row["challenger_version"], row["rows"]) == ("1", "2", 60)
    assert row["agreement"] == pytest.approx(0.5)
    assert any("Shadow promotion rule" in c for c in texts(at, "caption"))
