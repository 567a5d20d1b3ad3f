"""Writing a Matplotlib figure as a PNG file, whole or not at all."""

from __future__ import annotations

import io

from kzoo.utils.files import atomic_write_bytes


def save_figure(figure, path, *, dpi: int = 110, tight: bool = True) -> str:
    """Render `figure` to PNG at `path` atomically, close it and return the path.

    Args:
        figure: a Matplotlib figure.
        path: output `.png` path.
        dpi: resolution.
        tight: crop to the drawn area (`bbox_inches="tight"`).

    Example:
        >>> save_figure(fig, "curves.png", dpi=100, tight=False)
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    plt.close(figure)
    atomic_write_bytes(path, buf.getvalue())
    return str(path)
