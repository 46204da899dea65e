"""Skip regex searches that cannot match: a literal pre-check for the assessor's patterns.

Why: the assessor runs ~200 patterns over the sentences of every abstract, and almost all of those
searches fail (a typical pattern matches in 1 sentence out of 100). A failing ``re`` search still
walks the whole sentence trying every alternative at every position, 5-20 µs each. Most patterns
cannot match unless the text contains one of a few fixed strings ("blind", "mask", "placebo" ...).

How:
* :func:`required_literals` reads a compiled pattern with the ``re`` module's own parser and derives
  a set of strings, at least one of which every match must contain (after case folding). Anything it
  does not understand (back-references, conditionals, a new opcode) makes it return ``None``:
  "no gate", never a wrong gate.
* :func:`gate_spans` folds a document once and finds every required literal of every pattern with
  one Aho-Corasick automaton (a pass over the document, then one over each sentence): each sentence
  (a :class:`GatedText`, a ``str`` subclass) gets the set of literals lying wholly inside it. Slices and concatenations are plain ``str`` and searched as usual.
* :class:`GatedPattern` wraps a compiled pattern with the same methods. On a ``GatedText`` whose
  literal set shares nothing with the pattern's, the search is answered "no match" by one set
  operation; otherwise the regex runs.

The gate only ever turns a search that would have failed into a failure found sooner, so results
are identical by construction; tests/test_assess_gate.py checks that on every pattern of the
assessor against mutated corpus text.
"""
from __future__ import annotations

import re
import sys
from itertools import product
from typing import Iterable, Optional, Sequence

try:  # the parser ``re`` itself uses; private, so any surprise disables gating rather than breaking it
    from re import _constants as _C
    from re import _parser as _P
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _C  # type: ignore[no-redef]
    import sre_parse as _P  # type: ignore[no-redef]

_MAX_EXACT = 24  # largest set of exact strings kept while concatenating ("randomi[sz]ed" -> 2)
_MIN_LEN = 3  # a required literal shorter than this rejects too little to pay for the check

# Case-insensitive ``re`` matches a few characters to others that ``str.lower`` keeps apart
# (``re._casefix``: "ſ" ~ "s", "ı" ~ "i", "µ" ~ "μ", Greek final sigma ...). Folding maps each such
# class to one member so a folded literal is found in folded text whenever ``re`` could match it.
# "İ" is the one character whose full lowercase is two characters; it is mapped first so folding
# keeps every offset (sentences are folded by slicing the folded document).
_EXTRA = {
    "ı": "i", "ſ": "s", "μ": "µ", "ς": "σ", "ϐ": "β", "ϵ": "ε", "ϑ": "θ", "ϰ": "κ", "ϖ": "π",
    "ϱ": "ρ", "ϕ": "φ", "ͅ": "ι", "ι": "ι", "ẛ": "ṡ", "ﬅ": "ﬆ",
    "ᲀ": "в", "ᲁ": "д", "ᲂ": "о", "ᲃ": "с", "ᲄ": "т", "ᲅ": "т", "ᲆ": "ъ", "ᲇ": "ѣ", "ᲈ": "ꙋ",
}
_PRE = str.maketrans({"İ": "i", "K": "k", "Ω": "ω", "Å": "å"})
_POST = str.maketrans(_EXTRA)
_NEEDS_TABLES = re.compile("[" + "".join(sorted(set(_EXTRA) | {"İ", "K", "Ω", "Å"})) + "]")


def fold(text: str) -> str:
    """Lower-case ``text`` the way case-insensitive ``re`` compares characters; same length."""
    if text.isascii():
        return text.lower()
    if _NEEDS_TABLES.search(text):
        text = text.translate(_PRE)
        return text.lower().translate(_POST)
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_PRE).lower().translate(_POST)


# ---------------------------------------------------------------------------- literal extraction
class _Info:
    """What a piece of pattern can match: ``exact`` (every string it can match, when few and
    finite) or ``req`` (strings at least one of which every match contains; None = no constraint)."""

    __slots__ = ("exact", "req")

    def __init__(self, exact: Optional[frozenset] = None, req: Optional[frozenset] = None):
        self.exact = exact
        self.req = req

    def as_req(self) -> Optional[frozenset]:
        if self.exact is not None:
            return None if "" in self.exact else self.exact
        return self.req


_EMPTY = _Info(exact=frozenset({""}))
_NOTHING = _Info()  # matches something we cannot describe: no exact set, no requirement


class _Unsupported(Exception):
    pass


def _best(cands: Iterable[Optional[frozenset]]) -> Optional[frozenset]:
    """The most selective requirement: the one whose shortest string is longest."""
    best = None
    for c in cands:
        if not c:
            continue
        if best is None or (min(map(len, c)), -len(c)) > (min(map(len, best)), -len(best)):
            best = c
    return best


