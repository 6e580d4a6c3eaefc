"""The results chart made for phones: its size, its header, full titles wrapped, award tiers
marked, the top cases as bars and the rest summed up, in Korean and in English.

Set CHAMYEO_CHART_OUT to a folder to keep the sample campaign's charts (chart-ko.png,
chart-en.png) and look at them."""

from __future__ import annotations

import os
import struct
import warnings
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.campaign_file import parse_campaign
from bot.chart import (
    BOLD_FONT_FILE,
    CASE_SIZE,
    MARGIN,
    MAX_HEIGHT,
    TOP_CASES,
    WIDTH,
    TextMeasure,
    layout,
    render_results_chart,
    wrap,
)
from bot.ranking import Standing, rank
from tests.conftest import DAEJEON_FILE, SEOUL, VOTING_CLOSES, small_campaign

AWARDS = [{"ko": "대상", "en": "Grand prize", "count": 1},
          {"ko": "최우수상", "en": "Excellence award", "count": 2},
          {"ko": "우수상", "en": "Merit award", "count": 3}]
LONG_KO = "나에게 온 봄날 – 세상에 밝은 소리를 선물한 통합상담센터와 이웃들의 이야기"
LONG_EN = "A Pause for Yourself: Weekly Tea Afternoons Where Lonely Neighbours Meet"
AWARDS_DAY = datetime(2024, 12, 9, 14, 0, tzinfo=SEOUL)


def png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def campaign_of(published: datetime | None = VOTING_CLOSES, **changes):
    spec = parse_campaign(small_campaign(**{"awards": AWARDS, **changes}))
    fields = {name: getattr(spec, name) for name in ("title", "description", "timezone",
                                                      "ranking", "awards", "judging")}
    from bot.domain import Campaign

    return Campaign(id=1, slug="test-2024", phases=(), results_published_at=published, **fields)


def results(campaign, votes: list[int], titles: list[str] | None = None):
    """RankedResult-like rows for cases 1..n with these votes (no judges' scores)."""
    standings = [Standing(i + 1, v) for i, v in enumerate(votes)]
    ranked = rank(standings, campaign.judging, campaign.ranking, campaign.awards)
    titles = titles or [f"사례 제목 {i + 1:02d}번" for i in range(len(votes))]

    def case(case_id: int):
        title = titles[case_id - 1]
        return SimpleNamespace(text=lambda language: SimpleNamespace(title=title))

    return [SimpleNamespace(ranked=r, case=case(r.case_id)) for r in ranked]


# --- wrapping --------------------------------------------------------------------------------

def test_long_titles_wrap_to_two_lines_and_are_not_cut_at_fourteen_characters():
    measure = TextMeasure(BOLD_FONT_FILE, CASE_SIZE)
    width = WIDTH - 2 * MARGIN
    for title in (LONG_KO, LONG_EN):
        lines = wrap(title, width, measure)
        assert len(lines) == 2
        assert all(measure(line) <= width for line in lines)
        assert " ".join(lines) == title  # whole: wrapped between words, nothing dropped
        assert len(lines[0]) > 14
    assert wrap("짧은 제목", width, measure) == ["짧은 제목"]


def test_only_what_does_not_fit_in_two_lines_is_cut_with_an_ellipsis():
    measure = TextMeasure(BOLD_FONT_FILE, CASE_SIZE)
    width = 400
    lines = wrap(LONG_KO * 2, width, measure)
    assert len(lines) == 2 and lines[1].endswith("…")
    assert all(measure(line) <= width for line in lines)
    assert lines[0] == wrap(LONG_KO, width, measure)[0]
    # a word wider than a line is split inside, not pushed out whole
    lines = wrap("가" * 40, width, measure)
    assert len(lines) == 2 and lines[0].startswith("가" * 5) and lines[1].endswith("…")
    assert wrap("   ", width, measure) in ([], [""])


# --- what the chart shows ----------------------------------------------------------------------

def test_forty_cases_give_ten_bars_and_one_line_for_the_rest():
    campaign = campaign_of()
    ranked = results(campaign, [40 - i for i in range(40)])
    plan = layout(campaign, ranked, "ko")
    assert len(plan.bars) == TOP_CASES == 10
    assert [b.rank for b in plan.bars] == list(range(1, 11))
    assert plan.rest == "그 외 사례 30개: 투표 합계 465표, 최종 점수 22.5점 이하"
    assert plan.height <= MAX_HEIGHT
    english = layout(campaign, ranked, "en")
    assert english.rest == "Other cases (30): total votes 465, final scores 22.5 or less"


def test_award_tiers_are_named_on_their_bars_in_the_viewers_language():
    campaign = campaign_of()
    ranked = results(campaign, [9, 8, 7, 6, 5, 4, 3, 2])
    ko = layout(campaign, ranked, "ko")
    assert [b.award for b in ko.bars] == ["대상", "최우수상", "최우수상", "우수상", "우수상",
                                          "우수상", None, None]
    colours = [b.colour for b in ko.bars]
    assert len({colours[0], colours[1], colours[3], colours[6]}) == 4  # a colour per tier
    assert colours[1] == colours[2] and colours[6] == colours[7]
    assert ko.bars[0].value == "30.0점 · 9표"
    en = layout(campaign, ranked, "en")
    assert en.bars[0].value == "30.0 · 9 votes"
    assert layout(campaign, results(campaign, [2, 1]), "en").bars[1].value == "15.0 · 1 vote"
    assert [b.award for b in en.bars][:4] == ["Grand prize", "Excellence award",
                                              "Excellence award", "Merit award"]


def test_the_header_names_the_campaign_the_date_and_the_basis():
    campaign = campaign_of()
    ranked = results(campaign, [3, 2, 1])
    ko = layout(campaign, ranked, "ko")
    assert ko.header == ["시험 공모 2024"]
    assert ko.dated == "결과 발표 · 2024년 12월 1일"
    assert ko.basis == "최종 점수 순 (시민 투표 30% + 심사 70%)"
    en = layout(campaign, ranked, "en")
    assert en.header == ["Test competition 2024"]
    assert en.dated == "Results published 1 Dec 2024"
    assert en.basis == "By final score (citizen votes 30% + judges 70%)"
    # the date is the campaign's: 23:30 UTC on 1 Dec is already 2 Dec in Seoul
    late = campaign_of(published=datetime.fromisoformat("2024-12-01T23:30:00+00:00"))
    assert layout(late, ranked, "ko").dated == "결과 발표 · 2024년 12월 2일"
    preview = layout(campaign_of(published=None), ranked, "ko")
    assert preview.dated == "결과 미리 보기 · 아직 발표 전"


def test_cases_with_nothing_are_summed_up_not_drawn_as_rows_of_zero():
    campaign = campaign_of(awards=[])
    ranked = results(campaign, [5, 2] + [0] * 20)
    plan = layout(campaign, ranked, "ko")
    assert [b.rank for b in plan.bars] == [1, 2]
    assert plan.rest == "그 외 사례 20개: 아직 표와 점수 없음"
    assert plan.height < 900  # two bars: a short picture, not a tall one of empty rows
    nothing = layout(campaign, results(campaign, [0] * 12), "en")
    assert nothing.bars == []
    assert nothing.rest == "No votes or scores yet for any of the cases (12)."


def test_a_long_title_is_drawn_whole_on_two_lines():
    campaign = campaign_of()
    ranked = results(campaign, [2, 1], titles=[LONG_KO, LONG_EN])
    ko = layout(campaign, ranked, "ko")
    assert " ".join(ko.bars[0].title_lines) == f"1. {LONG_KO}"
    assert " ".join(ko.bars[1].title_lines) == f"2. {LONG_EN}"


def test_the_picture_is_phone_shaped_in_both_languages_and_the_same_each_time():
    campaign = campaign_of()
    ranked = results(campaign, [40 - i for i in range(40)], titles=[LONG_KO] * 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font" would fail here
        ko = render_results_chart(ranked, "ko", campaign)
        en = render_results_chart(ranked, "en", campaign)
    for png in (ko, en):
        width, height = png_size(png)
        assert width == WIDTH and 1200 <= height <= MAX_HEIGHT
    assert ko != en
    assert render_results_chart(ranked, "ko", campaign) == ko  # cached by content: stable
    small = render_results_chart(results(campaign, [1]), "ko", campaign)
    assert png_size(small)[0] == WIDTH and png_size(small)[1] < 600


# --- the sample campaign, published --------------------------------------------------------------

@pytest.fixture
async def daejeon(services, clock):
    """The Daejeon 2024 sample: 40 citizens vote, one judge scores every case, results
    published on awards day."""
    report = await services.campaigns.load_file(DAEJEON_FILE)
    campaign = await services.campaigns.get(report.campaign_id)
    ranked = await services.results.ranking(campaign)
    ids = [r.case.id for r in sorted(ranked, key=lambda r: r.case.id)]
    for n in range(40):
        citizen = await services.citizens.identify("telegram", str(5000 + n), "ko")
        choice = ids[(n * n) % 7 if n % 3 else n % len(ids)]
        assert (await services.voting.cast_vote(campaign, citizen, choice)).stored
    clock.set(datetime(2024, 12, 3, 10, 0, tzinfo=SEOUL))
    judge = await services.citizens.identify("telegram", "6000", "ko")
    for i, case_id in enumerate(ids):
        await services.judging.score(campaign, judge, case_id, 0, 95 - (i * 37) % 60)
    clock.set(AWARDS_DAY)
    assert (await services.results.publish(campaign, "telegram:1")).published_at == AWARDS_DAY
    return await services.campaigns.get(campaign.id)


async def test_the_sample_campaigns_published_chart(services, daejeon):
    ranked = await services.results.ranking(daejeon)
    out = os.environ.get("CHAMYEO_CHART_OUT")
    for language in ("ko", "en"):
        plan = layout(daejeon, ranked, language)
        assert len(plan.bars) == 10 and plan.rest is not None
        assert [b.award for b in plan.bars[:2]] == (["대상"] * 2 if language == "ko"
                                                     else ["Grand prize"] * 2)
        assert all(b.award is not None for b in plan.bars)  # 2 + 3 + 5 awards
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            png = render_results_chart(ranked, language, daejeon)
        width, height = png_size(png)
        assert width == WIDTH and height <= MAX_HEIGHT
        if out:
            (Path(out) / f"chart-{language}.png").write_bytes(png)
    assert layout(daejeon, ranked, "ko").dated == "결과 발표 · 2024년 12월 9일"
    assert layout(daejeon, ranked, "en").header == ["Time to Change Daejeon 2024"]


def test_values_and_long_award_names_stay_inside_the_picture():
    from io import BytesIO

    from PIL import Image

    campaign = campaign_of(awards=[
        {"ko": "대전광역시장상 최우수 공동체 돌봄 특별상", "en":
         "Mayor's Special Prize for Community Care", "count": 2}])  # 40: the longest
    ranked = results(campaign, [12345, 12000, 5])
    plan = layout(campaign, ranked, "en")
    assert plan.bars[0].award.endswith("…")  # cut to fit, on one line
    for language in ("ko", "en"):
        picture = Image.open(BytesIO(render_results_chart(ranked, language, campaign)))
        picture = picture.convert("RGB")
        # The right margin stays blank: nothing runs off the edge of a phone screen.
        margin = picture.crop((WIDTH - MARGIN + 2, 0, WIDTH, picture.height))
        assert margin.getcolors() == [(margin.width * margin.height, (255, 255, 255))]
