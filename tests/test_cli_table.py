import os

import pytest

import kzoo.model_table
from kzoo.cli import main


def test_table_output_replaces_the_file_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "table.md"
    path.write_text("old table\n")
    # A write that fails part-way (in life: a full disk or a kill; here: text UTF-8 cannot encode).
    monkeypatch.setattr(kzoo.model_table, "model_rows", lambda pattern, progress: [])
    monkeypatch.setattr(kzoo.model_table, "model_table", lambda rows: "| `a` \ud800 |")
    with pytest.raises(UnicodeEncodeError):
        main(["table", "--output", str(path), "--no-progress"])
    assert path.read_text() == "old table\n"
    assert os.listdir(tmp_path) == ["table.md"]  # no temporary file left beside it

    monkeypatch.setattr(kzoo.model_table, "model_table", lambda rows: "| `a` | 1 |")
    assert main(["table", "--output", str(path), "--no-progress"]) == 0
    assert path.read_text() == "| `a` | 1 |\n"
    assert os.listdir(tmp_path) == ["table.md"]
