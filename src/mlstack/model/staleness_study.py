"""The staleness study (M4): how a model's quality changes with its age, on time-ordered data.

For each period but the last (a year of the bundled penguins data), one model version is trained
on every row up to that period, with the spec's own Pipeline and hyperparameters, and scored on
each later period. Age 0 is that version's score on a seeded holdout of its own last period,
kept out of its training rows, so every later score has a baseline measured the same way.

Pure apart from fitting: rows in, a table out. No MLflow run or registry version is made; a
"version" here is "the model trained through period P".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from mlstack.data.spec import DatasetSpec
from mlstack.errors import ConfigError
from mlstack.model.estimator import build, model_inputs

HOLDOUT_FRACTION = 0.25  # of the last training period: the age-0 baseline


@dataclass(frozen=True)
class StalenessRow:
    """One version scored on one period."""

    trained_through: int  # the version's last training period
    scored_period: int
    age: int  # periods between the two (0 = held-out rows of its own last period)
    train_rows: int
    scored_rows: int
    metric: str
    value: float
    change: float  # value minus the version's age-0 value

    def to_dict(self) -> dict:
        """Every field, as JSON carries it."""
        return asdict(self)


def study(
    frame: pd.DataFrame, spec: DatasetSpec, seed: int, period: str = "year", metric: str | None = None
) -> list[StalenessRow]:
    """Every version (trained through each period but the last) scored on each later period."""
    from sklearn.model_selection import train_test_split

    from mlstack.model.evaluate import compute_metrics

    metric = metric or spec.gate.metric
    if period not in frame.columns:
        raise ConfigError(f"staleness study: the data has no period column {period!r}")
    frame = frame.dropna(subset=[spec.target, period])
    periods = sorted(int(p) for p in frame[period].unique())
    if len(periods) < 2:
        raise ConfigError(f"staleness study: {period!r} has {len(periods)} value(s); it needs 2 or more")
    rows: list[StalenessRow] = []
    for index, last in enumerate(periods[:-1]):
        current = frame[frame[period] == last]
        kept, held_out = train_test_split(current, test_size=HOLDOUT_FRACTION, random_state=seed)
        train = pd.concat([frame[frame[period] < last], kept])
        model = build(spec, spec.estimator, spec.hyperparams, seed)
        model.fit(model_inputs(train, spec), train[spec.target])
        baseline = None
        for scored_period, scored in [(last, held_out)] + [
            (later, frame[frame[period] == later]) for later in periods[index + 1 :]
        ]:
            value = compute_metrics(model, model_inputs(scored, spec), scored[spec.target], spec)[metric]
            baseline = value if baseline is None else baseline
            rows.append(
                StalenessRow(
                    trained_through=last,
                    scored_period=scored_period,
                    age=scored_period - last,
                    train_rows=len(train),
                    scored_rows=len(scored),
                    metric=metric,
                    value=float(value),
                    change=float(value - baseline),
                )
            )
    return rows


def to_markdown(rows: list[StalenessRow], period: str = "year") -> str:
    """The study as a markdown table, one row per version and scored period."""
    metric = rows[0].metric if rows else "metric"
    lines = [
        f"| trained through {period} | scored {period} | age ({period}s) | train rows | scored rows "
        f"| {metric} | change from age 0 |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.trained_through} | {r.scored_period}{' (held out)' if r.age == 0 else ''} | {r.age} "
        f"| {r.train_rows} | {r.scored_rows} | {r.value:.4f} | {r.change:+.4f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"
