"""Korean particles that follow a value: 을/를, 이/가, 은/는, 과/와, 으로/로.

Which form a particle takes depends on how the value's last syllable is read: after a final
consonant (받침) 을, 이, 은, 과, 으로; after a vowel 를, 가, 는, 와, 로; and 로 after ㄹ too.
Digits are read as Sino-Korean numbers ("20" 이십, "00" 영), Latin letters by their Korean
names ("L" 엘, "N" 엔); closing brackets, quotes and punctuation are looked through, and an
aside in brackets at the end is passed over ("홍길동 (12345)" takes 은).
A value with nothing readable takes the vowel form."""

from __future__ import annotations

# Each spelling of a particle, to its (after a consonant, after a vowel) forms.
_FORMS: dict[str, tuple[str, str]] = {}
for _pair in (("을", "를"), ("이", "가"), ("은", "는"), ("과", "와"), ("으로", "로")):
    for _spelling in _pair:
        _FORMS[_spelling] = _pair

PARTICLES = frozenset(_FORMS)

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_RIEUL = 8  # ㄹ's index among the final consonants

# Final consonant of each reading: None for a vowel ending, "ㄹ", or "c" for any other.
_DIGITS = {"0": "c", "1": "ㄹ", "2": None, "3": "c", "4": None, "5": None,
           "6": "c", "7": "ㄹ", "8": "ㄹ", "9": None}
# 십, 백, 천, 만 … by how many zeros end a number ("20" 이십, "300" 삼백).
_POWERS = {1: "c", 2: "c", 3: "c", 4: "c", 8: "c", 12: None}
_LETTERS = {"l": "ㄹ", "r": "ㄹ", "m": "c", "n": "c"}


def _without_trailing_aside(text: str) -> str:
    """An aside in brackets closing the value is not read before the particle."""
    while text.endswith(")") and "(" in text:
        opening = text.rindex("(")
        if opening == 0 or not text[:opening].strip():
            break
        text = text[:opening].rstrip()
    return text


def _final_sound(value: str) -> str | None:
    """How `value` ends when read aloud: None (a vowel), "ㄹ", or "c" (another consonant)."""
    text = _without_trailing_aside(value.rstrip())
    for index in range(len(text) - 1, -1, -1):
        char = text[index]
        code = ord(char)
        if _HANGUL_FIRST <= code <= _HANGUL_LAST:
            final = (code - _HANGUL_FIRST) % 28
            return None if final == 0 else "ㄹ" if final == _RIEUL else "c"
        if char.isascii() and char.isdigit():
            start = index
            while start > 0 and text[start - 1].isascii() and text[start - 1].isdigit():
                start -= 1
            number = text[start:index + 1]
            if char != "0":
                return _DIGITS[char]
            if number.strip("0") == "":
                return "c"  # 영
            zeros = len(number) - len(number.rstrip("0"))
            power = max(p for p in _POWERS if p <= zeros)
            return _POWERS[power]
        if char.isascii() and char.isalpha():
            return _LETTERS.get(char.lower())
        if char.isalnum():
            return None  # another script: read it as a vowel ending
    return None


def particle(value: str, spelling: str) -> str:
    """The form of the particle spelled `spelling` (either form) that follows `value`."""
    after_consonant, after_vowel = _FORMS[spelling]
    sound = _final_sound(value)
    if after_consonant == "으로":
        return "으로" if sound == "c" else "로"
    return after_vowel if sound is None else after_consonant
