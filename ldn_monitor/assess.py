"""Read one PubMed record and say what kind of study it is: ``DesignAssessment``.

Pure: no I/O, no clock, no randomness. Regexes live in ``assess_rules`` (compiled at import);
number grammar in ``assess_numbers``.

How it reads a record
---------------------
1. ``assessed_text = title + "\\n\\n" + abstract``; every Evidence span indexes into it.
2. The text is cut into sections (structured labels such as ``METHODS:``, ``Results``, bare
   ``Background ...``) and sentences. Each sentence has a section kind; sentences of an unstructured
   abstract that speak about other work ("previous trials have shown", "trials are needed") are
   treated as background. Design cues only count in sentences about *this* study.
3. Fields are decided in order: is_ldn (dose grammar), design (protocol > meta-analysis >
   systematic review > narrative review > secondary analysis > animal > case report/series > RCT >
   non-randomised controlled > observational > single-arm), then randomized/blinding/control
   (with the corpus conventions for uncontrolled designs), counts, duration, condition, result.
4. Quality items and plain-word limitations are built from the fields.

The text decides; publication types only break ties (an abstract that never says "randomised"
but is tagged "Randomized Controlled Trial" is still read as an RCT with ``randomized=None``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Optional, Sequence

from . import assess_rules as R
from .assess_gate import absent_from_doc, gate_patterns, gate_spans
from .assess_numbers import find_numbers_cached, parse_number
from .records import Article, DesignAssessment, Evidence

ASSESSOR_VERSION = "assess-2026.11.25-8"

_NON_RESULT_DESIGNS = ("protocol", "narrative_review")
_UNCONTROLLED = ("single_arm", "observational", "case_report", "case_series")
_REVIEWS = ("systematic_review", "meta_analysis", "narrative_review")


def assessed_text(title: str, abstract: str) -> str:
    """The text every Evidence span indexes into: title, blank line, abstract."""
    return (title or "") + "\n\n" + (abstract or "")


# ====================================================================== text model
@dataclass
class Sentence:
    start: int
    end: int
    text: str
    kind: str  # title/background/objective/methods/results/conclusion/other
    index: int = 0
    own: bool = True  # about this study (not background / other work / future needs)


@dataclass
class Doc:
    text: str
    title_end: int
    sentences: list[Sentence]
    structured: bool
    publication_types: tuple[str, ...]
    registry_ids: tuple[str, ...]
    mesh_terms: tuple[str, ...]
    keywords: tuple[str, ...]
    labels: tuple[str, ...] = ()
    cache: dict = field(default_factory=dict)

    def own(self) -> list[Sentence]:
        return [s for s in self.sentences if s.own]

    def kinds(self, *kinds: str) -> list[Sentence]:
        return [s for s in self.sentences if s.kind in kinds]

    @property
    def title(self) -> Sentence:
        return self.sentences[0]


_OWN_CUE_RE = re.compile(
    r"\b(?:we|our|this (?:study|trial|review|pilot|report|paper|article|analysis|case|series)|the present|here|"
    r"these (?:findings|results|data)|in this)\b",
    re.I,
)
_NEWLINE_SPLIT_RE = re.compile(r"\n+")


def _split_sentences(text: str, base: int, kind: str, out: list[Sentence]) -> None:
    for para in _iter_spans(text, _NEWLINE_SPLIT_RE):
        pa, pb = para
        chunk = text[pa:pb]
        last = 0
        for m in R.SENT_SPLIT_RE.finditer(chunk):
            _add_sentence(text, base, pa + last, pa + m.start(), kind, out)
            last = m.end()
        _add_sentence(text, base, pa + last, pb, kind, out)


def _iter_spans(text: str, sep: re.Pattern) -> Iterable[tuple[int, int]]:
    last = 0
    for m in sep.finditer(text):
        yield last, m.start()
        last = m.end()
    yield last, len(text)


def _add_sentence(text: str, base: int, a: int, b: int, kind: str, out: list[Sentence]) -> None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if b > a:
        out.append(Sentence(base + a, base + b, text[a:b], kind))


def _sections(abstract: str) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, label) segments of the abstract; labels themselves are excluded."""
    marks: list[tuple[int, int, str, str]] = []  # (label_start, content_start, kind, label)
    line_starts = [0] + [m.end() for m in _NEWLINE_RE.finditer(abstract)]
    after_stop = sorted(set(line_starts + [m.end() for m in _AFTER_STOP_RE.finditer(abstract)]
                            + [m.end() - 1 for m in _AFTER_STOP_RE.finditer(abstract) if m.end() - m.start() == 3]))
    for rx, starts in ((R.SECTION_COLON_RE, after_stop), (R.SECTION_LINE_RE, line_starts),
                       (R.SECTION_BARE_RE, line_starts)):
        for m in _matches_at(rx, abstract, starts):
            label = m.group(1).strip(" ,&/")
            if not label or len(label) > 70:
                continue
            marks.append((m.start(), m.end(), R.section_kind(label), label))
    marks.sort()
    dedup: list[tuple[int, int, str, str]] = []
    for mk in marks:
        if dedup and mk[0] < dedup[-1][1]:
            continue
        dedup.append(mk)
    if not dedup:
        return [(0, len(abstract), "other", "")]
    segs = []
    if dedup[0][0] > 0:
        segs.append((0, dedup[0][0], "other", ""))
    for i, (ls, cs, kind, label) in enumerate(dedup):
        end = dedup[i + 1][0] if i + 1 < len(dedup) else len(abstract)
        segs.append((cs, end, kind, label))
    return segs


# Section labels can only start where their patterns' lookbehinds allow: at the start, after a
# newline, or after ". " / ".  ". Trying the pattern only there is what finditer would find, without
# the cost of testing every other position (~100 µs an abstract).
_NEWLINE_RE = re.compile(r"\n")
_AFTER_STOP_RE = re.compile(r"[.!?]\s\s?")


def _matches_at(rx, text: str, starts: list[int]):
    """``rx.finditer(text)`` for a pattern that can only match at ``starts`` (sorted)."""
    last_end = 0
    for p in starts:
        if p < last_end or p > len(text):
            continue
        m = rx.match(text, p)
        if m:
            last_end = m.end() if m.end() > m.start() else m.end() + 1
            yield m


def _build_doc(title: str, abstract: str, publication_types, registry_ids, mesh, keywords) -> Doc:
    title = title or ""
    abstract = abstract or ""
    text = assessed_text(title, abstract)
    base = len(title) + 2
    sentences: list[Sentence] = []
    if title.strip():
        sentences.append(Sentence(0, len(title), title, "title"))
    else:
        sentences.append(Sentence(0, 0, "", "title"))
    segs = _sections(abstract)
    if len(segs) == 1 or (len(segs) == 2 and segs[0][2] == "other" and not abstract[segs[0][0]:segs[0][1]].strip()):
        # one label over the whole abstract ("BACKGROUND: ... everything") carries no structure
        segs = [(a, b, "other", lab) for a, b, _k, lab in segs]
    structured = any(k != "other" for _, _, k, _ in segs)
    for a, b, kind, _label in segs:
        _split_sentences(abstract[a:b], base + a, kind, sentences)
    # one literal scan for the document; each sentence learns which literals lie inside it
    gated_doc, gated_sents = gate_spans(text, [(s.start, s.end) for s in sentences])
    for i, (s, g) in enumerate(zip(sentences, gated_sents)):
        s.text = g
        s.index = i
        s.own = _is_own(s)
    return Doc(gated_doc, len(title), sentences, structured, tuple(publication_types or ()),
               tuple(registry_ids or ()), tuple(mesh or ()), tuple(keywords or ()),
               tuple(lab.lower() for _, _, _, lab in segs if lab))


# a background sentence is about this study only when it says so ("this study", "we aimed")
_OWN_STUDY_CUE_RE = re.compile(r"\b(?:this|the present|our) (?:study|trial|review|pilot|case|series)\b|\bwe (?:aimed|sought|conducted|tested|evaluated|examined|hypothesi[sz]ed|report|describe|present|set out|designed|ran|did|performed)\b|\bhere we\b", re.I)


def _is_own(s: Sentence) -> bool:
    if s.kind == "title":
        return True
    if R.STRONG_OTHER_RE.search(s.text):
        return False
    if s.kind == "background":
        return bool(_OWN_STUDY_CUE_RE.search(s.text))
    if s.kind == "results":
        return not R.FUTURE_NEED_RE.search(s.text)
    if R.OTHER_WORK_RE.search(s.text) and not _OWN_CUE_RE.search(s.text):
        return False
    return True


# ====================================================================== evidence helpers
@dataclass
class Found:
    value: object
    start: int
    end: int
    score: float = 0.0


def _clause_span(doc: Doc, s: Sentence, a: int, b: int, max_len: int = 220) -> tuple[int, int]:
    """Grow [a, b) (absolute) to the surrounding clause inside sentence ``s``, at most ``max_len``."""
    if s.end - s.start <= max_len:
        return s.start, s.end
    text = doc.text
    lo = a
    while lo > s.start and text[lo - 1] not in ";" and (a - lo) < max_len // 2:
        lo -= 1
    hi = b
    while hi < s.end and text[hi] not in ";" and (hi - b) < max_len // 2:
        hi += 1
    while lo > s.start and text[lo - 1].isalnum():
        lo -= 1
    while hi < s.end and text[hi].isalnum():
        hi += 1
    while lo < a and text[lo].isspace():
        lo += 1
    while hi > b and text[hi - 1].isspace():
        hi -= 1
    return lo, hi


def _abs(s: Sentence, m: re.Match, group: int | str = 0) -> tuple[int, int]:
    return s.start + m.start(group), s.start + m.end(group)


def _search_sents(sents: Sequence[Sentence], rx: re.Pattern) -> Optional[tuple[Sentence, re.Match]]:
    if sents and absent_from_doc(rx, sents[0].text):
        return None
    for s in sents:
        m = rx.search(s.text)
        if m:
            return s, m
    return None


# ====================================================================== is_ldn
@dataclass
class Dose:
    mg_per_day: Optional[float]
    per_kg: Optional[float]
    micro: bool
    start: int
    end: int


_TWICE_DAILY_RE = re.compile(r"twice|two times|b\.?i\.?d")


def _dose_mentions(s: Sentence) -> list[Dose]:
    out = []
    for m in R.DOSE_RE.finditer(s.text):
        try:
            v = float(m.group("num").replace("·", ".").replace(",", "."))
            v2 = float(m.group("num2").replace("·", ".").replace(",", ".")) if m.group("num2") else None
        except ValueError:
            continue
        unit = m.group("unit").lower()
        if unit == "g":
            continue  # grams are never naltrexone doses in these abstracts (and "g" is ambiguous)
        micro = unit in ("µg", "μg", "mcg", "ug") or unit.startswith("microgram")
        hi = max(v, v2) if v2 is not None else v
        freq = (m.group("freq") or "").lower()
        mult = 2.0 if _TWICE_DAILY_RE.search(freq) else 1.0
        mg = hi / 1000.0 if micro else hi
        if m.group("perkg"):
            out.append(Dose(None, mg * mult, micro, s.start + m.start(), s.start + m.end()))
        else:
            out.append(Dose(mg * mult, None, micro, s.start + m.start(), s.start + m.end()))
    return out


_NALTREXONE_NEAR = 90  # characters between a dose and the naltrexone mention it belongs to


# other drugs (and placebo) whose doses are given next to naltrexone's
_OTHER_DRUG_RE = re.compile(
    r"\b(?:amitriptyline|oxycodone|bupropion|sertraline|aripiprazole|nicotine|methadone|morphine|"
    r"buprenorphine|pregabalin|duloxetine|gabapentin|clonidine|prednisolone|acamprosate|"
    r"placebo|tramadol|milnacipran)\b",
    re.I,
)
_AND_OR_VERSUS_RE = re.compile(r"\b(?:and|or|vs|versus)\b")


def _dose_is_naltrexone(s: Sentence, d: Dose) -> bool:
    """A dose belongs to naltrexone when the drug is named close by and no other drug is closer."""
    a = d.start - s.start
    b = d.end - s.start
    window_before = s.text[max(0, a - _NALTREXONE_NEAR):a]
    window_after = s.text[b:b + 40]
    nb = [m for m in R.NALTREXONE_RE.finditer(window_before)]
    na = R.NALTREXONE_RE.search(window_after)
    if not nb and not na:
        return False
    # Another drug name sitting between the naltrexone mention and the dose steals it.
    if nb:
        between = window_before[nb[-1].end():]
        if _OTHER_DRUG_RE.search(between):
            return bool(na and not _AND_OR_VERSUS_RE.search(window_after[:na.start()]))
    return True


