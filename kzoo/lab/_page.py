"""The lab report as pages: one self-contained HTML file (figures embedded) and its Markdown twin.

Both are rendered from the report's JSON only, so a page always says what the JSON says. The HTML
needs nothing but a browser: no script, no font or file fetched, every figure a data: URI.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from kzoo.lab._seeds import format_spread

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 1.5em; max-width: 1100px;
       color: #1b1b1b; overflow-wrap: anywhere; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { margin-top: 2.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0; max-width: 100%; }
td, th { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
img { display: block; max-width: 100%; height: auto; margin: .8em 0; border: 1px solid #eee; }
.verdict { display: inline-block; padding: .1em .6em; border-radius: .3em; font-weight: 600; }
.holds { background: #d9f2dc; } .fails { background: #f8d7d7; } .none { background: #eee; }
.smoke { background: #fff3cd; border: 1px solid #e0c36b; padding: .6em 1em; }
.config { font: 12px/1.4 ui-monospace, monospace; white-space: pre-wrap; background: #f7f7f7;
          padding: .6em; max-width: 100%; box-sizing: border-box; }
.small { color: #555; font-size: .9em; }
.summary td:nth-child(-n+2), .summary td:nth-child(n+4) { white-space: nowrap; overflow-wrap: normal; }
"""


def _verdict_class(lesson: dict) -> str:
    if lesson.get("smoke") or lesson.get("n") is None:
        return "none"
    return "holds" if lesson.get("claim_holds") else "fails"


def _data_uri(path: Path) -> str | None:
    try:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError:
        return None


def render_html(report: dict, out_dir) -> str:
    """The report as one HTML page; figures are read from `out_dir` and embedded."""
    out = Path(out_dir)
    e = html.escape
    env = report["environment"]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(report['title'])}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(report['title'])}</h1>",
        f"<p>{e(report['intro'])}</p>",
    ]
    if report["smoke"]:
        parts.append('<p class="smoke"><b>Smoke run.</b> Seconds-long settings check that the '
                     "code runs; these numbers are not evidence and carry no verdict.</p>")
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    parts += [
        '<table class="small">',
        f"<tr><th>date</th><td>{e(env['date'])}</td></tr>",
        f"<tr><th>machine</th><td>{e(env['cpu'])}, {env['cores']} cores "
        f"({e(' '.join(env['cpu_flags']) or 'no AVX-512/AMX')}), {e(env['platform'])}</td></tr>",
        f"<tr><th>libraries</th><td>{e(versions)}</td></tr>",
        f"<tr><th>total time</th><td>{report['seconds'] / 60:.1f} min</td></tr>",
        f"<tr><th>smoke</th><td>{'yes' if report['smoke'] else 'no'}</td></tr>",
        "</table>",
        '<table class="summary"><tr><th>#</th><th>lesson</th><th>claim</th><th>verdict</th>'
        "<th>time</th></tr>",
    ]
    for lesson in report["lessons"]:
        parts.append(
            f"<tr><td>{lesson['number']}</td><td><a href=\"#{e(lesson['lesson'])}\">"
            f"{e(lesson['lesson'].replace('_', ' '))}</a></td><td>{e(lesson['claim'])}</td>"
            f"<td><span class=\"verdict {_verdict_class(lesson)}\">{e(lesson['verdict'])}"
            f"</span></td><td>{minutes(lesson['seconds'])}</td></tr>")
    parts.append("</table>")
    for lesson in report["lessons"]:
        parts += _lesson_html(lesson, out)
    if report["missing"]:
        parts.append("<h2>Not run</h2><ul>")
        for row in report["missing"]:
            error = f" (failed: {e(row['error'])})" if row.get("error") else ""
            parts.append(f"<li>{e(row['lesson'])}{error}</li>")
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _lesson_html(lesson: dict, out: Path) -> list[str]:
    e = html.escape
    name = lesson["lesson"]
    seeds = ", ".join(str(s) for s in lesson["seeds"])
    parts = [
        f"<h2 id=\"{e(name)}\">{lesson['number']}. {e(name)}</h2>",
        f"<p><b>Claim.</b> {e(lesson['claim'])} <span class=\"small\">({e(lesson['paper'])})"
        "</span></p>",
        f"<p><span class=\"verdict {_verdict_class(lesson)}\">{e(lesson['verdict'])}</span> "
        f"&nbsp; seeds {e(seeds)} &nbsp; {minutes(lesson['seconds'])} "
        f"({minutes(lesson['seconds'] / max(1, len(lesson['seeds'])))} per seed) &nbsp; "
        f"<code>{e(lesson['command'])}</code></p>",
        "<table><tr><th>number</th><th>mean ± sd (min–max)</th><th>per seed</th>"
        "<th>claim per seed</th></tr>",
    ]
    holds = " ".join("✓" if row["claim_holds"] else "✗" for row in lesson["per_seed"])
    for i, (metric, stats) in enumerate(lesson["headline"].items()):
        values = ", ".join("n/a" if v is None else f"{v:.4g}" for v in stats["values"])
        claim_cell = f"<td rowspan=\"{len(lesson['headline'])}\">{holds}</td>" if i == 0 else ""
        parts.append(f"<tr><td>{e(metric)}</td><td>{e(format_spread(stats))}</td>"
                     f"<td>{e(values)}</td>{claim_cell}</tr>")
    parts.append("</table>")
    parts.append(f"<p class=\"small\">{e(lesson['conclusion'])}</p>")
    for figure in lesson["figures"]:
        uri = _data_uri(out / figure)
        if uri:
            parts.append(f'<img alt="{e(name)}: {e(figure)}" src="{uri}">')
        else:
            parts.append(f"<p class=\"small\">(figure {e(figure)} is missing)</p>")
    config = json.dumps(lesson["config"], default=str)
    parts.append(f"<details><summary>configuration</summary><div class=\"config\">{e(config)}"
                 "</div></details>")
    return parts


def render_markdown(report: dict) -> str:
    """The report as Markdown, figures linked (relative to the output directory)."""
    env = report["environment"]
    lines = [f"# {report['title']}", "", report["intro"], ""]
    if report["smoke"]:
        lines += ["**Smoke run**: seconds-long settings; these numbers are not evidence.", ""]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    lines += [f"{env['date']}; {env['cpu']}, {env['cores']} cores "
              f"({' '.join(env['cpu_flags']) or 'no AVX-512/AMX'}); {versions}; "
              f"total {report['seconds'] / 60:.1f} min.", "",
              "| # | lesson | claim | verdict | time |", "|---|---|---|---|---|"]
    for lesson in report["lessons"]:
        anchor = lesson["lesson"].replace("_", "-")
        lines.append(f"| {lesson['number']} | [{lesson['lesson']}](#{anchor}) | {lesson['claim']} "
                     f"| {lesson['verdict']} | {minutes(lesson['seconds'])} |")
    lines.append("")
    for lesson in report["lessons"]:
        lines += [f"## {lesson['lesson']}", "",
                  f"**{lesson['verdict']}** (seeds {', '.join(map(str, lesson['seeds']))}; "
                  f"{minutes(lesson['seconds'])}) -- {lesson['conclusion']}", ""]
        lines += [f"![{lesson['lesson']}]({figure})" for figure in lesson["figures"]] + [""]
    if report["missing"]:
        lines += ["## Not run", ""]
        lines += [f"- {row['lesson']}" + (f" (failed: {row['error']})" if row.get("error") else "")
                  for row in report["missing"]]
        lines.append("")
    return "\n".join(lines)


def minutes(seconds: float) -> str:
    """A lesson's time as the pages show it: seconds under 90 s, else minutes."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
