"""B14: the staleness study (M4) on the bundled penguins data, ordered by its `year` column.

Each version is trained through one year (the spec's Pipeline and hyperparameters) and scored on
every later year; its reference is its own score on a seeded holdout of its last training year
(age 0). The ratio is the share of that quality kept at the given age. Seconds on 2 cores: 344
rows, two fits. See ``mlstack.model.staleness_study``.
"""

from __future__ import annotations

import os
import time

from benchmarks import Figure


def bench_b14(*, quick: bool = True, repeats: int = 3, log=print) -> list[Figure]:
    """B14 figures: the primary metric per version and later year, against its age-0 score."""
    from mlstack.data.spec import load_spec
    from mlstack.data.synthetic import reference_frame
    from mlstack.model.staleness_study import study

    spec = load_spec("penguins")
    frame = reference_frame(spec)
    started = time.perf_counter()
    rows = study(frame, spec, seed=42)  # deterministic: one run is every sample there is
    seconds = time.perf_counter() - started
    log(f"B14: staleness study in {seconds:.1f}s")
    baseline = {r.trained_through: r for r in rows if r.age == 0}
    return [
        Figure(
            "B14",
            f"penguins trained through {r.trained_through}, scored on {r.scored_period} "
            f"(age {r.age} y): {r.metric}",
            r.value,
            "",
            baseline[r.trained_through].value,
            f"same version on {baseline[r.trained_through].scored_rows} held-out rows of "
            f"{r.trained_through} (age 0)",
            samples=[r.value],
            reference_samples=[baseline[r.trained_through].value],
            note="report only; the age-0 holdout is small (one row ~ 0.04 of accuracy)",
            extra={
                **r.to_dict(),
                "study_seconds": round(seconds, 2),
                "load_avg_1m_after": round(os.getloadavg()[0], 1),
            },
        )
        for r in rows
        if r.age > 0
    ]
