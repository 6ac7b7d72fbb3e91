"""Monitoring: the latest drift report, live quality on labelled predictions (beside the offline
metric of each version) and prediction volume over time from the prediction log."""

from __future__ import annotations

import mlstack_ui as ui
import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from mlstack import tracking
from mlstack.config import mask_url_password
from mlstack.drift.reports import latest_report, latest_report_html
from mlstack.drift.result import column_rows, format_summary
from mlstack.monitoring import prediction_log
from mlstack.registry.versions import champion_version
from mlstack.serving.loader import TRAIN_HINT, registry_reachable

settings, spec = ui.context()
st.title("Monitoring")
if registry_reachable(settings) and champion_version(settings, tracking.model_name(settings, spec)) is None:
    st.info(
        f"**No champion model yet**: drift is measured against the champion's training data, and "
        f"predictions come from it.\n\n{TRAIN_HINT}",
        icon="ℹ️",
    )

# --- drift ----------------------------------------------------------------------------------
st.header("Drift")
try:
    report = latest_report(settings)
except Exception as exc:
    report = None
    st.error(f"The drift reports cannot be read: {type(exc).__name__}: {str(exc)[:200]}")
if report is None:
    st.info(
        "No drift report yet. Run a check with `mlstack drift check --current predictions:24h` "
        "(the prediction log of the last day) or `mlstack drift check --current <batch file or URI>`, "
        "or let the drift DAG run on its schedule.",
        icon="ℹ️",
    )
else:
    result = report.result
    summary = result.summary()
    col1, col2, col3 = st.columns(3)
    col1.metric("verdict", "drift detected" if summary.drift_detected else "no drift")
    col2.metric(
        "drifted columns",
        f"{summary.drifted_count}/{summary.columns_checked}",
        help=f"drift when the share reaches {summary.drift_share_threshold}",
    )
    col3.metric("champion checked", f"v{summary.champion_version}")
    st.caption(f"Checked {summary.checked_at}")
    st.text(format_summary(summary))
    link = result.mlflow.get("run_url")
    if link:
        st.markdown(f"[Open the drift run in MLflow]({link})")
    columns = pd.DataFrame(column_rows(result.columns))
    if not columns.empty:
        st.dataframe(columns, hide_index=True, key="monitoring.drift_columns")
    html = latest_report_html(settings)
    if html:
        st.download_button(
            "Download the Evidently report (HTML)", html, file_name="drift_report.html", mime="text/html"
        )
        if st.toggle("Show the full Evidently report", key="monitoring.show_report"):
            components.html(html, height=900, scrolling=True)
    st.caption(f"Report: `{report.html_uri}`")

# --- live quality ---------------------------------------------------------------------------
st.header("Live quality")
try:
    from mlstack.drift.inputs import parse_window
    from mlstack.monitoring.feedback import labelled_predictions
    from mlstack.monitoring.live_quality import by_version, offline_metric, quality_verdict, sliding

    verdict = quality_verdict(settings, spec)
    labelled = labelled_predictions(settings, model_name=tracking.model_name(settings, spec))
except Exception as exc:
    verdict, labelled = None, None
    st.error(f"Live quality cannot be computed: {type(exc).__name__}: {str(exc)[:200]}")
if verdict is not None and labelled is not None:
    if labelled.empty:
        st.info(
            "No labelled predictions yet: send ground truth with `mlstack feedback <file>` or "
            "`POST /v1/feedback` (prediction ids with their true label).",
            icon="ℹ️",
        )
    else:
        col1, col2, col3 = st.columns(3)
        live = "no verdict" if verdict.value is None or not verdict.enough_labels else f"{verdict.value:.4f}"
        col1.metric(f"live {verdict.metric} (v{verdict.version}, {verdict.window})", live)
        col2.metric("offline, at promotion", "-" if verdict.offline is None else f"{verdict.offline:.4f}")
        col3.metric(
            "labels in the window", f"{verdict.labels:,}", help=f"a verdict needs {verdict.min_labels}"
        )
        st.caption(verdict.message())
        table = by_version(labelled, verdict.metric)
        table["offline"] = [
            offline_metric(settings, verdict.model, v, verdict.metric) for v in table["model_version"]
        ]
        st.dataframe(table, hide_index=True, key="monitoring.quality_by_version")
        over_time = sliding(labelled, verdict.metric, parse_window(verdict.window))
        if not over_time.empty:
            st.line_chart(over_time, x="window_end", y=verdict.metric, color="model_version", height=240)
            st.caption(
                f"{verdict.metric} over sliding windows of {verdict.window}; the gate's floor is {verdict.floor}."
            )

# --- prediction volume ----------------------------------------------------------------------
st.header("Predictions")
freqs = {"minute": "min", "hour": "h", "day": "D"}
per = st.segmented_control("per", list(freqs), default="hour", key="monitoring.per") or "hour"
try:
    volume = prediction_log.volume_by(settings, freqs[per])
    logged = prediction_log.read_predictions(settings)
except Exception as exc:
    st.error(
        f"The prediction log (`{mask_url_password(settings.resolved_prediction_log_url)}`) cannot be read: "
        f"{type(exc).__name__}: {str(exc)[:200]}"
    )
    st.stop()

if volume.empty:
    st.info("No predictions logged yet: use the Predict or Batch page, or `mlstack predict`.", icon="ℹ️")
    st.stop()

st.metric("predictions logged", f"{int(volume['predictions'].sum()):,}")
st.bar_chart(volume, x="at", y="predictions", height=260)
by = logged.groupby(["source", "model_version"]).size().rename("predictions").reset_index()
st.dataframe(by, hide_index=True, key="monitoring.by_source")
st.subheader("Latest predictions")
st.dataframe(logged.tail(20).iloc[::-1], hide_index=True, key="monitoring.latest")
