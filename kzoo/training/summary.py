"""Plain-text result tables for the recipes (Markdown pipe tables: readable in a terminal and a README)."""

from __future__ import annotations


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A Markdown table of `rows`; floats get 4 significant decimals, columns are aligned.

    Example:
        >>> print(format_table([{"model": "resnet20", "test_accuracy": 0.9861}]))
        | model    | test_accuracy |
        |----------|---------------|
        | resnet20 | 0.9861        |
    """
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [
        max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)
    ]

    def line(values):
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), rule, *(line(r) for r in cells)])


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