def _decide_ldn(doc: Doc) -> Optional[Found]:
    # 1) explicit naltrexone doses in sentences about this study
    low, std, ultra, perkg_high = [], [], [], []
    for s in doc.sentences:
        for d in _dose_mentions(s):
            if not _dose_is_naltrexone(s, d):
                continue
            weight = 2 if s.own else 1
            if d.micro:
                ultra.append((d, weight))
            elif d.per_kg is not None:
                # weight-based dosing: <=0.15 mg/kg is a low dose for any body weight; above it the
                # daily dose depends on weight, so it only decides when the text does not call it LDN
                (low if d.per_kg <= 0.15 else perkg_high).append((d, weight))
            elif d.mg_per_day is not None:
                if d.mg_per_day < 0.5:
                    ultra.append((d, weight))  # sub-LDN; only LDN if the text calls it low/very-low dose
                elif d.mg_per_day <= 6.5:
                    low.append((d, weight))
                elif d.mg_per_day >= 10:
                    std.append((d, weight))
    phrase = None
    for s in doc.sentences:
        for m in R.LDN_PHRASE_RE.finditer(s.text):
            # "ultra-low-dose naltrexone" is not LDN: the phrase must not be preceded by "ultra"
            pre = s.text[max(0, m.start() - 7):m.start()].lower()
            if "ultra" in pre:
                continue
            phrase = phrase or (s, m)
    ultra_phrase = _search_sents(doc.sentences, R.ULTRA_LOW_RE)
    std_drug = _search_sents(doc.sentences, R.STANDARD_DRUG_RE)
    nal = _search_sents(doc.sentences, R.NALTREXONE_RE)

    low_w = sum(w for _, w in low)
    std_w = sum(w for _, w in std)
    # title-level phrase is strongest: the paper is about LDN
    title_phrase = R.LDN_PHRASE_RE.search(doc.title.text) if doc.title.text else None
    if title_phrase and "ultra" not in doc.title.text[max(0, title_phrase.start() - 7):title_phrase.start()].lower():
        std_own = [d for d, w in std if w == 2]
        # a "low dose" that is really 25 mg+ in this study is not LDN
        if std_own and not low:
            d = std_own[0]
            return Found(False, d.start, d.end)
        return Found(True, title_phrase.start(), title_phrase.end())
    if std_drug and not phrase:
        s, m = std_drug
        return Found(False, *_abs(s, m))
    if perkg_high and not phrase and not low:
        d = perkg_high[0][0]
        return Found(False, d.start, d.end)
    if ultra_phrase and not phrase and not low:
        s, m = ultra_phrase
        return Found(False, *_abs(s, m))
    if phrase:
        s, m = phrase
        if std_w > low_w and std_w >= 2 and not low:
            d = [d for d, w in std if w == 2] or [d for d, _ in std]
            return Found(False, d[0].start, d[0].end)
        return Found(True, *_abs(s, m))
    if low_w > std_w:
        d = [d for d, w in low if w == 2] or [d for d, _ in low]
        return Found(True, d[0].start, d[0].end)
    if std:
        d = [d for d, w in std if w == 2] or [d for d, _ in std]
        return Found(False, d[0].start, d[0].end)
    if ultra:
        d = ultra[0][0]
        return Found(False, d.start, d.end)
    if ultra_phrase:
        s, m = ultra_phrase
        return Found(False, *_abs(s, m))
    if nal:
        s, m = nal
        # naltrexone named, no dose, not called low-dose: in addiction medicine that is the standard
        # 50 mg use; elsewhere (or in a dish) the record does not say which dose -> None
        add = _search_sents([x for x in doc.sentences if x.kind == "title" or (x.own and x.kind != "background" and R.HUMAN_SUBJECT_RE.search(x.text))], R.ADDICTION_RE)
        if add:
            a_s, a_m = add
            return Found(False, *_abs(a_s, a_m))
        return None
    # no naltrexone at all (e.g. naloxone, another drug): not LDN; evidence = the title
    if doc.title.text:
        return Found(False, 0, len(doc.title.text))
    first = next((s for s in doc.sentences if s.text), None)
    return Found(False, first.start, first.end) if first else None


# ====================================================================== design
@dataclass
class DesignFacts:
    randomized: Optional[Found] = None
    nonrandom: Optional[Found] = None
    crossover: Optional[Found] = None
    placebo: Optional[Found] = None
    active: Optional[Found] = None
    usual: Optional[Found] = None
    waitlist: Optional[Found] = None
    no_control: Optional[Found] = None
    double: Optional[Found] = None
    triple: Optional[Found] = None
    single: Optional[Found] = None
    open_label: Optional[Found] = None
    pt_rct: bool = False
    results_present: bool = False


_OTHERS_AFTER_RE = re.compile(r"^[\w\s,/-]{0,40}?\b(?:trials|studies|RCTs|data)\b", re.I)
_THIS_BEFORE_RE = re.compile(r"\b(?:this|our|the present|the current)\b[\w\s,/-]{0,40}$", re.I)
_OTHER_WORK_BEFORE_RE = re.compile(r"\b(?:other|previous|prior|earlier|future|further|larger|more)\s+(?:[\w-]+\s+){0,2}$", re.I)


def _about_others(t: str, m: re.Match) -> bool:
    """A design word that qualifies other studies: "other double-blind naltrexone trials"."""
    if _OTHERS_AFTER_RE.match(t[m.end():m.end() + 45]) and not _THIS_BEFORE_RE.search(t[max(0, m.start() - 45):m.start()]):
        return True
    return bool(_OTHER_WORK_BEFORE_RE.search(t[max(0, m.start() - 40):m.start()]))


def _first(doc: Doc, rx: re.Pattern, sents=None, *, skip: Optional[re.Pattern] = None) -> Optional[Found]:
    if absent_from_doc(rx, doc.text):
        return None
    for s in sents if sents is not None else doc.own():
        for m in rx.finditer(s.text):
            if s.kind != "title" and _about_others(s.text, m):
                continue
            if skip is not None:
                ctx = s.text[max(0, m.start() - 40):m.end() + 40]
                if skip.search(ctx):
                    continue
            return Found(True, *_abs(s, m))
    return None


def _design_sents(doc: Doc) -> list[Sentence]:
    """Sentences that can describe this study's design: own, and not a future/needs statement."""
    out = []
    for s in doc.own():
        if s.kind == "conclusion" and R.FUTURE_NEED_RE.search(s.text):
            continue
        out.append(s)
    return out


def _randomized_cue(doc: Doc, sents: list[Sentence]) -> tuple[Optional[Found], Optional[Found]]:
    pos = neg = None
    for s in sents:
        for m in R.RANDOM_NEG_RE.finditer(s.text):
            neg = neg or Found(False, *_abs(s, m))
        for m in R.RANDOM_POS_RE.finditer(s.text):
            a = m.start()
            if any(n.start() <= a < n.end() for n in R.RANDOM_NEG_RE.finditer(s.text)):
                continue
            others = [o for o in R.RANDOM_OTHERS_RE.finditer(s.text) if o.start() <= a < o.end()]
            if others:
                continue
            if s.kind in ("background",):
                continue
            pos = pos or Found(True, *_abs(s, m))
    return pos, neg


_RCT_PUBTYPE_RE = re.compile(r"randomi[sz]ed controlled trial", re.I)  # PubMed publication type
_BLINDED_WORD_RE = re.compile(r"\b(?:concealed|blind(?:ed)?|mask(?:ed)?|unaware)\b", re.I)


def _facts(doc: Doc) -> DesignFacts:
    f = DesignFacts()
    sents = _design_sents(doc)
    f.randomized, f.nonrandom = _randomized_cue(doc, sents)
    f.crossover = _first(doc, R.CROSSOVER_RE, sents)
    f.placebo = _first(doc, R.PLACEBO_RE, sents, skip=re.compile(r"placebo (?:effect|response)s?\b|nocebo", re.I))
    f.active = _first(doc, R.ACTIVE_CONTROL_RE, sents)
    f.usual = _first(doc, R.USUAL_CARE_RE, sents)
    f.waitlist = _first(doc, R.WAITLIST_RE, sents)
    f.no_control = _first(doc, R.NO_CONTROL_RE, sents)
    f.triple = _first(doc, R.TRIPLE_BLIND_RE, sents)
    f.double = _first(doc, R.DOUBLE_BLIND_RE, sents)
    f.single = _first(doc, R.SINGLE_BLIND_RE, sents)
    # open-label, but not an open-label extension after a blinded phase
    for s in sents:
        for m in R.OPEN_LABEL_RE.finditer(s.text):
            ext = [e for e in R.OPEN_EXTENSION_RE.finditer(s.text) if e.start() <= m.start() < e.end() + 5]
            if ext:
                continue
            f.open_label = Found(True, *_abs(s, m))
            break
        if f.open_label:
            break
    # masking of three or more parties = triple
    if not f.triple:
        for s in sents:
            if R.MASKING_CONTEXT_RE.search(s.text):
                parties = {p.group(0).lower().removesuffix("s").split()[-1] for p in R.MASKED_PARTY_RE.finditer(s.text)}
                parties = {_party(p) for p in parties}
                if len(parties) >= 3 and _BLINDED_WORD_RE.search(s.text):
                    f.triple = Found(True, s.start, s.end)
                    break
    if not (f.triple or f.double or f.single):
        _masked_parties(sents, f)
    f.pt_rct = any(_RCT_PUBTYPE_RE.search(p) for p in doc.publication_types)
    f.results_present = bool(doc.kinds("results")) or bool(
        _search_sents(doc.own(), re.compile(r"\b(?:p\s*[<=>]|significantly|improved|we found|showed|was associated|95% CI|reduced)\b", re.I))
    )
    return f


_CLAUSE_SPLIT_RE = re.compile(r";|\.\s|,\s+(?:but|whereas|while)\b")


def _masked_parties(sents: list[Sentence], f: DesignFacts) -> None:
    """"Patients and raters were blinded" (2 parties -> double); "an investigator unaware of group
    allocation" (1 -> single); 3+ -> triple. Parties of a negated clause ("participants were not") do not count."""
    for s in sents:
        if s.kind == "background" or not R.MASKING_CONTEXT_RE.search(s.text):
            continue
        base = 0
        for piece in _CLAUSE_SPLIT_RE.split(s.text):
            start = s.text.find(piece, base)
            base = start + len(piece)
            vm = R.MASKING_VERB_RE.search(piece)
            if not vm or R.MASKED_NEGATION_RE.search(piece):
                continue
            # the parties are the subject (before the verb) or, for "blinded participants", right after it
            scope = piece[:vm.end()] if vm.start() > 0 else piece[: vm.end() + 60]
            parties = {_party(_party_word(p.group(0))) for p in R.MASKED_PARTY_RE.finditer(scope)}
            if not parties:
                continue
            ev = Found(True, s.start + start, s.start + start + len(piece))
            if len(parties) >= 3:
                f.triple = ev
            elif len(parties) == 2:
                f.double = ev
            else:
                f.single = ev
            return


def _party_word(p: str) -> str:
    w = p.lower()
    if w.endswith(("outcome", "outcomes")):
        return "assessor"
    if w.endswith("ologist") or w.endswith("ologists") or w.startswith("treating"):
        return "clinician"
    return w.removesuffix("s").split()[-1]


def _party(p: str) -> str:
    if p in ("participant", "patient", "subject", "parent", "caregiver"):
        return "participant"
    if p in ("investigator", "clinician", "physician", "provider", "staff", "personnel", "team", "nurse", "surgeon", "doctor"):
        return "investigator"
    if p in ("assessor", "rater", "evaluator"):
        return "assessor"
    if p in ("analyst", "statistician", "statistical"):
        return "analyst"
    return p


_PROSPECTIVE_RE = re.compile(r"\bprospective\b", re.I)
# section labels of structured narrative reviews ("Purpose of review", "Recent findings"); labels are lower-cased
_REVIEW_PURPOSE_LABEL_RE = re.compile(r"purpose of (?:the |this )?review|recent findings")
# "case review" / "chart review" / "record review" in the title is a study, not a literature review
_CASE_CHART_RECORD_RE = re.compile(r"\b(?:case|chart|record)s?\b", re.I)
_EX_VIVO_RE = re.compile(r"\bex vivo\b", re.I)


