"""Predict: a form generated from the dataset spec, answered by the current @champion."""

from __future__ import annotations

import mlstack_ui as ui
import pandas as pd
import streamlit as st

from mlstack.errors import InputError
from mlstack.serving import service

settings, spec = ui.context()
st.title("Predict")
st.caption(spec.description)

server, loaded = ui.current_model(settings, spec)
defaults = ui.form_defaults(spec.name, spec)

with st.form("predict"):
    columns = st.columns(2)
    values = {}
    for i, (name, feature) in enumerate(spec.features.items()):
        with columns[i % 2]:
            values[name] = ui.feature_input(name, feature, defaults.get(name))
    submitted = st.form_submit_button("Predict", type="primary")

if submitted:
    try:
        # the version the banner above names answers, even if the alias moved meanwhile
        served = service.predict(server, values, ui.PREDICT_SOURCE, loaded=loaded)
    except InputError as exc:
        st.session_state.pop("predict.last", None)
        st.error(f"**The input was not accepted**\n\n```\n{exc}\n```")
        st.stop()
    st.session_state["predict.last"] = served

served = st.session_state.get("predict.last")
if served is not None:
    prediction = served.prediction
    value = prediction.predictions[0]
    shown = value if spec.task == "classification" else f"{value:,.2f}"
    st.subheader(f"Predicted {spec.target}: {shown}")
    ui.model_banner(
        settings,
        prediction.name,
        prediction.version,
        prediction.alias,
        prediction.run_id,
        prediction.stale,
    )
    if prediction.probabilities:
        probabilities = prediction.probabilities[0]
        st.markdown(f"Probability of **{value}**: {probabilities.get(str(value), 0.0):.1%}")
        chart = pd.DataFrame({"class": list(probabilities), "probability": list(probabilities.values())})
        st.bar_chart(chart, x="class", y="probability", horizontal=True, height=200)
    ui.show_log_outcome(
        served.log,
        f"Predicted at {prediction.at} UTC; logged to the prediction log as `{ui.PREDICT_SOURCE}`.",
    )
else:
    ui.model_banner(settings, loaded.name, loaded.version, server.alias, loaded.run_id, server.stale)