def _seq(items) -> _Info:
    cur: Optional[set] = {""}  # exact strings of the run of exact pieces so far
    broken = False
    cands: list[Optional[frozenset]] = []
    for op, av in items:
        info = _node(op, av)
        if info.exact is not None and cur is not None and len(cur) * len(info.exact) <= _MAX_EXACT:
            cur = {a + b for a, b in product(cur, info.exact)}
            continue
        broken = True
        if cur is not None and "" not in cur:
            cands.append(frozenset(cur))
        if info.exact is not None:
            cur = set(info.exact)
        else:
            cands.append(info.req)
            cur = {""}
    if not broken:
        return _Info(exact=frozenset(cur))
    if cur and "" not in cur:
        cands.append(frozenset(cur))
    return _Info(req=_best(cands))


def _alternatives(infos: list[_Info]) -> _Info:
    if all(i.exact is not None for i in infos):
        union = frozenset().union(*(i.exact for i in infos))
        if len(union) <= _MAX_EXACT:
            return _Info(exact=union)
    reqs = [i.as_req() for i in infos]
    if any(r is None for r in reqs):
        return _NOTHING
    return _Info(req=frozenset().union(*reqs))


def _node(op, av) -> _Info:
    if op is _C.LITERAL:
        return _Info(exact=frozenset({fold(chr(av))}))
    if op is _C.IN:
        chars = []
        for iop, iav in av:
            if iop is not _C.LITERAL:
                return _NOTHING  # a range, a category or a negation: one unknown character
            chars.append(fold(chr(iav)))
        return _Info(exact=frozenset(chars))
    if op in (_C.NOT_LITERAL, _C.ANY):
        return _NOTHING
    if op is _C.AT:
        return _EMPTY  # ^ $ \b \B: zero width
    if op in (_C.ASSERT, _C.ASSERT_NOT):
        return _EMPTY  # lookarounds only narrow the match; ignoring them keeps the gate sound
    if op is _C.SUBPATTERN:
        return _seq(av[-1])
    if op is getattr(_C, "ATOMIC_GROUP", None):
        return _seq(av)
    if op is _C.BRANCH:
        return _alternatives([_seq(alt) for alt in av[1]])
    if op in (_C.MAX_REPEAT, _C.MIN_REPEAT) or op is getattr(_C, "POSSESSIVE_REPEAT", None):
        lo, hi, sub = av
        inner = _seq(sub)
        if lo == 0:
            if hi == 1 and inner.exact is not None:
                return _Info(exact=inner.exact | {""})
            return _EMPTY if hi == 0 else _NOTHING
        if lo == hi == 1:
            return inner
        return _Info(req=inner.as_req())
    raise _Unsupported(op)  # GROUPREF, GROUPREF_EXISTS, anything new


def required_literals(rx: re.Pattern) -> Optional[tuple[str, ...]]:
    """Folded strings at least one of which occurs in any text ``rx`` can match; None if unknown.

    >>> required_literals(re.compile(r"\\b(?:double|triple)[- ]blind(?:ed)?\\b", re.I))
    ('double blind', 'double-blind', 'triple blind', 'triple-blind')
    """
    if not isinstance(rx.pattern, str):
        return None
    try:
        info = _seq(_P.parse(rx.pattern, rx.flags))
    except (_Unsupported, RecursionError, re.error, TypeError, ValueError):
        return None
    req = info.as_req()
    if not req or min(map(len, req)) < _MIN_LEN:
        return None
    # a string containing another required string adds nothing: drop it
    kept = sorted(req, key=len)
    out: list[str] = []
    for s in kept:
        if not any(k in s for k in out):
            out.append(s)
    return tuple(sorted(out, key=lambda s: (-len(s), s)))


# ---------------------------------------------------------------------------- gated text and patterns
_REGISTRY: list["GatedPattern"] = []  # every gated pattern, in import order
_FINDER: tuple = (0, None)  # (patterns covered, finder over all their literals), built on first use


def _finder():
    """One Aho-Corasick automaton over every required literal of every gated pattern: a single
    pass over a document (~30 µs here) says which literals it has, where checking each literal
    with ``in`` costs ~1 ms. Without ``pyahocorasick`` the literals are checked one by one:
    same answers, slower."""
    global _FINDER
    count, finder = _FINDER
    if count != len(_REGISTRY):
        lits = sorted({lit for p in _REGISTRY for lit in p.lits})
        try:
            import ahocorasick
        except ImportError:  # pragma: no cover - exercised by tests that hide the module
            finder = tuple(lits)
        else:
            finder = ahocorasick.Automaton()
            for lit in lits:
                finder.add_word(lit, lit)
            finder.make_automaton()
        _FINDER = (len(_REGISTRY), finder)
    return finder