def _decide_design(doc: Doc, f: DesignFacts, n_people: Optional[int]) -> Found:
    title = doc.title
    own = _design_sents(doc)
    allsent = doc.sentences
    pts = [p.lower() for p in doc.publication_types]

    # ---- protocol: future-tense design, or "study protocol", and no results of its own
    proto = _search_sents([title], R.PROTOCOL_STRONG_RE) or _search_sents(own, R.PROTOCOL_STRONG_RE)
    future = [(s, m) for s in own for m in [R.FUTURE_DESIGN_RE.search(s.text)] if m]
    has_results_section = bool(doc.kinds("results"))
    if proto and not has_results_section:
        s, m = proto
        return Found("protocol", *_abs(s, m))
    if len(future) >= 1 and not has_results_section and not _past_findings(doc):
        s, m = future[0]
        return Found("protocol", *_abs(s, m))
    if doc.registry_ids and not _past_findings(doc):
        aim = _search_sents(own, R.AIM_PRESENT_RE)
        if aim:
            s, m = aim
            return Found("protocol", *_abs(s, m))
    if any("study protocol" in p or p == "clinical trial protocol" for p in pts) and not has_results_section:
        return Found("protocol", 0, len(title.text))

    # ---- reviews
    narrative_self = _search_sents([title] + own, re.compile(r"\bnarrative review\b|\bpurpose of (?:the |this )?review\b", re.I))
    meta = _search_sents([title], R.META_RE) or _search_sents(own, R.META_RE)
    systematic = _search_sents([title], R.SYSTEMATIC_RE) or _search_sents(own, R.SYSTEMATIC_RE)
    search = _search_sents(own, R.SEARCH_RE)
    # a "Purpose of review" / "Recent findings" section label also marks a narrative review
    review_label = narrative_self is None and any(_REVIEW_PURPOSE_LABEL_RE.search(lab) for lab in doc.labels)
    if meta and not narrative_self and not review_label and not ("meta" not in meta[1].group(0).lower() and not (systematic or search) and _search_sents([title] + own, R.SECONDARY_RE)):
        s, m = meta
        # "pooled analyses showed" in a review with a database search, or the words meta-analysis
        return Found("meta_analysis", *_abs(s, m))
    if narrative_self:
        s, m = narrative_self
        return Found("narrative_review", *_abs(s, m))
    if review_label:
        return Found("narrative_review", title.start, title.start)  # empty span: put() widens it to the title
    if systematic or search:
        pooled = _search_sents(doc.kinds("results"), _POOLED_ESTIMATE_RE)
        if pooled:
            s, m = pooled
            return Found("meta_analysis", *_abs(s, m))
        s, m = systematic or search
        return Found("systematic_review", *_abs(s, m))
    if any("meta-analysis" in p for p in pts):
        return Found("meta_analysis", 0, len(title.text))
    if any("systematic review" in p for p in pts):
        return Found("systematic_review", 0, len(title.text))
    review_title = R.REVIEW_TITLE_RE.search(title.text) if title.text else None
    narrative = _search_sents(own, R.NARRATIVE_RE)
    if (review_title or narrative) and n_people is None and not f.randomized:
        if review_title and not _CASE_CHART_RECORD_RE.search(title.text[max(0, review_title.start() - 20):review_title.end()]):
            return Found("narrative_review", title.start + review_title.start(), title.start + review_title.end())
        if narrative:
            s, m = narrative
            return Found("narrative_review", *_abs(s, m))
    if any(p == "review" for p in pts) and n_people is None:
        return Found("narrative_review", 0, len(title.text))

    # ---- secondary analysis
    sec = _search_sents([title] + own, R.SECONDARY_RE)
    if sec:
        s, m = sec
        return Found("secondary_analysis", *_abs(s, m))

    # ---- animal / in vitro
    iv = _search_sents([title] + own, R.IN_VITRO_STRONG_RE)
    if iv:
        s, m = iv
        return Found("animal_or_in_vitro", *_abs(s, m))
    animal_hits = [(s, m) for s in [title] + own for m in R.ANIMAL_RE.finditer(s.text)]
    human_hits = [(s, m) for s in own for m in R.HUMAN_SUBJECT_RE.finditer(s.text)]
    if animal_hits and (len(animal_hits) >= 2 * max(1, len(human_hits)) or (R.ANIMAL_RE.search(title.text or "") and not R.HUMAN_SUBJECT_RE.search(title.text or ""))):
        s, m = animal_hits[0]
        if not _EX_VIVO_RE.search(m.group(0)) or not human_hits:
            return Found("animal_or_in_vitro", *_abs(s, m))

    # ---- case report / series
    series = _search_sents([title] + own, R.CASE_SERIES_RE)
    report = _search_sents([title] + own, R.CASE_REPORT_RE)
    chart = _search_sents(own, R.CHART_REVIEW_RE)
    if series and not f.randomized:
        s, m = series
        if chart and n_people is not None and n_people > 50:
            cs, cm = chart
            return Found("observational", *_abs(cs, cm))
        return Found("case_series", *_abs(s, m))
    if report and not f.randomized and (n_people is None or n_people <= 1 or "case report" in report[1].group(0).lower()):
        s, m = report
        if n_people is not None and 2 <= n_people <= 30 and "case report" not in m.group(0).lower():
            return Found("case_series", *_abs(s, m))
        return Found("case_report", *_abs(s, m))
    if any("case reports" == p for p in pts) and not f.randomized:
        if n_people is not None and n_people > 1:
            return Found("case_series", 0, len(title.text))
        return Found("case_report", 0, len(title.text))

    # ---- randomised trials
    controlled = f.placebo or f.active or f.usual or f.waitlist
    if f.randomized and not f.nonrandom:
        kind = "rct_crossover" if f.crossover else "rct_parallel"
        return Found(kind, f.randomized.start, f.randomized.end)
    if f.pt_rct and not f.nonrandom and (controlled or f.crossover):
        kind = "rct_crossover" if f.crossover else "rct_parallel"
        ev = f.crossover or f.double or controlled or Found(None, 0, len(title.text))
        return Found(kind, ev.start, ev.end)
    # double-blind, controlled trial that never says randomised: almost always randomised
    if (f.double or f.triple) and (f.placebo or f.active) and not f.nonrandom and not f.open_label:
        kind = "rct_crossover" if f.crossover else "rct_parallel"
        ev = f.double or f.triple
        return Found(kind, ev.start, ev.end)

    # ---- non-randomised controlled
    if controlled and (f.nonrandom or f.single or f.crossover or f.open_label) and not _observational_cue(doc, own):
        ev = f.nonrandom or controlled
        return Found("nonrandomized_controlled", ev.start, ev.end)

    # ---- observational
    obs = _observational_cue(doc, own)
    if obs:
        s, m = obs
        if not (_PROSPECTIVE_RE.search(m.group(0))):
            return Found("observational", *_abs(s, m))
    if chart:
        s, m = chart
        return Found("observational", *_abs(s, m))

    # ---- single arm
    sa = _search_sents([title] + own, R.SINGLE_ARM_RE)
    if controlled and not f.nonrandom and (f.placebo or f.active):
        # a control group with no word on allocation: treat as non-randomised controlled
        ev = controlled
        return Found("nonrandomized_controlled", ev.start, ev.end)
    if f.open_label or f.no_control or (sa and n_people is not None):
        ev = f.open_label or f.no_control
        if ev:
            return Found("single_arm", ev.start, ev.end)
        s, m = sa
        return Found("single_arm", *_abs(s, m))
    if obs:
        s, m = obs
        return Found("observational", *_abs(s, m))

    # ---- nothing about a study population or method: a review/commentary
    if n_people is None and not f.results_present:
        ev_s = title if title.text else next((s for s in allsent if s.text), title)
        return Found("narrative_review", ev_s.start, ev_s.end)
    ev_s = title if title.text else next((s for s in allsent if s.text), title)
    return Found("other", ev_s.start, ev_s.end)


_POOLED_ESTIMATE_RE = re.compile(
    r"\b(?:RR|OR|HR|MD|SMD|risk ratio|odds ratio|mean difference|relative risk|Hedges'? g)\b[^;]{0,40}?(?:95\s*%?\s*CI|confidence interval)|"
    r"(?:95\s*%?\s*CI|confidence interval)[^;]{0,40}?\b(?:RR|OR|HR|MD|SMD|RD)\b",
    re.I,
)
# "database" in a sentence about searching databases is a review's search, not a database study
_DB_SEARCH_CUE_RE = re.compile(r"search|searched|databases", re.I)
# "survey" naming an outcome instrument ("quality of life survey", "(SF-36 survey)"), not a survey study
_SURVEY_INSTRUMENT_RE = re.compile(r"quality of life survey|surveys?\)", re.I)


def _observational_cue(doc: Doc, own: list[Sentence]):
    for s in [doc.title] + own:
        for m in R.OBSERVATIONAL_RE.finditer(s.text):
            w = m.group(0).lower()
            if w in ("questionnaire study",) or w == "survey" and _SURVEY_INSTRUMENT_RE.search(s.text):
                continue
            if w == "database" and _DB_SEARCH_CUE_RE.search(s.text):
                continue
            return s, m
    return None


_PAST_FINDINGS_RE = re.compile(
    r"\b(?:were (?:enrolled|randomi[sz]ed|included|recruited)|we found|was (?:associated|observed|found)|"
    r"showed|improved|decreased|reduced|significantly|p\s*[<=>]\s*0?\.\d|95% ?CI|completed the)\b",
    re.I,
)


def _past_findings(doc: Doc) -> bool:
    return any(s.kind != "background" and _PAST_FINDINGS_RE.search(s.text) and not R.OTHER_WORK_RE.search(s.text)
               for s in doc.own() if s.kind != "title")


# ====================================================================== counts
@dataclass
class CountCand:
    value: int
    start: int
    end: int
    score: float
    kind: str  # "enrolled" / "analyzed" / "screened" / "arm"


_TOTAL_RE = re.compile(
    rf"(?P<num>{R.NUMBER_PATTERN}) (?:participants |patients |subjects )?in total\)?",
    re.I,
)
_ANALYSIS_BEFORE_RE = re.compile(r"\b(?:analy[sz]is|analy[sz]es) (?:included|comprised|covered)\s*$|\banaly[sz]ed\s*$", re.I)
_NOUN_PAREN_RE = re.compile(rf"\b(?P<noun>{R.PARTICIPANT_NOUN})\s*\((?P<num>\d{{1,3}}(?:[,\u2009 ]\d{{3}})+|\d+)\)", re.I)
# "the treatment group (51 subjects)", "ME/CFS patients (n = 10)", "one group ( = 23)"
_GROUP_SIZE_RE = re.compile(
    rf"\b(?:group|arm|cohort|controls|patients|participants|subjects)\b(?:\s*\([A-Za-z]{{1,6}};\s*|\s*[(\[]\s*)(?:[Nn]\s*)?=?\s*(?P<num>\d+)(?:\s+(?:{R.PARTICIPANT_NOUN}))?\s*[)\]]",
    re.I,
)
_INSTITUTION_AFTER_RE = re.compile(r"\s+(?:Affairs|Administration|Association|Hospitals?|Health(?:care)? (?:System|Administration)|Medical Cent(?:er|re)s?)\b")
_DESIGN_SENT_RE = re.compile(r"\b(?:we (?:conducted|performed|carried out|undertook|ran)|(?:study|trial) (?:of|was conducted|was performed))\b", re.I)
_AGE_BEFORE_RE = re.compile(r"(?:aged?|age of|mean age|median age|years?|range|±|SD|IQR|between|from)\s*(?:=|:)?\s*$", re.I)


def _anchored_finditer(rx: re.Pattern, t: str):
    """Matches of a pattern that starts with a number, tried only where a number starts."""
    nums = find_numbers_cached(t)  # memoised per sentence; empty when there is no number at all
    if not nums:
        return
    last_end = -1
    for n in nums:
        if n.start < last_end:
            continue
        m = rx.match(t, n.start)
        if m:
            last_end = m.end()
            yield m


def _anchored_search(rx: re.Pattern, t: str):
    return next(_anchored_finditer(rx, t), None)


def _count_noun_matches(t: str):
    """COUNT_NOUN_RE tried only where a number starts (much faster than scanning every position)."""
    nums = find_numbers_cached(t)
    if not nums:
        return
    last_end = -1
    for n in nums:
        if n.start < last_end:
            continue
        m = R.COUNT_NOUN_RE.match(t, n.start)
        if m:
            last_end = m.end()
            yield m




def _participant_counts(doc: Doc, sents: list[Sentence]) -> list[CountCand]:
    key = tuple(s.index for s in sents)
    cached = doc.cache.get(("counts", key))
    if cached is not None:
        return list(cached)
    cands = _participant_counts_uncached(doc, sents)
    doc.cache[("counts", key)] = tuple(cands)
    return cands


