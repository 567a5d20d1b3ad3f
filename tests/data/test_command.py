"""`kzoo datasets`: the catalog table and preparing a dataset ahead of training."""

from kzoo.cli import main


def test_datasets_table(capsys):
    assert main(["datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| name | kind | shape | classes |")
    assert len(lines) == 2 + 12  # the ten datasets and digits' two halves
    assert "| cifar10 | image | (32, 32, 3) | 10 | cifar10 | downloaded by TFDS | pad 4 + crop + flip |" in lines
    assert any(line.startswith("| digits_5to9 | image | (8, 8, 1) | 5 |") for line in lines)
    assert "| mnist1d | sequence | (40, 1) | 10 | kzoo_mnist1d | generated offline | - |" in lines


def test_datasets_prepare(capsys, data_dir):
    assert main(["datasets", "--prepare", "wine", "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "wine: 142 train / 36 test examples of shape (13,) (float32)"
    )
    assert (data_dir / "kzoo_wine" / "1.0.0").is_dir()
