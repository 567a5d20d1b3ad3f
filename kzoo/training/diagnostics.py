"""Per-layer training diagnostics: activation statistics, dead-ReLU fraction, gradient norms."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kzoo.utils.files import atomic_write_json, read_json


def _probe_layers(model: keras.Model) -> list:
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def layer_diagnostics(model: keras.Model, x, y, loss_fn=None) -> list[dict]:
    """Statistics of each top-level layer of `model` on the probe batch `(x, y)`.

    Per layer (composite blocks count as one layer): the mean and standard deviation of its output,
    the fraction of dead units (units whose output is <= 0 for every probe example: for a ReLU
    output, units that pass no gradient), and the L2 norm of the loss gradient with respect to the
    layer's trainable weights (None for a layer without weights). The model runs in inference mode
    (`training=False`): no dropout, batch norm with its moving statistics, and no state changes,
    so probing never alters training.

    Args:
        model: a functional or Sequential Keras model.
        x: probe inputs (a NumPy array or tensor).
        y: probe targets in the form `loss_fn` expects.
        loss_fn: `loss_fn(y_true, y_pred)`; default: the model's compiled loss, else categorical
            cross-entropy (sparse if `y` has one axis).

    Example:
        >>> rows = layer_diagnostics(model, x_probe, y_probe)
        >>> [(r["name"], r["grad_norm"]) for r in rows]
    """
    layers = _probe_layers(model)
    if loss_fn is None:
        loss_fn = getattr(model, "loss", None)
        if not callable(loss_fn):
            sparse = len(np.shape(y)) == 1
            loss_fn = (
                keras.losses.SparseCategoricalCrossentropy()
                if sparse
                else keras.losses.CategoricalCrossentropy()
            )
    # One input as a tensor, not a list: Keras warns when a list-input model is called on a tensor.
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer.output for layer in layers])
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        outputs = probe(x, training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        loss = loss_fn(y, tf.cast(outputs[-1], "float32"))
    variables = [v for layer in layers for v in layer.trainable_variables]
    grads = dict(zip((id(v) for v in variables), tape.gradient(loss, variables), strict=True))
    rows = []
    for layer, out in zip(layers, outputs, strict=True):
        out = np.asarray(tf.cast(out, "float32"))
        flat = out.reshape(out.shape[0], -1) if out.ndim > 1 else out.reshape(-1, 1)
        if out.ndim > 2:  # feature maps: a unit is a channel over all positions
            flat = np.moveaxis(out, -1, 1).reshape(out.shape[0], out.shape[-1], -1).max(axis=2)
        layer_grads = [grads[id(v)] for v in layer.trainable_variables if grads[id(v)] is not None]
        grad_norm = (
            float(
                np.sqrt(
                    sum(float(tf.reduce_sum(tf.square(tf.cast(g, "float32")))) for g in layer_grads)
                )
            )
            if layer_grads
            else None
        )
        rows.append(
            {
                "name": layer.name,
                "class": layer.__class__.__name__,
                "activation_mean": float(out.mean()),
                "activation_std": float(out.std()),
                "dead_fraction": float(np.mean(np.all(flat <= 0, axis=0))),
                "grad_norm": grad_norm,
            }
        )
    return rows


class DiagnosticsCallback(keras.callbacks.Callback):
    """Record `layer_diagnostics` on a fixed probe batch at the start and after every epoch.

    Writes `diagnostics.json` (a list of `{"epoch": e, "layers": [...]}`, epoch 0 = initialisation)
    atomically, and TensorBoard scalars `activation_mean/<layer>`, `activation_std/<layer>`,
    `dead_fraction/<layer>`, `grad_norm/<layer>` under `log_dir`.

    Args:
        x: probe inputs (fixed for the whole run).
        y: probe targets.
        json_path: the JSON file.
        log_dir: TensorBoard directory, or None for JSON only.
        initial_epoch: epochs finished before this `fit` (a resumed run keeps earlier entries).

    Example:
        >>> cb = DiagnosticsCallback(x[:256], y[:256], "run/diagnostics.json", "run/logs/diagnostics")
        >>> model.fit(ds, epochs=5, callbacks=[cb])
    """

    def __init__(self, x, y, json_path, log_dir=None, initial_epoch=0):
        super().__init__()
        self.x, self.y = x, y
        self.json_path = Path(json_path)
        self.log_dir = None if log_dir is None else str(log_dir)
        self.initial_epoch = int(initial_epoch)
        entries = read_json(self.json_path, default=[])
        self.entries = [e for e in entries if e["epoch"] <= self.initial_epoch]
        self._writer = None

    def on_train_begin(self, logs=None):
        if not any(e["epoch"] == self.initial_epoch for e in self.entries):
            self._record(self.initial_epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch + 1)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _record(self, epoch: int) -> None:
        rows = layer_diagnostics(self.model, self.x, self.y)
        self.entries = [e for e in self.entries if e["epoch"] < epoch] + [
            {"epoch": epoch, "layers": rows}
        ]
        atomic_write_json(self.json_path, self.entries)
        if self.log_dir is None:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            for row in rows:
                for key in ("activation_mean", "activation_std", "dead_fraction", "grad_norm"):
                    if row[key] is not None:
                        tf.summary.scalar(f"{key}/{row['name']}", row[key], step=epoch)
        self._writer.flush()
