"""Kept so test files written against it still run; new tests call `tests.helpers.run_layer_test`.

`run_layer_checks` runs `run_layer_test`'s checks on the layer `layer_factory()` builds, taking
the expected output shape and weight counts from the layer itself (so it checks less than a
`run_layer_test` call that states them), without the precision sweep.
"""

from __future__ import annotations

from tests.helpers import run_layer_test


def run_layer_checks(layer_factory, x, tmp_path=None, atol=1e-6, train=True):
    layer = layer_factory()
    y = layer(x)
    run_layer_test(
        type(layer),
        layer.get_config(),
        input_data=x,
        expected_output_shape=tuple(y.shape),
        expected_num_trainable_weights=len(layer.trainable_weights),
        expected_num_non_trainable_weights=len(layer.non_trainable_weights),
        expected_num_losses=len(layer.losses),
        run_training_check=train,
        run_precision_check=False,
        atol=max(atol, 1e-5),
    )