# words between a number and its noun that make it a count of studies, doses, visits or time, not of people
_NOT_PEOPLE_MODS_RE = re.compile(r"\b(?:studies|trials|articles|times|doses?|mg|visits?|sessions?|weeks?|months?|years?|days?)\b")
_PERCENT_OF_BEFORE_RE = re.compile(r"%\)?\s*(?:of\s+)?(?:the\s+)?\w*\s*$")
# "group ... (n = 12": an n = inside parentheses after an arm/group word is an arm size
_ARM_PAREN_BEFORE_RE = re.compile(r"\b(?:arm|arms|group|groups|to|with|or|and|versus|vs)\b[^()]{0,60}\($", re.I)
_OF_THE_ALL_BEFORE_RE = re.compile(r"\b(?:of|the|all)\s*$", re.I)
_TOTAL_WORD_RE = re.compile(r"\b(?:total|overall|all)\b", re.I)


def _participant_counts_uncached(doc: Doc, sents: list[Sentence]) -> list[CountCand]:
    cands: list[CountCand] = []
    for s in sents:
        t = s.text
        for m in _count_noun_matches(t):
            v = parse_number(m.group("num"))
            if v is None or not float(v).is_integer() or v < 1 or v > 5_000_000:
                continue
            a, b = m.start("num"), m.end("num")
            before = t[max(0, a - 25):a]
            if a > 0 and t[a - 1] in "-–/·." and not (a > 1 and t[a - 2] == " "):
                continue  # part of a range or ratio ("18-64", "8/15")
            if b < len(t) and t[b:b + 1] in "-–/" and b + 1 < len(t) and t[b + 1].isdigit():
                continue
            if _AGE_BEFORE_RE.search(before) and not _OF_THE_ALL_BEFORE_RE.search(before):
                continue
            noun = m.group("noun").lower()
            if _INSTITUTION_AFTER_RE.match(t, m.end()):
                continue
            if noun in ("mice", "rats", "dogs", "eyes"):
                continue
            mods = m.group("mods").lower()
            if _NOT_PEOPLE_MODS_RE.search(mods):
                continue
            score, kind = _score_count(s, a, m.end(), int(v), noun)
            cands.append(CountCand(int(v), s.start + a, s.start + m.end(), score, kind))
        for m in _anchored_finditer(_TOTAL_RE, t):
            v = parse_number(m.group("num"))
            if v is None or not float(v).is_integer():
                continue
            pre = t[max(0, m.start() - 60):m.start()]
            kind = "analyzed" if _ANALYSIS_BEFORE_RE.search(pre) else "enrolled"
            cands.append(CountCand(int(v), s.start + m.start(), s.start + m.end(), 4.0 + (1 if s.kind == "methods" else 0), kind))
        for m in _NOUN_PAREN_RE.finditer(t):
            v = parse_number(m.group("num"))
            if v is None or not float(v).is_integer():
                continue
            score, kind = _score_count(s, m.start(), m.end(), int(v), m.group("noun").lower())
            cands.append(CountCand(int(v), s.start + m.start(), s.start + m.end(), score, kind))
        for m in _GROUP_SIZE_RE.finditer(t):
            v = parse_number(m.group("num"))
            if v is None or not float(v).is_integer():
                continue
            after = t[m.end():m.end() + 40]
            if _SUBSET_AFTER_RE.match(after) or _PERCENT_OF_BEFORE_RE.search(t[max(0, m.start() - 25):m.start()]):
                continue
            cands.append(CountCand(int(v), s.start + m.start(), s.start + m.end(), 0.0, "arm"))
        n_eq_count = None
        for m in R.N_EQUALS_RE.finditer(t):
            v = parse_number(m.group("num"))
            if v is None:
                continue
            a = m.start()
            if any(c.start <= s.start + a < c.end for c in cands if c.kind == "arm"):
                continue
            inside_paren = t.rfind("(", 0, a) > t.rfind(")", 0, a)
            score, kind = _score_count(s, a, m.end(), int(v), "n")
            pre = t[max(0, a - 80):a].rstrip()
            n_eq_here = n_eq_count if n_eq_count is not None else len(R.N_EQUALS_RE.findall(t))
            n_eq_count = n_eq_here
            if n_eq_here >= 2 and inside_paren and pre.endswith("(") and _ARM_PAREN_BEFORE_RE.search(pre) and not _TOTAL_WORD_RE.search(pre[-30:]):
                kind = "arm"
            cands.append(CountCand(int(v), s.start + a, s.start + m.end(), score, kind))
    return cands


_SUBSET_AFTER_RE = re.compile(
    r"^(?:\s*\([^)]{0,30}\))?\s*(?:(?!who\b|with\b|whose\b)[\w/\-]+\s+){0,3}?(?:completed|finished|analy[sz]ed|evaluable|remained|were lost|"
    r"dropped out|withdrew|discontinued|responded|improved|reported|had (?:a |an )?(?:response|improvement|relapse|remission|side effects?|adverse)|showed|achieved|experienced|saw|met|filled in|returned|"
    r"reached|relapsed|got better|were (?:responders|judged|classed|considered|deemed|in remission|still))\b",
    re.I,
)
_SCREENING_CUE_RE = re.compile(r"\b(?:screened|assessed for eligibility|approached|contacted|responded|were excluded|excluded|ineligible|declined|refused)\b", re.I)
_OF_THE_BEFORE_RE = re.compile(r"\bof(?: the| all| these)?\s*$", re.I)
_PER_ARM_AFTER_RE = re.compile(r"^\s*(?:\w+\s+){0,2}(?:in each|per|in every) (?:study |treatment )?(?:arm|group)", re.I)
_COUNT_CUE_BEFORE_RE = re.compile(r"\bamong\s*$|\bin a (?:small )?(?:group|sample|cohort) of\s*$|\bincluded\s*$|\benrolled\s*$|\brecruited\s*$|\bfor\s*$|\bfrom\s*$|\btotal of\s*$", re.I)
_PERCENT_BEFORE_RE = re.compile(r"%\)?\s*$")
_IN_AMONG_FOR_BEFORE_RE = re.compile(r"\b(?:in|among|for)\s*(?:the\s*)?$", re.I)
# "12 (40%) of the ...": the number is a part of a larger count
_N_OF_THE_RE = re.compile(rf"^(?:{R.NUMBER_PATTERN})\s*(?:\(\d+(?:\.\d+)?%\)\s*)?of (?:the |these |all |our )?", re.I)
_MET_CRITERIA_AFTER_RE = re.compile(r"^[^.;]{0,30}\b(?:met|fulfil+ed|satisfied) (?:the |all |every )?(?:inclusion|eligibility) criteri", re.I)
_OF_WHOM_RE = re.compile(r"\b(?:of them|of whom|of these)\b", re.I)
_ANALYZED_WORD_RE = re.compile(r"\b(?:completed|finished|analy[sz]ed|evaluable|remained)\b", re.I)
_IN_A_TOTAL_BEFORE_RE = re.compile(r"\bin (?:a|all|total)\s*$", re.I)
_PERCENT_OR_P_RE = re.compile(r"%|\bp\s*[<=>]", re.I)


def _score_count(s: Sentence, a: int, b: int, v: int, noun: str) -> tuple[float, str]:
    t = s.text
    after = t[b:b + 90]
    before = t[max(0, a - 60):a]
    score = 0.0
    kind = "enrolled"
    if R.ENROLL_STRONG_RE.search(after[:80]) or R.ENROLL_STRONG_RE.search(before[-40:]):
        score += 3
    elif R.ENROLL_CUE_RE.search(after[:60]) or R.ENROLL_CUE_RE.search(before[-40:]):
        score += 1.5
    if _SCREENING_CUE_RE.search(after[:60]):
        score -= 6
        kind = "screened"
    sub = _SUBSET_AFTER_RE.match(after.lstrip(")"))
    mods = t[a:b]
    if R.ENROLL_STRONG_RE.search(mods):
        score += 3
        sub = None
    if sub and not R.ENROLL_STRONG_RE.search(after[:sub.end()]):
        score -= 3
        kind = "analyzed" if _ANALYZED_WORD_RE.search(sub.group(0)) else "subset"
    if _IN_AMONG_FOR_BEFORE_RE.search(before[-12:]) and not _IN_A_TOTAL_BEFORE_RE.search(before[-12:]):
        if _DESIGN_SENT_RE.search(t[:a]) and not _PERCENT_OR_P_RE.search(t) and s.kind != "results":
            score += 1.5
        else:
            score -= 1.5
    # "X of the N subjects": X is a subset, N is the total
    if _OF_THE_BEFORE_RE.search(before):
        score += 1.0
    if _N_OF_THE_RE.match(t[a:b + 40]) and noun == "n":
        score -= 3
    if _ANALYSIS_BEFORE_RE.search(before):
        kind = "analyzed"
    if _PER_ARM_AFTER_RE.match(after):
        score -= 3
    if _MET_CRITERIA_AFTER_RE.match(after) and _OF_WHOM_RE.search(after[:30] + before[-20:]):
        kind = "analyzed"
    if _COUNT_CUE_BEFORE_RE.search(before):
        score += 1.5
    if s.kind in ("methods", "title"):
        score += 1.0
    elif s.kind == "results":
        score += 0.5
    elif s.kind in ("background",):
        score -= 3
    elif s.kind == "conclusion":
        score -= 1
    if noun in ("controls", "cases"):
        score -= 0.5
    if _PERCENT_BEFORE_RE.search(before[-3:]):
        score -= 2
    return score, kind


_SUBGROUP_PAIR_RE = re.compile(
    rf"(?P<n1>{R.NUMBER_PATTERN})\s+(?P<g1>female|male|women|men|girls|boys|(?:[\w/\-]+ )?(?:patients|participants|subjects|users))"
    rf"(?:\s+(?:patients|participants|subjects))?(?:[^.;]{{0,60}}?)\s+and\s+(?:from\s+)?(?P<n2>{R.NUMBER_PATTERN})\s+"
    rf"(?P<g2>(?:healthy\s+|matched\s+|age-matched\s+)?(?:female|male|women|men|girls|boys|controls|control subjects|non-?users|comparators|unexposed (?:patients|individuals)|[\w/\-]+ (?:patients|participants|subjects)))",
    re.I,
)
_ALLOCATION_WORD_RE = re.compile(r"\b(?:randomi[sz]|assign|allocat|arm|group)", re.I)
_CONTROL_GROUP_WORD_RE = re.compile(r"control|non-?users|comparators|unexposed")
_OUTCOME_VERB_RE = re.compile(r"\b(?:improv|respon|relaps|reported|had)\w*", re.I)
_TOTAL_BEFORE_RE = re.compile(r"\b(?:a total of|in total|overall)\s*$", re.I)


