"""`kzoo evaluate`: accuracy, loss, per-class precision / recall / F1 and a confusion matrix of a
finished run or an exported SavedModel, on a dataset's test split."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from kzoo.utils.errors import UserError
from kzoo.utils.files import atomic_write_bytes, atomic_write_json, read_json


def evaluate(target, *, dataset: str | None = None, out_dir=None, data_dir=None,
             manual_dir=None) -> dict:
    """Evaluate a finished run directory or an exported SavedModel on a test split.

    A run is evaluated with its own data pipeline (same split and normalisation as in training),
    so `dataset` may only name the run's own dataset; a SavedModel takes raw inputs and may be
    evaluated on any dataset of its input shape and classes (default: the one it was trained on).

    Args:
        target: a run directory (`kzoo train`'s) or a SavedModel (`<root>/<name>[/<version>]`).
        dataset: the dataset whose test split is used (default: the model's own).
        out_dir: where `evaluation.json` and `confusion.png` go (default: `<run>/evaluation` or
            `evaluations/<name>-<version>`).
        data_dir, manual_dir: TFDS' directories.

    Returns:
        `{"target", "dataset", "examples", "accuracy", "loss", "per_class": [{class, precision,
        recall, f1, support}], "confusion": [[...]], "files": {...}}`.

    Example:
        >>> report = evaluate("runs/quickstart/resnet20-digits")
        >>> report["accuracy"], report["per_class"][0]["f1"]
    """
    target = Path(target)
    if not target.exists():
        raise UserError(f"no such run directory or SavedModel: {str(target)!r}")
    if out_dir is not None and os.path.lexists(out_dir) and not Path(out_dir).is_dir():
        raise UserError(f"--out {str(out_dir)!r} is not a folder; name a folder for "
                        "evaluation.json and confusion.png")
    if (target / "config.json").is_file():
        probabilities, labels, names, dataset, title = _run_predictions(
            target, dataset, data_dir, manual_dir)
        out = Path(out_dir) if out_dir else target / "evaluation"
    else:
        probabilities, labels, names, dataset, title, default_out = _saved_model_predictions(
            target, dataset, data_dir, manual_dir)
        out = Path(out_dir) if out_dir else default_out
    report = summarize(probabilities, labels, names)
    report = {"target": str(target), "dataset": dataset, **report}
    members = ensemble_members(target, dataset, data_dir, manual_dir)
    if members:
        report["members"] = members
    png = out / "confusion.png"
    plot_confusion(np.array(report["confusion"]), names,
                   f"{title} on {dataset} (test): accuracy {report['accuracy']:.4f}", png)
    report["files"] = {"json": str(out / "evaluation.json"), "png": str(png)}
    atomic_write_json(out / "evaluation.json", report)
    return report


def summarize(probabilities: np.ndarray, labels: np.ndarray, names: list[str]) -> dict:
    """Accuracy, mean cross-entropy, per-class precision / recall / F1 and the confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    classes = list(range(len(names)))
    predicted = probabilities.argmax(axis=1)
    picked = probabilities[np.arange(len(labels)), labels]
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=classes, zero_division=0
    )
    return {
        "examples": int(len(labels)),
        "accuracy": float(np.mean(predicted == labels)),
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0)))),
        "per_class": [
            {"class": names[i], "precision": float(precision[i]), "recall": float(recall[i]),
             "f1": float(f1[i]), "support": int(support[i])}
            for i in classes
        ],
        "confusion": confusion_matrix(labels, predicted, labels=classes).tolist(),
    }


def _run_predictions(run_dir: Path, dataset, data_dir, manual_dir):
    import kzoo.data
    from kzoo.export.from_run import refuse_linked_run_files
    from kzoo.models.keras_files import load_keras
    from kzoo.training.config import TrainConfig

    refuse_linked_run_files(run_dir)
    saved = read_json(run_dir / "config.json")
    if not (run_dir / "metrics.json").is_file() or not (run_dir / "model.keras").is_file():
        raise UserError(f"{str(run_dir)!r} is not a finished run (no metrics.json / model.keras): "
                        "rerun its command to finish it")
    config = TrainConfig.from_dict(saved["config"])
    if dataset not in (None, config.dataset):
        raise UserError(
            f"--dataset {dataset!r}: a run is evaluated on its own dataset ({config.dataset!r}), with "
            "its training normalisation; export it (kzoo export) to evaluate the SavedModel on "
            "another dataset"
        )
    bundle = kzoo.data.load(config.dataset, batch_size=256, validation_split=config.validation_split,
                            seed=config.seed, data_dir=data_dir or config.data_dir,
                            manual_dir=manual_dir or config.manual_dir)
    model = load_keras(run_dir / "model.keras", compile=False)
    probabilities, labels = [], []
    for x, y in bundle.test:
        probabilities.append(np.asarray(model(x, training=False), dtype="float64"))
        labels.append(np.asarray(y))
    names = [str(c) for c in bundle.info.class_names]
    return np.concatenate(probabilities), np.concatenate(labels), names, config.dataset, config.model


