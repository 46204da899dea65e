"""Number grammar for the assessor: digits, number words, thousands separators.

Pure functions, no I/O. Every regex is compiled once at import.

``find_numbers(text)`` yields every cardinal number written in the text as ``NumberMention``
(value, start, end): "12", "1,234", "20 921" (thin or plain space before a 3-digit group),
"Thirty-one", "one hundred and twenty", "two thousand five hundred". Decimals ("4.5") come back
with ``is_int=False`` so callers can refuse them as counts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Optional

from .assess_gate import gate_patterns

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
ORDINAL_WORDS = {"single": 1, "dozen": 12}

_WORD = r"(?:%s)" % "|".join(sorted(list(UNITS) + list(TENS) + list(SCALES), key=len, reverse=True))
# A run of number words joined by spaces, hyphens or "and" ("one hundred and twenty-five").
_WORD_RUN_RE = re.compile(
    rf"\b{_WORD}(?:(?:[\s\-]+|\s+and\s+){_WORD})*\b", re.IGNORECASE
)
# Digits with optional thousands grouping (comma, thin space, nbsp, or a plain space before exactly
# three digits) and an optional decimal part (point or middle dot).
_DIGIT_RE = re.compile(
    r"(?<![\w.,·])(\d{1,3}(?:(?:,|[\u2009\u202f\u00a0 ])\d{3})+(?![\d,])|\d+)(?:([.·])(\d+))?(?![\d])"
)


@dataclass(frozen=True)
class NumberMention:
    value: float
    start: int
    end: int
    text: str
    is_word: bool = False

    @property
    def is_int(self) -> bool:
        return float(self.value).is_integer()

    @property
    def int_value(self) -> int:
        return int(self.value)


def words_to_int(phrase: str) -> Optional[int]:
    """'Thirty-one' -> 31, 'one hundred and twenty' -> 120, 'two thousand five hundred' -> 2500."""
    tokens = [t for t in re.split(r"[\s\-]+", phrase.lower().strip()) if t and t != "and"]
    if not tokens:
        return None
    total = 0
    current = 0
    seen = False
    for tok in tokens:
        if tok in UNITS:
            current += UNITS[tok]
        elif tok in TENS:
            current += TENS[tok]
        elif tok == "hundred":
            current = (current or 1) * 100
        elif tok in ("thousand", "million"):
            total += (current or 1) * SCALES[tok]
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def _split_word_run(text: str, m: re.Match) -> list[tuple[int, int]]:
    """A run like 'two three' (not a number) is split into separate numbers.

    A new number starts when a unit/tens word follows a complete unit (no scale or tens link):
    'twenty-four female and one male' is one run per number because 'and' is only joined when
    followed by a number word; we split runs where two small numbers touch.
    """
    spans = []
    tokens = list(re.finditer(r"[A-Za-z]+", m.group(0)))
    start_tok = 0
    prev_kind = None
    for i, t in enumerate(tokens):
        w = t.group(0).lower()
        if w == "and":
            continue
        kind = "unit" if w in UNITS else "tens" if w in TENS else "scale"
        if prev_kind is not None:
            joinable = (
                (prev_kind == "tens" and kind == "unit")
                or kind == "scale"
                or (prev_kind == "scale" and kind in ("unit", "tens"))
            )
            if not joinable:
                spans.append((tokens[start_tok].start(), tokens[i - 1].end()))
                start_tok = i
        prev_kind = kind
    spans.append((tokens[start_tok].start(), tokens[-1].end()))
    # drop a trailing "and" effect: spans are token-bounded already
    return [(m.start() + a, m.start() + b) for a, b in spans]


def find_numbers(text: str) -> list[NumberMention]:
    """All numbers in ``text``, in order of position."""
    out: list[NumberMention] = []
    for m in _DIGIT_RE.finditer(text):
        whole = _GROUP_SEP_RE.sub("", m.group(1))
        if m.group(3):
            value = float(f"{whole}.{m.group(3)}")
        else:
            value = float(int(whole))
        out.append(NumberMention(value, m.start(), m.end(), m.group(0)))
    for m in _WORD_RUN_RE.finditer(text):
        for a, b in _split_word_run(text, m):
            phrase = text[a:b]
            if phrase.lower() in ("hundred", "thousand", "million"):
                continue
            v = words_to_int(phrase)
            if v is not None:
                out.append(NumberMention(float(v), a, b, phrase, is_word=True))
    out.sort(key=lambda n: n.start)
    return out


@lru_cache(maxsize=256)
def find_numbers_cached(text: str) -> tuple[NumberMention, ...]:
    """``find_numbers`` memoised per text: the assessor asks about the same sentence for several
    patterns. Small on purpose (one record's sentences), so a benchmark that repeats a corpus
    does not get cross-record hits that real, distinct records would not."""
    return tuple(find_numbers(text))


_GROUP_SEP_RE = re.compile(r"[,\u2009\u202f\u00a0 ]")
_DIGITS_FULL_RE = re.compile(r"(\d{1,3}(?:(?:,|[\u2009\u202f\u00a0 ])\d{3})+|\d+)(?:[.·](\d+))?")


_NUM_ALT = (
    r"(?:(?<![\w.])\d{1,3}(?:(?:,|[\u2009\u202f\u00a0 ])\d{3})+(?![\d,])|(?<![\w.])\d+(?:[.·]\d+)?|"
    rf"\b(?=[A-Za-z]){_WORD}(?:(?:[\s\-]+|\s+and\s+){_WORD})*\b)"
)
#: A regex fragment matching one number (digits or words); use inside bigger patterns.
NUMBER_PATTERN = _NUM_ALT


def parse_number(s: str) -> Optional[float]:
    """Parse one number written as digits or words; None if it is not a number."""
    s = s.strip()
    d = _DIGITS_FULL_RE.fullmatch(s)
    if d:
        whole = _GROUP_SEP_RE.sub("", d.group(1))
        return float(f"{whole}.{d.group(2)}") if d.group(2) else float(int(whole))
    v = words_to_int(s)
    return float(v) if v is not None else None


def iter_ints(text: str) -> Iterator[NumberMention]:
    for n in find_numbers(text):
        if n.is_int:
            yield n


# every pattern above skips texts that lack its required literals (see assess_gate)
gate_patterns(globals())
