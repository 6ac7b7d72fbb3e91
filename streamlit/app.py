"""mlstack in the browser: predictions served from `models:/<name>@champion`, batch scoring,
the registered versions, and monitoring.

Run from the repository root (settings are read from the environment, `.env` and `.secrets`):

    make streamlit
    # or: streamlit run streamlit/app.py --server.address 127.0.0.1 --server.headless true

Every page is thin: the rules live in the `mlstack` package (serving, registry, prediction log).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # `streamlit run` adds it; AppTest does not
    sys.path.insert(0, str(HERE))

import mlstack_ui as ui  # noqa: E402
import streamlit as st  # noqa: E402

st.set_page_config(page_title="mlstack", page_icon=":material/model_training:", layout="wide")

pages = [
    st.Page(
        HERE / "pages" / "predict.py", title="Predict", icon=":material/online_prediction:", default=True
    ),
    st.Page(HERE / "pages" / "batch.py", title="Batch", icon=":material/table_view:"),
    st.Page(HERE / "pages" / "models.py", title="Models", icon=":material/inventory_2:"),
    st.Page(HERE / "pages" / "monitoring.py", title="Monitoring", icon=":material/monitoring:"),
]
settings, spec = ui.context()
ui.require_login(settings)  # production mode, or a password set: nothing below runs before it
navigation = st.navigation(pages)
ui.sidebar(settings, spec)
navigation.run()
