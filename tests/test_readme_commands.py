"""README, run as written: every command and Python snippet of README's fenced blocks, in README's
order, in a temporary copy of the repository root (README's commands are given "from the repository
root"), each checked for the outcome README states -- exit status 0, no traceback, none of
TensorFlow's start-up notices, no UserWarning, the files it says are written, the numbers it gives.

The steps are read from README.md itself, so README and this test cannot drift apart: a fast test
fails when README holds a step that is neither checked here nor skipped for a reason listed here.
The reasons are few: network (CIFAR-10 and the package index), a multi-host cluster, and runs longer
than CI allows a single step (15 min). Run with `pytest -m slow tests/test_readme_commands.py -s`
to see each step's time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
STEP_TIMEOUT = 30 * 60  # a step over CI's 15 min is skipped (SKIPS); this only stops a hang
_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```", re.S | re.M)


@dataclass(frozen=True)
class Step:
    """One step of README: a shell command (a group of lines when some run in the background with
    `&`) or a Python snippet (a whole fenced block), as written, without comments."""

    kind: str  # "bash" or "python"
    text: str
    line: int  # README line of the fenced block

    @property
    def key(self) -> str:
        return self.text if self.kind == "bash" else "python: " + self.text.splitlines()[0]


def _strip_comment(line: str) -> str:
    """`line` without a trailing shell comment (a `#` after whitespace, outside quotes)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _shell_steps(body: str, line: int) -> list[Step]:
    commands, pending = [], ""
    for raw in body.splitlines():
        text = _strip_comment(raw.strip()) if not pending else raw.strip()
        if not text and not pending:
            continue
        if pending.endswith("\n"):
            pending += text
        else:
            pending = f"{pending} {text}" if pending else text
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        try:
            shlex.split(pending)
        except ValueError:  # a quote continues on the next line
            pending += "\n"
            continue
        commands.append(_strip_comment(pending))
        pending = ""
    steps, group = [], []
    for command in commands:
        group.append(command)
        if not command.endswith("&"):  # background commands run with the next one
            steps.append(Step("bash", "\n".join(group), line))
            group = []
    return steps


def readme_steps(text: str | None = None) -> list[Step]:
    """Every step of README's ```bash and ```python blocks, in order."""
    text = README.read_text() if text is None else text
    steps = []
    for block in _FENCE.finditer(text):
        line = text[: block.start()].count("\n") + 1
        body = "\n".join(row[len(block["indent"]):] for row in block["body"].splitlines())
        if block["lang"] == "bash":
            steps += _shell_steps(body, line)
        elif block["lang"] == "python":
            steps.append(Step("python", body.strip(), line))
    return steps


# ------------------------------------------------------------------------------ what is skipped

NETWORK_SETUP = ("creates a virtual environment and installs kzoo from the package index (network);"
                 " the test runs in such an environment")
SKIPS = {
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && '
    "python recipes/quickstart.py": NETWORK_SETUP + ", and runs `python recipes/quickstart.py` "
    "where README's training section gives it",
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && pytest':
        NETWORK_SETUP + "; the test suite is what runs this test (CI runs it directly)",
    "python recipes/resnet_cifar.py --model resnet56": "CIFAR-10 (network); 182 epochs",
    "python recipes/wrn_cifar.py --dropout 0.3": "CIFAR-10 (network); 200 epochs",
    "python recipes/densenet_cifar.py": "CIFAR-10 (network); 300 epochs",
    'export TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]},\n'
    '"task": {"type": "worker", "index": 0}}\'': "a two-host cluster (host1, host2)",
    "python recipes/resnet_cifar.py --strategy multiworker --batch-size 256 --run-dir "
    "/shared/runs/r56": "a two-host cluster, CIFAR-10 (network) and a shared file system",
    "python recipes/resnet_cifar.py --tune --max-trials 20 --trial-epochs 30 --export "
    "resnet20_tuned": "CIFAR-10 (network); 20 trials of 30 epochs",
    'pip install -e ".[bench]"': "installs PyTorch from the package index (network)",
    "kzoo bench": "a measurement of ~25 min on an otherwise idle machine (longer than CI allows "
    "one step)",
    "kzoo bench --profile --curves": "kzoo bench (~25 min) plus profiler traces and the cost "
    "curves (a fresh process pair per point, ResNet-1202 among them)",
}