def _decide_n_enrolled(doc: Doc, design: str, f: DesignFacts) -> tuple[Optional[Found], Optional[Found]]:
    """(n_enrolled, n_analyzed)."""
    if design == "case_report":
        s_m = _search_sents([doc.title] + doc.own(), R.CASE_REPORT_RE) or _search_sents(doc.own(), re.compile(r"\b(?:a|one) (?:patient|woman|man|girl|boy|child)\b", re.I))
        if s_m:
            s, m = s_m
            return Found(1, *_abs(s, m)), None
        return None, None
    sents = [s for s in doc.sentences if s.kind != "background" and (s.own or s.kind in ("methods", "results"))]
    if design == "case_series":
        s_m = _search_sents([doc.title] + doc.own(), _SERIES_N_RE)
        if s_m:
            s, m = s_m
            v = parse_number(m.group("num"))
            if v is not None and float(v).is_integer():
                return Found(int(v), *_abs(s, m)), None
    if design in ("systematic_review", "meta_analysis", "narrative_review"):
        return _review_participants(doc, sents), None
    cands = _participant_counts(doc, sents)
    # subgroup pairs that make up the whole sample: "13 female and 2 male patients", "9 patients and 9 controls"
    pair_total: Optional[Found] = None
    for s in sents:
        for m in _anchored_finditer(_SUBGROUP_PAIR_RE, s.text):
            v1, v2 = parse_number(m.group("n1")), parse_number(m.group("n2"))
            if v1 is None or v2 is None:
                continue
            g1, g2 = m.group("g1").lower(), m.group("g2").lower()
            sexes = {"female", "male", "women", "men", "girls", "boys"}
            if (g1 in sexes and any(x in g2 for x in sexes)) or _CONTROL_GROUP_WORD_RE.search(g2):
                # only if the sentence is not about outcomes
                if _OUTCOME_VERB_RE.search(s.text[m.end():m.end() + 40]):
                    continue
                tot = int(v1 + v2)
                sc = 2.5 + (1 if s.kind == "methods" else 0)
                pair_total = pair_total or Found(tot, *_abs(s, m), score=sc)
    # arm sizes in one allocation sentence sum to the enrolled total when no total is given
    arm_total: Optional[Found] = None
    for s in sents:
        arms = [c for c in cands if c.kind == "arm" and s.start <= c.start < s.end]
        if len(arms) >= 2 and _ALLOCATION_WORD_RE.search(s.text):
            tot = sum(c.value for c in arms)
            totals_here = [c for c in cands if s.start <= c.start < s.end and c.kind == "enrolled" and c.value == tot]
            if not totals_here:
                arm_total = Found(tot, arms[0].start, arms[-1].end, score=2.5)
                break
    if arm_total is None:
        arms_all = [c for c in cands if c.kind == "arm"]
        strong = [c for c in cands if c.kind == "enrolled" and c.score >= 2.5]
        if len(arms_all) >= 2 and not strong:
            first_sent = _sentence_at(doc, arms_all[0].start)
            same_part = [c for c in arms_all if (_sentence_at(doc, c.start) or first_sent).kind == (first_sent.kind if first_sent else None)]
            if len(same_part) >= 2:
                arm_total = Found(sum(c.value for c in same_part[:4]), same_part[0].start, same_part[-1].end, score=2.0)
    enrolled = [c for c in cands if c.kind == "enrolled"]
    if not enrolled and pair_total is None and arm_total is None:
        for c in cands:
            if c.kind == "analyzed" and _TOTAL_BEFORE_RE.search(doc.text[max(0, c.start - 20):c.start]):
                enrolled = [CountCand(c.value, c.start, c.end, max(c.score, 1.0), "enrolled")]
                cands = [x for x in cands if x is not c]
                break
    best: Optional[Found] = None
    if enrolled:
        top = max(enrolled, key=lambda c: (c.score, -c.start))
        if top.score >= 0:
            best = Found(top.value, top.start, top.end, score=top.score)
    for alt in (pair_total, arm_total):
        if alt is not None and (best is None or alt.score > best.score or (best.value < alt.value and alt.score >= best.score - 1 and _contains(alt, best))):
            best = alt
    # n_analyzed
    analyzed = None
    acands = [c for c in cands if c.kind == "analyzed"]
    for s in sents:
        m = _anchored_search(_COMPLETED_NUM_RE, s.text)
        if m:
            v = parse_number(m.group("num"))
            if v is not None and float(v).is_integer():
                acands.insert(0, CountCand(int(v), *_abs(s, m), 0, "analyzed"))
                break
    for s in sents:
        m = _COMPLETED_BY_RE.search(s.text)
        if m:
            v = parse_number(m.group("num") or m.group("num2"))
            if v is not None and float(v).is_integer():
                acands.insert(0, CountCand(int(v), *_abs(s, m), 0, "analyzed"))
            break
    if acands:
        c = acands[0]
        if best is None or c.value <= best.value:
            analyzed = Found(c.value, c.start, c.end)
    if analyzed is not None and best is not None and analyzed.value == best.value and not R.ALL_COMPLETED_RE.search(doc.text):
        analyzed = None
    if analyzed is None and best is not None:
        m = _search_sents([s for s in sents if s.kind != "title"], R.ALL_COMPLETED_RE)
        if m:
            s, mm = m
            analyzed = Found(best.value, *_abs(s, mm))
    if best is not None:
        s = _sentence_at(doc, best.start)
        best = Found(best.value, best.start, best.end)
    return best, analyzed


_SERIES_N_RE = re.compile(
    rf"\b(?:series of|we (?:describe|report|present)|reports? on|(?:case|cases) of) (?P<num>{R.NUMBER_PATTERN}) (?:\w+ ){{0,2}}?(?:patients|cases|case reports|women|men|children|adults|individuals|people|sisters|brothers|siblings|twins)\b",
    re.I,
)
_COMPLETED_NUM_RE = re.compile(
    rf"(?<![\d.])(?P<num>{R.NUMBER_PATTERN})\s*(?:\(\d+(?:\.\d+)?%\)\s*)?(?:(?:of them|of these|evaluable|eligible)\s+)?(?:(?:{R.PARTICIPANT_NOUN})\s+)?"
    r"(?:had been included|(?:were|was) (?:included in the (?:final )?analysis|analy[sz]ed|evaluable)|(?:finished|completed) (?:the )?(?:trial|study|protocol|treatment|questionnaire|follow-up|outcome questionnaires|both periods)|"
    r"filled in the (?:\w+ )?questionnaire|met the inclusion criteria|fulfil+ed (?:every|all|the) inclusion criteri\w+)",
    re.I,
)
_COMPLETED_BY_RE = re.compile(
    rf"\b(?:completed|finished)\s+by\s+(?P<num>{R.NUMBER_PATTERN})\b|\b(?:analy[sz]ed|evaluable|per-protocol) (?:population|set|sample)?\s*(?:of|was|were|comprised|included)?\s*\(?n\s*=\s*(?P<num2>\d+)",
    re.I,
)


def _contains(a: Found, b: Found) -> bool:
    return a.start <= b.start and b.end <= a.end


def _sentence_at(doc: Doc, pos: int) -> Optional[Sentence]:
    for s in doc.sentences:
        if s.start <= pos < s.end:
            return s
    return None


_REVIEW_PEOPLE_RE = re.compile(
    rf"\b(?:total(?: of)?|involving|including|comprising|with|enrolling|covering|describing|representing|encompassing|totall?ing)\s+(?P<num>{R.NUMBER_PATTERN})\s+(?:\w+\s+){{0,2}}?"
    rf"(?:patients|participants|subjects|individuals|people|adults|children|women|men)\b",
    re.I,
)
_STUDIES_PEOPLE_RE = re.compile(rf"\b(?:studies|trials|RCTs)\s*\((?P<num>{R.NUMBER_PATTERN}) (?:participants|patients|subjects|people)\)|\bwith (?P<num2>{R.NUMBER_PATTERN}) (?:participants|patients|subjects) in total", re.I)
_STUDIES_TRIALS_RE = re.compile(r"\b(?:studies|trials|RCTs)\b", re.I)
_INCLUDED_WORD_RE = re.compile(r"\b(?:included|inclusion|met|eligible|identified)\b", re.I)


def _review_participants(doc: Doc, sents: list[Sentence]) -> Optional[Found]:
    for s in sents:
        if s.kind not in ("results", "other", "methods", "conclusion"):
            continue
        m = _REVIEW_PEOPLE_RE.search(s.text)
        if m:
            v = parse_number(m.group("num"))
            if v is not None and v >= 2:
                return Found(int(v), *_abs(s, m, "num"))
        m = _STUDIES_PEOPLE_RE.search(s.text)
        if m:
            g = "num" if m.group("num") else "num2"
            v = parse_number(m.group(g))
            if v is not None and v >= 2:
                return Found(int(v), *_abs(s, m, g))
        if _STUDIES_TRIALS_RE.search(s.text) and _INCLUDED_WORD_RE.search(s.text):
            m = R.N_EQUALS_RE.search(s.text)
            if m:
                v = parse_number(m.group("num"))
                if v is not None and v >= 2:
                    return Found(int(v), *_abs(s, m))
    return None


_NO_NONE_BEFORE_RE = re.compile(r"\b(?:no|none)\b\s*$", re.I)
_LIST_OPEN_BEFORE_RE = re.compile(r"[(,]\s*$")
_STUDY_NOUN_RE = re.compile(r"\b(?:studies|trials|articles)\b", re.I)


def _decide_n_studies(doc: Doc, design: str) -> Optional[Found]:
    if design not in _REVIEWS:
        return None
    best = None
    for s in doc.sentences:
        if s.kind in ("background", "title") or not s.own:
            continue
        for m in R.N_STUDIES_OF_RE.finditer(s.text):
            v = parse_number(m.group("num"))
            if v is not None:
                c = Found(int(v), *_abs(s, m, "num"), score=5)
                if best is None or c.score > best.score:
                    best = c
        for m in _anchored_finditer(R.N_STUDIES_RE, s.text):
            v = parse_number(m.group("num"))
            if v is None or not float(v).is_integer() or v < 1:
                continue
            a = m.start()
            before = s.text[max(0, a - 30):a]
            if _LIST_OPEN_BEFORE_RE.search(before) and _STUDY_NOUN_RE.search(before):
                continue  # a sub-count in a list after the total
            ctx = s.text[max(0, a - 60):m.end() + 60]
            sc = 0.0
            if R.STUDY_INCLUDED_CUE_RE.search(ctx):
                sc += 3
            if R.STUDY_SCREEN_CUE_RE.search(s.text[max(0, a - 40):m.end() + 40]):
                sc -= 5
            if _NO_NONE_BEFORE_RE.search(before):
                continue
            if s.kind == "results":
                sc += 1
            c = Found(int(v), *_abs(s, m, "num"), score=sc)
            if sc > 0 and (best is None or c.score > best.score):
                best = c
    return best


_RCT_NOUN = r"(?:RCTs?|randomi[sz]ed(?:[- ](?:controlled|clinical|placebo[- ]controlled))?(?: clinical)? (?:trials?|studies))"
_RCT_COUNT_RE = re.compile(rf"(?P<num>\b[\w,-]+)\s+(?:double[- ]blind(?:ed)?\s+)?{_RCT_NOUN}", re.I)
_RCT_ANY_RE = re.compile(rf"\b{_RCT_NOUN}", re.I)
_NONRANDOM_STUDY_RE = re.compile(
    r"\b(?:observational|pre[- ]?post|before[- ]and[- ]after|case (?:reports?|series)|cohort|retrospective|"
    r"uncontrolled|open[- ]label|single[- ]arm|chart reviews?|cross[- ]sectional|pilot (?:trials|studies))\b", re.I)
_ELIGIBILITY_RE = re.compile(r"\b(?:eligible if|were eligible|eligibility|we searched|searches? (?:of|in)|"
                            r"included (?:studies|trials) (?:that|which|if))\b", re.I)
_NEGATED_BEFORE_RE = re.compile(r"\b(?:no|not|without|nor|zero|any)\s+(?:\w+\s+){0,2}$", re.I)
_OF_RCTS_TITLE_RE = re.compile(rf"\b(?:meta-analysis|systematic review|review)\s+of\s+(?:\w+\s+)?{_RCT_NOUN}", re.I)


def _decide_pooled_rcts(doc: Doc, design: str, n_studies: Optional[int]) -> Optional[Found]:
    """Reviews only: did it pool randomized trials (True), non-randomized studies (False), or unsaid?

    Read from the sentence that describes the included studies: "five RCTs" (True), "four
    observational pre-post studies" (False), "four pilot trials, two case series ... and one RCT"
    (False: RCTs are a minority). The verdict's pooled-evidence rule counts trials only when True.
    """
    if design not in ("systematic_review", "meta_analysis"):
        return None
    title = next((x for x in doc.sentences if x.kind == "title"), None)
    if title is not None:
        m = _OF_RCTS_TITLE_RE.search(title.text)
        if m:
            return Found(True, *_abs(title, m))
    # What was found (results) outranks what was sought (methods); eligibility criteria name
    # the designs a review would have accepted, not the ones it found.
    candidates = sorted((x for x in doc.sentences if x.own and x.kind not in ("background", "title", "objective")),
                        key=lambda x: (x.kind != "results", x.index))
    for s in candidates:
        if not R.STUDY_INCLUDED_CUE_RE.search(s.text) or _ELIGIBILITY_RE.search(s.text):
            continue
        rct = _RCT_ANY_RE.search(s.text)
        if rct is not None and _NEGATED_BEFORE_RE.search(s.text[max(0, rct.start() - 30):rct.start()]):
            return Found(False, *_abs(s, rct))  # "found no randomised controlled trials"
        other = _NONRANDOM_STUDY_RE.search(s.text)
        if rct is None and other is None:
            continue
        count = _RCT_COUNT_RE.search(s.text)
        rct_num = parse_number(count.group("num")) if count else None
        if rct is not None and other is None:
            return Found(True, *_abs(s, rct))
        if rct is None:
            return Found(False, *_abs(s, other))
        # both kinds named: the RCTs must be at least half of the included studies
        if rct_num is not None and n_studies:
            return Found(rct_num * 2 >= n_studies, *_abs(s, count))
    return None


# ====================================================================== duration
def _to_weeks(v: float, unit: str) -> Optional[float]:
    u = unit.lower()
    if u.startswith("w"):
        return v
    if u.startswith("mo"):
        return round(v * 4.33, 2)
    if u.startswith("d"):
        return round(v / 7.0, 2)
    if u.startswith("y"):
        return round(v * 52.0, 2)
    if u.startswith("h"):
        return round(v / 168.0, 2)
    return None


