"""The literal gate in front of the assessor's regexes must never change a result (assess_gate)."""
from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldn_monitor import assess, assess_gate, assess_numbers, assess_rules
from ldn_monitor.assess_gate import GatedPattern, GatedText, fold, literals_in, required_literals
from ldn_monitor.evaluate import load_jsonl

ROOT = Path(__file__).resolve().parents[1]
CORPORA = [ROOT.parent / "shared" / "corpus" / "dev.jsonl", ROOT / "tests" / "data" / "heldout.jsonl"]


def _gated_patterns() -> list[tuple[str, GatedPattern]]:
    out = []
    for mod in (assess, assess_rules, assess_numbers):
        out += [(f"{mod.__name__}.{k}", v) for k, v in vars(mod).items() if isinstance(v, GatedPattern)]
    out += [(f"CONDITION_RES.{name}", p) for name, p in assess_rules.CONDITION_RES if isinstance(p, GatedPattern)]
    return out


@pytest.fixture(scope="module")
def records() -> list[dict]:
    recs = []
    for path in CORPORA:
        if path.exists():
            recs += load_jsonl(path)
    assert recs, "no corpus found"
    return recs


def _mutants(records: list[dict], n: int, seed: int = 11) -> list[tuple[str, str]]:
    """Title/abstract pairs no rule was written for: sentences dropped, spliced, shuffled, shouted."""
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rnd.choice(records), rnd.choice(records)
        sa = re.split(r"(?<=[.!?])\s+", a["abstract"] or "")
        sb = re.split(r"(?<=[.!?])\s+", b["abstract"] or "")
        k = rnd.random()
        if k < 0.3:
            s = [x for x in sa if rnd.random() < 0.7]
        elif k < 0.6:
            s = sa[: len(sa) // 2] + sb[len(sb) // 2:]
        elif k < 0.8:
            s = sa[:]
            rnd.shuffle(s)
        else:
            s = [x.upper() if rnd.random() < 0.3 else x.replace("s", "ſ") for x in sa + sb[:2]]
        out.append((rnd.choice([a["title"] or "", b["title"] or ""]), ("\n" if rnd.random() < 0.2 else " ").join(s)))
    return out


# ------------------------------------------------------------------------------ literal extraction
@pytest.mark.parametrize("pattern, flags, expected", [
    (r"\b(?:double|triple)[- ]blind(?:ed)?\b", re.I, ("double blind", "double-blind", "triple blind", "triple-blind")),
    # 7 x 4 exact strings is too many: the most selective factor is kept
    (r"\b(?:double|triple|single|quadruple|assessor|patient|investigator)[- _.]blind", re.I,
     (" blind", "-blind", ".blind", "_blind")),
    (r"randomi[sz]ed controlled trials?", re.I, ("randomised controlled trial", "randomized controlled trial")),
    (r"\bplacebo\b|\bsham\b", 0, ("placebo", "sham")),
    (r"(?<!non-)open[- ]label", re.I, ("open label", "open-label")),
    (r"\bweeks?\b", re.I, ("week",)),
    (r"Placebo", 0, ("placebo",)),  # folded: a case-sensitive match is also found in folded text
])
def test_required_literals(pattern, flags, expected):
    assert required_literals(re.compile(pattern, flags)) == expected


@pytest.mark.parametrize("pattern", [
    r"\d+|cases",  # one alternative has no literal: anything may match
    r"(\w+) \1",  # a back-reference: not understood, so no gate
    r"s$",  # too short to be worth checking
    r"(?:trial)?",  # may match the empty string
    r"[a-z]+of",  # "of" is too short
])
def test_no_gate_when_nothing_is_required(pattern):
    assert required_literals(re.compile(pattern, re.I)) is None


def test_every_literal_is_necessary_on_generated_text():
    """A required literal really is required: each match of each pattern contains one of them."""
    checked = 0
    for name, gp in _gated_patterns():
        if gp.lits is None:
            continue
        for text in ("Randomised, double-blind, placebo-controlled trial of 4.5 mg naltrexone in 30 patients (n = 30) for 12 weeks.",
                     "We reviewed the charts of 12 people; eight (67%) reported improvement with LDN 3 mg."):
            for m in gp.rx.finditer(text):
                assert any(lit in fold(m.group(0)) for lit in gp.lits), (name, m.group(0), gp.lits)
                checked += 1
    assert checked > 20


# ------------------------------------------------------------------------------ folding
_TRICKY = sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 µμİıſKΩÅåωΣσςβϐεϵθϑκϰπϖρϱφϕιͅ"))


def test_fold_keeps_length_and_offsets():
    s = "İstanbul ſtudy: µg vs μg, ΣΟΦΟΣ, KELVIN, Ω, Å, dotless ı, ﬅ"
    assert len(fold(s)) == len(s)
    assert fold(s)[2:9] == fold(s[2:9])


@pytest.mark.parametrize("c", _TRICKY)
def test_fold_agrees_with_case_insensitive_re(c):
    """Whenever case-insensitive re matches one character to another, folding makes them equal."""
    for d in _TRICKY:
        if re.fullmatch(re.escape(c), d, re.I):
            assert fold(c) == fold(d), (c, d)


# ------------------------------------------------------------------------------ the gate changes nothing
def test_gated_equals_ungated_on_every_pattern_and_sentence(records):
    """Every gated pattern, every sentence and whole text of the corpora (and mutants): same matches."""
    texts = [(r["title"] or "", r["abstract"] or "") for r in records] + _mutants(records, 20)
    compared = blocked = 0
    patterns = _gated_patterns()
    for title, abstract in texts:
        doc = assess._build_doc(title, abstract, (), (), (), ())
        for t in [doc.text] + [s.text for s in doc.sentences]:
            assert type(t) is GatedText
            plain = str(t)
            for name, gp in patterns:
                got = gp.search(t)
                want = gp.rx.search(plain)
                assert (got and got.span()) == (want and want.span()), (name, plain[:80])
                compared += 1
                blocked += gp._blocked(t)
    assert compared > 100_000
    assert blocked > compared // 2  # the gate does skip most searches


def test_assessor_output_identical_with_gate_off(records, monkeypatch):
    texts = [(r["title"] or "", r["abstract"] or "") for r in records[:60]] + _mutants(records, 60, seed=5)
    gated = [repr(assess.assess_text(t, a)) for t, a in texts]
    monkeypatch.setattr(GatedPattern, "_blocked", lambda self, text: False)
    ungated = [repr(assess.assess_text(t, a)) for t, a in texts]
    assert gated == ungated


_PIECES = st.sampled_from(["placebo", "blind", "double", "randomised", "LDN", "naltrexone", "4.5 mg", " ", ". ",
                           "(n = 12)", "patients", "ſ", "İ", "µg", "weeks", "no ", "improved", "\n", "Results: ",
                           "open-label", "trial", "controlled", "of", "12", "K", "Ω"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=6), max_size=40))
