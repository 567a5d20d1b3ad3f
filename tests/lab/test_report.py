"""The lab report: discovery, running two quick lessons, collecting, and missing lessons."""

import json

import pytest

from kzoo.lab import report


def test_discovers_lessons_in_lecture_order():
    lessons = report.discover_lessons()
    assert "maxout" in lessons and "report" not in lessons
    assert all(not name.startswith("_") for name in lessons)
    known = [name for name in report.ORDER if name in lessons]
    assert lessons[: len(known)] == known


@pytest.mark.slow
def test_report_runs_two_smoke_lessons_and_lists_a_failing_one(tmp_path):
    out = tmp_path / "lab"
    lessons = ["vanishing_gradients", "maxout", "no_such_lesson"]
    result = report.run(out, smoke=True, lessons=lessons)
    text = (out / "README.md").read_text()
    for lesson in ("vanishing_gradients", "maxout"):
        saved = json.loads((out / f"{lesson}.json").read_text())
        assert saved["conclusion"] in text
        assert f"![{lesson}]({lesson}.png)" in text
        assert result["lessons"][lesson]["seconds"] > 0
    assert result["missing"] == ["no_such_lesson"]
    assert "- no_such_lesson (failed: ModuleNotFoundError" in text


def test_collect_only_reads_results_and_marks_absent_lessons(tmp_path):
    out = tmp_path / "lab"
    out.mkdir()
    (out / "highway.json").write_text(json.dumps(
        {"conclusion": "at 50 layers highway 90%, plain 20%", "claim_holds": True}))
    readme = tmp_path / "page.md"
    result = report.run(out, collect=True, lessons=["highway", "maxout"], readme=readme)
    text = readme.read_text()
    assert "at 50 layers highway 90%, plain 20%" in text
    assert "## Not run" in text and "- maxout" in text
    assert result["missing"] == ["maxout"]
    assert not (out / "maxout.json").exists()  # collecting never trains
