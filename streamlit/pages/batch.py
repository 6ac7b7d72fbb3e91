"""Batch: upload CSV/Parquet, rows checked against the spec, valid rows scored, results as CSV."""

from __future__ import annotations

import hashlib

import mlstack_ui as ui
import streamlit as st

from mlstack.errors import InputError
from mlstack.security.spreadsheet import safe_csv
from mlstack.serving import service
from mlstack.serving.batch import problems_frame, read_table, results_csv

settings, spec = ui.context()
st.title("Batch")
server, loaded = ui.current_model(settings, spec)

st.markdown(
    f"Upload a CSV or Parquet file with the columns {', '.join(f'`{n}`' for n in spec.feature_names)} "
    f"(a `{spec.target}` column may be present and is kept beside the prediction). Every row is "
    "checked against the dataset spec: valid rows are scored by the champion, invalid rows are "
    "listed with the reason."
)
upload = st.file_uploader("CSV or Parquet file", type=["csv", "parquet"], key="batch.file")
if upload is None:
    st.stop()

# server.maxUploadSize caps what Streamlit accepts; this is the same cap, checked before parsing.
if upload.size > settings.ui_max_upload_mb * 1024 * 1024:
    st.error(
        f"{upload.name}: {upload.size / 1024 / 1024:.1f} MB is over the {settings.ui_max_upload_mb} MB "
        "upload limit (MLSTACK_UI_MAX_UPLOAD_MB)"
    )
    st.stop()
data = upload.getvalue()
file_key = hashlib.sha256(data).hexdigest()
try:
    frame = read_table(upload.name, data)
except InputError as exc:
    st.error(str(exc))
    st.stop()
st.markdown(f"**{upload.name}**: {len(frame):,} rows, {len(frame.columns)} columns")

if st.button("Score rows", type="primary", key="batch.score"):
    progress = st.progress(0.0, text="Checking rows…")

    def on_progress(done: int, total: int) -> None:
        progress.progress(done / total, text=f"Scored {done:,} of {total:,} valid rows")

    try:
        served = service.predict_batch(server, frame, ui.BATCH_SOURCE, on_progress=on_progress)
    except InputError as exc:
        progress.empty()
        st.error(f"**The file does not fit the dataset spec**\n\n```\n{exc}\n```")
        st.stop()
    progress.progress(1.0, text=f"Done: {len(served.batch.scored):,} rows scored")
    st.session_state["batch.result"] = (file_key, upload.name, served)

stored = st.session_state.get("batch.result")
if stored is None or stored[0] != file_key:
    st.stop()

_, name, served = stored
result = served.batch
scored, problems = result.scored, result.problems
left, middle, right = st.columns(3)
left.metric("rows read", f"{result.rows:,}")
middle.metric("scored", f"{len(scored):,}")
right.metric("invalid", f"{len(problems):,}")
ui.model_banner(settings, result.name, result.version, result.alias, result.run_id, result.stale)

if problems:
    st.subheader(f"Invalid rows ({len(problems):,})")
    st.caption("Row numbers count data rows from 1 (the header is not a row).")
    invalid = problems_frame(frame, problems)
    st.dataframe(invalid, hide_index=True, key="batch.invalid")
    if len(problems) > len(invalid):
        st.caption(f"First {len(invalid):,} of {len(problems):,} shown; download them all below.")
    st.download_button(
        "Download invalid rows (CSV)",
        safe_csv(problems_frame(frame, problems, limit=len(problems))),
        file_name=f"{name.rsplit('.', 1)[0]}-invalid.csv",
        mime="text/csv",
        key="batch.download_invalid",
    )

if len(scored):
    st.subheader(f"Predictions ({len(scored):,})")
    st.dataframe(scored.head(1000), key="batch.scored")
    if len(scored) > 1000:
        st.caption(f"First 1,000 of {len(scored):,} rows shown; the download has all of them.")
    st.download_button(
        "Download predictions (CSV)",
        results_csv(scored),
        file_name=f"{name.rsplit('.', 1)[0]}-predictions.csv",
        mime="text/csv",
        type="primary",
        key="batch.download",
    )
    ui.show_log_outcome(
        served.log, f"Every scored row was logged to the prediction log as `{ui.BATCH_SOURCE}`."
    )
else:
    st.warning("No valid rows to score.")
