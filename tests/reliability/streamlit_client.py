"""A minimal Streamlit session over its real WebSocket protocol (what a browser tab does).

Connects to ``/_stcore/stream``, runs the page (a ``rerun_script`` BackMsg), learns the widget ids
from the deltas, then submits the Predict form by sending a rerun with the form's submit button
triggered. Each ForwardMsg is parsed with Streamlit's own protobuf classes; a run ends at
``script_finished``. Loopback only.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect as websocket_connect


@dataclass
class RunResult:
    seconds: float
    texts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # exception elements and st.error alerts
    warnings: list[str] = field(default_factory=list)
    widgets: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (type, label)


class StreamlitSession:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.url = f"ws://{host}:{port}/_stcore/stream"
        self.conn = None
        self.widgets: dict[str, tuple[str, str]] = {}
        self.page_script_hash = ""

    async def connect(self, timeout: float = 30) -> None:
        self.conn = await asyncio.wait_for(
            websocket_connect(self.url, subprotocols=["streamlit"], max_size=64 * 1024 * 1024), timeout
        )

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None

    async def run(self, widget_states: list | None = None, timeout: float = 120) -> RunResult:
        """Send one rerun and read ForwardMsgs until the script finished."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = ""
        state.page_script_hash = self.page_script_hash
        for widget in widget_states or []:
            state.widget_states.widgets.append(widget)
        started = time.perf_counter()
        await self.conn.send(msg.SerializeToString())
        result = RunResult(0.0)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no script_finished after {timeout}s")
            raw = await asyncio.wait_for(self.conn.recv(), remaining)
            if isinstance(raw, str):
                continue
            fwd = ForwardMsg.FromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                self.page_script_hash = self.page_script_hash or fwd.new_session.page_script_hash
            elif kind == "delta":
                self._element(fwd, result)
            elif kind == "script_finished":
                result.seconds = time.perf_counter() - started
                result.widgets = dict(self.widgets)
                return result

    def _element(self, fwd: ForwardMsg, result: RunResult) -> None:
        delta = fwd.delta
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind is None:
            return
        body = getattr(element, kind)
        if kind == "exception":
            result.errors.append(f"exception {body.type}: {body.message}")
        elif kind == "alert":
            text = body.body
            # Alert.Format: ERROR=1, WARNING=2 (streamlit/proto/Alert.proto)
            (result.errors if body.format == 1 else result.warnings).append(text)
        elif kind in ("heading", "markdown", "text"):
            result.texts.append(body.body)
        if hasattr(body, "id") and body.id and hasattr(body, "label"):
            self.widgets[body.id] = (kind, body.label)

    def submit_states(self, button_label: str) -> list:
        """Widget states that press the form submit button labelled ``button_label``."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        for wid, (kind, label) in self.widgets.items():
            if kind == "button" and label == button_label:
                state = WidgetState(id=wid)
                state.trigger_value = True
                return [state]
        raise LookupError(f"no button {button_label!r} among {sorted(set(self.widgets.values()))}")