_LONG_RE = re.compile(r"\b(?:a|one|an?)\s+(?P<unit>week|month|day)-long\b", re.I)
_TREATMENT_CONTEXT_RE = re.compile(r"\b(?:randomi[sz]ed|assigned|allocated|received|took|treated|given|administered|trial|study|placebo|naltrexone|LDN|drug)\b", re.I)
_TREATED_FOR_BEFORE_RE = re.compile(r"\b(?:treated|treatment|therapy|continued|maintained on)\s+for\s*$", re.I)
_EXTENSION_BEFORE_RE = re.compile(r"\b(?:further|additional|extension|open-label|follow-up|another)\s*$", re.I)
_AT_TIMEPOINT_BEFORE_RE = re.compile(r"\b(?:baseline to|at)\s*$", re.I)
_AGE_AFTER_RE = re.compile(r"^[\s-]*(?:old|of age)\b", re.I)
_AGED_BEFORE_RE = re.compile(r"\baged?\s*$", re.I)
_DRUG_BEFORE_RE = re.compile(r"\b(?:LDN|naltrexone|NTX|drug|medication)\b[^.;,]{0,30}$", re.I)
_FOR_BEFORE_RE = re.compile(r"\bfor\s*$", re.I)
_OVER_BEFORE_RE = re.compile(r"\bover\s+$")
_IN_TOTAL_AFTER_RE = re.compile(r"^\s*in total", re.I)
# A dose schedule or a recruitment period is not the treatment's length: "titrated to 4.5 mg over
# 4 weeks", "increased to 4.5 mg at week 4", "recruited over 9 months" (but "titrated to 4.5 mg,
# for 3 months" is the treatment's length).
_SCHEDULE_BEFORE_RE = re.compile(
    r"\b(?:titrat\w*|up-?titrat\w*|escalat\w*|increased|raised|uptitrated)\b(?:[^.;]|\.(?=\d)){0,45}"
    r"\b(?:over|within|during|in|by|at)\s+(?:the\s+)?(?:first\s+)?$|"
    r"\b(?:recruited|enrolled|recruitment|enrolment|enrollment|screened|identified)\b[^.;]{0,25}$", re.I)
# "then continued to week 12", "treated through week 24": the end of treatment.
_FOLLOW_UP_BEFORE_RE = re.compile(r"\bfollow[- ]?up\b", re.I)
_CONTINUED_TO_BEFORE_RE = re.compile(r"\b(?:continued|maintained|treated|treatment)\s+(?:to|until|through|up to)\s+$", re.I)
_OUTCOME_CONTEXT_RE = re.compile(r"\b(?:primary|main|outcome|end ?point|score|at)\b", re.I)


def _decide_duration(doc: Doc, design: str) -> Optional[Found]:
    if design in _REVIEWS or design == "animal_or_in_vitro":
        return None
    cands: list[Found] = []
    for s in doc.sentences:
        if not s.own and s.kind != "methods":
            continue
        t = s.text
        for m in _anchored_finditer(R.DURATION_RE, t):
            v = parse_number(m.group("num"))
            if v is None or v <= 0:
                continue
            unit = m.group("unit")
            a, b = m.start(), m.end()
            if m.group("num2"):
                continue  # a range ("2 to 3 days") is not a fixed treatment length
            if a > 0 and t[a - 1] in "-–" and a > 1 and t[a - 2].isdigit():
                continue
            before = t[max(0, a - 45):a]
            after = t[b:b + 70]
            if _AGE_AFTER_RE.match(after) or _AGED_BEFORE_RE.search(before):
                continue
            sc = 0.0
            if R.DUR_GOOD_BEFORE_RE.search(before):
                sc += 1.5
            if R.DUR_GOOD_AFTER_RE.search(after):
                sc += 2.0
            if R.DUR_BAD_AFTER_RE.search(after):
                sc -= 4.0
            if R.DUR_BAD_BEFORE_RE.search(before):
                sc -= 3.0
            if _DRUG_BEFORE_RE.search(before) and _FOR_BEFORE_RE.search(before):
                sc += 1.0
            if _OVER_BEFORE_RE.search(before) and _IN_TOTAL_AFTER_RE.search(after):
                sc += 1
            if _TREATMENT_CONTEXT_RE.search(t):
                sc += 0.5
            if s.kind in ("methods", "title", "objective"):
                sc += 0.5
            if unit.lower().startswith("y") and sc < 3:
                sc -= 2
            if unit.lower().startswith("h") and not _FOR_BEFORE_RE.search(before):
                continue
            if _TREATED_FOR_BEFORE_RE.search(before):
                sc += 1.0
            if s.kind == "conclusion":
                sc -= 1.5
            if _EXTENSION_BEFORE_RE.search(before):
                sc -= 2.5
            if _SCHEDULE_BEFORE_RE.search(before):
                sc -= 3.0
            w = _to_weeks(v, unit)
            if w is None:
                continue
            cands.append(Found(w, s.start + a, s.start + b, score=sc))
        for m in _LONG_RE.finditer(t):
            after = t[m.end():m.end() + 60]
            sc = 1.0 + (2.0 if R.DUR_GOOD_AFTER_RE.search(after) else 0)
            w = _to_weeks(1, m.group("unit"))
            cands.append(Found(w, s.start + m.start(), s.start + m.end(), score=sc))
        for m in R.DURATION_MONTH_N_RE.finditer(t):
            v = parse_number(m.group("num"))
            if v is None:
                continue
            before = t[max(0, m.start() - 40):m.start()]
            after = t[m.end():m.end() + 40]
            sc = 0.5
            if _OUTCOME_CONTEXT_RE.search(before + after) or R.PRIMARY_RE.search(t):
                sc += 1.5
            if _AT_TIMEPOINT_BEFORE_RE.search(before):
                sc += 0.5
            if _CONTINUED_TO_BEFORE_RE.search(before) and not _FOLLOW_UP_BEFORE_RE.search(before):
                sc += 2.5
            if _SCHEDULE_BEFORE_RE.search(before):
                sc -= 3.0
            w = _to_weeks(v, m.group("unit"))
            if w is None:
                continue
            cands.append(Found(w, s.start + m.start(), s.start + m.end(), score=sc))
    if not cands:
        return None
    need = 1.5
    if design in ("case_report", "case_series", "observational"):
        need = 2.5
    best = max(cands, key=lambda c: (c.score, -c.start))
    if best.score < need:
        return None
    return best


# ====================================================================== condition
_PAIN_RE = re.compile(r"\bpain\b", re.I)


def _decide_condition(doc: Doc) -> Optional[Found]:
    title = doc.title
    for name, rx in R.CONDITION_RES:
        m = rx.search(title.text) if title.text else None
        if m:
            # "multiple sclerosis" beats "MS" ambiguity; "cancer" in title beats "pain" etc.
            if name == "chronic_pain":
                continue
            return Found(name, title.start + m.start(), title.start + m.end())
    if title.text:
        m = R.CONDITION_RES[-1][1].search(title.text)
        if m:
            return Found("chronic_pain", title.start + m.start(), title.start + m.end())
    counts: dict[str, tuple[int, int, int]] = {}
    order = {name: i for i, (name, _) in enumerate(R.CONDITIONS)}
    present = [(name, rx) for name, rx in R.CONDITION_RES if rx.search(doc.text)]
    for s in doc.sentences:
        if s.kind == "title":
            continue
        w = 2 if s.own and s.kind in ("methods", "objective", "results") else 1
        for name, rx in present:
            for m in rx.finditer(s.text):
                c, a, b = counts.get(name, (0, s.start + m.start(), s.start + m.end()))
                counts[name] = (c + w, a, b)
    if title.text:
        m = R.CONDITION_RES[-1][1].search(title.text)
        if m and not counts:
            return Found("chronic_pain", title.start + m.start(), title.start + m.end())
    if not counts:
        if title.text and _PAIN_RE.search(title.text):
            m = _PAIN_RE.search(title.text)
            return Found("chronic_pain", title.start + m.start(), title.start + m.end())
        return None
    name, (c, a, b) = max(counts.items(), key=lambda kv: (kv[1][0], -order[kv[0]]))
    if c < 2:
        return None
    return Found(name, a, b)


# ====================================================================== result direction
_AIM_RE = re.compile(
    r"\b(?:examines|examined|investigates|investigated|assesses|evaluates|tests?|tested|explores?) whether\b|"
    r"\b(?:aim(?:ed|s)?|sought|set out|designed|intended|goal (?:was|is)|objective (?:was|is)|purpose (?:was|is)) to\b|"
    r"^(?:to|we aimed to) (?:assess|evaluate|determine|establish|examine|investigate|test|compare)\b",
    re.I,
)
_METHOD_SENTENCE_RE = re.compile(r"\b(?:enrolled|randomi[sz]ed|included|recruited|were treated|we (?:present|describe|report|reviewed|examined|measured|assessed)|took part|participated|trial|study)\b", re.I)


def _result_sents(doc: Doc) -> tuple[list[Sentence], list[Sentence]]:
    """(results sentences, conclusion sentences)."""
    res = doc.kinds("results")
    con = [s for s in doc.kinds("conclusion")]
    if not res and (con or doc.structured):
        res = [s for s in doc.kinds("other") if s.own and not _AIM_RE.search(s.text)]
    if res or con:
        return res, con
    if doc.structured and len({s.kind for s in doc.sentences if s.kind != "title"}) > 1:
        return [], []  # labelled abstract that stops before its results
    # unstructured: the sentences after the first method-like sentence; last two are conclusions
    body = [s for s in doc.sentences if s.kind != "title" and s.own and not _AIM_RE.search(s.text)]
    if not body:
        return [], []
    k = 1 if len(body) > 3 else 0
    for i, s in enumerate(body[:-2]):
        if _METHOD_SENTENCE_RE.search(s.text):
            k = i
            break
    rest = body[k:]
    if len(rest) <= 2:
        return rest, rest[-1:]
    # the last sentence concludes; the one before it too when it speaks as a conclusion
    n_con = 2 if _CONCLUDING_RE.search(rest[-2].text) else 1
    return rest[:-n_con], rest[-n_con:]


_CONCLUDING_RE = re.compile(
    r"\b(?:we conclude|in conclusion|these (?:findings|results|data) (?:suggest|indicate|show|support)|"
    r"(?:may|might|could) (?:be|offer|represent|help|relieve|improve|reduce)|appears? to|seems? to|"
    r"should be (?:considered|aware)|deserves?|warrants?)\b", re.I)
# "primary outcome was the MFIS score": the sentence names the outcome; it reports no result
_PRIMARY_DEF_RE = re.compile(
    r"^(?:the |our |a )?(?:co-?)?(?:primary|main) (?:efficacy )?(?:outcomes?|end ?points?|measures?)(?: measures?)? (?:was|were|is|are|included|consisted of)\b",
    re.I)
_CI_RE = re.compile(
    r"\b95\s*%?\s*(?:CI|confidence interval)[:,]?\s*(?P<a>[-−–]?\s?\d+(?:[.·]\d+)?)\s*(?:to|,|;|–|-(?=\s?\d))\s*(?P<b>[-−–]?\s?\d+(?:[.·]\d+)?)",
    re.I)
_RATIO_LABEL_RE = re.compile(r"\b(?:RR|OR|HR|IRR|risk ratio|odds ratio|hazard ratio|rate ratio|relative risk)\b", re.I)
_WHITESPACE_RE = re.compile(r"\s")


def _ci_verdicts(t: str) -> tuple[int, int]:
    """(CIs excluding no-effect, CIs spanning no-effect): 0 for differences, 1 for labelled ratios."""
    excl = span = 0
    for m in _CI_RE.finditer(t):
        try:
            a = float(_WHITESPACE_RE.sub("", m.group("a")).replace("−", "-").replace("–", "-").replace("·", "."))
            b = float(_WHITESPACE_RE.sub("", m.group("b")).replace("−", "-").replace("–", "-").replace("·", "."))
        except ValueError:
            continue
        lo, hi = min(a, b), max(a, b)
        ctx = t[max(0, m.start() - 40):m.end() + 25]
        if _RATIO_LABEL_RE.search(ctx) and lo > 0:
            null_value = 1.0
        elif lo < 0:
            null_value = 0.0
        else:
            continue
        if lo < null_value < hi:
            span += 1
        else:
            excl += 1
    return excl, span


_ACRONYM_RE = re.compile(r"\(([A-Z][A-Za-z]*[A-Z][A-Za-z0-9-]*)\)|\b([A-Z]{3,}(?:-\d+)?)\b")
_RESULT_SHIFT_RE = re.compile(r"\b(?:but|whereas|while|however|although|yet)\b|[,;:]")
_DECHALLENGE_AFTER_RE = re.compile(
    r"[^.;]{0,40}?\b(?:of|after|on|upon|following) (?:stopping|discontinu\w+|withdraw\w+|cessation|ceasing)\b", re.I)


@lru_cache(maxsize=1024)
def _word_rx(word: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(word)}\b")


