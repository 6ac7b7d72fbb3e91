"""Train: fit the spec's Pipeline on a snapshot, log the run and the model to MLflow."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import tempfile
import warnings
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from mlstack import tracking
from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.lineage import lineage_tags
from mlstack.model import tuning
from mlstack.model.estimator import TRUSTED_TYPES, build, model_inputs

HOLDOUT_ARTIFACT = "holdout/holdout.parquet"  # the gate's evaluation set (new batch + pinned)
WINDOW_ARTIFACT = "window/window.json"
MODEL_NAME_IN_RUN = "model"
MODEL_URI_TAG = "mlstack.model_uri"  # MLflow 3 logged-model URI (models:/m-...)
# Explicit requirements: MLflow's inference costs seconds per log_model.
MODEL_REQUIREMENTS = ["mlflow", "scikit-learn", "pandas", "numpy", "scipy", "skops"]


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_uri: str
    dataset_id: str
    train_rows: int
    holdout_rows: int

    def to_dict(self) -> dict:
        return asdict(self)


def split_seed(dataset_id: str) -> int:
    """The holdout split is a function of the data: same dataset, same holdout rows."""
    return int(hashlib.sha256(dataset_id.encode()).hexdigest()[:8], 16)


def split(frame: pd.DataFrame, spec: DatasetSpec, dataset_id: str, fraction: float):
    from sklearn.model_selection import train_test_split

    stratify = None
    if spec.task == "classification" and frame[spec.target].value_counts().min() >= 2:
        stratify = frame[spec.target]
    return train_test_split(
        frame, test_size=fraction, random_state=split_seed(dataset_id) % (2**31), stratify=stratify
    )


class _DropServingInputCheck(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to validate serving input example")


@contextlib.contextmanager
def _without_serving_input_check_warning():
    """MLflow checks the input example by loading the model with its own loader, which refuses
    every model here (MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false): that warning is expected."""
    logger, dropped = logging.getLogger("mlflow.models.model"), _DropServingInputCheck()
    logger.addFilter(dropped)
    try:
        yield
    finally:
        logger.removeFilter(dropped)


def pinned_requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def fit(pipeline, features: pd.DataFrame, target: pd.Series, n_jobs: int, hyperparams: dict):
    """Fit on ``n_jobs`` cores; the fitted model predicts on one again (serving is per request).

    Random forests are reproducible across ``n_jobs`` (seeds are drawn before the trees are
    built), so this changes the time a fit takes, not the model. An explicit ``n_jobs``
    hyperparameter is kept for both. Returns the ``n_jobs`` used for the fit.
    """
    estimator = pipeline.named_steps["estimator"]
    if "n_jobs" in hyperparams or "n_jobs" not in estimator.get_params():
        pipeline.fit(features, target)
        return estimator.get_params().get("n_jobs")
    serving_n_jobs = estimator.n_jobs
    estimator.set_params(n_jobs=n_jobs)
    try:
        pipeline.fit(features, target)
    finally:
        estimator.set_params(n_jobs=serving_n_jobs)
    return n_jobs


def train(dataset_id: str, snapshot_uri: str, settings: Settings, spec: DatasetSpec) -> TrainResult:
    """Fit on the training window of `dataset_id` (see `data.window`); log run, window and model.

    With MLSTACK_TUNING_TRIALS > 0 the spec's search space is searched first (`model.tuning`),
    each trial a nested run of this one, and the best parameters are the ones fitted.

    The logged holdout is the gate's evaluation set: the new batch's holdout and the pinned
    set, each row marked with its part (`window.PART_COLUMN`).
    """
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.models import infer_signature

    from mlstack.data.window import assemble

    window, train_frame, holdout = assemble(settings, spec, dataset_id)
    estimator = settings.estimator or spec.estimator
    hyperparams = {**spec.hyperparams, **settings.hyperparams}

    def pipeline_for(params: dict):
        return build(
            spec,
            estimator,
            params,
            settings.seed,
            train_rows=len(train_frame),
            max_tree_samples=settings.max_tree_samples,
        )

    pipeline = pipeline_for(hyperparams)  # a bad hyperparameter stops here, before any run
    features = model_inputs(train_frame, spec)

    experiment_id = tracking.experiment_id(settings, spec)
    tags = lineage_tags(dataset_id, snapshot_uri, dataset=spec.name, step="train", **window.tags())
    with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
        if tuning.enabled(settings, spec):  # trials are nested runs of this one
            tuned = tuning.search(train_frame, spec, estimator, hyperparams, settings)
            hyperparams = {**hyperparams, **tuned.best_params}
            mlflow.set_tags(tuned.tags())
            mlflow.log_params({"tuning_trials": tuned.trials, "tuning_seconds": round(tuned.seconds, 1)})
            pipeline = pipeline_for(hyperparams)
        fit_n_jobs = fit(pipeline, features, train_frame[spec.target], settings.train_n_jobs, hyperparams)
        effective = pipeline.named_steps["estimator"].get_params()
        if effective.get("max_samples") is not None and "max_samples" not in hyperparams:
            hyperparams = {**hyperparams, "max_samples": effective["max_samples"]}
        mlflow.log_params(
            {
                "estimator": estimator,
                **{f"hp.{k}": v for k, v in hyperparams.items()},
                "dataset_id": dataset_id,
                "dataset": spec.name,
                "seed": settings.seed,
                "holdout_fraction": settings.holdout_fraction,
                "train_rows": len(train_frame),
                "holdout_rows": len(holdout),
                "fit_n_jobs": fit_n_jobs,
                "training_window": settings.training_window,
                "window_snapshots": len(window.snapshots),
            }
        )
        mlflow.log_dict(window.to_dict(), WINDOW_ARTIFACT)
        with warnings.catch_warnings():
            # a local path matches two of MLflow's source kinds; it picks the right one and says so
            warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways")
            warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
            dataset = from_pandas(
                train_frame, source=snapshot_uri, targets=spec.target, name=f"{spec.name}-window"
            )
            mlflow.log_input(dataset, context="training")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "holdout.parquet"
            holdout.to_parquet(path, index=False)
            mlflow.log_artifact(str(path), artifact_path=str(Path(HOLDOUT_ARTIFACT).parent))
        example = model_inputs(holdout.head(5), spec)
        with warnings.catch_warnings(), _without_serving_input_check_warning():
            # our integer features are never null (the spec says so); MLflow's hint is noise
            warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
            signature = infer_signature(example, pipeline.predict(example))
            info = mlflow.sklearn.log_model(
                pipeline,
                name=MODEL_NAME_IN_RUN,
                signature=signature,
                input_example=example,
                pip_requirements=pinned_requirements(),
                # MLflow's save reloads the file with this list, so a type the code's list
                # lacks fails here, at training, not later in serving.
                skops_trusted_types=list(TRUSTED_TYPES),
            )
        mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
        log_onnx_form(pipeline, model_inputs(holdout, spec), spec, settings.seed)
    return TrainResult(
        run_id=run.info.run_id,
        model_uri=info.model_uri,
        dataset_id=dataset_id,
        train_rows=len(train_frame),
        holdout_rows=len(holdout),
    )


def log_onnx_form(pipeline, holdout: pd.DataFrame, spec: DatasetSpec, seed: int) -> None:
    """Log the pipeline's ONNX form when it matches the pipeline, and the outcome as a run tag.

    Done here, not at registration: the fitted pipeline and its holdout are in memory (no second
    download and load), and registration copies the run's `mlstack.*` tags onto the version.
    """
    import mlflow

    from mlstack.model import onnx_form

    form = onnx_form.build(pipeline, holdout, spec, seed)
    if form.data is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(onnx_form.ONNX_ARTIFACT).name
            path.write_bytes(form.data)
            mlflow.log_artifact(str(path), artifact_path=str(Path(onnx_form.ONNX_ARTIFACT).parent))
    mlflow.set_tag(onnx_form.ONNX_TAG, form.tag_value)


def run_model_uri(run_id: str) -> str:
    """The run's logged model: MLflow 3 keeps it as a LoggedModel, not under the run's artifacts."""
    import mlflow

    tags = mlflow.MlflowClient().get_run(run_id).data.tags
    return tags.get(MODEL_URI_TAG) or f"runs:/{run_id}/{MODEL_NAME_IN_RUN}"


def load_holdout(run_id: str) -> pd.DataFrame:
    import mlflow

    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=HOLDOUT_ARTIFACT)
    return pd.read_parquet(io.BytesIO(Path(local).read_bytes()))


def evaluate(run_id: str, settings: Settings, spec: DatasetSpec) -> dict:
    """Score the run's model on its evaluation set; log metrics (overall, per part, per slice)
    and plots to the run, and the metrics to its LoggedModel with the evaluation dataset.

    NumericInstabilityError when the outputs hold NaN/inf or probabilities not summing to 1.
    """
    import matplotlib.pyplot as plt
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    from mlstack.data.window import parts_of
    from mlstack.model.artifact import load_pipeline
    from mlstack.model.evaluate import ALL, breakdown, metric_key, plots, scores
    from mlstack.model.stability import check_outputs

    tracking.configure(settings)
    holdout = load_holdout(run_id)
    model_uri = run_model_uri(run_id)
    model = load_pipeline(model_uri, f"run {run_id}")
    features, target = model_inputs(holdout, spec), holdout[spec.target]
    predicted, proba = scores(model, features, spec)  # once, for the metrics and the plots
    check_outputs(predicted, proba, f"run {run_id} on its holdout")
    groups = breakdown(model, holdout, spec, parts_of(holdout), predicted, proba)
    metrics = {k: v for k, v in groups[ALL].items() if k != "rows"}
    logged = {
        metric_key(group, name): value
        for group, values in groups.items()
        for name, value in values.items()
        if name != "rows"
    }
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(logged)
        if model_id:  # MLflow 3: the LoggedModel carries them too, so its UI can rank models
            with warnings.catch_warnings():  # the spec says integer features are never null
                warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
                dataset = from_pandas(holdout, targets=spec.target, name=f"{spec.name}-evaluation")
                mlflow.log_input(dataset, context="evaluation")
                mlflow.log_metrics(metrics, model_id=model_id, dataset=dataset)
        for name, figure in plots(model, features, target, spec, settings.seed, predicted).items():
            mlflow.log_figure(figure, f"plots/{name}")
            plt.close(figure)
    return metrics
