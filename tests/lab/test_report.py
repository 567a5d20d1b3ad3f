"""The lab report: lessons over seeds (k of n, spread), the JSON, the HTML page and README's table."""

import json
import re
import types
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from kzoo.lab import report
from kzoo.lab._page import render_html
from kzoo.lab._seeds import format_spread, run_over_seeds, spread

from .browser import CHROMIUM, inspect_page, screenshot

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "lab" / "report.json"


def _fake_lesson(losses):
    """A lesson whose seed k measures losses[k]; its claim is "loss below 1"."""

    def run(out_dir, *, seed=0, smoke=False, width=8):
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [losses[seed], losses[seed]])
        fig.savefig(out_dir / "fake.png")
        plt.close(fig)
        return {"loss": losses[seed], "width": width, "claim_holds": losses[seed] < 1,
                "conclusion": f"loss {losses[seed]}", "figure": str(out_dir / "fake.png")}

    return types.SimpleNamespace(LESSON="fake", CLAIM="The loss ends below 1.", PAPER="A 2020",
                                 SEEDS=(0, 1, 2), run=run,
                                 headline=lambda r: {"final loss": r["loss"]})


def test_spread_is_mean_sample_sd_min_max_and_counts_what_is_not_finite():
    stats = spread([1.0, 2.0, 4.0, float("nan"), None])
    assert stats["mean"] == pytest.approx(7 / 3)
    assert stats["sd"] == pytest.approx(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) ** 0.5
                                        / 2 ** 0.5)
    assert (stats["min"], stats["max"], stats["n"], stats["not_finite"]) == (1.0, 4.0, 3, 2)
    assert format_spread(stats) == "2.33 ± 1.53 (1–4), 2 not finite"
    assert format_spread(spread([None])) == "n/a"


def test_claim_is_k_of_n_seeds_and_holds_only_on_every_seed(tmp_path):
    lesson = _fake_lesson({0: 0.5, 1: 2.0, 2: 0.7, 3: 0.1})
    result = run_over_seeds(lesson, tmp_path, width=16)
    assert (result["k"], result["n"], result["claim_holds"]) == (2, 3, False)
    assert result["verdict"] == "holds in only 2 of 3 seeds"
    assert result["headline"]["final loss"]["values"] == [0.5, 2.0, 0.7]
    assert result["config"] == {"width": 16}
    assert "Holds in 2 of 3 seeds" in result["conclusion"]
    saved = json.loads((tmp_path / "fake.json").read_text())
    assert saved["per_seed"][1] == dict(saved["per_seed"][1], seed=1, claim_holds=False)
    assert (tmp_path / "seeds" / "fake" / "seed2" / "fake.png").is_file()
    assert [Path(f).name for f in result["figures"]] == ["fake.png", "fake_seeds.png"]
    every = run_over_seeds(lesson, tmp_path, seeds=[0, 3])
    assert (every["verdict"], every["claim_holds"]) == ("holds in 2 of 2 seeds", True)


def test_smoke_results_carry_no_verdict_whatever_their_numbers(tmp_path):
    result = run_over_seeds(_fake_lesson({0: 0.5}), tmp_path, smoke=True)
    assert result["seeds"] == [0] and result["smoke"] is True
    assert (result["verdict"], result["claim_holds"]) == ("smoke run, no verdict", False)
    assert result["conclusion"].startswith("Smoke run (not evidence)")


@pytest.mark.parametrize("seeds", [[], [0, 0], [-1], [True], ["1"]])
def test_bad_seeds_are_refused_before_anything_runs(tmp_path, seeds):
    with pytest.raises(ValueError, match="seeds"):
        run_over_seeds(_fake_lesson({0: 0.5}), tmp_path, seeds=seeds)
    assert not list(tmp_path.iterdir())


def test_discovers_lessons_in_lecture_order_and_each_has_its_recipe():
    lessons = report.discover_lessons()
    assert lessons == list(report.ORDER)
    for lesson in lessons:
        assert (ROOT / report.lesson_command(lesson).split()[1]).is_file(), lesson


def test_every_lesson_declares_its_claim_over_at_least_three_seeds():
    import importlib

    for lesson in report.discover_lessons():
        module = importlib.import_module(f"kzoo.lab.{lesson}")
        assert module.LESSON == lesson
        assert len(module.SEEDS) >= 3 and len(set(module.SEEDS)) == len(module.SEEDS), lesson
        assert module.CLAIM.endswith(".") and module.PAPER and callable(module.headline), lesson


def _page(tmp_path, lessons):
    out = tmp_path / "lab"
    for name, losses in lessons.items():
        lesson = _fake_lesson(losses)
        lesson.LESSON = name
        run_over_seeds(lesson, out)
    return out


