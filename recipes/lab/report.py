"""The lab report: run every lesson (or only collect their results) and write one Markdown page.

    python recipes/lab/report.py                      # run all lessons into runs/lab, write README
    python recipes/lab/report.py --smoke              # every lesson in its tiny configuration
    python recipes/lab/report.py --collect            # no training: gather existing JSON/PNG only

Lessons without results are listed as not run.
"""

from __future__ import annotations

from kzoo.lab import report
from kzoo.lab._common import lesson_parser


def main(argv=None):
    parser = lesson_parser("report", __doc__.splitlines()[0])
    parser.add_argument("--collect", action="store_true", help="only collect existing results")
    parser.add_argument("--lessons", nargs="+", default=None, help="default: every lesson")
    parser.add_argument("--readme", default=None, help="output page (default <out>/README.md)")
    args = parser.parse_args(argv)
    result = report.run(
        args.out,
        seed=args.seed,
        smoke=args.smoke,
        collect=args.collect,
        lessons=args.lessons,
        readme=args.readme,
    )
    for lesson, info in result["lessons"].items():
        print(f"{lesson:22s} {info['conclusion'] or 'not run'}")
    print(f"-> {result['readme']}")
    return result


if __name__ == "__main__":
    main()
