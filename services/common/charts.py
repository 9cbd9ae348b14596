"""Charts for self-contained HTML reports (training evaluation, portfolio report): drawn
with matplotlib's Agg backend and inlined as base64 PNG, so a page needs no network and no
display."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def png_image(draw: Callable[[Any], None], size: tuple[float, float] = (6.0, 3.6)) -> str:
    """An ``<img>`` element holding what ``draw(axes)`` plots, as an inline PNG."""
    figure, axes = plt.subplots(figsize=size, dpi=90)
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{encoded}">'