def test_collect_gathers_results_lists_missing_and_corrupt_lessons(tmp_path):
    out = _page(tmp_path, {"highway": {0: 0.1, 1: 0.2, 2: 0.3}})
    (out / "maxout.json").write_text("{not json")
    result = report.run(out, collect=True, lessons=["highway", "maxout", "residual"])
    data = json.loads(Path(result["json"]).read_text())
    assert [lesson["lesson"] for lesson in data["lessons"]] == ["highway"]
    assert [row["lesson"] for row in data["missing"]] == ["maxout", "residual"]
    assert data["lessons"][0]["number"] == 6 and data["smoke"] is False
    assert set(data["environment"]) == {"date", "cpu", "cores", "cpu_flags", "platform", "versions"}
    assert {"tensorflow", "keras", "numpy", "python", "kzoo"} <= set(data["environment"]["versions"])
    text = Path(result["markdown"]).read_text()
    assert "holds in 3 of 3 seeds" in text and "- maxout" in text
    assert "![highway](highway.png)" in text and "![highway](highway_seeds.png)" in text


def test_html_page_is_self_contained_and_names_seeds_config_versions(tmp_path):
    out = _page(tmp_path, {"highway": {0: 0.1, 1: 0.2, 2: 3.0}})
    page = Path(report.write_report(out, ["highway"])["html"]).read_text()
    assert re.findall(r'src="([^"]*)"', page) and all(
        src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]*)"', page))
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for text in ("holds in only 2 of 3 seeds", "seeds 0, 1, 2", "&quot;width&quot;: 8",
                 "tensorflow", "The loss ends below 1."):
        assert text in page, text


def test_smoke_report_says_so_on_the_page(tmp_path):
    out = tmp_path / "lab"
    run_over_seeds(types.SimpleNamespace(**{**vars(_fake_lesson({0: 0.1})), "LESSON": "maxout"}),
                   out, smoke=True)
    data = report.build_report(out, ["maxout"])
    assert data["smoke"] is True
    assert "Smoke run." in render_html(data, out)


def test_readme_lab_table_is_generated_from_the_committed_real_report():
    data = json.loads(COMMITTED.read_text())
    assert data["smoke"] is False and not data["missing"]
    assert [lesson["lesson"] for lesson in data["lessons"]] == report.discover_lessons()
    assert all(lesson["n"] >= 3 for lesson in data["lessons"])
    readme = (ROOT / "README.md").read_text()
    assert report.readme_table(data) in readme, (
        "README's lab table differs from docs/lab/report.json; regenerate it with "
        "python recipes/lab/report.py --out docs/lab --readme-table")
    assert data["seconds"] <= 30 * 60  # the whole lab within its 30-minute budget


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_real_report_page_renders_every_figure_without_overflow(lab_run, tmp_path):
    for lesson in report.discover_lessons():
        lab_run(lesson)
    paths = report.write_report(lab_run.out)
    data = paths["report"]
    assert data["smoke"] is False and not data["missing"]
    page = Path(paths["html"])
    figures = sum(len(lesson["figures"]) for lesson in data["lessons"])
    for width in (1280, 800):
        seen = inspect_page(page, tmp_path, width=width)
        assert seen["images"] == figures and not seen["broken"], seen
        assert not seen["overflow"] and seen["scroll_width"] <= seen["width"], seen
    shot = screenshot(page, lab_run.out / "report-screenshot.png", tmp_path)
    assert shot.stat().st_size > 50_000


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_browser_check_sees_a_broken_figure_and_a_block_wider_than_the_window(tmp_path):
    out = _page(tmp_path, {"highway": {0: 0.1, 1: 0.2, 2: 0.3}})
    good = Path(report.write_report(out, ["highway"])["html"])
    seen = inspect_page(good, tmp_path, width=800)
    assert seen["images"] == 2 and not seen["broken"] and not seen["overflow"], seen
    bad = tmp_path / "bad.html"
    broken = good.read_text().replace('base64,', "base64,AAAA", 1)
    bad.write_text(broken.replace("</body>", '<div style="width:3000px">wide</div></body>'))
    seen = inspect_page(bad, tmp_path, width=800)
    assert len(seen["broken"]) == 1 and seen["overflow"], seen


def _recipe(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "recipes" / "lab" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv", [["--seeds", "-1"], ["--seeds", "x"], ["--seeds"]])
def test_lab_scripts_refuse_bad_seeds_in_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        _recipe("10_maxout").main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "--seeds" in err, err


def test_report_script_names_an_unknown_lesson_and_the_valid_ones(tmp_path):
    from kzoo.utils.errors import UserError

    with pytest.raises(UserError, match=r"--lessons: no lesson 'highwy'; valid: .*highway"):
        _recipe("report").main(["--lessons", "highwy", "--out", str(tmp_path)])
    with pytest.raises(UserError, match="--readme-table: no report.json"):
        _recipe("report").main(["--readme-table", "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir())
