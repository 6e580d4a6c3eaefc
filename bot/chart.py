"""The results chart: one PNG, readable on a phone. Two panels of horizontal bars side by side,
citizen votes and the final score, one row per case, best at the top. Korean labels use the
NanumGothic font shipped inside koreanize-matplotlib, loaded from its file so that no system
font is needed."""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.i18n import plain
from bot.text import shorten

# Found without importing the package, which would change matplotlib's global settings.
_PACKAGE = importlib.util.find_spec("koreanize_matplotlib")
FONT_FILE = Path(_PACKAGE.submodule_search_locations[0]) / "fonts" / "NanumGothic.ttf"
LABEL_LENGTH = 14  # case titles are long; the full ones are in the text beside the chart
FONT_SIZE = 16
MAX_ROWS = 30  # more rows would not be readable on a phone


class _Ranked(Protocol):  # a RankedResult, without importing the services here
    @property  # read-only, as in a frozen dataclass
    def ranked(self) -> Any: ...

    @property
    def case(self) -> Any: ...


@cache
def korean_font() -> font_manager.FontProperties:
    font_manager.fontManager.addfont(str(FONT_FILE))
    return font_manager.FontProperties(fname=str(FONT_FILE), size=FONT_SIZE)


def render_results_chart(ranked: Sequence[_Ranked], language: str) -> bytes:
    font = korean_font()
    rows = list(ranked)[:MAX_ROWS]
    labels = [f"{r.ranked.rank}. {shorten(r.case.text(language).title, LABEL_LENGTH)}"
              for r in rows]
    votes = [r.ranked.votes for r in rows]
    finals = [r.ranked.final for r in rows]
    # Portrait, like a phone screen; each row tall enough for a thumb-sized label.
    height = max(8.0, 0.9 * len(rows) + 3.0)
    # A Figure of its own, not pyplot: charts are drawn in worker threads, and pyplot's global
    # state is not thread-safe.
    figure = Figure(figsize=(8, height))
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 1]})
    positions = list(range(len(rows)))
    left.barh(positions, votes, color="#4C78A8")
    right.barh(positions, finals, color="#F58518")
    left.set_yticks(positions, labels, fontproperties=font)
    left.invert_yaxis()  # rank 1 at the top
    for axis, values, key in ((left, votes, "results.chart.votes"),
                              (right, finals, "results.chart.final")):
        axis.set_title(plain(language, key), fontproperties=font, fontsize=FONT_SIZE + 2)
        axis.tick_params(axis="x", labelsize=FONT_SIZE - 4)
        axis.spines[["top", "right"]].set_visible(False)
        top = max(values, default=0) or 1
        axis.set_xlim(0, top * 1.25)
        for y, value in zip(positions, values, strict=True):
            text = f"{value:g}" if isinstance(value, int) else f"{value:.1f}"
            axis.text(value + top * 0.02, y, text, va="center", fontproperties=font,
                      fontsize=FONT_SIZE - 2)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