# ------------------------------------------------------------------------------ what is checked

_STARTUP_NOISE = re.compile(
    r"oneDNN custom operations|cuda_platform|cpu_feature_guard|All log messages before absl"
    r"|cudart_stub|computation placer"
)


@dataclass
class Outcome:
    step: Step
    code: int
    out: str
    err: str
    seconds: float
    cwd: Path


def _clean(o: Outcome) -> None:
    """What every step must do: exit 0, no traceback, quiet TensorFlow, no UserWarning."""
    assert o.code == 0, f"exit {o.code}\n{o.err[-4000:]}"
    assert "Traceback" not in o.err, o.err[-4000:]
    assert not _STARTUP_NOISE.search(o.err), o.err[:2000]
    assert "UserWarning" not in o.err, o.err[-4000:]


def _json(path: Path):
    return json.loads(path.read_text())


def _png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def check_build_models(o: Outcome) -> None:
    values = _snippet_values(o)
    info = values['kzoo.model_info("resnet20")']
    assert info["trainable_params"] == 269_722 and round(info["macs"] / 1e6, 2) == 40.55


def check_datasets(o: Outcome) -> None:
    loss, accuracy = _snippet_values(o)["model.evaluate(bundle.test)"]
    assert accuracy > 0.8, accuracy  # README: "accuracy above 0.8" (unseeded: it varies)


def check_quickstart(o: Outcome) -> None:
    run = o.cwd / "runs" / "quickstart" / "resnet20-digits"
    metrics = _json(run / "metrics.json")
    assert (metrics["epochs_run"], metrics["dataset"]) == (10, "digits"), metrics
    assert metrics["test_accuracy"] >= 0.95, metrics  # README: "at least 95%"
    for name in ("config.json", "history.json", "model.keras", "normalization.json"):
        assert (run / name).is_file(), name
    _png(run / "curves.png")
    version = o.cwd / "saved_models" / "quickstart_resnet20" / "1"
    assert (version / "saved_model.pb").is_file()
    exported = _json(version / "assets.extra" / "kzoo_metadata.json")["metrics"]
    assert exported["test_accuracy"] >= 0.9, exported  # the search's retrained model
    assert "best learning rate" in o.out


def check_snn_uci(o: Outcome) -> None:
    assert "SNN" in o.out and "ResNet" in o.out


def check_plain_cnn(o: Outcome) -> None:
    metrics = _json(o.cwd / "runs" / "train" / "plain_cnn-digits" / "metrics.json")
    assert metrics["epochs_run"] == 5
    assert metrics["test_accuracy"] >= 0.6, metrics  # README: "at least 60%"


def check_runs(o: Outcome) -> None:
    assert "runs/quickstart/resnet20-digits" in o.out and "runs/train/plain_cnn-digits" in o.out


def check_runs_pattern(o: Outcome) -> None:
    assert "runs/quickstart/resnet20-digits" in o.out and "plain_cnn" not in o.out


def check_info_run(o: Outcome) -> None:
    assert "run directory: runs/quickstart/resnet20-digits" in o.out
    assert "finished: 10 epochs, test accuracy" in o.out
    assert "input values: uint8 (8, 8, 1) in 0..16" in o.out


def check_evaluate_run(o: Outcome) -> None:
    run = o.cwd / "runs" / "quickstart" / "resnet20-digits"
    report = _json(run / "evaluation" / "evaluation.json")
    _png(run / "evaluation" / "confusion.png")
    # Evaluated with the run's own pipeline: the accuracy training measured, up to one example
    # (bfloat16 rounding in another batch order).
    assert abs(report["accuracy"] - _json(run / "metrics.json")["test_accuracy"]) <= 1 / 360
    assert len(report["per_class"]) == 10 and report["examples"] == 360


def check_evaluate_saved_model(o: Outcome) -> None:
    folder = o.cwd / "evaluations" / "quickstart_resnet20-1"
    assert _json(folder / "evaluation.json")["accuracy"] >= 0.95
    _png(folder / "confusion.png")


