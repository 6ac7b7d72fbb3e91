"""The CI drift contract: what Jenkins' "Drift check" stage runs (`make drift-check`).

`mlstack drift ci` checks DRIFT_CURRENT (default: a fresh seeded no-drift synthetic batch) against
the champion, with the report in `<report dir>/latest.html` (+ `latest.json`) and the check's own
exit code in `<report dir>/exit-code`: 0 = no drift, 3 = drift, 2 = the check failed. make turns
any failing recipe into exit code 2, so the Jenkinsfile reads the file, not make's code.
Embedded defaults (a fresh CI workspace) have no champion yet: one is trained first. With a
tracking server configured, a missing champion is an error, not something to paper over.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from mlstack.drift.reports import LATEST_HTML, LATEST_JSON
from mlstack.drift.result import EXIT_FAILED, DriftResult

if TYPE_CHECKING:
    from mlstack.lifecycle import Context

EXIT_CODE_FILE = "exit-code"


def prepare_report_dir(report_dir: str | Path) -> Path:
    """The report folder, created, without the exit code and reports of an earlier run."""
    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (EXIT_CODE_FILE, LATEST_HTML, LATEST_JSON):
        (folder / name).unlink(missing_ok=True)
    return folder


def synthetic_batch(ctx: Context, folder: Path, rows: int, seed: int) -> str:
    """A seeded synthetic batch from the training distribution (no drift), as CSV in `folder`."""
    from mlstack.data.synthetic import generate

    path = folder / f"batch-seed{seed}.csv"
    generate(rows, seed=seed, spec=ctx.spec).to_csv(path, index=False)
    return str(path)


def run_ci(
    report_dir: str | Path,
    current: str | None = None,
    *,
    rows: int = 500,
    seed: int = 7,
    dataset: str | None = None,
) -> DriftResult:
    """The check as CI runs it; `<report dir>/exit-code` is written whatever happens (2 on error)."""
    from mlstack import lifecycle
    from mlstack.drift.check import check_drift
    from mlstack.drift.inputs import ensure_champion

    folder = prepare_report_dir(report_dir)
    code = EXIT_FAILED
    try:
        # The CI job reads batches from its own checkout, as the user's shell does.
        ctx = lifecycle.context(dataset=dataset, trusted_caller=True)
        batch = current or synthetic_batch(ctx, folder, rows, seed)
        with warnings.catch_warnings():  # a bootstrap training run's library warnings are noise here
            warnings.simplefilter("ignore")
            ensure_champion(ctx)
        result = check_drift(ctx, batch, report_dir=folder)
        code = result.exit_code
        return result
    finally:
        (folder / EXIT_CODE_FILE).write_text(f"{code}\n")
