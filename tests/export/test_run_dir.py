import numpy as np
import pytest

import kzoo
from kzoo.export import UnsafeModelFileError, export_run, read_metadata
from tests.helpers import count_trainable

from .conftest import assert_builder_record_rebuilds
from .test_keras_files import _layer, _write_archive


def test_the_builder_record_rebuilds_the_exported_architecture(finished_run, tmp_path):
    config, run_dir, model = finished_run
    meta = read_metadata(export_run(run_dir, "digits", root=tmp_path / "saved_models"))
    assert_builder_record_rebuilds(meta, model)
    builder = meta["model"]["builder"]
    # The model_kwargs alone do not rebuild it: the default input is RGB (and 10 classes).
    rgb = kzoo.create_model(builder["name"], depth=3, width=8)
    assert rgb.input_shape[-1] == 3 and rgb.output_shape == (None, 10)
    assert count_trainable(rgb) != count_trainable(model)


def test_a_finished_run_is_reloaded_through_the_scan(finished_run, digits, tmp_path):
    from kzoo.training import train

    config, run_dir, model = finished_run
    result = train(config)  # finished: loads model.keras instead of training
    x = (digits["x"][:16].astype("float32") - digits["mean"]) / digits["std"]
    np.testing.assert_allclose(result.model.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert result.metrics["test_accuracy"] == 0.5

    popen = _layer("Popen", {"args": ["touch", str(tmp_path / "canary")]}, module="subprocess")
    _write_archive(run_dir / "model.keras", [popen], tmp_path)
    with pytest.raises(UnsafeModelFileError, match=r"(?s)Refusing to load .*module='subprocess'"):
        train(config)
    assert not (tmp_path / "canary").exists()
