"""The package's layers, as README's "Architecture" section draws them: no import points upward, and
the command line starts without TensorFlow."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kzoo"
# Bottom to top; a module may import from its own level or below, never above.
LEVELS = [
    ("kzoo", "kzoo.utils"),
    ("kzoo.layers", "kzoo.data", "kzoo.keras_private"),
    ("kzoo.models", "kzoo.registry", "kzoo.counting", "kzoo.info", "kzoo.model_table",
     "kzoo.charts", "kzoo.gradcheck"),
    ("kzoo.training",),
    ("kzoo.export", "kzoo.evaluation"),
    ("kzoo.tuning", "kzoo.lab"),
    ("kzoo.bench",),
    ("kzoo.cli", "kzoo.recipe"),
]


def level_of(module: str) -> int:
    best = None
    for level, prefixes in enumerate(LEVELS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > len(best[1]):
                    best = (level, prefix)
    assert best is not None, f"{module} is on no level of LEVELS"
    return best[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def kzoo_imports(path: Path):
    """Every kzoo module `path` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "kzoo":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "kzoo":
                for alias in node.names:
                    # `from kzoo.export import saved_model` imports a submodule.
                    yield f"{node.module}.{alias.name}", node.lineno


def lazy_targets(path: Path):
    """The modules a lazy package `__init__` maps names to (`lazy_exports(...)` dict keys)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports":
            for key in node.args[1].keys:
                yield key.value, node.lineno


def test_no_import_points_upward():
    upward = []
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 80  # the walk found the package
    for path in files:
        importer = module_name(path)
        if importer == "kzoo":
            continue  # the public facade: lazy names from every level (importing it loads none)
        targets = list(kzoo_imports(path))
        if path.name == "__init__.py":
            targets += list(lazy_targets(path))
        for imported, line in targets:
            if level_of(imported) > level_of(importer):
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} {importer} -> {imported}")
    assert upward == []


def test_level_of_reads_the_longest_prefix():
    assert level_of("kzoo.models.keras_files") == 2
    assert level_of("kzoo.utils.files") == 0
    assert level_of("kzoo.tuning.driver") == 5
    with pytest.raises(AssertionError):
        level_of("numpy")


@pytest.mark.parametrize("argv", [["--help"], ["list", "wrn*"], ["datasets"], ["train", "--help"],
                                  ["tune", "--help"]])
def test_the_command_line_starts_without_tensorflow(argv):
    code = (
        "import sys\n"
        "import kzoo.cli\n"
        f"try:\n    kzoo.cli.main({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'keras_tuner', 'tensorflow_datasets')"
        " if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout
