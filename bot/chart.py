"""The results chart: one portrait PNG made to be read on a phone without zooming.

A header (the campaign's title, the publishing date in the campaign's timezone, what the bars
measure), then the top cases as bars of their final score, each with its rank and full title
(wrapped to two lines), its award tier marked by colour and name, and one line summing up the
cases below them. Cases with neither a score nor an award are never drawn as bars.

Korean uses the NanumGothic fonts shipped inside koreanize-matplotlib, loaded from their files
so that no system font is needed. Text is measured with the same font files matplotlib draws
with, so the layout is computed before anything is drawn, and the same inputs give the same
bytes (the Kakao media server and the Telegram file ids cache charts by content)."""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font
from matplotlib.patches import FancyBboxPatch

from bot.domain import Campaign
from bot.i18n import plain

# Found without importing the package, which would change matplotlib's global settings.
_PACKAGE = importlib.util.find_spec("koreanize_matplotlib")
assert _PACKAGE is not None and _PACKAGE.submodule_search_locations is not None
FONT_DIR = Path(list(_PACKAGE.submodule_search_locations)[0]) / "fonts"
FONT_FILE = FONT_DIR / "NanumGothic.ttf"
BOLD_FONT_FILE = FONT_DIR / "NanumGothicBold.ttf"

# Sizes in pixels of the PNG. 1080 wide is a phone screen's full width: shown at about 400
# points wide, the 36-pixel titles read like 13-point text.
WIDTH = 1080
DPI = 100
MARGIN = 48
TOP_CASES = 10  # drawn as bars; the rest are one line below them
TITLE_LINES = 2  # a case title, and the campaign's, wrap to this many lines at most

MAX_HEIGHT = 2000  # a phone screen and a little more: one swipe, never a long scroll

CAMPAIGN_SIZE = 46
HEADER_SIZE = 30
CASE_SIZE = 34
VALUE_SIZE = 30
BADGE_SIZE = 27
REST_SIZE = 30
LINE_SPACING = 1.25

RULE_GAP = 20  # above and below the rule under the header
TITLE_GAP = 6  # between a case's title and its bar
BAR_HEIGHT = 42
BADGE_PAD = 14  # left and right inside an award's label
ROW_GAP = 30  # between one case's bar and the next case's title
REST_GAP = 24  # above the line for the rest
VALUE_GAP = 16  # between a bar and its value
BADGE_GAP = 18  # between the value and the award label
BADGE_WIDTH = 380  # at most; a longer award name is cut with an ellipsis
SHORTEST_LONGEST_BAR = 300  # the best case's bar, however long the labels beside it

INK = "#1F2328"
MUTED = "#57606A"
RULE = "#D0D7DE"
PLAIN_BAR = "#C3CAD2"  # a case without an award: grey, so that the awards stand out
# First, second, third... award tier: gold, blue, green, then two more; further tiers reuse the
# last. Dark ink reads on every one of them, and none looks like the grey of no award.
TIER_COLOURS = ("#F2B705", "#6FA8DC", "#7BC47F", "#E59866", "#B39DDB")


class _Ranked(Protocol):  # a RankedResult, without importing the services here
    @property  # read-only, as in a frozen dataclass
    def ranked(self) -> Any: ...

    @property
    def case(self) -> Any: ...


Measure = Callable[[str], float]  # the width in pixels of a text in one font and size


class TextMeasure:
    """Widths of texts as Agg will draw them: the same font file, size and resolution."""

    def __init__(self, font_file: Path, size_px: float) -> None:
        # One per drawing: FT2Font keeps state between calls and charts are drawn in threads.
        self.font = FT2Font(str(font_file))
        self.font.set_size(size_px * 72 / DPI, DPI)

    def __call__(self, text: str) -> float:
        self.font.set_text(text, 0.0)
        return float(self.font.get_width_height()[0]) / 64


def wrap(text: str, width: float, measure: Measure, lines: int = TITLE_LINES) -> list[str]:
    """`text` in at most `lines` lines, each at most `width` pixels wide: broken between
    words where it can, inside a word only when one word is wider than a line. Only what does
    not fit in the last line is cut, with an ellipsis."""
    words = " ".join(text.split()).split(" ")
    result: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if measure(candidate) <= width:
            current = candidate
            continue
        if current:
            result.append(current)
            current = ""
        # A word wider than a whole line (long Korean compounds, URLs) is split by character.
        while measure(word) > width:
            cut = _longest_prefix(word, width, measure)
            result.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        result.append(current)
    if len(result) <= lines:
        return result
    kept = result[:lines]
    rest = " ".join([kept[-1], *result[lines:]])
    kept[-1] = _ellipsized(rest, width, measure)
    return kept


def _longest_prefix(word: str, width: float, measure: Measure) -> int:
    cut = 1
    while cut < len(word) and measure(word[: cut + 1]) <= width:
        cut += 1
    return cut


def _ellipsized(text: str, width: float, measure: Measure) -> str:
    if measure(text) <= width:
        return text
    while text and measure(text.rstrip() + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


@dataclass(frozen=True)
class Bar:
    rank: int
    title_lines: list[str]
    final: float
    value: str  # the final score and the votes, written beside the bar
    award: str | None  # the tier's name in the viewer's language
    colour: str


@dataclass(frozen=True)
class Layout:
    """What the chart shows, decided before drawing (and tested without looking at pixels)."""

    header: list[str]  # the campaign's title, wrapped
    dated: str  # "published on ..." or "preview, not published"
    basis: str  # what the bars measure
    bars: list[Bar]
    rest: str | None  # one line for every case not drawn as a bar
    height: int


def tier_colour(tier_index: int | None) -> str:
    if tier_index is None:
        return PLAIN_BAR
    return TIER_COLOURS[min(tier_index, len(TIER_COLOURS) - 1)]


def _date(campaign: Campaign, instant: datetime, language: str) -> str:
    local = instant.astimezone(ZoneInfo(campaign.timezone))
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
              "Dec")
    month = months[local.month - 1] if language == "en" else str(local.month)
    return plain(language, "chart.date", year=local.year, month=month, day=local.day)


def _score(value: float) -> str:
    return f"{value:.1f}"


def layout(campaign: Campaign, ranked: Sequence[_Ranked], language: str,
           top: int = TOP_CASES) -> Layout:
    title_width = WIDTH - 2 * MARGIN
    header = wrap(campaign.title.get(language), title_width,
                  TextMeasure(BOLD_FONT_FILE, CAMPAIGN_SIZE))
    published = campaign.results_published_at
    dated = (plain(language, "chart.published", date=_date(campaign, published, language))
             if published is not None else plain(language, "chart.preview"))
    basis = plain(language, "chart.basis",
                  citizen=round(campaign.ranking.citizen_weight * 100),
                  judge=round(campaign.ranking.judge_weight * 100))

    rows = list(ranked)
    # The best cases that have something to show: a score or an award. The ranking is sorted,
    # so these are the first ones; a case of zero is summed up, never a bar.
    shown = 0
    while (shown < min(top, len(rows))
           and (rows[shown].ranked.final > 0 or rows[shown].ranked.award is not None)):
        shown += 1
    measure = TextMeasure(BOLD_FONT_FILE, CASE_SIZE)
    badge = TextMeasure(BOLD_FONT_FILE, BADGE_SIZE)
    bars = [_bar(r, language, campaign, title_width, measure, badge) for r in rows[:shown]]
    rest_measure = TextMeasure(FONT_FILE, REST_SIZE)
    while True:
        rest = _rest(rows[len(bars):], bool(bars), language)
        rest_lines = wrap(rest, title_width, rest_measure) if rest else []
        height = (_header_height(len(header)) + sum(_row_height(b) for b in bars)
                  + _rest_height(len(rest_lines)))
        # Bounded height: with long titles everywhere, fewer bars and a longer summary.
        if height <= MAX_HEIGHT or len(bars) <= 1:
            break
        bars.pop()
    return Layout(header, dated, basis, bars, "\n".join(rest_lines) or None, round(height))


def _bar(r: _Ranked, language: str, campaign: Campaign, width: float, measure: Measure,
         badge: Measure) -> Bar:
    award = r.ranked.award
    lines = wrap(f"{r.ranked.rank}. {r.case.text(language).title}", width, measure)
    votes = r.ranked.votes
    value = plain(language, "chart.value_one" if votes == 1 else "chart.value",
                  final=_score(r.ranked.final), votes=votes)
    if award is None:
        return Bar(r.ranked.rank, lines, r.ranked.final, value, None, PLAIN_BAR)
    tiers = list(campaign.awards)
    colour = tier_colour(tiers.index(award) if award in tiers else len(tiers))
    name = _ellipsized(award.name.get(language), BADGE_WIDTH - 2 * BADGE_PAD, badge)
    return Bar(r.ranked.rank, lines, r.ranked.final, value, name, colour)


def _rest(others: Sequence[_Ranked], after_bars: bool, language: str) -> str | None:
    """One line for the cases not drawn as bars."""
    if not others:
        return None
    if not after_bars:
        return plain(language, "chart.nothing_yet", count=len(others))
    votes = sum(r.ranked.votes for r in others)
    best = max(r.ranked.final for r in others)
    if not votes and best <= 0:
        return plain(language, "chart.rest_zero", count=len(others))
    return plain(language, "chart.rest", count=len(others), votes=votes, final=_score(best))


def _line(size: int) -> float:
    return size * LINE_SPACING


