"""The lab report: run every lesson over its seeds (or only collect results) and write one page.

    python recipes/lab/report.py                      # every lesson into runs/lab (about 18 min)
    python recipes/lab/report.py --smoke              # every lesson's seconds-long configuration
    python recipes/lab/report.py --collect            # no training: gather existing results only
    python recipes/lab/report.py --readme-table       # print README's lab table from report.json

Writes report.json, report.html (self-contained, figures embedded; open it in any browser) and
README.md into the output directory. Lessons without results are listed as not run.
"""

from __future__ import annotations

from pathlib import Path

from kzoo.lab import report
from kzoo.lab._common import lesson_parser, main_entry
from kzoo.utils.errors import UserError
from kzoo.utils.files import read_json


def main(argv=None):
    parser = lesson_parser("report", __doc__.splitlines()[0])
    parser.add_argument("--collect", action="store_true", help="only collect existing results")
    parser.add_argument("--lessons", nargs="+", default=None, metavar="LESSON",
                        help="default: every lesson")
    parser.add_argument("--readme-table", action="store_true",
                        help="print README's lab table from <out>/report.json and stop")
    args = parser.parse_args(argv)
    known = report.discover_lessons()
    unknown = [name for name in args.lessons or () if name not in known]
    if unknown:
        raise UserError(f"--lessons: no lesson {unknown[0]!r}; valid: {', '.join(known)}")
    if args.readme_table:
        data = read_json(Path(args.out) / report.REPORT_JSON, default=None)
        if data is None:
            raise UserError(f"--readme-table: no {report.REPORT_JSON} in {args.out!r}; run "
                            "the report first")
        print(report.readme_table(data))
        return data
    result = report.run(args.out, seeds=args.seeds, smoke=args.smoke, workers=args.workers,
                        collect=args.collect, lessons=args.lessons)
    for lesson in result["report"]["lessons"]:
        print(f"{lesson['lesson']:22s} {lesson['verdict']}")
    for row in result["report"]["missing"]:
        print(f"{row['lesson']:22s} not run" + (f" ({row['error']})" if row["error"] else ""))
    print(f"-> {result['html']}")
    return result


if __name__ == "__main__":
    main_entry(main, "report")
