"""The accuracy-versus-cost chart (Canziani, Paszke & Culurciello 2017): published error against
multiply-adds, bubble area proportional to parameters, one panel per benchmark.

Every point is a registered model with a published error; its MACs and parameters are measured
here (`kzoo.model_info`), its error is the paper's (or torchvision's, for the ImageNet layouts
kzoo copies from it), as in `kzoo table`.
"""

from __future__ import annotations

import math

# Benchmarks drawn, in panel order: (published key, panel title).
BENCHMARKS = (
    ("imagenet_top1_error", "ImageNet: top-1 error (single crop)"),
    ("cifar10_error", "CIFAR-10: test error"),
)
# Bubble area in points^2 per million parameters, and the smallest bubble drawn.
AREA_PER_MILLION = 14.0
MIN_AREA = 12.0


def chart_points(rows) -> dict[str, list[dict]]:
    """`{benchmark key: [point, ...]}` from `model_info` rows that have a published error.

    A point is `{"name", "family", "macs", "params", "error"}`; models without the benchmark's
    number are left out of its panel.
    """
    points = {key: [] for key, _ in BENCHMARKS}
    for row in rows:
        for key, _ in BENCHMARKS:
            if key in (row.get("published") or {}):
                points[key].append(
                    {
                        "name": row["name"],
                        # ImageNet and CIFAR ResNets are one family in two modules.
                        "family": (row.get("family") or "other").removesuffix("_imagenet"),
                        "macs": int(row["macs"]),
                        "params": int(row["trainable_params"]),
                        "error": float(row["published"][key]),
                    }
                )
    return points


def bubble_area(params) -> float:
    """Marker area (points^2) for a model of `params` parameters: proportional, with a floor."""
    return max(MIN_AREA, AREA_PER_MILLION * params / 1e6)