def check_launch_train(o: Outcome) -> None:
    metrics = _json(o.cwd / "runs" / "train" / "plain_mlp-digits" / "metrics.json")
    assert metrics["replicas"] == 2 and metrics["epochs_run"] == 10


def check_launch_smoke(o: Outcome) -> None:
    runs = list((o.cwd / "runs" / "resnet_cifar").glob("smoke-*"))
    assert runs and all((r / "metrics.json").is_file() for r in runs), runs


def check_tune(o: Outcome) -> None:
    folder = o.cwd / "tuning" / "plain_mlp_digits_bayesian"
    results = _json(folder / "results.json")
    assert len(results["trials"]) == 20
    assert (folder / "results.csv").read_text().count("\n") == 21
    _png(folder / "results.png")


def check_smoke_tune(o: Outcome) -> None:
    searches = [p for p in (o.cwd / "tuning").glob("resnet20_*-smoke") if p.is_dir()]
    assert searches and all(len(_json(p / "results.json")["trials"]) == 2 for p in searches)


def check_distributed_tune(o: Outcome) -> None:
    results = _json(o.cwd / "tuning" / "plain_mlp_digits_random" / "results.json")
    assert len(results["trials"]) == 10


def check_make_images(o: Outcome) -> None:
    assert (o.cwd / "images.npy").is_file()


def check_export(o: Outcome) -> None:
    version = o.cwd / "saved_models" / "digits_resnet20" / "1"
    assert (version / "saved_model.pb").is_file()
    assert "exported saved_models/digits_resnet20/1 (verified on 16 probe inputs" in o.out
    tflite = _json(version / "assets.extra" / "kzoo_metadata.json")["tflite"]
    assert (version / tflite["file"]).stat().st_size == tflite["bytes"] and tflite["max_abs_diff"] <= 1e-5
    policy = _json(o.cwd / "runs" / "quickstart" / "resnet20-digits" / "metrics.json")["precision_policy"]
    if policy != "float32":  # README: a bf16 run is converted from its float32 twin
        assert tflite["converted_from"] == "float32 twin" and tflite["vs_saved_model"]["max_abs_diff"] < 0.1
        assert "converted from the float32 twin of the bfloat16 model" in o.out


def check_predict(o: Outcome) -> None:
    import numpy as np

    lines = o.out.strip().splitlines()
    assert len(lines) == 5 and all(re.search(r"\(class \d\) probability [01]\.\d{4}$", x)
                                   for x in lines), lines
    labels = np.load(o.cwd / "labels.npy")
    predicted = [int(re.search(r"\(class (\d)\)", x)[1]) for x in lines]
    assert sum(p == y for p, y in zip(predicted, labels, strict=True)) >= 4, (predicted, labels)


def check_info_export(o: Outcome) -> None:
    assert "input values: uint8 in 0..16" in o.out
    assert re.search(r"checksums: \d+ files OK", o.out), o.out


