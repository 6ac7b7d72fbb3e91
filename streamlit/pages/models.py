"""Models: registered versions, aliases, metrics, lineage, gate decisions, metric across versions."""

from __future__ import annotations

import altair as alt
import mlstack_ui as ui
import streamlit as st

from mlstack import tracking
from mlstack.registry import CHALLENGER, CHAMPION, history
from mlstack.registry.versions import list_versions
from mlstack.server_access import registry_problem
from mlstack.serving.loader import TRAIN_HINT

settings, spec = ui.context()
name = tracking.model_name(settings, spec)
st.title("Models")

problem = registry_problem(settings)
if problem:
    st.error(f"The model registry cannot be used: {problem}.")
    st.stop()
versions = list_versions(settings, spec)
if not versions:
    st.info(f"No registered versions of **{name}** yet.\n\n{TRAIN_HINT}", icon="ℹ️")
    st.stop()


def holder(alias: str) -> str:
    found = [v["version"] for v in versions if alias in v["aliases"]]
    return f"v{found[0]}" if found else "none"


metric = history.primary_metric(settings, spec)
col1, col2, col3 = st.columns(3)
col1.metric(f"@{CHAMPION}", holder(CHAMPION))
col2.metric(f"@{CHALLENGER}", holder(CHALLENGER))
col3.metric("registered versions", len(versions))
if holder(CHAMPION) == "none":
    st.info(f"No version of **{name}** is `@{CHAMPION}` yet.\n\n{TRAIN_HINT}", icon="ℹ️")

st.subheader(f"{metric} across versions")
across = history.metric_history(versions, metric)
if across.empty:
    st.caption(f"No version has `{metric}` logged.")
else:
    base = alt.Chart(across).encode(
        x=alt.X("version:O", title="version"),
        y=alt.Y(f"{metric}:Q", title=metric, scale=alt.Scale(zero=False)),
    )
    points = base.mark_circle(size=120).encode(
        color=alt.Color(
            "role:N", scale=alt.Scale(domain=["champion", "other"], range=["#d62728", "#1f77b4"])
        ),
        tooltip=["version", metric, "role"],
    )
    st.altair_chart((base.mark_line() + points).properties(height=280), width="stretch")
    st.caption(f"Gate: `{metric}` must meet the floor and beat the champion on the same holdout rows.")

st.subheader("Challenger in shadow")
try:
    from mlstack.monitoring.shadow import agreement, shadow_verdict

    rates = agreement(settings, name)
    verdict = shadow_verdict(settings, spec)
except Exception as exc:
    rates, verdict = None, None
    st.error(f"The shadow comparison cannot be read: {type(exc).__name__}: {str(exc)[:200]}")
if rates is not None and verdict is not None:
    if rates.empty:
        st.caption(
            f"No shadow predictions yet: while @{CHALLENGER} differs from @{CHAMPION}, it scores "
            f"a share of the traffic (MLSTACK_SHADOW_SHARE={settings.shadow_share})."
        )
    else:
        st.dataframe(
            rates,
            hide_index=True,
            column_config={"agreement": st.column_config.NumberColumn(format="%.3f")},
            key="models.shadow_agreement",
        )
    if verdict.champion_value is not None:
        col1, col2 = st.columns(2)
        col1.metric(f"champion v{verdict.champion} live {verdict.metric}", f"{verdict.champion_value:.4f}")
        col2.metric(
            f"challenger v{verdict.challenger} live {verdict.metric}", f"{verdict.challenger_value:.4f}"
        )
    st.caption(f"Shadow promotion rule (opt-in, `mlstack shadow-promote --apply`): {verdict.reason}.")

st.subheader("Versions")
table = history.versions_frame(versions, metric)
links = [ui.run_link(settings, v["run_id"]) for v in versions]
column_config = {metric: st.column_config.NumberColumn(format="%.4f")}
if any(links):
    table["mlflow"] = links
    column_config["mlflow"] = st.column_config.LinkColumn("MLflow run", display_text="open run")
st.dataframe(table, hide_index=True, column_config=column_config, key="models.versions")

st.subheader("All metrics")
st.dataframe(history.metrics_frame(versions), hide_index=True, key="models.metrics")

st.subheader("Gate decisions")
decisions = history.gate_decisions(versions)
if decisions:
    st.dataframe(decisions, hide_index=True, key="models.gate")
else:
    st.caption("No gate decision recorded yet.")

st.subheader("Lineage")
for v in versions:
    aliases = " ".join(f"@{a}" for a in v["aliases"])
    with st.expander(f"version {v['version']} {aliases}".strip()):
        st.json({"run_id": v["run_id"], "created": v["created"], "tags": v["tags"]}, expanded=True)
