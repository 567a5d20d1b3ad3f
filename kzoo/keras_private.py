"""Every use of Keras' private API, in one place, behind a version guard.

kzoo patches two functions of Keras' TensorFlow trainer during multi-worker training
(tensorflow/tensorflow#72388), and the safe loader reads Keras' global state and object registry
(to see whether loading a model changed them) and builds models in Keras' object-sharing scope, as
`keras.saving.load_model` does. Nothing else in kzoo touches a private Keras name (the checkpoint
callback subclasses `BackupAndRestore` through its public hooks only). Private names can change in
any Keras release, so every such use goes through this module, which first checks that the installed Keras is one these uses were tested
against (`TESTED_KERAS`; pyproject.toml's `keras` bound matches) and otherwise fails loudly,
instead of training silently wrong.
"""

from __future__ import annotations

import contextlib

from kzoo.utils.errors import UserError

# [first, last) Keras releases whose private API kzoo's uses below were checked against.
TESTED_KERAS = ((3, 15), (3, 16))


class UntestedKerasError(UserError):
    """The installed Keras is outside the range kzoo's private-API uses were tested with."""


def check_keras_version(version: str | None = None) -> None:
    """Raise `UntestedKerasError` unless `version` (default: the installed Keras) is in
    `TESTED_KERAS`."""
    if version is None:
        import keras

        version = keras.__version__
    parts = []
    for piece in str(version).split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    low, high = TESTED_KERAS
    if not low <= tuple(parts) < high:
        raise UntestedKerasError(
            f"kzoo's training engine uses Keras internals tested with Keras "
            f">={'.'.join(map(str, low))},<{'.'.join(map(str, high))}; found Keras {version}. "
            f"Install a tested release: pip install 'keras>={'.'.join(map(str, low))},"
            f"<{'.'.join(map(str, high))}'"
        )


def global_state():
    """Keras' process-wide attribute store (`keras.src.backend.common.global_state`)."""
    check_keras_version()
    from keras.src.backend.common import global_state as module

    return module


def object_registration():
    """Keras' registry of custom objects (`keras.src.saving.object_registration`)."""
    check_keras_version()
    from keras.src.saving import object_registration as module

    return module


def object_sharing_scope():
    """The scope `keras.saving.load_model` deserialises in (shared objects built once)."""
    check_keras_version()
    from keras.src.saving.serialization_lib import ObjectSharingScope

    return ObjectSharingScope()


def tensorflow_trainer():
    """Keras' private TensorFlow trainer module (`keras.src.backend.tensorflow.trainer`)."""
    check_keras_version()
    from keras.src.backend.tensorflow import trainer

    return trainer


@contextlib.contextmanager
def multiworker_fit_fixes():
    """Work around Keras 3's TensorFlow trainer under `MultiWorkerMirroredStrategy` (within the block).

    Keras 3.15 cannot `fit` or `evaluate` with more than one worker (tensorflow/tensorflow#72388):
    its per-step `reduce_per_replica(..., "mean")` reduces scalar logs along axis 0, and its
    symbolic build passes an (x, y) tuple to `strategy.reduce`, which takes single tensors. Here
    scalars are averaged over replicas without an axis and the build uses one replica's batch.
    """
    import tensorflow as tf

    tf_trainer = tensorflow_trainer()
    original_reduce = tf_trainer.reduce_per_replica
    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    def first_value(v):
        return v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean"):
            return original_reduce(values, strategy, reduction)

        def mean(v):
            axis = None if first_value(v).shape.rank == 0 else 0
            return strategy.reduce("MEAN", v, axis=axis)

        return tf.nest.map_structure(mean, values)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and data_batch is None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(first_value, next(it))
                break
        return original_build(self, data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    try:
        yield
    finally:
        tf_trainer.reduce_per_replica = original_reduce
        tf_trainer.TensorFlowTrainer._maybe_symbolic_build = original_build


def all_layers(model) -> list:
    """`model` and every layer inside it, those of nested models and blocks too
    (`Layer._flatten_layers`; Keras has no public walk of sub-layers a block keeps in attributes)."""
    check_keras_version()
    return list(model._flatten_layers(include_self=True, recursive=True))


def weights_layout(model) -> dict:
    """Where `model.save_weights` puts each variable: `{"layers/dense/vars/0": variable, ...}`.

    Keras names the groups of a `.weights.h5` file by the layers' classes and creation order, not
    by their names; this walks the model with Keras' own saving code into a dictionary store (no
    file), so a weights file can be compared with a model variable by variable and every
    difference named by the variable's path (`stage1_block1/conv1/kernel`).
    """
    check_keras_version()
    from keras.src.saving import saving_lib

    store = saving_lib.NpzIOStore(None, mode="w")
    saving_lib._save_state(
        model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set()
    )
    layout = {}
    for path, entries in store.contents.items():
        group = "vars" if path == "__root__" else f"{path}/vars"
        for index, variable in entries.items():
            layout[f"{group}/{index}"] = variable
    return layout