def _header_height(lines: int) -> float:
    return (MARGIN + lines * _line(CAMPAIGN_SIZE) + 2 * _line(HEADER_SIZE)
            + RULE_GAP + 3 + RULE_GAP)


def _row_height(bar: Bar) -> float:
    return len(bar.title_lines) * _line(CASE_SIZE) + TITLE_GAP + BAR_HEIGHT + ROW_GAP


def _rest_height(lines: int) -> float:
    # The last row's gap stands in for the margin when nothing follows it.
    return (REST_GAP / 2 + lines * _line(REST_SIZE) if lines else -ROW_GAP) + MARGIN


def render_results_chart(ranked: Sequence[_Ranked], language: str, campaign: Campaign) -> bytes:
    plan = layout(campaign, ranked, language)
    regular = FontProperties(fname=str(FONT_FILE))
    bold = FontProperties(fname=str(BOLD_FONT_FILE))
    height = plan.height
    # A Figure of its own, not pyplot: charts are drawn in worker threads, and pyplot's global
    # state is not thread-safe.
    figure = Figure(figsize=(WIDTH / DPI, height / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    # One axes over the whole picture, in pixels from the top left: the layout's own units.
    page = figure.add_axes((0, 0, 1, 1))
    page.set_xlim(0, WIDTH)
    page.set_ylim(height, 0)
    page.axis("off")

    def text(x: float, y: float, s: str, size: int, font: FontProperties = regular,
             colour: str = INK, **kwargs: Any) -> None:
        # The text's top sits at y.
        page.text(x, y, s, fontproperties=font, fontsize=size * 72 / DPI, color=colour,
                  va="top", **kwargs)

    def box(x: float, y: float, w: float, h: float, colour: str, rounded: float = 0) -> None:
        style = f"round,pad=0,rounding_size={rounded}" if rounded else "square,pad=0"
        page.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=colour,
                                      edgecolor="none"))

    y: float = MARGIN
    for line in plan.header:
        text(MARGIN, y, line, CAMPAIGN_SIZE, bold)
        y += _line(CAMPAIGN_SIZE)
    text(MARGIN, y, plan.dated, HEADER_SIZE, colour=MUTED)
    y += _line(HEADER_SIZE)
    text(MARGIN, y, plan.basis, HEADER_SIZE, colour=MUTED)
    y += _line(HEADER_SIZE) + RULE_GAP
    box(MARGIN, y, WIDTH - 2 * MARGIN, 3, RULE)
    y += 3 + RULE_GAP

    top = max((b.final for b in plan.bars), default=0) or 1
    value_width = TextMeasure(FONT_FILE, VALUE_SIZE)
    badge_width = TextMeasure(BOLD_FONT_FILE, BADGE_SIZE)

    def beside(bar: Bar) -> float:  # the value and award label right of a bar
        width = VALUE_GAP + value_width(bar.value)
        if bar.award is not None:
            width += BADGE_GAP + badge_width(bar.award) + 2 * BADGE_PAD
        return width

    # Every bar on one scale, the best one as long as the labels beside each bar allow.
    room = WIDTH - 2 * MARGIN
    longest = min((float(room - beside(b)) * top / b.final for b in plan.bars if b.final > 0),
                  default=float(room))
    longest = max(float(SHORTEST_LONGEST_BAR), longest)
    for bar in plan.bars:
        for line in bar.title_lines:
            text(MARGIN, y, line, CASE_SIZE, bold)
            y += _line(CASE_SIZE)
        y += TITLE_GAP
        middle = y + BAR_HEIGHT / 2
        length = max(6.0, longest * bar.final / top)
        box(MARGIN, y, length, BAR_HEIGHT, bar.colour, rounded=8)
        value = bar.value
        x = MARGIN + length + VALUE_GAP
        page.text(x, middle, value, fontproperties=regular, fontsize=VALUE_SIZE * 72 / DPI,
                  color=INK, va="center_baseline")
        if bar.award is not None:
            x += value_width(value) + BADGE_GAP
            label_width = badge_width(bar.award) + 2 * BADGE_PAD
            box(x, y, label_width, BAR_HEIGHT, bar.colour, rounded=BAR_HEIGHT / 2)
            page.text(x + label_width / 2, middle, bar.award, fontproperties=bold,
                      fontsize=BADGE_SIZE * 72 / DPI, color=INK, va="center_baseline",
                      ha="center")
        y += BAR_HEIGHT + ROW_GAP

    if plan.rest:
        box(MARGIN, y - ROW_GAP / 2, WIDTH - 2 * MARGIN, 2, RULE)
        text(MARGIN, y + REST_GAP / 2, plan.rest, REST_SIZE, colour=MUTED,
             linespacing=LINE_SPACING)

    buffer = io.BytesIO()
    # No metadata that changes between runs: the same results give the same bytes.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