def _saved_model_predictions(path: Path, dataset, data_dir, manual_dir):
    import kzoo.data
    from kzoo.export.loaded_model import load_saved_model

    served = load_saved_model(path)
    meta = served.metadata or {}
    dataset = dataset or (meta.get("extra") or {}).get("dataset")
    if dataset is None:
        raise UserError(f"{str(path)!r} does not record its dataset; pass --dataset")
    arrays = kzoo.data.load_arrays(dataset, data_dir=data_dir, manual_dir=manual_dir)
    x, labels = arrays["x_test"], arrays["y_test"].astype("int64")
    names = served.class_names or [str(i) for i in range(int(labels.max()) + 1)]
    if tuple(x.shape[1:]) != tuple(served.input_shape) or labels.max() >= len(names):
        raise UserError(
            f"--dataset {dataset!r} has inputs of shape {tuple(x.shape[1:])} and "
            f"{int(labels.max()) + 1} classes; {str(served.path)!r} takes {tuple(served.input_shape)} "
            f"and has {len(names)}"
        )
    probabilities = np.concatenate([
        served.predict(x[i:i + 256].astype(served.input_dtype))["probabilities"]
        for i in range(0, len(x), 256)
    ]).astype("float64")
    title = f"{meta.get('name', served.path.parent.name)} v{meta.get('version', served.path.name)}"
    out = Path("evaluations") / f"{meta.get('name', served.path.parent.name)}-{served.path.name}"
    return probabilities, labels, [str(n) for n in names], dataset, title, out


def ensemble_members(target: Path, dataset, data_dir, manual_dir) -> list[dict]:
    """For an ensemble SavedModel (`kzoo ensemble`), each member SavedModel that still exists
    evaluated on the same test split: `[{member, accuracy, loss}]` (empty for other targets)."""
    if (target / "config.json").is_file():
        return []
    from kzoo.export.metadata import read_metadata
    from kzoo.export.paths import resolve_saved_model_dir

    meta = read_metadata(resolve_saved_model_dir(target)) or {}
    record = (meta.get("extra") or {}).get("ensemble")
    if not isinstance(record, dict) or not isinstance(record.get("members"), list):
        return []
    rows = []
    for member in record["members"]:
        path = member.get("saved_model") if isinstance(member, dict) else None
        if not isinstance(path, str) or not Path(path).is_dir():
            rows.append({"member": str(member.get("label") if isinstance(member, dict) else "?"),
                         "accuracy": None, "loss": None})
            continue
        probabilities, labels, names, _, title, _ = _saved_model_predictions(
            Path(path), dataset, data_dir, manual_dir)
        scores = summarize(probabilities, labels, names)
        rows.append({"member": title, "accuracy": scores["accuracy"], "loss": scores["loss"]})
    return rows


def plot_confusion(matrix: np.ndarray, names: list[str], title: str, path) -> None:
    """The confusion matrix (rows: true class, columns: predicted) as a PNG, counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.45 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(names))
    ax.set_xticks(ticks, names, rotation=90 if len(names) > 12 else 0)
    ax.set_yticks(ticks, names)
    if len(names) <= 30:
        peak = matrix.max() or 1
        for i in ticks:
            for j in ticks:
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize="small",
                        color="white" if matrix[i, j] > peak / 2 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize="medium")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def format_report(report: dict) -> str:
    """What `kzoo evaluate` prints: the headline, then one row per class."""
    from kzoo.training.summary import format_table

    head = (f"{report['target']} on {report['dataset']} ({report['examples']} test examples): "
            f"accuracy {report['accuracy']:.4f}, loss {report['loss']:.4f}")
    table = format_table(report["per_class"])
    if report.get("members"):
        members = format_table(
            [{"member": r["member"], "accuracy": r["accuracy"], "loss": r["loss"]}
             for r in report["members"]]
            + [{"member": "ensemble", "accuracy": report["accuracy"], "loss": report["loss"]}])
        table = f"{table}\n\nmembers and ensemble on the same test split:\n{members}"
    return f"{head}\n\n{table}\n\nconfusion matrix: {report['files']['png']}"


def add_parser(sub) -> None:
    """Add `kzoo evaluate` to the `kzoo` command's subparsers."""
    p = sub.add_parser(
        "evaluate", help="accuracy, loss, per-class precision/recall/F1 and a confusion matrix",
        description="Evaluate a finished run directory or an exported SavedModel on a test split; "
        "writes evaluation.json and confusion.png.",
    )
    p.add_argument("target", help="a run directory or an exported SavedModel directory")
    p.add_argument("--dataset", default=None, help="test split of this dataset (default: the model's)")
    p.add_argument("--out", default=None, help="output folder (default <run>/evaluation)")
    p.add_argument("--data-dir", default=None, help="TFDS data directory")
    p.add_argument("--manual-dir", default=None, help="TFDS manual download directory")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    report = evaluate(args.target, dataset=args.dataset, out_dir=args.out,
                      data_dir=args.data_dir, manual_dir=args.manual_dir)
    print(format_report(report))
    return 0
