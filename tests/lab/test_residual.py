"""Lesson 7: the deeper plain CNN trains worse than the shallower one; ResNets do not degrade."""

import json

import pytest

from kzoo.lab import residual


@pytest.mark.slow
def test_deeper_plain_cnn_degrades_and_resnet_does_not(tmp_path):
    r = residual.run(tmp_path, seed=0, smoke=True)
    loss = r["final_loss"]
    assert r["depths"] == [20, 32] and r["epochs"] == 4
    # Measured, seeds 0, 1, 2: plain-32 ends 5.7x, 5.5x, 5.2x above plain-20; ResNet-32 at 0.47x,
    # 0.86x, 0.80x of ResNet-20.
    assert loss["plain"]["32"] > 2.0 * loss["plain"]["20"]
    assert loss["residual"]["32"] <= loss["residual"]["20"]
    # Not a capacity effect: each plain net has exactly its ResNet's parameter count.
    assert r["parameters"]["plain"] == r["parameters"]["residual"]
    assert r["claim_holds"] is True
    saved = json.loads((tmp_path / "residual.json").read_text())
    assert saved["degradation"] == pytest.approx(r["degradation"])
    assert len(saved["curves"]["plain"]["32"]["loss"]) == 4
    assert (tmp_path / "residual.png").stat().st_size > 10_000


@pytest.mark.parametrize("kwargs", [dict(depths=(20, 21)), dict(depths=(56, 20)),
                                    dict(depths=(20,)), dict(learning_rate=0)])
def test_rejects_bad_arguments_before_writing(tmp_path, kwargs):
    with pytest.raises(ValueError, match="depths|learning_rate"):
        residual.run(tmp_path, smoke=True, **kwargs)
    assert not list(tmp_path.iterdir())