def literals_in(low: str, start: int = 0, end: Optional[int] = None) -> frozenset:
    """Which required literals (of any gated pattern) lie wholly inside folded ``low[start:end]``."""
    finder = _finder()
    end = len(low) if end is None else end
    if start >= end:
        return frozenset()
    if isinstance(finder, tuple):
        piece = low[start:end]
        return frozenset([lit for lit in finder if lit in piece])
    return frozenset([lit for _end, lit in finder.iter(low, start, end)])


def gate_spans(text: str, spans: Sequence[tuple[int, int]]) -> tuple["GatedText", list["GatedText"]]:
    """``text`` and its pieces ``text[a:b]`` as GatedTexts, each knowing which required literals
    lie wholly inside it (the pieces are scanned only when the whole text has any)."""
    low = fold(text)  # same length as text, so the spans index it too
    doc = GatedText(text)
    doc.found = doc.doc_found = literals_in(low)
    pieces = []
    for a, b in spans:
        piece = GatedText(text[a:b])
        piece.found = literals_in(low, a, b) if doc.found else doc.found
        piece.doc_found = doc.found
        pieces.append(piece)
    return doc, pieces


class GatedText(str):
    """A ``str`` (a document or one of its sentences) that knows which required literals it
    contains (``found``) and which its document contains (``doc_found``). Slicing or
    concatenating it gives a plain ``str``, searched as usual."""

    found: frozenset
    doc_found: frozenset


class GatedPattern:
    """A compiled pattern that skips the search when the text cannot contain a match.
    Build it with :func:`gated`, which leaves a pattern without required literals unwrapped."""

    __slots__ = ("rx", "lits", "litset", "pattern", "flags", "groups", "groupindex")

    def __init__(self, rx: re.Pattern, lits: tuple[str, ...]):
        self.rx = rx
        self.lits = lits
        self.litset = frozenset(lits)  # set against set: isdisjoint walks the smaller one
        self.pattern = rx.pattern
        self.flags = rx.flags
        self.groups = rx.groups
        self.groupindex = rx.groupindex
        _REGISTRY.append(self)

    # The hot path of the assessor: a type check and one set operation in C per call. search, match
    # and finditer (~600 calls a record) repeat this test inline rather than call _blocked, to save
    # a Python call each; the rarer methods call it.
    def _blocked(self, text) -> bool:
        return type(text) is GatedText and text.found.isdisjoint(self.litset)

    def absent_from_doc(self, text) -> bool:
        """True when the document ``text`` (a GatedText document or sentence) belongs to has none
        of the required literals, so a loop over its sentences can stop before it starts."""
        return type(text) is GatedText and text.doc_found.isdisjoint(self.litset)

    def search(self, string, pos=0, endpos=sys.maxsize):
        if type(string) is GatedText and string.found.isdisjoint(self.litset):
            return None
        return self.rx.search(string, pos, endpos)

    def match(self, string, pos=0, endpos=sys.maxsize):
        if type(string) is GatedText and string.found.isdisjoint(self.litset):
            return None
        return self.rx.match(string, pos, endpos)

    def fullmatch(self, string, pos=0, endpos=sys.maxsize):
        return None if self._blocked(string) else self.rx.fullmatch(string, pos, endpos)

    def finditer(self, string, pos=0, endpos=sys.maxsize):
        if type(string) is GatedText and string.found.isdisjoint(self.litset):
            return iter(())
        return self.rx.finditer(string, pos, endpos)

    def findall(self, string, pos=0, endpos=sys.maxsize):
        return [] if self._blocked(string) else self.rx.findall(string, pos, endpos)

    def sub(self, repl, string, count=0):
        return string[:] if self._blocked(string) else self.rx.sub(repl, string, count)

    def split(self, string, maxsplit=0):
        return [string[:]] if self._blocked(string) else self.rx.split(string, maxsplit)

    def __repr__(self) -> str:
        return f"GatedPattern({self.rx!r}, lits={self.lits!r})"


def absent_from_doc(rx, text) -> bool:
    """``rx`` cannot match anywhere in the document ``text`` (a GatedText) belongs to."""
    return type(rx) is GatedPattern and rx.absent_from_doc(text)


def gated(rx: re.Pattern):
    """``rx`` behind a literal gate, or ``rx`` itself when no literal is required of a match."""
    lits = required_literals(rx)
    return rx if lits is None else GatedPattern(rx, lits)


def gate_patterns(namespace: dict) -> None:
    """Gate every compiled pattern in a module's namespace (called at the end of the module)."""
    for name, value in list(namespace.items()):
        if isinstance(value, re.Pattern):
            namespace[name] = gated(value)
