"""Lesson 7: the deeper plain CNN trains worse than the shallower one; ResNets do not degrade."""

import json

import pytest

from kzoo.lab import residual


@pytest.mark.slow
def test_claim_over_seeds(lab_run):
    r = lab_run("residual")
    assert r["k"] == r["n"] >= 3 and r["config"]["depths"] == [20, 56], r["per_seed"]
    for row in r["per_seed"]:
        h = row["headline"]
        # Degradation, not a collapse: plain-56 leaves chance (90% error) but stays well above
        # plain-20; ResNet-56 ends no worse than ResNet-20.
        assert h["plain-56 final training error (%)"] < 85, h
        assert h["plain-56 final training error (%)"] > h["plain-20 final training error (%)"] + 10
        assert h["ResNet-56 final training loss"] <= h["ResNet-20 final training loss"], h
    seed0 = json.loads((lab_run.out / "seeds" / "residual" / "seed0" / "residual.json").read_text())
    # Not a capacity effect: each plain net has exactly its ResNet's parameter count.
    assert seed0["parameters"]["plain"] == seed0["parameters"]["residual"]
    assert seed0["plain_worse_every_epoch"] is True and len(seed0["curves"]["plain"]["56"]["error"]) == 8


@pytest.mark.slow
def test_smoke_run_writes_its_files_and_gives_no_verdict(tmp_path):
    from kzoo.lab._seeds import run_over_seeds

    r = run_over_seeds(residual, tmp_path, smoke=True)
    assert r["verdict"] == "smoke run, no verdict" and r["config"]["depths"] == [20, 32]
    assert (tmp_path / "residual.png").stat().st_size > 10_000


@pytest.mark.parametrize("kwargs", [dict(depths=(20, 21)), dict(depths=(56, 20)),
                                    dict(depths=(20,)), dict(learning_rates=(0,)),
                                    dict(learning_rates=())])
def test_rejects_bad_arguments_before_writing(tmp_path, kwargs):
    with pytest.raises(ValueError, match="depths|learning_rates"):
        residual.run(tmp_path, smoke=True, **kwargs)
    assert not list(tmp_path.iterdir())
