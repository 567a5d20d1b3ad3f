"""The `--curves` figure: training img/s and peak memory against batch size and depth."""

from __future__ import annotations

from kzoo.bench.curves import DEPTHS, on_curve

_FRAMEWORKS = (("kzoo", "kzoo default", "tab:blue"), ("torch", "PyTorch", "tab:orange"))


def curves_figure(curves: dict):
    """A 2x2 matplotlib figure: img/s and peak MiB against batch (ResNet-20) and against depth.

    Args:
        curves: what `kzoo.bench.curves.run_curves` returns.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    batch_model, depth_batch = curves["batch_curve_model"], curves["depth_curve_batch"]
    by_batch = sorted((p for p in on_curve(curves["points"], "batch") if p["model"] == batch_model),
                      key=lambda p: p["batch"])
    by_depth = sorted((p for p in on_curve(curves["points"], "depth") if p["batch"] == depth_batch),
                      key=lambda p: DEPTHS[p["model"]])
    panels = (
        (axes[0, 0], by_batch, "batch", "images_per_second", f"{batch_model}: training img/s"),
        (axes[1, 0], by_batch, "batch", "peak_memory_mb", f"{batch_model}: peak memory (MiB)"),
        (axes[0, 1], by_depth, "depth", "images_per_second",
         f"batch {depth_batch}: training img/s"),
        (axes[1, 1], by_depth, "depth", "peak_memory_mb", f"batch {depth_batch}: peak memory (MiB)"),
    )
    for ax, points, axis, field, title in panels:
        ticks = [p["batch"] if axis == "batch" else DEPTHS[p["model"]] for p in points]
        for key, label, color in _FRAMEWORKS:
            xs = [p["batch"] if axis == "batch" else DEPTHS[p["model"]] for p in points if key in p]
            ys = [_value(p[key][field]) for p in points if key in p]
            if xs:
                precision = points[0][key]["precision"]
                ax.plot(xs, ys, "o-", color=color, label=f"{label} ({precision})")
        ax.set_xscale("log", base=2 if axis == "batch" else 10)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_yscale("log")
        ax.set_xlabel("batch size" if axis == "batch" else "depth (layers)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("kzoo bench --curves: how training cost grows (each point its own processes)",
                 fontsize=11)
    fig.tight_layout()
    return fig


def _value(entry):
    return entry["median"] if isinstance(entry, dict) else entry


def write_curves_figure(path, curves: dict) -> str:
    """Draw `curves_figure(curves)` and write it as a PNG at `path` atomically."""
    from kzoo.charts.png import save_figure

    return save_figure(curves_figure(curves), path, dpi=100, tight=False)