# "Using trained models": the README states a floor and the measured value; the floors are checked.
def _accuracy(o: Outcome, run: str) -> float:
    return _json(o.cwd / "runs" / run / "metrics.json")["test_accuracy"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _metadata(o: Outcome, name: str) -> dict:
    return _json(o.cwd / "saved_models" / name / "1" / "assets.extra" / "kzoo_metadata.json")


def check_train_digits_0to4(o: Outcome) -> None:
    assert _accuracy(o, "train/resnet20-digits_0to4") >= 0.95  # README: at least 95%


def check_publish(o: Outcome) -> None:
    from kzoo.models.weights_registry import get_weights

    folder = o.cwd / "published"
    card = _json(folder / "resnet20-digits_0to4.json")
    assert card["sha256"] == _sha256(folder / card["file"]) and card["dtype"] == "float16"
    # Measured again on the float16 file: the run's accuracy, up to one of the 180 test digits.
    metrics = card["metrics"]
    assert metrics["test_examples"] == 180
    assert abs(metrics["test_accuracy"] - metrics["run_test_accuracy"]) <= 1 / 180
    # README: the flow's first line is the command on the shipped card.
    assert card["command"] == get_weights("resnet20", "digits_0to4").command


def check_finetune(o: Outcome) -> None:
    assert _accuracy(o, "finetune/resnet20-digits_5to9") >= 0.95  # README: at least 95%
    config = _json(o.cwd / "runs" / "finetune" / "resnet20-digits_5to9" / "config.json")["config"]
    source = o.cwd / "runs" / "train" / "resnet20-digits_0to4" / "model.keras"
    assert config["init_from_sha256"] == _sha256(source)  # the source's bytes, fingerprinted
    assert "classifier replaced" in o.err  # another task: a fresh classifier, said in one note


def check_scratch_resnet20(o: Outcome) -> None:
    assert _accuracy(o, "train/resnet20-digits_5to9") >= 0.90  # README: at least 90%


def check_scratch_plain_cnn(o: Outcome) -> None:
    assert _accuracy(o, "train/plain_cnn-digits_5to9") >= 0.85  # README: at least 85%


def check_export_digits59(o: Outcome) -> None:
    name = o.step.text.split("--name ")[1]
    assert (o.cwd / "saved_models" / name / "1" / "saved_model.pb").is_file()


def check_ensemble(o: Outcome) -> None:
    meta = _metadata(o, "digits59_ensemble")
    members = meta["extra"]["ensemble"]["members"]
    assert [m["label"] for m in members] == [
        "digits59_finetuned v1", "digits59_resnet20 v1", "digits59_plain_cnn v1"]
    for member in members:  # each scored as its own export did
        name = member["label"].split()[0]
        assert abs(member["test_accuracy"] - _metadata(o, name)["metrics"]["test_accuracy"]) < 1e-6
    # README: the ensemble scores at least its best member.
    assert meta["metrics"]["test_accuracy"] >= meta["metrics"]["best_member_test_accuracy"]
    assert meta["signature"]["input"]["range"] == [0, 16]


def check_evaluate_ensemble(o: Outcome) -> None:
    report = _json(o.cwd / "evaluations" / "digits59_ensemble-1" / "evaluation.json")
    assert [r["member"] for r in report["members"]] == [
        "digits59_finetuned v1", "digits59_resnet20 v1", "digits59_plain_cnn v1"]
    best = max(r["accuracy"] for r in report["members"])
    assert report["accuracy"] >= best and report["examples"] == 180
    assert "members and ensemble on the same test split" in o.out


def check_make_upper(o: Outcome) -> None:
    assert (o.cwd / "upper.npy").is_file() and (o.cwd / "upper_labels.npy").is_file()


def check_predict_ensemble(o: Outcome) -> None:
    import numpy as np

    lines = o.out.strip().splitlines()
    assert len(lines) == 5 and all(re.search(r"\(class \d\) probability [01]\.\d{4}$", x)
                                   for x in lines), lines
    labels = np.load(o.cwd / "upper_labels.npy")
    predicted = [int(re.search(r"\(class (\d)\)", x)[1]) for x in lines]
    assert sum(p == y for p, y in zip(predicted, labels, strict=True)) >= 4, (predicted, labels)


def check_weights_snippet(o: Outcome) -> None:
    values = _snippet_values(o)  # the commented values are compared by the harness
    assert values["features.output_shape"] == [None, 64]
    assert values["model.output_shape"] == [None, 5]


def check_snapshots(o: Outcome) -> None:
    run = o.cwd / "runs" / "train" / "resnet20-digits_5to9-snapshots"
    metrics = _json(run / "metrics.json")
    assert metrics["snapshots"] == 5
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == [
        f"snapshot-{k}.weights.h5" for k in range(1, 6)]
    assert metrics["snapshot_ensemble_test_accuracy"] >= 0.90  # README: at least 90%


def check_ema(o: Outcome) -> None:
    metrics = _json(o.cwd / "runs" / "train" / "resnet20-digits_5to9-ema" / "metrics.json")
    assert metrics["weight_averaging"] == "ema" and metrics["batch_norm_batches"] > 0
    assert metrics["test_accuracy"] >= 0.90  # README: at least 90%


def check_swa(o: Outcome) -> None:
    metrics = _json(o.cwd / "runs" / "train" / "resnet20-digits_5to9-swa" / "metrics.json")
    assert metrics["weight_averaging"] == "swa" and metrics["swa_epochs_averaged"] == 3
    assert metrics["test_accuracy"] >= 0.90  # README: at least 90%


def check_bench_ablations(o: Outcome) -> None:
    results = _json(o.cwd / "bench_results" / "bench.json")
    (model,) = results["models"]
    training, ratios = model["training"], model["ratios"]
    for worker in ("kzoo-float32", "kzoo-float32-bf16-math", "kzoo-nondeterministic"):
        assert ratios[f"kzoo_vs_{worker}"]["value"] > 0, ratios
    # The bf16-math worker was started with oneDNN's mode and probed (the answer depends on the
    # CPU); a float32 worker without the mode never rounds.
    math = training["kzoo, float32 + oneDNN bf16 math"]
    assert math["onednn_fpmath_mode"] == "BF16"
    assert isinstance(math["float32_convolutions_round_to_bfloat16"], bool)
    plain = training["kzoo, mixed_precision=float32"]
    assert plain["onednn_fpmath_mode"] is None
    assert plain["float32_convolutions_round_to_bfloat16"] is False


def check_bench_tiny(o: Outcome) -> None:
    assert (o.cwd / "bench_results" / "bench.json").is_file()


def check_efficientnet(o: Outcome) -> None:
    values = _snippet_values(o)
    assert values["compound_coefficients(1)"] == [1.2, 1.1, 258]
    assert values["sum(w.numpy().size for w in model.trainable_weights)"] == 9_109_994


def check_whitening(o: Outcome) -> None:
    values = _snippet_values(o)
    assert values["bundle.info.input_shape"] == [8, 8, 1]  # the last of the two
    assert values['zca.apply_numpy(digits["x_test"][:2]).shape'] == [2, 8, 8, 1]


def check_grid_lstm(o: Outcome) -> None:
    assert _snippet_values(o)["model.count_params()"] == 4410


def check_gradcheck(o: Outcome) -> None:
    assert _snippet_values(o)["report.passed"] is True
    assert "Highway" in o.out or "kernel" in o.out  # the printed table names the tensors


CHECKS: dict[str, Callable[[Outcome], None]] = {
    "python: import kzoo": check_build_models,
    "python: import kzoo.data": check_datasets,
    "python recipes/quickstart.py": check_quickstart,
    "python recipes/snn_uci.py": check_snn_uci,
    "kzoo train --model plain_cnn --dataset digits --epochs 5 --optimizer adam --lr 1e-3":
        check_plain_cnn,
    "kzoo runs": check_runs,
    "kzoo runs '*resnet*' --root runs": check_runs_pattern,
    "kzoo info runs/quickstart/resnet20-digits": check_info_run,
    "kzoo evaluate runs/quickstart/resnet20-digits": check_evaluate_run,
    "kzoo evaluate saved_models/quickstart_resnet20": check_evaluate_saved_model,
    "kzoo launch --workers 2 -- kzoo train --model plain_mlp --dataset digits --strategy "
    "multiworker": check_launch_train,
    "kzoo launch --workers 2 --max-restarts 3 -- recipes/resnet_cifar.py --strategy multiworker "
    "--smoke": check_launch_smoke,
    "kzoo tune plain_mlp --dataset digits --tuner bayesian --max-trials 20 --trial-epochs 10 "
    "--hp optimizer=adam --hp learning_rate=1e-4:1e-1:log --hp width=64:512:64 --hp dropout=0.3":
        check_tune,
    "python recipes/resnet_cifar.py --smoke --tune --max-trials 2 --trial-epochs 1":
        check_smoke_tune,
    "kzoo tune plain_mlp --chief --port 8000 &\nkzoo tune plain_mlp --worker --tuner-id w1 "
    "--port 8000 &\nkzoo tune plain_mlp --worker --tuner-id w2 --port 8000": check_distributed_tune,
    "python -c \"import kzoo.data, numpy; d = kzoo.data.load_arrays('digits'); "
    "numpy.save('images.npy', d['x_test'][:5]); numpy.save('labels.npy', d['y_test'][:5])\"":
        check_make_images,
    "kzoo export runs/quickstart/resnet20-digits --name digits_resnet20 --tflite": check_export,
    "kzoo predict saved_models/digits_resnet20 images.npy": check_predict,
    "kzoo predict saved_models/digits_resnet20 images.npy --tflite": check_predict,
    "kzoo info saved_models/digits_resnet20": check_info_export,
    "kzoo train --model resnet20 --dataset digits_0to4 --epochs 15 --batch-size 32 --optimizer "
    "nesterov --lr 0.05 --weight-decay 0.0005": check_train_digits_0to4,
    "kzoo publish runs/train/resnet20-digits_0to4 --tag digits_0to4": check_publish,
    "kzoo finetune runs/train/resnet20-digits_0to4 --dataset digits_5to9 --batch-size 32 "
    "--backbone-lr-mult 1": check_finetune,
    "kzoo train --model resnet20 --dataset digits_5to9 --epochs 10 --batch-size 32 --optimizer adam "
    "--lr 1e-3": check_scratch_resnet20,
    "kzoo train --model plain_cnn --dataset digits_5to9 --epochs 10 --batch-size 32 --optimizer adam "
    "--lr 1e-3": check_scratch_plain_cnn,
    "kzoo export runs/finetune/resnet20-digits_5to9 --name digits59_finetuned": check_export_digits59,
    "kzoo export runs/train/resnet20-digits_5to9 --name digits59_resnet20": check_export_digits59,
    "kzoo export runs/train/plain_cnn-digits_5to9 --name digits59_plain_cnn": check_export_digits59,
    "kzoo ensemble saved_models/digits59_finetuned saved_models/digits59_resnet20 "
    "saved_models/digits59_plain_cnn --name digits59_ensemble": check_ensemble,
    "kzoo evaluate saved_models/digits59_ensemble": check_evaluate_ensemble,
    "python -c \"import kzoo.data, numpy; d = kzoo.data.load_arrays('digits_5to9'); "
    "numpy.save('upper.npy', d['x_test'][:5]); numpy.save('upper_labels.npy', d['y_test'][:5])\"":
        check_make_upper,
    "kzoo predict saved_models/digits59_ensemble upper.npy": check_predict_ensemble,
    "python: from kzoo.models.weights_registry import get_weights, list_weights":
        check_weights_snippet,
    "kzoo train --model resnet20 --dataset digits_5to9 --epochs 10 --batch-size 32 --optimizer adam "
    "--lr 1e-3 --snapshots 5 --run-dir runs/train/resnet20-digits_5to9-snapshots": check_snapshots,
    "kzoo train --model resnet20 --dataset digits_5to9 --epochs 10 --batch-size 32 --optimizer adam "
    "--lr 1e-3 --weight-averaging ema --run-dir runs/train/resnet20-digits_5to9-ema": check_ema,
    "kzoo train --model resnet20 --dataset digits_5to9 --epochs 10 --batch-size 32 --optimizer adam "
    "--lr 1e-3 --weight-averaging swa --run-dir runs/train/resnet20-digits_5to9-swa": check_swa,
    "kzoo bench --models resnet20 --repeats 5 --ablations": check_bench_ablations,
    "kzoo bench --tiny": check_bench_tiny,
    "python: from kzoo.models.efficientnet import compound_coefficients, efficientnet":
        check_efficientnet,
    "python: from kzoo.data.normalize import fit_normalization": check_whitening,
    "python: from kzoo.layers import GridLSTM": check_grid_lstm,
    "python: import numpy as np": check_gradcheck,
}

# ------------------------------------------------------------------------------ running a step

# Runs a snippet one statement at a time; the value of every expression statement is kept (as
# JSON where it can be) and compared with a literal in its comment (`# ['a', 'b']`, on its line
# or the next), which is what README says it returns.
_HARNESS = r'''
import ast, json, sys
import numpy as np

source = open(sys.argv[1]).read()
lines = source.splitlines()
values, mismatches = {}, []
scope = {"__name__": "__main__"}
for node in ast.parse(source).body:
    code = ast.get_source_segment(source, node)
    if isinstance(node, ast.Expr):
        value = eval(compile(ast.Expression(node.value), "<readme>", "eval"), scope)
        plain = value.tolist() if isinstance(value, np.ndarray) else value
        try:
            values[code] = json.loads(json.dumps(plain, default=lambda v: np.asarray(v).tolist()))
        except (TypeError, ValueError):
            values[code] = repr(value)
        for text in (lines[node.end_lineno - 1], lines[node.end_lineno] if node.end_lineno < len(lines) else ""):
            comment = text.partition("#")[2].strip() if "#" in text else ""
            try:
                claimed = ast.literal_eval(comment)
            except (ValueError, SyntaxError):
                continue
            if claimed != value:
                mismatches.append((code, repr(claimed), repr(value)))
            break
    else:
        exec(compile(ast.Module([node], []), "<readme>", "exec"), scope)
json.dump({"values": values, "mismatches": mismatches}, open(sys.argv[2], "w"))
'''


def _snippet_values(o: Outcome) -> dict:
    return _json(o.cwd / ".readme-snippet.json")["values"]


def _run(step: Step, cwd: Path) -> Outcome:
    env = {**os.environ, "PYTHONPATH": str(cwd),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in ("KZOO_DEBUG", "KZOO_TF_LOG", "TF_CPP_MIN_LOG_LEVEL"):
        env.pop(name, None)
    if step.kind == "python":
        (cwd / ".readme-snippet.py").write_text(step.text + "\n")
        (cwd / ".readme-harness.py").write_text(_HARNESS)
        argv = [sys.executable, "-W", "error::UserWarning", ".readme-harness.py",
                ".readme-snippet.py", ".readme-snippet.json"]
    else:
        script = step.text
        if "&\n" in script:  # wait for the background commands; fail if one failed
            script += "\nfor job in $(jobs -p); do wait $job || exit 1; done"
        argv = ["bash", "-c", script]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=STEP_TIMEOUT)
    outcome = Outcome(step, done.returncode, done.stdout, done.stderr,
                      time.perf_counter() - start, cwd)
    print(f"\n[{outcome.seconds:7.1f} s] exit {done.returncode}: {step.key}")
    if step.kind == "python" and done.returncode == 0:
        mismatches = _json(cwd / ".readme-snippet.json")["mismatches"]
        assert not mismatches, f"README's comments differ from the values: {mismatches}"
    return outcome


def _copy_repository(dest: Path) -> Path:
    """The repository's tracked files (README's "repository root"), without runs or exports."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode == 0:
        for name in filter(None, listed.stdout.decode().split("\0")):
            if (ROOT / name).is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, dest / name)
    else:
        shutil.copytree(ROOT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "runs", "saved_models", "tuning", "bench_results", "evaluations"))
    return dest


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    return _copy_repository(tmp_path_factory.mktemp("readme") / "kzoo")


STEPS = readme_steps()


def test_every_readme_step_is_checked_or_skipped_for_a_listed_reason():
    keys = [step.key for step in STEPS]
    assert len(keys) == len(set(keys)), "two README steps read the same"
    assert not set(SKIPS) & set(CHECKS)
    unknown = [key for key in keys if key not in SKIPS and key not in CHECKS]
    assert not unknown, f"README steps without a check or a listed reason: {unknown}"
    stale = sorted((set(SKIPS) | set(CHECKS)) - set(keys))
    assert not stale, f"checks or skips of steps README no longer has: {stale}"
    assert len(SKIPS) <= 12  # the skip list stays short


def test_readme_blocks_are_read_as_a_shell_reads_them():
    text = "```bash\nkzoo runs '*x*'   # a comment\nkzoo tune a \\\n    --b 1\n" \
           "export X='{\"a\": 1,\n   \"b\": 2}'\nx &\ny\n```\n\n  ```python\n  import kzoo\n  ```\n"
    assert [s.text for s in readme_steps(text)] == [
        "kzoo runs '*x*'", "kzoo tune a --b 1", "export X='{\"a\": 1,\n\"b\": 2}'", "x &\ny",
        "import kzoo",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS, ids=[f"L{s.line}:{s.key[:60]}" for s in STEPS])
def test_readme_step(step, repository):
    if step.key in SKIPS:
        pytest.skip(SKIPS[step.key])
    outcome = _run(step, repository)
    _clean(outcome)
    CHECKS[step.key](outcome)
