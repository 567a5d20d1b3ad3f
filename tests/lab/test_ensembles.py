"""Lesson 15: ensembles of seeded nets and of snapshots, EMA/SWA, and dropout ~ ensemble (MNIST-1D)."""

import json

import pytest

from kzoo.lab import ensembles


@pytest.mark.slow
def test_ensembles_beat_their_members_and_weight_scaling_matches_mc_dropout(tmp_path):
    r = ensembles.run(tmp_path, seed=0, smoke=True)
    k = r["members"]
    # Seeded 1-D CNNs err on 7.0-8.0% of the test signals, their ensemble of 3 on 5.4% (smoke).
    assert r["ensemble_error"][k] < r["mean_member_error"] - 0.01
    assert r["ensemble_error"][k] <= min(r["member_error"])
    snap = r["snapshot"]
    assert len(snap["snapshot_errors"]) == r["snapshots"]
    assert snap["ensemble_error"] < sum(snap["snapshot_errors"]) / len(snap["snapshot_errors"])
    mc = r["dropout"]
    largest = max(mc["mc_arithmetic_error"])
    # Weight scaling 57.6% vs the mean of 50 sub-networks 57.8% (geometric 57.8%); one
    # sub-network 63.4%; the two agree on 88.3% of the signals (smoke: an MLP after 8 epochs).
    assert abs(mc["mc_arithmetic_error"][largest] - mc["weight_scaling_error"]) <= 0.02
    assert abs(mc["mc_geometric_error"][largest] - mc["weight_scaling_error"]) <= 0.02
    assert mc["single_subnetwork_error"] > mc["weight_scaling_error"] + 0.02
    assert mc["mc_arithmetic_error"][1] > mc["mc_arithmetic_error"][largest]
    assert mc["agreement"] > 0.8
    assert r["claim_holds"]
    saved = json.loads((tmp_path / "ensembles.json").read_text())
    assert saved["smoke"] is True and saved["ensemble_error"][str(k)] == r["ensemble_error"][k]
    assert (tmp_path / "ensembles.png").stat().st_size > 10_000


@pytest.mark.parametrize("kwargs, match", [
    (dict(members=1), "members"),
    (dict(epochs=9, snapshots=2), "snapshots"),
    (dict(mc_samples=0), "mc_samples"),
])
def test_rejects_bad_arguments_before_training(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ensembles.run(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())
