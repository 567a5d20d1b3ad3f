"""`weights=` an ensemble export: its variables are every member's, under the same paths, so a load
matched by path silently took the last member's weights; it is refused, naming the members."""

from __future__ import annotations

import json

import pytest

from kzoo.models.pretrained import resolve_weights
from kzoo.utils.errors import UserError


def test_an_ensemble_export_is_not_one_networks_weights(version_copy):
    meta_path = version_copy / "assets.extra" / "kzoo_metadata.json"
    meta = json.loads(meta_path.read_text())
    meta.setdefault("extra", {})["ensemble"] = {
        "mean": "arithmetic", "weights": None,
        "members": [{"source": "runs/a"}, {"source": "saved_models/b/3"}],
    }
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"is an ensemble of 2 networks \(kzoo ensemble\), not one "
                       r"network's weights; pass one of its members \('runs/a', "
                       r"'saved_models/b/3'\)"):
        resolve_weights(str(version_copy))
    with pytest.raises(UserError, match="is an ensemble of 2 networks"):
        resolve_weights(str(version_copy.parent))