# "The primary outcome was [the mean change in] drinks per drinking day (at week 8 ...)": the name.
_PRIMARY_NAME_RE = re.compile(
    r"\b(?:co-?)?(?:primary|main) (?:efficacy )?(?:outcomes?|end ?points?|measures?)(?: measures?)? (?:was|were|is|are)\s+"
    r"(?:the\s+)?(?:(?:mean|change in|changes in|proportion of|number of|rate of)\s+)*"
    r"(?P<name>[A-Za-z][\w'’/-]*(?:\s+[\w'’/-]+){0,5}?)\s*(?=\(|,|;|:|\.(?:\s|$)|\s(?:at|over|from|after|during|on|in|measured|assessed|defined)\b|$)",
    re.I)


def _primary_outcome_result(defs: list[Sentence], res: list[Sentence]) -> Optional[tuple[Sentence, int]]:
    """The results sentence that reports the named primary outcome, and where in it the outcome is
    named: by the outcome's own words ("primary outcome was clinical response" ... "Clinical response
    was achieved by 59% ... (P = 0.02)"), else by its acronym ("the MADRS" ... "MADRS scores fell")."""
    for s in defs:
        if not _PRIMARY_DEF_RE.search(s.text):
            continue
        later = [r for r in res if r is not s and r.index >= s.index]
        m = _PRIMARY_NAME_RE.search(s.text)
        name = m.group("name").strip().lower() if m else ""
        if len(name) >= 6:
            for r in later:
                at = r.text.lower().find(name)
                if at >= 0 and (R.P_VALUE_RE.search(r.text, at) or _CI_RE.search(r.text, at)):
                    return r, at
        names = {a or b for a, b in _ACRONYM_RE.findall(s.text)} - {"LDN", "NTX", "CI", "SD", "RCT"}
        if not names:
            return None
        for r in later:
            hits = [h for n in names for h in [_word_rx(n).search(r.text)] if h]
            if hits and (R.P_VALUE_RE.search(r.text) or _CI_RE.search(r.text)):
                return r, min(h.start() for h in hits)
        return None
    return None


_NONINFERIORITY_RE = re.compile(r"\bnon-?inferior\w*|\bequivalence (?:trial|margin|design)", re.I)


def _primary_significant(t: str, at: int) -> Optional[bool]:
    """Whether the first p-value or confidence interval after the outcome's name (at ``at``) shows a
    difference; None when neither follows it."""
    p = R.P_VALUE_RE.search(t, at)
    ci = _CI_RE.search(t, at)
    if p is not None and (ci is None or p.start() < ci.start()):
        return p.group("op") in ("<", "≤", "&lt;") or float(p.group("val").replace("·", ".")) < 0.05
    if ci is not None:
        excl, span = _ci_verdicts(t[max(0, ci.start() - 40):ci.end()])
        return bool(excl) and not span
    return None


_NEGATION_BEFORE_RE = re.compile(r"\b(?:no|not|nor|neither|without|lack of|failed to|did not|didn't)\b[^,;]{0,25}$", re.I)
_EFFECT_NOUN_BEFORE_RE = re.compile(r"\b(?:efficacy|effects?|benefits?)\s+$", re.I)
_THAT_WHICH_AFTER_RE = re.compile(r"\s*(?:that|which)\b")


def _sentence_polarity(t: str) -> tuple[int, int, int]:
    """(favourable, null, unfavourable) cue counts in one sentence, negation-aware."""
    null_spans = list(R.NULL_RE.finditer(t))
    nul = len(null_spans)
    unf = len(R.UNFAV_RE.findall(t))
    fav = 0
    unf_spans = [(u.start(), u.end()) for u in R.UNFAV_RE.finditer(t)]
    for m in R.FAV_RE.finditer(t):
        if any(a <= m.start() < b for a, b in unf_spans):
            continue
        pre = t[max(0, m.start() - 30):m.start()]
        if _NEGATION_BEFORE_RE.search(pre):
            continue
        if _EFFECT_NOUN_BEFORE_RE.search(pre):
            continue  # "its efficacy fell" is a loss of effect, not an improvement
        # inside or right after a null statement in the same clause: "was not associated with reduced
        # use", "a trend toward benefit that did not reach significance"
        if any(n.start() <= m.start() < n.end() + 3 or (n.end() <= m.start() and not _RESULT_SHIFT_RE.search(t[n.end():m.start()]) and m.start() - n.end() < 20)
               for n in null_spans):
            continue
        if any(n.start() > m.end() and n.start() - m.end() < 25 and _THAT_WHICH_AFTER_RE.match(t[m.end():]) and not _RESULT_SHIFT_RE.search(t[m.end():n.start()])
               for n in null_spans):
            continue
        if _DECHALLENGE_AFTER_RE.match(t, m.end()):
            continue  # "symptoms resolved within 5 days of stopping the drug"
        fav += 1
    sig = len(R.SIG_FAV_RE.findall(t))
    ps = [float(p.group("val").replace("·", ".")) for p in R.P_VALUE_RE.finditer(t) if p.group("op") in ("=", ">", "≥", "&gt;")]
    plow = [p for p in R.P_VALUE_RE.finditer(t) if p.group("op") in ("<", "≤", "&lt;") or (p.group("op") == "=" and float(p.group("val").replace("·", ".")) < 0.05)]
    ci_excl, ci_span = _ci_verdicts(t) if "CI" in t or "confidence" in t else (0, 0)
    if ps and all(p >= 0.05 for p in ps) and not plow:
        nul += 1
    elif ci_span and not ci_excl and not plow:
        nul += 1
    if (plow or ci_excl) and fav:
        fav += 1
    return fav + sig, nul, unf


_SAFE_RE = re.compile(r"\bwell[- ]tolerated\b|\bsafe\b(?! to say)|\bno serious adverse", re.I)


def _pick(fallback: list, *xs):
    for x in xs:
        if x is not None:
            return x
    return fallback[0]


_PARTIAL_EFFECT_RE = re.compile(r"\b(?:for|in) some\b|\bsome (?:people|patients)|\bsubgroup|\bsubset|\byet\b|\bbut not\b", re.I)


def _decide_result(doc: Doc, design: str) -> Optional[Found]:
    if design in _NON_RESULT_DESIGNS:
        s = doc.title if doc.title.text else next((x for x in doc.sentences if x.text), doc.title)
        return Found("not_applicable", s.start, s.end)
    res, con = _result_sents(doc)
    if not res and not con:
        return None
    # primary outcome sentence, if the abstract names it with its result
    found_prim = _primary_outcome_result([x for x in doc.own() if x.kind != "title"], res)
    if found_prim is not None:
        prim, at = found_prim
        ps = list(R.P_VALUE_RE.finditer(prim.text))
        sig = [p for p in ps if p.group("op") in ("<", "≤", "&lt;") or float(p.group("val").replace("·", ".")) < 0.05]
        significant = _primary_significant(prim.text, at)
        # in a non-inferiority or equivalence trial no difference is the success, not a null result
        if not sig and not significant and not R.UNFAV_RE.search(prim.text) and not _NONINFERIORITY_RE.search(doc.text):
            return Found("null", prim.start, prim.end)
        # the primary outcome differs between groups: the direction is this sentence's words about it,
        # or the conclusion's when the sentence gives only numbers ("FSS 4.9 vs 5.4, p = 0.04")
        if significant:
            window = prim.text[max(0, at - 60):at + 160]
            fav, nul, unf = _sentence_polarity(window)
            if not unf:
                cf = cn = cu = 0
                for c in con:
                    if R.FUTURE_NEED_RE.search(c.text) and not R.FAV_RE.search(c.text):
                        continue
                    f_, n_, u_ = _sentence_polarity(c.text)
                    cf, cn, cu = cf + f_, cn + n_, cu + u_
                if (fav and not nul) or cf > cn + cu:
                    return Found("favorable", prim.start, prim.end)
    for s in res:
        if R.PRIMARY_RE.search(s.text):
            if _PRIMARY_DEF_RE.search(s.text) and not R.P_VALUE_RE.search(s.text):
                continue
            ps = [p for p in R.P_VALUE_RE.finditer(s.text)]
            if ps:
                sig = [p for p in ps if p.group("op") in ("<", "≤", "&lt;") or float(p.group("val").replace("·", ".")) < 0.05]
                if not sig and not R.UNFAV_RE.search(s.text):
                    return Found("null", s.start, s.end)
            fav, nul, unf = _sentence_polarity(s.text)
            if nul and not fav:
                return Found("null", s.start, s.end)
            if fav and not nul and not unf:
                return Found("favorable", s.start, s.end)
    # p-values decide when the results give them: all between-group tests >= .05 -> null
    pvals = [(s, p) for s in res for p in R.P_VALUE_RE.finditer(s.text)]
    if pvals and not any(R.SIG_FAV_RE.search(s.text) for s in res):
        sig = [p for _, p in pvals if p.group("op") in ("<", "≤", "&lt;") or float(p.group("val").replace("·", ".")) < 0.05]
        if not sig and not any(R.UNFAV_RE.search(s.text) for s in res):
            s = pvals[0][0]
            return Found("null", s.start, s.end)
    tf = tn = tu = 0.0
    best_f = best_n = best_u = None
    hedge = 0
    for s in res:
        fav, nul, unf = _sentence_polarity(s.text)
        tf += fav
        tn += nul
        tu += unf
        if fav and best_f is None:
            best_f = s
        if nul and best_n is None:
            best_n = s
        if unf and best_u is None:
            best_u = s
    cf = cn = cu = 0.0
    cbest_f = cbest_n = None
    for s in con:
        if R.FUTURE_NEED_RE.search(s.text) and not R.FAV_RE.search(s.text):
            continue
        fav, nul, unf = _sentence_polarity(s.text)
        cf += fav
        cn += nul
        cu += unf
        if R.HEDGE_MIXED_RE.search(s.text) and fav and (nul or unf or _PARTIAL_EFFECT_RE.search(s.text)):
            hedge += 1
        if fav and cbest_f is None:
            cbest_f = s
        if nul and cbest_n is None:
            cbest_n = s
    F = tf + 2 * cf
    N = tn + 2 * cn
    U = tu + 2 * cu
    if F == 0 and N == 0 and U == 0:
        safe = _search_sents(res + con, _SAFE_RE)
        if safe:
            s, _m = safe
            return Found("favorable", s.start, s.end)
        if res and design in ("observational",):
            # results without any efficacy judgement: a descriptive study
            return Found("not_applicable", res[0].start, res[0].end)
        return None
    if U > F and U >= N:
        s = _pick(res + con, best_u, cbest_f, best_f)
        return Found("unfavorable", s.start, s.end)
    if F > 0 and U > 0 and min(F, U) / max(F, U) >= 0.3:
        s = _pick(res + con, cbest_n, best_u, best_f)
        return Found("mixed", s.start, s.end)
    if hedge and F > 0:
        s = _pick(res + con, next((x for x in con if R.HEDGE_MIXED_RE.search(x.text)), None), cbest_f, best_f)
        return Found("mixed", s.start, s.end)
    if F > 0 and N > 0:
        ratio = min(F, N) / max(F, N)
        if ratio >= 0.5:
            s = _pick(res + con, cbest_n, best_n, cbest_f, best_f)
            return Found("mixed", s.start, s.end)
    if N > F:
        s = _pick(res + con, cbest_n, best_n)
        return Found("null", s.start, s.end)
    s = _pick(res + con, cbest_f, best_f)
    return Found("favorable", s.start, s.end)


# ====================================================================== harm
_HARM_NEGATED_AFTER_RE = re.compile(r"^\s*(?:were|was)\s+(?:not|never)\b|^\s*(?:did not|were absent|was absent)", re.I)
_HARM_UNRELATED_RE = re.compile(r"\b(?:placebo group|in the placebo|with placebo|unrelated|not related|not attributable)\b", re.I)
_CONTRAST_SPLIT_RE = re.compile(r"[;,]\s*(?:but|while|whereas)\b|\.\s")


def _decide_harm(doc: Doc) -> Optional[Found]:
    for s in doc.own():
        if s.kind in ("background", "title", "objective", "methods"):
            continue
        for m in R.SERIOUS_HARM_RE.finditer(s.text):
            pre = s.text[max(0, m.start() - 60):m.start()]
            pre = _CONTRAST_SPLIT_RE.split(pre)[-1]
            if R.HARM_NEGATION_RE.search(pre):
                continue
            post = s.text[m.end():m.end() + 40]
            if _HARM_NEGATED_AFTER_RE.match(post):
                continue
            if _HARM_UNRELATED_RE.search(s.text[m.start():m.end() + 80]):
                continue
            return Found(True, *_abs(s, m))
    return None


