"""Build PubMed EFetch-shaped XML from corpus records, for the offline demo and for tests.

The XML follows the PubMed DTD (pubmed_250101) closely enough to validate against it, so the
same parser reads a snapshot and a live EFetch body.

Conventions (also written into ``data/snapshot/README.md`` by ``scripts/build_snapshot.py``):

* A record's real PMID is kept. A record without one gets a *synthetic* PMID in the reserved
  range 99,000,000–99,999,999, far above any real PMID (≈41 million in 2025):
  record_id ``A002`` → 99000002, ``B031`` → 99010031 (letter index × 10,000 + number); any
  other record_id → 99500000 + a SHA-256-derived offset. The manifest flags them.
* Entrez dates (EDAT) are deterministic but spread out, so date windows select different
  records: a stable day of the record's ``year`` derived from SHA-256 of ``record_id``;
  records without a year fall in 2019-01-01..2026-10-31. No date is later than 2026-10-31.
* Structured abstracts: a line starting with a section label and ":" ("METHODS:",
  "OUTCOME MEASURES:", or a known section word such as "Results:") opens an AbstractText with
  that Label (kept as written) and an NlmCategory; anything else is one unlabelled AbstractText.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Iterable, Optional, Union

from lxml import etree

__all__ = [
    "SYNTHETIC_PMID_MIN", "SYNTHETIC_PMID_MAX", "EDAT_START", "EDAT_END", "DOCTYPE",
    "article_xml", "split_abstract", "nlm_category", "parse_authors", "synthetic_pmid",
    "is_synthetic_pmid", "entrez_date_for", "write_articleset", "delete_citation",
    "corpus_to_snapshot",
    "record_to_snapshot_dir", "load_corpus",
]

SYNTHETIC_PMID_MIN = 99_000_000
SYNTHETIC_PMID_MAX = 99_999_999
_HASHED_PMID_BASE = 99_500_000
EDAT_START = date(2019, 1, 1)
EDAT_END = date(2026, 10, 31)
DOCTYPE = ('<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
           '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">')

PathLike = Union[str, os.PathLike]

# --------------------------------------------------------------------------- abstracts

_CATEGORY_EXACT = {
    "BACKGROUND": "BACKGROUND", "INTRODUCTION": "BACKGROUND", "CONTEXT": "BACKGROUND",
    "IMPORTANCE": "BACKGROUND", "RATIONALE": "BACKGROUND",
    "OBJECTIVE": "OBJECTIVE", "OBJECTIVES": "OBJECTIVE", "AIM": "OBJECTIVE", "AIMS": "OBJECTIVE",
    "PURPOSE": "OBJECTIVE", "PURPOSE OF REVIEW": "OBJECTIVE", "GOAL": "OBJECTIVE",
    "GOALS": "OBJECTIVE",
    "METHODS": "METHODS", "METHOD": "METHODS", "METHODOLOGY": "METHODS", "DESIGN": "METHODS",
    "SETTING": "METHODS", "PATIENTS": "METHODS", "PARTICIPANTS": "METHODS", "SUBJECTS": "METHODS",
    "INTERVENTION": "METHODS", "INTERVENTIONS": "METHODS", "OUTCOME MEASURES": "METHODS",
    "MAIN OUTCOME MEASURES": "METHODS", "MEASUREMENTS": "METHODS", "EVIDENCE REVIEW": "METHODS",
    "DATA SOURCES": "METHODS", "STUDY SELECTION": "METHODS", "DATA EXTRACTION": "METHODS",
    "MATERIALS AND METHODS": "METHODS", "METHODS AND ANALYSIS": "METHODS",
    "RESULTS": "RESULTS", "FINDINGS": "RESULTS", "RECENT FINDINGS": "RESULTS",
    "OBSERVATIONS": "RESULTS",
    "CONCLUSION": "CONCLUSIONS", "CONCLUSIONS": "CONCLUSIONS", "INTERPRETATION": "CONCLUSIONS",
    "DISCUSSION": "CONCLUSIONS", "CONCLUSIONS AND RELEVANCE": "CONCLUSIONS",
    "DISCUSSION AND CONCLUSIONS": "CONCLUSIONS", "IMPLICATIONS": "CONCLUSIONS",
    "SUMMARY": "CONCLUSIONS",
}
_CATEGORY_KEYWORDS = (  # first match wins; "OUTCOME MEASURES" must not read as RESULTS
    ("MEASURE", "METHODS"), ("CONCLU", "CONCLUSIONS"), ("INTERPRET", "CONCLUSIONS"),
    ("RESULT", "RESULTS"), ("FINDING", "RESULTS"), ("METHOD", "METHODS"), ("DESIGN", "METHODS"),
    ("OBJECTIVE", "OBJECTIVE"), ("AIM", "OBJECTIVE"), ("PURPOSE", "OBJECTIVE"),
    ("BACKGROUND", "BACKGROUND"), ("INTRODUCTION", "BACKGROUND"),
)
# Title-case labels ("Results:") only count when the first word is a known section word, so an
# ordinary sentence such as "Note: ..." is not mistaken for a heading.
_SECTION_WORDS = {
    "background", "introduction", "context", "importance", "rationale", "objective",
    "objectives", "aim", "aims", "purpose", "goal", "goals", "methods", "method", "methodology",
    "design", "setting", "patients", "participants", "subjects", "intervention", "interventions",
    "outcome", "outcomes", "main", "measurements", "evidence", "data", "study", "materials",
    "results", "findings", "recent", "observations", "conclusion", "conclusions",
    "interpretation", "discussion", "implications", "summary", "perspective", "limitations",
    "trial", "registration", "scientific", "case", "funding",
}
_LABEL_RE = re.compile(
    r"(?:^|(?<=\n))[ \t]*"
    r"(?P<label>[A-Z][A-Z0-9 ,&/()'\-]{1,58}[A-Z)]|[A-Z][a-z]+(?: [A-Za-z]+){0,4})"
    r":(?=\s)")


def nlm_category(label: str) -> str:
    """NlmCategory for a section label (PubMed's six values)."""
    key = " ".join(label.upper().split())
    if key in _CATEGORY_EXACT:
        return _CATEGORY_EXACT[key]
    for word, category in _CATEGORY_KEYWORDS:
        if word in key:
            return category
    return "UNASSIGNED"


def _is_label(label: str) -> bool:
    if label.isupper():
        return sum(ch.isalpha() for ch in label) >= 3
    return label.split()[0].lower() in _SECTION_WORDS


def split_abstract(text: Optional[str]) -> list[tuple[Optional[str], Optional[str], str]]:
    """[(label, NlmCategory, text)]: one per labelled section, or one unlabelled section."""
    text = _xml_safe(text or "").strip()
    if not text:
        return []
    starts = [m for m in _LABEL_RE.finditer(text) if _is_label(m.group("label"))]
    if not starts:
        return [(None, None, text)]
    sections = []
    lead = text[:starts[0].start()].strip()
    if lead:
        sections.append((None, None, lead))
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        label = m.group("label").strip()
        sections.append((label, nlm_category(label), text[m.end():end].strip()))
    return sections


# --------------------------------------------------------------------------- authors

# Only degrees that cannot be mistaken for initials ("MD", "MS" can be M.D. / M.S.).
_DEGREES = re.compile(r"\b(?:PhD|DDS|DMD|MPH|MSc|BSc|PharmD|FRCPC?)\b\.?")
_INITIALS_RE = re.compile(r"^(?:[A-Z]\.?\s?){1,3}$|^[A-Z]{1,3}$")


def _initials(forename: str) -> str:
    return "".join(part[0].upper() for part in re.split(r"[\s.\-]+", forename) if part)


def _person(piece: str, surname_first: bool = False) -> Optional[dict]:
    piece = " ".join(_DEGREES.sub("", piece).split()).strip(" ,.")
    if not piece:
        return None
    if any(ch in piece for ch in "():") or len(piece.split()) > 5:
        return {"collective": piece}
    if "," in piece:  # "O'Kelly, Brendan"
        last, _, fore = piece.partition(",")
        last, fore = last.strip(), fore.strip(" .")
    else:
        words = piece.split()
        if len(words) == 1:
            return {"last": words[0], "fore": "", "initials": ""}
        if surname_first:  # "Marcus Norman J" = LastName ForeName Initial
            last, fore = words[0], " ".join(words[1:])
        elif _is_initials(words[-1]):  # "Smith JP", "Abu Dabrh AM"
            return {"last": " ".join(words[:-1]), "fore": "",
                    "initials": words[-1].replace(".", "")}
        else:  # "Karin Due Bruun", "K.L. Brewer", "J R Volpicelli"
            last, fore = words[-1], " ".join(words[:-1])
    if _is_initials(fore):
        return {"last": last, "fore": "", "initials": fore.replace(".", "").replace(" ", "")}
    return {"last": last, "fore": fore, "initials": _initials(fore)}


def _is_initials(word: str) -> bool:
    return bool(_INITIALS_RE.match(word.strip())) and word.replace(".", "").replace(" ", "").isupper()


def _surname_first(pieces: list) -> bool:
    """True for "Parker Claire E, Segal Dan" (surname, forename, initial) style strings.

    Counted against "Yang J, Abu Dabrh AM" (surname, initials): the style with more pieces wins.
    """
    full_then_initial = surname_initials = 0
    for piece in pieces:
        words = piece.replace(".", " ").split()
        if len(words) >= 2 and _is_initials(words[-1]):
            if len(words) >= 3 and words[-2][:1].isupper() and words[-2][1:].islower():
                full_then_initial += 1
            elif len(words) == 2:
                surname_initials += 1
    return full_then_initial > surname_initials


def parse_authors(text: Optional[str]) -> list[dict]:
    """Best-effort split of a free-text author string into PubMed Author parts.

    The corpus mixes "Younger J, Mackey S.", "Karin Due Bruun, Robin Christensen",
    "O'Kelly, Brendan; Vidal, Louise", "Rösner, S., Hackl-Herrwerth, A.", "Partridge, Sarah,
    Quadt, Lisa" and "Parker Claire E, Segal Dan"; each author becomes
    {"last", "fore", "initials"}, or {"collective"} for anything unparseable.
    """
    if not text:
        return []
    s = re.sub(r"\([^)]*\)", " ", text)  # "(first author, as given ...)" is commentary
    s = re.sub(r"^[^,;:]*:\s*", "", s.strip())  # "Principal Investigator: ..."
    s = re.sub(r",?\s*\bet al\.?\s*$", "", s.strip())
    s = re.sub(r"\s+(?:and|&)\s+", ", ", s)
    s = _DEGREES.sub("", s)
    if ";" in s:
        pieces = s.split(";")
    else:
        pieces = [p.strip() for p in s.split(",") if p.strip()]
        single = sum(1 for p in pieces if len(p.split()) == 1)
        # "Surname, Forename, Surname, Forename...": an even count, led by a bare surname.
        if (len(pieces) >= 2 and len(pieces) % 2 == 0 and len(pieces[0].split()) == 1
                and (single * 2 >= len(pieces) or all(_is_initials(p) for p in pieces[1::2]))):
            pieces = [f"{pieces[i]}, {pieces[i + 1]}" for i in range(0, len(pieces), 2)]
    surname_first = _surname_first(pieces)
    return [p for p in (_person(piece, surname_first) for piece in pieces) if p]


# --------------------------------------------------------------------------- ids and dates

def _digest(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def synthetic_pmid(record_id: str) -> str:
    """Deterministic PMID in the reserved synthetic range for a record that has none."""
    m = re.fullmatch(r"([A-Za-z])(\d{1,4})", record_id or "")
    if m:
        return str(SYNTHETIC_PMID_MIN + (ord(m.group(1).upper()) - ord("A")) * 10_000
                   + int(m.group(2)))
    return str(_HASHED_PMID_BASE + _digest(f"pmid:{record_id}") % 490_000)


def is_synthetic_pmid(pmid: Union[str, int, None]) -> bool:
    try:
        return SYNTHETIC_PMID_MIN <= int(pmid) <= SYNTHETIC_PMID_MAX
    except (TypeError, ValueError):
        return False


def entrez_date_for(record: dict) -> date:
    """The snapshot's EDAT for a corpus record: stable, spread over its year (or 2019..2026)."""
    key = f"edat:{record.get('record_id') or record.get('pmid') or record.get('title')}"
    year = record.get("year")
    if isinstance(year, int) and 1900 <= year <= EDAT_END.year:
        first = date(year, 1, 1)
        last = min(date(year, 12, 31), EDAT_END)
    else:
        first, last = EDAT_START, EDAT_END
    return first + timedelta(days=_digest(key) % ((last - first).days + 1))


# --------------------------------------------------------------------------- XML building

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")

_PUBLICATION_TYPE_UI = {
    "Journal Article": "D016428", "Review": "D016454", "Randomized Controlled Trial": "D016449",
    "Clinical Trial": "D016430", "Case Reports": "D002363", "Meta-Analysis": "D017418",
    "Systematic Review": "D000078182", "Research Support, Non-U.S. Gov't": "D013485",
    "Research Support, U.S. Gov't, P.H.S.": "D013487",
}


def _xml_safe(text) -> str:
    # lxml refuses XML-illegal characters; the record's text would otherwise be unwritable.
    return _XML_BAD.sub("", str(text)) if text is not None else ""


def _sub(parent, tag: str, text=None, **attrs):
    el = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = _xml_safe(text)
    return el


def _history_date(parent, status: str, d: date, minute: int) -> None:
    el = _sub(parent, "PubMedPubDate", PubStatus=status)
    _sub(el, "Year", str(d.year))
    _sub(el, "Month", str(d.month))
    _sub(el, "Day", str(d.day))
    _sub(el, "Hour", "6")
    _sub(el, "Minute", str(minute))


def _registry_banks(nct_ids) -> list[tuple[str, list[str]]]:
    banks: dict = {}
    for raw in nct_ids or ():
        value = " ".join(str(raw).split())
        if re.fullmatch(r"NCT\d{8}", value, re.IGNORECASE):
            banks.setdefault("ClinicalTrials.gov", []).append(value.upper())
        elif value.lower().startswith("eudract"):
            banks.setdefault("EudraCT", []).append(value.split(None, 1)[-1])
        elif re.fullmatch(r"ISRCTN\d+", value):
            banks.setdefault("ISRCTN", []).append(value)
    return [(name, list(dict.fromkeys(ids))) for name, ids in banks.items()]


def article_xml(record: dict, pmid: str, entrez_date: date, version: int = 1):
    """One ``<PubmedArticle>`` element for a corpus-format record."""
    pmid = str(pmid)
    art_el = etree.Element("PubmedArticle")
    mc = _sub(art_el, "MedlineCitation", Status="PubMed-not-MEDLINE", Owner="NLM")
    _sub(mc, "PMID", pmid, Version=str(int(version)))
    article = _sub(mc, "Article", PubModel="Print")

    journal = _sub(article, "Journal")
    issue = _sub(journal, "JournalIssue", CitedMedium="Internet")
    pub_date = _sub(issue, "PubDate")
    year = record.get("year")
    if isinstance(year, int):
        _sub(pub_date, "Year", str(year))
    else:
        _sub(pub_date, "MedlineDate", "")  # DTD needs a PubDate; empty says "undated"
    journal_name = " ".join(_xml_safe(record.get("journal")).split())
    if journal_name:
        _sub(journal, "Title", journal_name)

    _sub(article, "ArticleTitle", " ".join(_xml_safe(record.get("title")).split()))
    doi = (record.get("doi") or "").strip() or None
    if doi:
        _sub(article, "ELocationID", doi, EIdType="doi", ValidYN="Y")
    else:
        _sub(_sub(article, "Pagination"), "MedlinePgn", "")

    sections = split_abstract(record.get("abstract"))
    if sections:
        abstract = _sub(article, "Abstract")
        for label, category, text in sections:
            _sub(abstract, "AbstractText", text, Label=label, NlmCategory=category)

    authors = parse_authors(record.get("authors"))
    if authors:
        author_list = _sub(article, "AuthorList", CompleteYN="Y")
        for a in authors:
            a_el = _sub(author_list, "Author", ValidYN="Y")
            if "collective" in a:
                _sub(a_el, "CollectiveName", a["collective"])
                continue
            _sub(a_el, "LastName", a["last"])
            if a["fore"]:
                _sub(a_el, "ForeName", a["fore"])
            if a["initials"]:
                _sub(a_el, "Initials", a["initials"])

    _sub(article, "Language", "eng")
    banks = _registry_banks(record.get("nct_ids"))
    if banks:
        bank_list = _sub(article, "DataBankList", CompleteYN="Y")
        for name, ids in banks:
            bank = _sub(bank_list, "DataBank")
            _sub(bank, "DataBankName", name)
            numbers = _sub(bank, "AccessionNumberList")
            for acc in ids:
                _sub(numbers, "AccessionNumber", acc)
    types = _sub(article, "PublicationTypeList")
    for ptype in record.get("publication_types") or ["Journal Article"]:
        _sub(types, "PublicationType", ptype, UI=_PUBLICATION_TYPE_UI.get(ptype, ""))

    info = _sub(mc, "MedlineJournalInfo")
    _sub(info, "MedlineTA", journal_name)

    data = _sub(art_el, "PubmedData")
    history = _sub(data, "History")
    _history_date(history, "entrez", entrez_date, 0)
    _history_date(history, "pubmed", entrez_date, 0)
    _history_date(history, "medline", entrez_date, 1)
    _sub(data, "PublicationStatus", "ppublish")
    ids = _sub(data, "ArticleIdList")
    _sub(ids, "ArticleId", pmid, IdType="pubmed")
    if doi:
        _sub(ids, "ArticleId", doi, IdType="doi")
    return art_el


def write_articleset(elements: Iterable, path: PathLike) -> None:
    """Write ``<PubmedArticleSet>`` with the given article elements; atomic, byte-deterministic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
            fh.write(DOCTYPE.encode("ascii") + b"\n<PubmedArticleSet>\n")
            for el in elements:
                fh.write(etree.tostring(el, encoding="UTF-8", pretty_print=True))
            fh.write(b"</PubmedArticleSet>\n")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; this is data meant to be shared and committed
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def delete_citation(pmids: Iterable[str]):
    """A ``<DeleteCitation>`` element (PMIDs PubMed withdrew) to pass to write_articleset last."""
    el = etree.Element("DeleteCitation")
    for pmid in pmids:
        _sub(el, "PMID", str(pmid), Version="1")
    return el


def _write_json(data, path: Path) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _build(records: list, out_dir: PathLike, edat_of, filename: str = "pubmed.xml") -> list[dict]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest, elements, used = [], [], set()
    for index, record in enumerate(records):
        record_id = record.get("record_id") or f"#{index}"
        real = str(record["pmid"]).strip() if record.get("pmid") else ""
        pmid = real or synthetic_pmid(record_id)
        if not real:
            salt = 0
            while pmid in used:  # hashed ids can collide; probing keeps them unique and stable
                salt += 1
                pmid = synthetic_pmid(f"{record_id}~{salt}")
        if pmid in used:
            raise ValueError(f"duplicate PMID {pmid} (record {record_id})")
        used.add(pmid)
        edat = edat_of(index, record)
        elements.append(article_xml(record, pmid, edat, int(record.get("version") or 1)))
        manifest.append({"pmid": pmid, "record_id": record.get("record_id"),
                         "entrez_date": edat.isoformat(), "synthetic_pmid": not real})
    write_articleset(elements, out / filename)
    stem = filename[:-len(".xml")] if filename.endswith(".xml") else filename
    _write_json(manifest, out / ("manifest.json" if filename == "pubmed.xml"
                                 else f"{stem}.manifest.json"))
    return manifest


def corpus_to_snapshot(records: Iterable[dict], out_dir: PathLike) -> list[dict]:
    """Write ``out_dir/pubmed.xml`` and ``out_dir/manifest.json``; return the manifest rows.

    Rows: {"pmid", "record_id", "entrez_date" (YYYY-MM-DD), "synthetic_pmid"}, corpus order.
    """
    return _build(list(records), out_dir, lambda i, r: entrez_date_for(r))


def record_to_snapshot_dir(records: list[dict], out_dir: PathLike,
                           start_date: date = date(2026, 1, 1),
                           filename: str = "pubmed.xml") -> list[dict]:
    """Like corpus_to_snapshot for hand-made records (tests): EDATs are ``start_date`` + index
    days unless a record carries its own ``entrez_date`` (date or "YYYY-MM-DD"); a record may
    also carry ``version`` for a revised PMID. Another ``filename`` (e.g. "pubmed-2.xml", with
    "pubmed-2.manifest.json") adds a file to an existing snapshot directory instead of
    replacing it: the replay server reads every *.xml there, later names winning."""
    start = _as_date(start_date)

    def edat(i: int, r: dict) -> date:
        return _as_date(r["entrez_date"]) if r.get("entrez_date") else start + timedelta(days=i)

    return _build(list(records), out_dir, edat, filename)


def load_corpus(path: PathLike) -> list[dict]:
    """Corpus JSONL → list of dicts (blank lines skipped)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
