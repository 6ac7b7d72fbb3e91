"""The password gate's rules and the formula-safe CSV export (issue 15 §3), without Streamlit."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from mlstack.errors import ConfigError
from mlstack.security.login import PasswordGate, Verdict
from mlstack.security.spreadsheet import safe_csv, safe_frame
from mlstack.serving.batch import results_csv


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_right_password_passes_and_others_do_not():
    gate = PasswordGate("correct horse battery")  # pragma: allowlist secret
    assert gate.attempt("correct horse battery").verdict is Verdict.ACCEPTED
    for wrong in ("", "correct horse batter", "correct horse battery ", "CORRECT HORSE BATTERY"):
        assert gate.attempt(wrong).verdict is Verdict.REFUSED, wrong


def test_failures_lock_every_attempt_out_then_expire():
    clock = Clock()
    gate = PasswordGate("right-one", max_failures=3, window=60, lockout=30, clock=clock)
    for _ in range(3):
        assert gate.attempt("wrong").verdict is Verdict.REFUSED
    locked = gate.attempt("right-one")
    assert locked.verdict is Verdict.THROTTLED and locked.retry_after == pytest.approx(30)
    assert "try again in 30 s" in locked.message()
    clock.now += 31
    assert gate.attempt("right-one").verdict is Verdict.ACCEPTED


def test_failures_outside_the_window_do_not_add_up():
    clock = Clock()
    gate = PasswordGate("right-one", max_failures=3, window=60, lockout=30, clock=clock)
    for _ in range(5):
        assert gate.attempt("wrong").verdict is Verdict.REFUSED
        clock.now += 31  # at most two failures in any 60 s


def test_an_empty_password_is_a_configuration_error():
    with pytest.raises(ConfigError, match="MLSTACK_UI_PASSWORD"):
        PasswordGate("")


FORMULAS = ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']


def test_every_formula_start_gets_a_quote_and_numbers_stay_numbers():
    frame = pd.DataFrame({"text": [*FORMULAS, "plain"], "number": [-1.5] * (len(FORMULAS) + 1)})
    safe = safe_frame(frame)
    assert safe["text"].tolist() == ["'" + f for f in FORMULAS] + ["plain"]
    assert safe["number"].tolist() == [-1.5] * (len(FORMULAS) + 1)
    assert frame["text"].tolist()[0] == "=1+1"  # the caller's frame is left as it was
    printable = frame[~frame["text"].str.contains("\r")]
    back = pd.read_csv(io.BytesIO(safe_csv(printable)), keep_default_na=False)
    assert all(v.startswith("'") for v in back["text"].tolist()[:-1]) and back["text"].iloc[-1] == "plain"
    assert back["number"].tolist() == [-1.5] * len(printable)


def test_the_batch_download_is_formula_safe():
    scored = pd.DataFrame({"island": ["=cmd|' /C calc'!A0", "Biscoe"], "prediction": ["Adelie", "-x"]})
    text = results_csv(scored).decode()
    assert "'=cmd" in text and "'-x" in text and ",Biscoe," in text
    assert not any(line.split(",")[1].startswith(("=", "+", "-", "@")) for line in text.splitlines()[1:])