# ====================================================================== quality
_RAND_METHOD_RE = re.compile(r"\b(?:computer(?:ised|ized)?[- ]generated|computeri[sz]ed (?:algorithm|randomi[sz]ation)|random number|block randomi[sz]ation|permuted blocks?|stratified randomi[sz]ation|sealed (?:opaque )?envelopes?|central(?:ised|ized)? randomi[sz]ation|minimi[sz]ation)\b", re.I)
_BLIND_METHOD_RE = re.compile(r"\b(?:identical(?:[- ]appearing)? (?:appearance|capsules?|tablets?|placebo|pills?)|of identical appearance|matching placebo|indistinguishable|identical capsules|double-dummy)\b", re.I)
_DROPOUT_RE = re.compile(r"\b(?:lost to follow-?up|dropped out|drop-?outs?|withdr(?:ew|awals?)|discontinu\w+|completed (?:the )?(?:study|trial)|finished the (?:study|trial)|attrition)\b", re.I)
_ITT_RE = re.compile(r"\bintention[- ]to[- ]treat\b|\bITT\b", re.I)
_UNCONTROLLED_STUDIES_RE = re.compile(r"\bno randomi[sz]ed|pre-post|uncontrolled|observational\b", re.I)


def _quality(doc: Doc, a: dict) -> tuple[int, tuple[str, ...], tuple[str, ...]]:
    items: list[str] = []
    lim: list[str] = []
    design = a["design"]
    own_text = " ".join(s.text for s in doc.own())
    if design in ("systematic_review", "meta_analysis"):
        if R.SEARCH_RE.search(own_text) or R.SYSTEMATIC_RE.search(own_text):
            items.append("systematic search (+1)")
        if design == "meta_analysis":
            items.append("pooled analysis (+1)")
        if a["n_studies"] is not None and a["n_studies"] >= 5:
            items.append("≥ 5 studies (+1)")
        if a["n_enrolled"] is not None and a["n_enrolled"] >= 400:
            items.append("≥ 400 participants pooled (+1)")
        if a["n_studies"] is not None and a["n_studies"] < 5:
            lim.append(f"{a['n_studies']} studies")
        if _UNCONTROLLED_STUDIES_RE.search(own_text):
            lim.append("includes uncontrolled or observational studies")
    else:
        if a["randomized"] is True:
            items.append("randomized (+1)")
            if _RAND_METHOD_RE.search(own_text):
                items.append("randomization method described (+1)")
        if a["blinding"] in ("double", "triple"):
            items.append(f"{a['blinding']}-blind (+1)")
            if _BLIND_METHOD_RE.search(own_text):
                items.append("blinding method described (+1)")
        if a["control"] == "placebo":
            items.append("placebo-controlled (+1)")
        elif a["control"] in ("active", "usual_care", "waitlist"):
            items.append(f"{a['control'].replace('_', ' ')} control (+1)")
        if _DROPOUT_RE.search(own_text) or a["n_analyzed"] is not None:
            items.append("dropouts reported (+1)")
        if _ITT_RE.search(own_text):
            items.append("intention-to-treat (+1)")
        n = a["n_enrolled"]
        if n is not None and n >= 100:
            items.append("n ≥ 100 (+1)")
        d = a["duration_weeks"]
        if d is not None and d >= 12:
            items.append("≥ 12 weeks (+1)")
    # limitations in plain words
    if design == "protocol":
        lim.append("protocol, no results yet")
    if design == "narrative_review":
        lim.append("narrative review, no systematic search")
    if design == "animal_or_in_vitro":
        lim.append("animal or laboratory study, not patients")
    if design == "case_report":
        lim.append("single case")
    if design == "secondary_analysis":
        lim.append("secondary analysis of earlier data")
    if design not in _REVIEWS and design not in ("protocol", "animal_or_in_vitro"):
        if a["blinding"] == "none":
            lim.append("open-label")
        elif a["blinding"] == "single":
            lim.append("single-blind")
        elif a["blinding"] is None and design in ("rct_parallel", "rct_crossover", "nonrandomized_controlled"):
            lim.append("blinding not stated")
        if a["control"] == "none":
            lim.append("no control group")
        if design == "nonrandomized_controlled":
            lim.append("not randomized")
        if design in ("rct_parallel", "rct_crossover") and a["randomized"] is None:
            lim.append("randomization not described in the abstract")
        if design in ("observational", "case_series") and R.CHART_REVIEW_RE.search(own_text):
            lim.append("retrospective")
        n = a["n_enrolled"]
        if n is not None and n < 100 and design != "case_report":
            lim.append(f"n = {n}")
        elif n is None and design != "case_report":
            lim.append("sample size not stated")
        d = a["duration_weeks"]
        if d is not None and d < 12:
            lim.append(f"{_fmt_weeks(d)} of treatment")
    if a["is_ldn"] is False:
        lim.append("not low-dose naltrexone")
    if a["result_direction"] is None and design not in ("protocol",):
        lim.append("results not reported in the abstract")
    score = len(items)
    return score, tuple(items), tuple(dict.fromkeys(lim))


def _fmt_weeks(d: float) -> str:
    if abs(d - round(d)) < 0.05:
        k = int(round(d))
        return f"{k} week" + ("s" if k != 1 else "")
    return f"{d:g} weeks"


# ====================================================================== main entry points
_ACTIVE_COMPARATOR_RE = re.compile(r"\bactive (?:control|comparator)", re.I)


_OTHER_COMPARATORS_RE = re.compile(
    r"\bplacebo\b[^.;]{0,40}\b(?:or|and)\b[^.;]{0,30}\b(?:no (?:treatment|medication|intervention)|other (?:treatments?|drugs?|interventions?|medications?)|usual care|active (?:comparators?|controls?|treatments?))\b",
    re.I)


def assess_text(
    title: str,
    abstract: str,
    *,
    pmid: Optional[str] = None,
    publication_types: Sequence[str] = (),
    mesh_terms: Sequence[str] = (),
    keywords: Sequence[str] = (),
    registry_ids: Sequence[str] = (),
) -> DesignAssessment:
    """Assess one record from its title and abstract text (plus PubMed metadata if known)."""
    doc = _build_doc(title or "", abstract or "", publication_types, registry_ids, mesh_terms, keywords)
    evidence: list[Evidence] = []

    def put(name: str, found: Optional[Found]):
        if found is None or found.value is None:
            return None
        a, b = found.start, found.end
        s = _sentence_at(doc, a)
        if s is not None and (b - a) < 12:
            a, b = _clause_span(doc, s, a, b, max_len=160) if (s.end - s.start) > 160 else (s.start, s.end)
        if a >= b:
            a, b = 0, max(1, len(doc.title.text))
        b = min(b, len(doc.text))
        evidence.append(Evidence(name, doc.text[a:b], a, b))
        return found.value

    ldn_found = _decide_ldn(doc)
    facts = _facts(doc)
    # a first look at the sample size helps tell reviews from studies and reports from series
    pre_n, pre_nan = _decide_n_enrolled(doc, "other", facts)
    design_found = _decide_design(doc, facts, pre_n.value if pre_n else None)
    if design_found.value == "animal_or_in_vitro" and ldn_found is not None and _cells_only(doc):
        ldn_found = None  # in vitro exposure: neither a low nor a standard dose applies
    is_ldn = put("is_ldn", ldn_found)
    design = put("design", design_found)

    randomized = blinding = control = None
    if design in ("systematic_review", "meta_analysis"):
        # the review question's comparator, when it names only placebo
        # (the review's own question names trials in the plural: "placebo-controlled randomized trials")
        # and not a review that also took other comparators ("compared with placebo, no medication or
        # other treatments"), nor placebo named only in what the review found
        question = [x for x in _design_sents(doc) if x.kind not in ("results", "conclusion")]
        placebo = None
        for x in question:
            pm = R.PLACEBO_RE.search(x.text)
            if pm and not _OTHER_COMPARATORS_RE.search(x.text):
                placebo = Found(True, *_abs(x, pm))
                break
        if placebo and not facts.active and not _ACTIVE_COMPARATOR_RE.search(doc.text):
            control = put("control", Found("placebo", placebo.start, placebo.end))
    elif design == "narrative_review":
        pass  # no design of its own to randomise, mask or control
    elif design in _UNCONTROLLED or design in ("animal_or_in_vitro", "secondary_analysis", "other"):
        if design in _UNCONTROLLED:
            ev = design_found
            randomized = put("randomized", facts.nonrandom or Found(False, ev.start, ev.end))
            if facts.single or facts.double:
                blinding = put("blinding", Found("single" if facts.single else "double", *((facts.single or facts.double).start, (facts.single or facts.double).end)))
            else:
                blinding = put("blinding", Found("none", *(facts.open_label.start, facts.open_label.end) if facts.open_label else (ev.start, ev.end)))
            control = put("control", Found("none", *(facts.no_control.start, facts.no_control.end) if facts.no_control else (ev.start, ev.end)))
        else:
            if facts.randomized:
                randomized = put("randomized", facts.randomized)
            blinding = _blinding(facts, put)
            control = _control(facts, put)
    else:
        if facts.randomized and not facts.nonrandom:
            randomized = put("randomized", facts.randomized)
        elif facts.nonrandom:
            randomized = put("randomized", facts.nonrandom)
        elif design == "nonrandomized_controlled":
            randomized = put("randomized", Found(False, design_found.start, design_found.end))
        blinding = _blinding(facts, put)
        control = _control(facts, put)

    if design in ("case_report", "case_series", "systematic_review", "meta_analysis", "narrative_review"):
        n_found, nan_found = _decide_n_enrolled(doc, design, facts)
    else:
        n_found, nan_found = pre_n, pre_nan  # same reading: the design only matters for those four
    n_enrolled = put("n_enrolled", n_found)
    n_analyzed = put("n_analyzed", nan_found)
    n_studies = put("n_studies", _decide_n_studies(doc, design))
    pooled_rcts = put("pooled_rcts", _decide_pooled_rcts(doc, design, n_studies))
    duration = put("duration_weeks", _decide_duration(doc, design))
    condition = put("condition", _decide_condition(doc))
    result = put("result_direction", _decide_result(doc, design))
    harm = _decide_harm(doc)
    if harm is not None:
        put("serious_harm", harm)

    fields = dict(
        is_ldn=is_ldn, design=design, randomized=randomized, blinding=blinding, control=control,
        n_enrolled=n_enrolled, n_analyzed=n_analyzed, n_studies=n_studies, duration_weeks=duration,
        condition=condition, result_direction=result,
    )
    score, items, limitations = _quality(doc, fields)
    return DesignAssessment(
        pmid=pmid,
        serious_harm=harm is not None,
        pooled_rcts=pooled_rcts,
        evidence=tuple(evidence),
        quality_score=score,
        quality_items=items,
        limitations=limitations,
        assessor_version=ASSESSOR_VERSION,
        **fields,
    )


_ORGANISM_RE = re.compile(r"\b(?:mice|mouse|murine|rats?|rodents?|rabbits?|dogs|pigs|zebrafish|primates|animals?)\b", re.I)
_IN_VITRO_RE = re.compile(r"\bin vitro\b", re.I)


def _cells_only(doc: Doc) -> bool:
    """In vitro work: cells or tissue exposed to the drug, no animal or person dosed."""
    return not _ORGANISM_RE.search(doc.text) and bool(R.IN_VITRO_STRONG_RE.search(doc.text) or _IN_VITRO_RE.search(doc.text))


# The first fact found decides, in this order: the strongest masking, then the most informative comparator.
_BLINDING_ORDER = (("triple", "triple"), ("double", "double"), ("single", "single"), ("open_label", "none"))
_CONTROL_ORDER = (("active", "active"), ("placebo", "placebo"), ("usual", "usual_care"), ("waitlist", "waitlist"),
                  ("no_control", "none"))


def _first_fact(f: DesignFacts, put, field_name: str, order: tuple[tuple[str, str], ...]):
    for attr, value in order:
        found = getattr(f, attr)
        if found:
            return put(field_name, Found(value, found.start, found.end))
    return None


def _blinding(f: DesignFacts, put):
    return _first_fact(f, put, "blinding", _BLINDING_ORDER)


def _control(f: DesignFacts, put):
    return _first_fact(f, put, "control", _CONTROL_ORDER)


def assess(article: Article) -> DesignAssessment:
    """Assess one parsed PubMed record."""
    return assess_text(
        article.title,
        article.abstract_text,
        pmid=article.pmid,
        publication_types=article.publication_types,
        mesh_terms=article.mesh_terms,
        keywords=article.keywords,
        registry_ids=article.registry_ids,
    )


# every pattern above skips texts that lack its required literals (see assess_gate)
gate_patterns(globals())