def test_gated_equals_ungated_on_generated_text(pieces):
    abstract = "".join(pieces)
    doc = assess._build_doc("A trial", abstract, (), (), (), ())
    for t in [doc.text] + [s.text for s in doc.sentences]:
        for name, gp in _gated_patterns()[::3]:
            got, want = gp.search(t), gp.rx.search(str(t))
            assert (got and got.span()) == (want and want.span()), (name, str(t))


def test_literal_finder_without_aho_corasick(monkeypatch, records):
    """Without pyahocorasick every literal is looked for with str.find: the same occurrences, so
    the same per-sentence sets and the same assessments."""
    texts = [(r["title"] or "", r["abstract"] or "") for r in records[:25]]

    def literal_sets():
        out = []
        for t, a in texts:
            doc = assess._build_doc(t, a, (), (), (), ())
            out.append([sorted(doc.text.found)] + [sorted(s.text.found) for s in doc.sentences])
        return out

    with_ac = literal_sets()
    assessed = [repr(assess.assess_text(t, a)) for t, a in texts]
    assert {"placebo"} <= literals_in(fold("A double-blind, placebo-controlled trial."))
    monkeypatch.setitem(sys.modules, "ahocorasick", None)  # import now fails
    monkeypatch.setattr(assess_gate, "_FINDER", (0, None))
    assert isinstance(assess_gate._finder(), tuple)
    assert literal_sets() == with_ac
    assert [repr(assess.assess_text(t, a)) for t, a in texts] == assessed
    monkeypatch.undo()
    assess_gate._FINDER = (0, None)
