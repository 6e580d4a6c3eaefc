"""Korean particles after values: the form follows the value's last syllable, and no catalog
text falls back on the "을(를)" placeholder style."""

from __future__ import annotations

import re
import string

import pytest

from bot.i18n import Safe, catalog, plain, t
from bot.i18n.korean import PARTICLES, particle


@pytest.mark.parametrize(("value", "spelling", "expected"), [
    ("마감", "을", "을"), ("시작", "를", "을"), ("사례", "을", "를"),
    ("대상", "이", "이"), ("우수상", "가", "이"), ("심사위원", "이", "이"), ("관리자", "이", "가"),
    ("접수", "은", "는"), ("투표", "는", "는"), ("심사", "은", "는"), ("시상", "은", "은"),
    ("도시락", "과", "과"), ("쉼표", "와", "와"),
    ("서울", "으로", "로"), ("대전", "로", "으로"), ("부산", "으로", "으로"), ("바다", "로", "로"),
    # digits by their Sino-Korean reading
    ("20:00", "으로", "으로"),  # 영
    ("12월 1일(일) 20:00", "으로", "으로"),
    ("#1", "은", "은"), ("#2", "은", "는"), ("#3", "은", "은"), ("#6", "을", "을"),
    ("#7", "으로", "로"), ("#10", "은", "은"), ("#20", "이", "이"), ("#100", "을", "을"),
    ("1000", "은", "은"), ("#15", "가", "가"), ("0", "은", "은"),
    # Latin letters by their Korean names
    ("URL", "은", "은"), ("URL", "으로", "로"), ("PDF", "을", "를"), ("CSV", "가", "가"),
    ("Chamyeo", "은", "는"), ("Daejeon", "이", "이"), ("Kim", "과", "과"),
    # brackets, quotes and asides are looked through
    ("「어르신 도시락」", "이", "이"), ('"쉼표"', "을", "를"), ("홍길동 (12345)", "은", "은"),
    ("@kim_jiyoung", "은", "는"), ("스무 살!", "이", "이"), ("청년?", "을", "을"),
    # nothing readable: the vowel form
    ("", "을", "를"), ("🌱", "이", "가"),
])
def test_the_particle_follows_the_last_syllable(value, spelling, expected):
    assert particle(value, spelling) == expected


def test_placeholders_take_particles_in_the_catalog_syntax():
    assert plain("ko", "operations.phase.field.start") in ("시작",)  # a fixed text is untouched
    formatter = string.Formatter()
    template = "{title:을} / 「{title}」{title:~이} / {when:으로} / {n:,}"
    fields = {name for _, name, _, _ in formatter.parse(template) if name}
    assert fields == {"title", "when", "n"}


def test_t_fills_particles_and_escapes_values():
    text = t("ko", "operations.moderation.approved", id=7, title="R&D <청년> 돌봄")
    assert "「R&amp;D &lt;청년&gt; 돌봄」을 승인했습니다" in text
    text = t("ko", "operations.moderation.approved", id=7, title="쉼표 하우스")
    assert "「쉼표 하우스」를 승인했습니다" in text
    # a Safe value keeps its HTML; its tags are not read aloud
    text = t("ko", "operations.moderation.approved", id=7, title=Safe("<b>쉼표</b>"))
    assert "「<b>쉼표</b>」를" in text


def test_plain_fills_particles_without_escaping():
    text = plain("ko", "operations.moderation.approved", id=7, title="R&D")
    assert "「R&D」를" in text


# --- the whole catalog -----------------------------------------------------------------------

OLD_STYLE = ("(을)", "(를)", "(이)", "(가)", "(은)", "(는)", "(으)", "(과)", "(와)")
# A particle written straight after a placeholder (or its closing quote) is right for some
# values and wrong for others: it must be the placeholder's format instead.
FIXED_PARTICLE = re.compile(r"\}[」』\"']?(을|를|이|가|은|는|과|와|으로|로)(?![가-힣])")


def test_no_korean_text_uses_the_placeholder_particle_style():
    offenders = {key: text for key, text in catalog("ko").items()
                 if any(old in text for old in OLD_STYLE)}
    assert offenders == {}


def test_no_korean_text_fixes_a_particle_after_a_value():
    offenders = {key: text for key, text in catalog("ko").items() if FIXED_PARTICLE.search(text)}
    assert offenders == {}


def test_every_particle_format_in_the_catalog_is_known():
    """A Hangul format is a particle; other formats (`{hour:02d}`) are Python's own."""
    formatter = string.Formatter()
    for language in ("ko", "en"):
        for key, template in catalog(language).items():
            for _, name, spec, _ in formatter.parse(template):
                if name is not None and re.search(r"[가-힣]", spec) and "|" not in spec:
                    assert spec.removeprefix("~") in PARTICLES, (language, key, spec)


@pytest.mark.parametrize("value", ["마감", "사례", "20:00", "11월 1일(일) 20:00", "#7", "URL", "K"])
def test_every_korean_text_renders_without_a_particle_placeholder(value):
    formatter = string.Formatter()
    for key, template in catalog("ko").items():
        names = {name for _, name, _, _ in formatter.parse(template) if name}
        rendered = t("ko", key, **dict.fromkeys(names, value))
        assert not any(old in rendered for old in OLD_STYLE), (key, rendered)


def test_english_counts_take_their_noun_in_the_same_syntax():
    from bot.i18n import _PLAIN

    assert _PLAIN.format("{n:vote|votes} · {m:case|cases}", n=1, m=2) == "1 vote · 2 cases"
    assert _PLAIN.format("{n:vote|votes}", n=0) == "0 votes"
