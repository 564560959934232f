"""The pipeline as a PNG bar chart, for platforms that show images: an optional extra.

matplotlib comes with ``pip install 'dxbot[chart]'``; without it there is simply no chart and the
digest is text only. Labels are Japanese when a Japanese font is installed (Noto Sans CJK,
IPAexGothic …). Without one Japanese would draw as empty boxes, so the chart speaks English.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from bot.i18n import Catalog
from storage.issues import STATUSES

log = logging.getLogger(__name__)

CONTENT_TYPE = "image/png"
FILENAME = "pipeline.png"
JAPANESE_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "IPAexGothic",
    "IPAGothic",
    "IPAPGothic",
    "TakaoGothic",
    "Source Han Sans JP",
)
JAPANESE_FONT_FILES = ("notosanscjk", "notosansjp", "ipaexg", "ipag", "ipap", "takao", "sourcehan")
FALLBACK_LOCALE = "en"  # labels any installed font can draw
_BAR_COLOR = "#2b6cb0"


@cache
def japanese_font() -> str | None:
    """The first Japanese font matplotlib knows of, or None (also without matplotlib)."""
    try:
        from matplotlib import font_manager
    except ImportError:
        return None
    found = _known_font(font_manager.fontManager)
    if found is None:
        # matplotlib caches the font list once: a font installed later is not in it yet.
        for path in font_manager.findSystemFonts():
            if Path(path).name.lower().startswith(JAPANESE_FONT_FILES):
                font_manager.fontManager.addfont(path)
        found = _known_font(font_manager.fontManager)
    return found


def _known_font(manager: Any) -> str | None:
    installed = {font.name for font in manager.ttflist}
    return next((name for name in JAPANESE_FONTS if name in installed), None)


def _label_locale(locale: str, font: str | None) -> str:
    return locale if font is not None or locale == FALLBACK_LOCALE else FALLBACK_LOCALE


def pipeline_png(counts: Mapping[str, int], catalog: Catalog, locale: str) -> bytes | None:
    """A horizontal bar per status, in the method's order; None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        log.debug("matplotlib is not installed: digests go without a chart")
        return None
    font = japanese_font()
    labels_in = _label_locale(locale, font)
    labels = [catalog.t(labels_in, f"status.{s}") for s in STATUSES]
    values = [counts.get(s, 0) for s in STATUSES]
    # The object API, not pyplot: no global state, safe in a long-running server.
    figure = Figure(figsize=(6.4, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    family = font or "sans-serif"
    positions = list(range(len(labels)))
    bars = axes.barh(positions, values, color=_BAR_COLOR)
    axes.set_yticks(positions, labels, fontfamily=family)
    axes.invert_yaxis()  # 受付 at the top, as the stages are read
    axes.bar_label(bars, padding=3)
    axes.set_xlabel(catalog.t(labels_in, "digests.chart_count"), fontfamily=family)
    axes.set_title(catalog.t(labels_in, "digests.chart_title"), fontfamily=family)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 件
    axes.margins(x=0.15)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
