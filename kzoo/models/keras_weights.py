"""Check `model.weights.h5` against the model its config builds, before Keras reads a value.

Keras reads each weights dataset whole and only then compares its shape with the variable it fills,
so a dataset declaring 160 MiB for a 6k-parameter model is read (or decompressed) in full. Here the
file's structure is walked first -- only metadata, no values -- and every dataset must have the shape
of one of the model's variables (or be a scalar, like an optimizer's step counter), a plain numeric
dtype, and storage inside the file; there may be no more of them than the model and an optimizer
could hold (`MAX_COPIES_PER_VARIABLE` per variable: the variable and its optimizer slots). Links of
any kind, virtual datasets and external storage -- ways for a dataset to read another file -- are
refused.
"""

from __future__ import annotations

import math
from collections import Counter

# A variable and up to three optimizer slots of its shape (Adam's two moments, AMSGrad's maximum).
MAX_COPIES_PER_VARIABLE = 4
# Scalars beyond that: an optimizer's iteration count and learning rate, a loss scale...
MAX_EXTRA_SCALARS = 64
MAX_DEPTH = 32
# A MultiOptimizer (`kzoo finetune`'s backbone learning rate) keeps slots in each of its optimizers
# for every variable: each counts for MAX_COPIES_PER_VARIABLE - 1 copies, up to this many.
MAX_OPTIMIZERS = 4


class WeightsRefused(ValueError):
    """`model.weights.h5` breaks a rule; the message says which dataset or group and why."""


def check_weights_file(path, model, optimizers: int = 1) -> None:
    """Raise WeightsRefused unless every dataset in the HDF5 file at `path` fits `model`, saved
    with `optimizers` optimizers (`optimizers_in`)."""
    import h5py

    expected = _variable_shapes(model)
    copies = 1 + (MAX_COPIES_PER_VARIABLE - 1) * min(max(optimizers, 1), MAX_OPTIMIZERS)
    budget = {shape: copies * n for shape, n in expected.items()}
    budget[()] = budget.get((), 0) + MAX_EXTRA_SCALARS
    limit = sum(budget.values())
    seen: Counter = Counter()
    count = 0

    def visit(group, where: str, depth: int) -> None:
        nonlocal count
        if depth > MAX_DEPTH:
            raise WeightsRefused(f"{where}: groups nested more than {MAX_DEPTH} deep")
        for name in group:
            item = f"{where}{name}"
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise WeightsRefused(f"{item}: is a {type(link).__name__} (it could read another file)")
            obj = group[name]
            if isinstance(obj, h5py.Group):
                visit(obj, f"{item}/", depth + 1)
                continue
            if not isinstance(obj, h5py.Dataset):
                raise WeightsRefused(f"{item}: is a {type(obj).__name__}, not a dataset or group")
            count += 1
            if count > limit:
                raise WeightsRefused(
                    f"{item}: the file holds more than {limit} datasets; the model has "
                    f"{sum(expected.values())} variables"
                )
            _check_dataset(obj, item, h5py)
            shape = tuple(int(d) for d in obj.shape)
            if shape not in budget:
                raise WeightsRefused(
                    f"{item}: has shape {shape} ({_size(obj)}), which no variable of the model "
                    "has; it does not belong to this model's config"
                )
            seen[shape] += 1
            if seen[shape] > budget[shape]:
                raise WeightsRefused(
                    f"{item}: more datasets of shape {shape} than the model and its optimizer hold"
                )

    try:
        with h5py.File(path, "r") as f:
            visit(f, "/", 0)
    except WeightsRefused:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise WeightsRefused(f"is not a readable HDF5 file ({_first_line(err)})") from None


def _check_dataset(dataset, item: str, h5py) -> None:
    if dataset.is_virtual:
        raise WeightsRefused(f"{item}: is a virtual dataset (it reads other files)")
    if dataset.external:
        raise WeightsRefused(f"{item}: keeps its values in external files {dataset.external!r}")
    dtype = dataset.dtype
    if dtype.kind not in "biuf" or dtype.itemsize > 8 or h5py.check_dtype(vlen=dtype) is not None:
        raise WeightsRefused(f"{item}: has dtype {dtype}, not a plain numeric type")
    if dataset.shape is None:
        raise WeightsRefused(f"{item}: has no shape (an empty dataspace)")


def optimizers_in(config) -> int:
    """How many optimizers the `compile_config` of a `.keras` file's config names (0 if none)."""
    compiled = config.get("compile_config") if isinstance(config, dict) else None
    optimizer = compiled.get("optimizer") if isinstance(compiled, dict) else None

    def count(node) -> int:
        if isinstance(node, list):
            return sum(count(item) for item in node)
        if not isinstance(node, dict):
            return 0
        inner = sum(count(value) for value in node.values())
        mine = (node.get("module") == "keras.optimizers"
                and node.get("class_name") not in ("MultiOptimizer", "OptimizerMap"))
        return inner + int(mine)

    return count(optimizer)


def _variable_shapes(model) -> Counter:
    shapes: Counter = Counter(tuple(int(d) for d in v.shape) for v in model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        shapes.update(tuple(int(d) for d in v.shape) for v in getattr(optimizer, "variables", []))
    return shapes


def _size(dataset) -> str:
    return f"{math.prod(dataset.shape) * dataset.dtype.itemsize:,} bytes"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