def cost_accuracy_figure(rows, *, title=None):
    """A matplotlib figure: one log-x panel per benchmark, error (%) against MACs.

    Args:
        rows: `model_info` dicts (what `kzoo.model_table.model_rows` returns).
        title: figure title (default names the chart and the bubble scale).

    Example:
        >>> from kzoo.model_table import model_rows
        >>> fig = cost_accuracy_figure(model_rows("resnet*", progress=False))

    Reference:
        Canziani, Paszke, Culurciello. "An Analysis of Deep Neural Network Models for Practical
        Applications." 2017 (arXiv:1605.07678), Fig. 2.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = chart_points(rows)
    panels = [(key, label) for key, label in BENCHMARKS if points[key]]
    if not panels:
        raise ValueError("no model among `rows` has a published ImageNet or CIFAR-10 error.")
    families = sorted({p["family"] for key, _ in panels for p in points[key]})
    colors = dict(zip(families, _palette(plt, len(families)), strict=True))
    fig, axes = plt.subplots(1, len(panels), figsize=(8.5 * len(panels), 8.5), layout="constrained",
                             squeeze=False)
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        _panel(ax, points[key], colors, label)
    handles = [plt.Line2D([], [], ls="", marker="o", ms=8, color=colors[f], alpha=0.7, label=f)
               for f in families]
    sizes = [plt.scatter([], [], s=bubble_area(m * 1e6), color="0.6", alpha=0.5,
                         label=f"{m:g}M parameters") for m in (1, 10, 100)]
    axes[0][-1].legend(handles=handles + sizes, title="family / bubble area", fontsize=8,
                       title_fontsize=9, loc="upper right", labelspacing=1.1, borderpad=0.9)
    fig.suptitle(title or "Published error against multiply-adds per image "
                          "(bubble area proportional to parameters; MACs and parameters "
                          "measured by kzoo)", fontsize=12)
    return fig


def _palette(plt, n):
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _panel(ax, points, colors, label):
    points = sorted(points, key=lambda p: -p["params"])  # big bubbles under small ones
    for p in points:
        ax.scatter(p["macs"], p["error"], s=bubble_area(p["params"]), color=colors[p["family"]],
                   alpha=0.45, edgecolors="0.2", linewidths=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("multiply-adds per image (log scale)")
    ax.set_ylabel("published error (%)")
    ax.set_title(label)
    ax.grid(True, which="both", alpha=0.25)
    low = min(p["macs"] for p in points)
    high = max(p["macs"] for p in points)
    ax.set_xlim(low / 1.8, high * 2.5)
    errors = [p["error"] for p in points]
    span = max(errors) - min(errors)
    ax.set_ylim(min(errors) - 0.08 * span - 0.2, max(errors) + 0.08 * span + 0.2)
    ax.xaxis.set_major_formatter(mac_formatter())
    place_labels(ax, [(p["macs"], p["error"], p["name"], bubble_area(p["params"]))
                      for p in points])


# Label positions tried in turn (offsets in points from the marker's centre, alignment).
_OFFSETS = ((5, 5, "left"), (5, -11, "left"), (-5, 5, "right"), (-5, -11, "right"),
            (0, 9, "center"), (0, -15, "center"), (9, -3, "left"), (-9, -3, "right"))


def place_labels(ax, items, fontsize=7):
    """Label markers `(x, y, text, area in points^2)` of `ax`, each at the first offset whose text
    overlaps neither a label placed before nor the inner half of another marker, joined to its
    marker by a thin line (a greedy placement: matplotlib has none, and a dependency for it is
    not worth it). Call after the axes' limits and scales are set."""
    from matplotlib.transforms import Bbox

    renderer = ax.figure.canvas.get_renderer()
    to_pixels = ax.figure.dpi / 72.0
    markers = []
    for x, y, _, area in items:
        cx, cy = ax.transData.transform((x, y))
        r = 0.5 * math.sqrt(area / math.pi) * to_pixels
        markers.append(Bbox.from_extents(cx - r, cy - r, cx + r, cy + r))
    placed = []
    order = sorted(range(len(items)), key=lambda i: (items[i][0], items[i][1]))
    for i in order:
        x, y, text, area = items[i]
        others = markers[:i] + markers[i + 1:]
        radius = math.sqrt(area / math.pi)  # labels start outside the marker
        scale = 1.0 + 0.7 * radius / 9.0
        for dx, dy, align in _OFFSETS:
            label = ax.annotate(text, (x, y), fontsize=fontsize, color="0.15",
                                xytext=(dx * scale, dy * scale), textcoords="offset points",
                                ha=align, arrowprops=dict(arrowstyle="-", color="0.55", lw=0.5,
                                                          shrinkA=1, shrinkB=radius))
            box = label.get_window_extent(renderer).expanded(1.05, 1.15)
            if not any(box.overlaps(other) for other in placed + others):
                break
            label.remove()
        else:  # every position taken: keep the first
            label = ax.annotate(text, (x, y), fontsize=fontsize, color="0.15",
                                xytext=_OFFSETS[0][:2], textcoords="offset points")
            box = label.get_window_extent(renderer)
        placed.append(box)


def mac_formatter(leading=None):
    """Tick labels 100M, 1G, 10G for a log axis of multiply-adds (or parameters); with
    `leading`, only ticks whose first digit is in it are labelled (for minor ticks)."""
    from matplotlib.ticker import FuncFormatter

    def fmt(value, _):
        if value <= 0:
            return ""
        exponent = int(math.floor(math.log10(value) + 1e-9))
        if leading is not None and round(value / 10**exponent) not in leading:
            return ""
        for unit, scale in (("G", 9), ("M", 6), ("k", 3)):
            if exponent >= scale:
                return f"{value / 10**scale:g}{unit}"
        return f"{value:g}"

    return FuncFormatter(fmt)


def write_cost_accuracy_chart(path, rows=None, *, pattern=None, progress=True) -> str:
    """Draw the chart and write it as a PNG at `path` atomically; return the path.

    Args:
        path: output `.png` path.
        rows: `model_info` rows; None builds every registered model matching `pattern` (the
            largest take seconds each) -- what `kzoo table --plot` draws.
        pattern: fnmatch filter on model names when `rows` is None.
        progress: show a progress bar while building models.

    Example:
        >>> write_cost_accuracy_chart("chart.png", pattern="resnet*")
    """
    if rows is None:
        from kzoo.model_table import model_rows

        rows = model_rows(pattern, progress=progress)
    from kzoo.charts.png import save_figure

    return save_figure(cost_accuracy_figure(rows), path, tight=False)
