"""The Markdown model table: every registered model built and measured by `model_info`."""

from __future__ import annotations

import re
import sys

import keras
from tqdm.auto import tqdm

from kzoo.info import format_published, human, model_info
from kzoo.registry import list_models

COLUMNS = ("Model", "Input", "Params", "MACs", "Paper", "Published error")


def model_rows(pattern=None, *, progress=True) -> list[dict]:
    """`model_info` of every registered model matching `pattern` (default heads, see model_info).

    Builds each model in turn (the largest take several seconds) and frees it before the next.
    """
    names = list_models(pattern)
    if not names:
        raise ValueError(f"no registered model matches pattern={pattern!r}; see `kzoo list`.")
    rows = []
    for name in tqdm(names, desc="models", unit="model", disable=not progress, file=sys.stderr):
        rows.append(model_info(name))
        keras.backend.clear_session()
    return rows


def model_table(pattern=None, *, progress=True, rows=None) -> str:
    """A Markdown table of the registered models: input, trainable params, MACs, paper, results.

    Args:
        pattern: fnmatch filter on the names (`"resnet*"`), or None for all models.
        progress: show a tqdm progress bar on stderr.
        rows: `model_rows(pattern)` already computed (then nothing is built again).

    Example:
        >>> print(model_table("resnet2*", progress=False))
        | Model | Input | Params | MACs | Paper | Published error |
        ...
    """
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] * len(COLUMNS)) + "|"]
    for info in rows if rows is not None else model_rows(pattern, progress=progress):
        cells = (
            f"`{info['name']}`",
            "×".join(str(d) for d in info["input_shape"]),
            f"{info['trainable_params']:,}",
            human(info["macs"]),
            _short_paper(info["paper"]),
            format_published(info["published"]) or "–",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _short_paper(paper) -> str:
    """'He, Zhang, Ren, Sun. Deep Residual ... CVPR 2016 (arXiv:1512.03385)' ->
    'He et al. 2016 [arXiv:1512.03385](https://arxiv.org/abs/1512.03385)'."""
    if not paper:
        return "–"
    authors = paper.split(".", 1)[0]
    names = [a.strip() for a in authors.split(",")]
    if len(names) > 2:
        names = [f"{names[0]} et al."]
    short = " & ".join(names)
    match = re.search(r"\b(19|20)\d\d\b(?!.*\b(19|20)\d\d\b)", paper.split("(arXiv:")[0])
    if match:
        short += f" {match.group(0)}"
    arxiv = re.search(r"arXiv:(\d{4}\.\d{4,5})", paper)
    if arxiv:
        short += f" [arXiv:{arxiv.group(1)}](https://arxiv.org/abs/{arxiv.group(1)})"
    return short
