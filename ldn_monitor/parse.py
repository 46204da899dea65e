"""PubMed EFetch XML (``db=pubmed&retmode=xml``) → :class:`~ldn_monitor.records.Article` records.

Streaming: ``lxml.etree.iterparse`` fires only on article-level elements, and every finished
article is cleared and unlinked from the root, so memory stays flat however large the batch.

Safety: the body comes from the network, so the parser never loads a DTD, never touches the
network or the file system for an entity, and never substitutes entities (libxml2 additionally
refuses entity-amplification bombs). Entity references left in place contribute no text.

Failures: every way an HTTP 200 can still be a failed request (empty body, HTML page, an
``<ERROR>`` body, a foreign root element, truncated or malformed XML) raises
:class:`~ldn_monitor.errors.BadResponse`, never "no records": callers must not advance a
watermark on it. :func:`iter_records` may already have yielded some articles when it raises;
:func:`parse_efetch` collects everything first, so it is all-or-nothing.
"""
from __future__ import annotations

import functools
import gzip
import io
import os
import re
import zlib
from typing import BinaryIO, Callable, Iterator, Optional, Union

from lxml import etree

from .errors import BadResponse
from .records import AbstractSection, Article, Correction, FetchResult

__all__ = ["iter_records", "parse_efetch", "flatten_text", "clean_text", "PARSER_OPTIONS"]

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

# Exactly the options the security review asked for; tests assert on this dict.
PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)

_ARTICLE_TAGS = ("PubmedArticle", "PubmedBookArticle")
_ROOTS = ("PubmedArticleSet", "PubmedBookArticleSet")
# Root tags are in the filter so the root check happens on the very first event instead of after
# the whole (possibly large, possibly hostile) body has been parsed.
_EVENT_TAGS = _ARTICLE_TAGS + ("DeleteCitation", "ERROR") + _ROOTS

_MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"
_NCT_RE = re.compile(r"\b(?:NCT|nct)\d{8}\b")
# Necessary conditions for an _NCT_RE match, as patterns with a literal prefix: re scans for
# those far faster than it can try _NCT_RE at every position.
_NCT_UPPER_HINT = re.compile(r"NCT\d")
_NCT_LOWER_HINT = re.compile(r"nct\d")
_YEAR_RE = re.compile(r"\b(1[89]\d\d|20\d\d|21\d\d)\b")
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}

# C0 controls except tab/LF/CR: XML 1.0 forbids them, and NCBI has shipped them inside abstracts.
# Dropping them from the byte stream turns a batch that would fail on every retry into one that
# parses. Safe for UTF-8: these bytes never occur inside a multi-byte sequence.
_C0_BYTES = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))
_C0_VALUES = tuple(_C0_BYTES)  # as ints, for the `in` test in _Stream.read
# After parsing, also drop C0 (reachable as character references in XML 1.1), DEL and C1 controls,
# which XML 1.0 allows but which corrupt terminals, e-mail and CSV downstream. (CR is whitespace.)
# A regex, not str.translate: translate does a dict lookup per character of any string that
# is not pure ASCII, 30-50 µs for a 700-character paragraph with one en dash or no-break space.
_CTRL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The controls that str.split() also treats as whitespace: the only ones that collapsing
# whitespace first would hide (see clean_text).
_CTRL_SPACES = tuple(c for c in map(chr, range(0xA0)) if _CTRL_RE.match(c) and c.isspace())

_HEAD_BYTES = 2048


# --------------------------------------------------------------------------- text helpers

def clean_text(text: Optional[str]) -> str:
    """Strip control characters and collapse every run of whitespace to one space."""
    if not text:
        return ""
    if not text.isprintable():
        # Usually a newline is what makes it unprintable. It is whitespace, so making it a
        # space changes nothing below, and what is left is often printable again.
        text = text.replace("\n", " ")
        if not text.isprintable():
            collapsed = " ".join(text.split())
            # No control left, and none of the controls that split() took for whitespace:
            # nothing to strip.
            if collapsed.isprintable() and not any(c in text for c in _CTRL_SPACES):
                return collapsed
            return " ".join(_CTRL_RE.sub("", text).split())
    # Printable: no control and no whitespace but " ", so squeezing runs of spaces and trimming
    # the ends is all " ".join(text.split()) would do, and str.replace() does it several times
    # faster on a long abstract than splitting it into words.
    while "  " in text:
        text = text.replace("  ", " ")
    return text.strip(" ")


def _math_text(el, parts: list) -> None:
    # MathML is indented for humans: whitespace between tokens is layout, not content, so
    # <mi>x</mi> <mn>2</mn> reads as "x2" rather than "x 2".
    if el.text:
        parts.append(el.text.strip())
    for child in el:
        if isinstance(child.tag, str):
            _math_text(child, parts)
        if child.tail:
            parts.append(child.tail.strip())


def _collect(el, parts: list) -> None:
    if el.text:
        parts.append(el.text)
    for child in el:
        tag = child.tag
        # Non-elements (an unexpanded entity reference, a comment) carry no real text.
        if isinstance(tag, str):
            if tag.startswith(_MATHML_NS):
                _math_text(child, parts)
            else:
                _collect(child, parts)
        if child.tail:
            parts.append(child.tail)


def flatten_text(el) -> str:
    """The element's text with inline markup (<i>, <sup>, MathML…) flattened, cleaned."""
    if el is None:
        return ""
    if len(el) == 0:
        return clean_text(el.text)
    parts: list = []
    _collect(el, parts)
    return clean_text("".join(parts))


def _t(el) -> str:
    return clean_text(el.text) if el is not None else ""


# --------------------------------------------------------------------------- source handling

class _Stream:
    """Read-only stream over ``head`` + ``raw`` that drops C0 control bytes on the fly."""

    def __init__(self, raw, head: bytes, strip_controls: bool):
        self._raw = raw
        self._head = head
        self._strip = strip_controls

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0 or n >= len(self._head):
                data, self._head = self._head, b""
            else:
                data, self._head = self._head[:n], self._head[n:]
        else:
            data = self._raw.read(n)
            if isinstance(data, str):
                raise TypeError("iter_records needs a binary file-like object, got text")
        if self._strip and data:
            # A memchr per control byte is ~2x cheaper than translate()'s per-byte loop, and
            # almost no chunk has anything to drop.
            for c in _C0_VALUES:
                if c in data:
                    return data.translate(None, _C0_BYTES)
        return data


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``raw``: lets GzipFile read bytes we already sniffed."""

    def __init__(self, raw, head: bytes):
        self._raw, self._head = raw, head

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._raw.read(len(b))
        n = len(data)
        b[:n] = data
        return n


def _read_up_to(fh, size: int) -> bytes:
    # A generator-backed stream may hand out small pieces; keep reading until size or EOF.
    chunks, got = [], 0
    while got < size:
        data = fh.read(size - got)
        if isinstance(data, str):
            raise TypeError("iter_records needs a binary file-like object, got text")
        if not data:
            break
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


def _open(source: Source):
    """(stream for lxml, head bytes for sniffing, file to close or None)."""
    to_close = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        raw = to_close = open(source, "rb")
    elif hasattr(source, "read"):
        raw = source
    else:
        raise TypeError(f"cannot read EFetch XML from {type(source).__name__}")
    head = _read_up_to(raw, 2)
    if head == b"\x1f\x8b":  # gzip magic: sniffed rather than trusting a .gz file name
        raw = gzip.GzipFile(fileobj=io.BufferedReader(_Prefixed(raw, head)))
        head = b""
    try:
        head += _read_up_to(raw, _HEAD_BYTES - len(head))
    except (OSError, EOFError) as exc:  # corrupt or truncated gzip
        raise BadResponse(f"EFetch body could not be decompressed ({exc}); the request should "
                          "be retried") from exc
    utf16 = head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head[:4]
    return _Stream(raw, head, strip_controls=not utf16), head, to_close


def _sniff(head: bytes) -> None:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not text:
        raise BadResponse("EFetch returned an empty body (HTTP 200 with no XML); treat as a "
                          "failed request and retry")
    # An HTML error page is usually not well-formed XML either; name it for what it is.
    if b"<!doctype html" in text or re.match(rb"(<\?xml[^>]*>\s*)?<html\b", text) or (
            not text.startswith(b"<") and b"<html" in text):
        raise BadResponse("EFetch returned an HTML page instead of XML (NCBI error or "
                          "maintenance page); treat as a failed request and retry")


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _foreign_root(root, errors: list) -> BadResponse:
    name = _local(root.tag)
    if name.lower() == "html":
        return BadResponse("EFetch returned an HTML page instead of XML (NCBI error or "
                           "maintenance page); treat as a failed request and retry")
    detail = f": {'; '.join(errors)}" if errors else ""
    return BadResponse(f"EFetch returned <{name}> instead of PubmedArticleSet{detail}; "
                       "treat as a failed request")


# --------------------------------------------------------------------------- public API

def iter_records(source: Source,
                 on_deleted: Optional[Callable[[list], None]] = None) -> Iterator[Article]:
    """Yield one Article per PubmedArticle / PubmedBookArticle in an EFetch body.

    ``source`` is a path (gzip detected by magic bytes), bytes, or a binary file-like object.
    ``DeleteCitation`` PMIDs are handed to ``on_deleted(list_of_pmids)`` as they are met.
    Raises BadResponse for error bodies and broken XML, possibly after yielding some articles.
    """
    stream, head, to_close = _open(source)
    try:
        _sniff(head)
        yield from _iterate(stream, on_deleted)
    finally:
        if to_close is not None:
            to_close.close()


def parse_efetch(data: bytes) -> FetchResult:
    """Parse one whole EFetch body; all-or-nothing (raises BadResponse, never a partial result)."""
    deleted: list = []
    articles = list(iter_records(data, on_deleted=deleted.extend))
    return FetchResult(articles=tuple(articles), deleted=tuple(deleted))


def _iterate(stream, on_deleted) -> Iterator[Article]:
    context = etree.iterparse(stream, events=("start", "end"), tag=_EVENT_TAGS, **PARSER_OPTIONS)
    root_checked = False
    foreign_root = None
    errors: list = []
    depth_in_article = 0
    try:
        for event, el in context:
            if not root_checked:
                root_checked = True
                root = el.getroottree().getroot()
                if _local(root.tag) not in _ROOTS:
                    foreign_root = root
                    if _local(root.tag).lower() == "html":
                        raise _foreign_root(root, errors)
            tag = el.tag
            if event == "start":
                if tag in _ARTICLE_TAGS:
                    depth_in_article += 1
                continue
            if tag == "ERROR":
                errors.append(clean_text("".join(el.itertext())) or "(empty ERROR element)")
                if foreign_root is None and depth_in_article == 0:
                    raise BadResponse(f"EFetch body holds an <ERROR>: {errors[-1]}; treat as a "
                                      "failed request and retry")
                continue
            if foreign_root is not None:
                # Keep reading only to quote its <ERROR> messages; nothing here is trusted.
                _release(el)
                continue
            if tag in _ARTICLE_TAGS:
                depth_in_article -= 1
                if depth_in_article == 0:
                    article = (_book_article(el) if tag == "PubmedBookArticle"
                               else _journal_article(el))
                    _release(el)
                    if article is not None:
                        yield article
            elif tag == "DeleteCitation":
                pmids = [_t(p) for p in el.iter("PMID") if _t(p)]
                _release(el)
                if pmids and on_deleted is not None:
                    on_deleted(pmids)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BadResponse(f"EFetch body is a truncated or corrupt gzip stream ({exc}); the "
                          "request should be retried") from None
    root = context.root
    if root is None:  # pragma: no cover - lxml raises XMLSyntaxError for a document with no root
        raise BadResponse("EFetch body holds no XML element; treat as a failed request and retry")
    if foreign_root is not None or _local(root.tag) not in _ROOTS:
        raise _foreign_root(root, errors)


def _syntax_error(exc: etree.XMLSyntaxError) -> BadResponse:
    line, col = (exc.position if exc.position else (exc.lineno, 0))
    msg = str(exc.msg or exc).split(", line ")[0]
    if "amplification" in msg.lower() or "entity" in msg.lower() and "loop" in msg.lower():
        return BadResponse(f"EFetch body at line {line} declares entities that expand without "
                           f"bound ({msg}); refusing it")
    return BadResponse(f"EFetch body is truncated or malformed XML at line {line}, column {col} "
                       f"({msg}); the request should be retried")


def _release(el) -> None:
    # Constant memory: drop the finished subtree and the siblings already handled before it.
    el.clear(keep_tail=False)
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


# --------------------------------------------------------------------------- field extraction
# One pass over the children of each element on the way down, picking what is needed by tag.
# Most of the cost is lxml's: each child visited becomes a new proxy object with a new str for
# .tag (~2,000 instructions), and a typical record visits ~85 of them. Not find()/iterfind()
# (ElementPath builds a selector chain per call), not iterchildren(tag) (building its tag matcher
# cost more than it saved here) and not XPath (a union of the ~20 paths needed cost about as much
# as this whole extraction). As with the tag index this replaced: where a PubMed element may
# repeat, every occurrence is used ("all Abstract children"); where one is taken, the first.


def _version(pmid_el) -> int:
    try:
        return int(pmid_el.get("Version", "1"))
    except ValueError:
        return 1


def _date_iso(el) -> tuple[Optional[int], Optional[str]]:
    """(year, "YYYY[-MM[-DD]]") from a PubDate-like element; MedlineDate gives the year only."""
    if el is None:
        return None, None
    year = month = day = medline = None  # raw text; the last of each tag wins
    for child in el:
        tag = child.tag
        if tag == "Year":
            year = child.text
        elif tag == "Month":
            month = child.text
        elif tag == "Day":
            day = child.text
        elif tag == "MedlineDate":
            medline = child.text
    if len(year or "") + len(month or "") + len(day or "") + len(medline or "") <= _DATE_MEMO_CHARS:
        return _date_memo(year, month, day, medline)
    return _date_from_text(year, month, day, medline)


def _date_from_text(year_raw, month_raw, day_raw, medline_raw) -> tuple[Optional[int], Optional[str]]:
    year_s, month_s, day_s = clean_text(year_raw), clean_text(month_raw), clean_text(day_raw)
    if not year_s:
        m = _YEAR_RE.search(clean_text(medline_raw))
        return (int(m.group(1)), m.group(1)) if m else (None, None)
    if not _ascii_digits(year_s, 4):
        m = _YEAR_RE.search(year_s)
        if not m:
            return None, None
        year_s = m.group(1)
    year = int(year_s)
    month = _month(month_s)
    if month is None:
        return year, f"{year:04d}"
    if _ascii_digits(day_s, 2) and 1 <= int(day_s) <= 31:
        return year, f"{year:04d}-{month:02d}-{int(day_s):02d}"
    return year, f"{year:04d}-{month:02d}"


def _ascii_digits(text: str, max_len: int) -> bool:
    """Plain digits int() takes at once: str.isdigit() alone accepts "²" (int() refuses it) and
    any length (int() refuses 4,300+ digits), and a hostile date must not crash the parse."""
    return 0 < len(text) <= max_len and text.isascii() and text.isdigit()


# Three dates a record, and a batch shares few distinct ones (a day's entrez dates), so caching
# the text -> date step saves ~1 µs a date. Only short texts are cached, so a hostile body cannot
# park megabytes in the cache; exceptions are not cached, so a bad date fails every time.
_DATE_MEMO_CHARS = 64
_date_memo = functools.lru_cache(maxsize=4096)(_date_from_text)


def _month(text: str) -> Optional[int]:
    if not text:
        return None
    if _ascii_digits(text, 2):
        m = int(text)
        return m if 1 <= m <= 12 else None
    return _MONTHS.get(text[:3].lower())


def _history_date(histories) -> Optional[str]:
    """The first complete PubStatus="entrez" date, else the first complete "pubmed" one."""
    entrez = pubmed = None
    for history in histories:
        for d in history:
            if d.tag != "PubMedPubDate":
                continue
            status = d.get("PubStatus")
            if status == "entrez":
                if entrez is None:
                    iso = _date_iso(d)[1]
                    if iso and len(iso) == 10:
                        entrez = iso
            elif status == "pubmed" and pubmed is None:
                iso = _date_iso(d)[1]
                if iso and len(iso) == 10:
                    pubmed = iso
    return entrez or pubmed


def _authors(author_lists) -> tuple[str, ...]:
    out = []
    for author_list in author_lists:
        if author_list.get("Type") not in (None, "authors"):
            continue  # editors of a book are not its authors
        for a in author_list:
            if a.tag != "Author" or a.get("ValidYN") == "N":
                continue  # NLM keeps misspelt names with ValidYN="N" next to the corrected one
            last = initials = collective = ""
            for part in a:
                tag = part.tag
                if tag == "LastName":
                    last = clean_text(part.text)
                elif tag == "Initials":
                    initials = clean_text(part.text)
                elif tag == "CollectiveName":
                    collective = flatten_text(part)
            if last:
                out.append(f"{last} {initials}" if initials else last)
            elif collective:
                out.append(collective)
    return tuple(out)


def _abstract(abstracts) -> tuple[AbstractSection, ...]:
    sections = []
    for abstract in abstracts:
        for at in abstract:
            if at.tag != "AbstractText":
                continue
            text = flatten_text(at)
            label = at.get("Label")
            if label is not None:
                label = clean_text(label) or None
            if text or label:
                sections.append(AbstractSection(text=text, label=label,
                                                category=at.get("NlmCategory")))
    return tuple(sections)


def _doi_pmc(id_lists) -> tuple[Optional[str], Optional[str]]:
    """The first non-empty ArticleId of IdType doi and of IdType pmc (the only two used)."""
    doi = pmc = None
    for id_list in id_lists:
        for aid in id_list:
            if aid.tag != "ArticleId":
                continue
            kind = aid.get("IdType")
            if kind == "doi":
                if doi is None:
                    doi = clean_text(aid.text) or None
            elif kind == "pmc" and pmc is None:
                pmc = clean_text(aid.text) or None
    return doi, pmc


def _doi_from_elocation(locations) -> Optional[str]:
    for loc in locations:
        if loc.get("EIdType") == "doi" and loc.get("ValidYN", "Y") != "N":
            value = clean_text(loc.text)
            if value:
                return value
    return None


def _first_child(el, tag: str):
    for child in el:
        if child.tag == tag:
            return child
    return None


def _registry_ids(databank_lists, title: str, abstract: tuple) -> tuple[str, ...]:
    found = []
    for bank_list in databank_lists:
        for bank in bank_list:
            if bank.tag != "DataBank":
                continue
            name = _first_child(bank, "DataBankName")
            if name is None or clean_text(name.text).lower() != "clinicaltrials.gov":
                continue
            for numbers in bank:
                if numbers.tag == "AccessionNumberList":
                    found.extend(clean_text(n.text).upper() for n in numbers
                                 if n.tag == "AccessionNumber")
    # One scan over all the text: a match is all word characters, so it cannot span the "\n"
    # (a non-word character) between two texts, and \b next to one holds as at a text's edge.
    # The \b...\b regex tries every position (~15 µs for a long abstract), so it runs only when
    # a literal-prefix pattern, which re scans for quickly, finds "NCT" or "nct" and a digit; a
    # bare "nct" substring test would pass most abstracts ("function", "distinct").
    text = "\n".join([title, *[s.text for s in abstract]]) if abstract else title
    if _NCT_UPPER_HINT.search(text) or _NCT_LOWER_HINT.search(text):
        found.extend(m.group(0).upper() for m in _NCT_RE.finditer(text))
    return tuple(dict.fromkeys(x for x in found if x))


def _texts(elements) -> tuple[str, ...]:
    return tuple(t for t in map(flatten_text, elements) if t)


def _child_texts(parents, tag: str) -> tuple[str, ...]:
    """Non-empty flattened text of every ``tag`` child of ``parents``, in order."""
    out = []
    for parent in parents:
        for child in parent:
            if child.tag == tag:
                text = flatten_text(child)
                if text:
                    out.append(text)
    return tuple(out)


def _corrections(lists) -> tuple[Correction, ...]:
    out = []
    for corrections in lists:
        for c in corrections:
            if c.tag != "CommentsCorrections":
                continue
            pmid_el = source_el = None
            for part in c:
                tag = part.tag
                if tag == "PMID":
                    if pmid_el is None:
                        pmid_el = part
                elif tag == "RefSource" and source_el is None:
                    source_el = part
            out.append(Correction(
                ref_type=c.get("RefType", ""),
                pmid=clean_text(pmid_el.text) or None if pmid_el is not None else None,
                source=clean_text(source_el.text) or None if source_el is not None else None))
    return tuple(out)


def _journal_article(el) -> Optional[Article]:
    mc = data = None
    for child in el:
        tag = child.tag
        if tag == "MedlineCitation":
            if mc is None:
                mc = child
        elif tag == "PubmedData" and data is None:
            data = child
    if mc is None:
        return None

    pmid_el = art = None
    mesh_lists, keyword_lists, correction_lists = [], [], []
    for child in mc:
        tag = child.tag
        if tag == "PMID":
            if pmid_el is None:
                pmid_el = child
        elif tag == "Article":
            if art is None:
                art = child
        elif tag == "MeshHeadingList":
            mesh_lists.append(child)
        elif tag == "KeywordList":
            keyword_lists.append(child)
        elif tag == "CommentsCorrectionsList":
            correction_lists.append(child)
    pmid = clean_text(pmid_el.text) if pmid_el is not None else ""
    if not pmid:
        return None

    journal = title_el = None
    abstracts, author_lists, pub_type_lists, locations, databank_lists, languages = (
        [], [], [], [], [], [])
    if art is not None:
        for child in art:
            tag = child.tag
            if tag == "Journal":
                if journal is None:
                    journal = child
            elif tag == "ArticleTitle":
                if title_el is None:
                    title_el = child
            elif tag == "Abstract":
                abstracts.append(child)
            elif tag == "AuthorList":
                author_lists.append(child)
            elif tag == "Language":
                languages.append(child)
            elif tag == "PublicationTypeList":
                pub_type_lists.append(child)
            elif tag == "ELocationID":
                locations.append(child)
            elif tag == "DataBankList":
                databank_lists.append(child)

    journal_title_el = iso_el = pub_date_el = None
    if journal is not None:
        for child in journal:
            tag = child.tag
            if tag == "JournalIssue":
                if pub_date_el is None:  # the first PubDate of any JournalIssue
                    pub_date_el = _first_child(child, "PubDate")
            elif tag == "Title":
                if journal_title_el is None:
                    journal_title_el = child
            elif tag == "ISOAbbreviation" and iso_el is None:
                iso_el = child

    id_lists, histories = [], []
    if data is not None:
        for child in data:
            tag = child.tag
            if tag == "ArticleIdList":
                id_lists.append(child)
            elif tag == "History":
                histories.append(child)

    title = flatten_text(title_el)
    abstract = _abstract(abstracts)
    pub_year, pub_date = _date_iso(pub_date_el)
    doi, pmc = _doi_pmc(id_lists)
    return Article(
        pmid=pmid,
        version=_version(pmid_el),
        title=title,
        abstract=abstract,
        journal=flatten_text(journal_title_el),
        journal_iso=clean_text(iso_el.text) if iso_el is not None else "",
        pub_year=pub_year,
        pub_date=pub_date,
        entrez_date=_history_date(histories),
        authors=_authors(author_lists),
        publication_types=_child_texts(pub_type_lists, "PublicationType"),
        mesh_terms=_child_texts(
            [h for mesh_list in mesh_lists for h in mesh_list if h.tag == "MeshHeading"],
            "DescriptorName"),
        keywords=_child_texts(keyword_lists, "Keyword"),
        doi=doi or _doi_from_elocation(locations),
        pmc=pmc,
        registry_ids=_registry_ids(databank_lists, title, abstract),
        languages=_texts(languages),
        corrections=_corrections(correction_lists),
        status=mc.get("Status"),
        indexing_method=mc.get("IndexingMethod"),
        is_book=False,
    )


def _index(el) -> dict:
    """{tag: [children]} of one element (empty for None), built in a single pass."""
    idx: dict = {}
    if el is not None:
        for child in el:
            bucket = idx.get(child.tag)
            if bucket is None:
                idx[child.tag] = [child]
            else:
                bucket.append(child)
    return idx


def _book_article(el) -> Optional[Article]:
    # Book records are rare in EFetch output, so this path keeps the compact tag-index form the
    # journal path gave up for speed.
    top = _index(el)
    doc_el = (top.get("BookDocument") or [None])[0]
    if doc_el is None:
        return None
    doc = _index(doc_el)
    pmid_el = (doc.get("PMID") or [None])[0]
    pmid = _t(pmid_el)
    if not pmid:
        return None
    book = _index((doc.get("Book") or [None])[0])
    book_data = _index((top.get("PubmedBookData") or [None])[0])
    book_title = flatten_text((book.get("BookTitle") or [None])[0])
    chapter_title = flatten_text((doc.get("ArticleTitle") or [None])[0])
    abstract = _abstract(doc.get("Abstract", ()))
    title = chapter_title or book_title
    pub_year, pub_date = _date_iso((book.get("PubDate") or [None])[0])
    doi, pmc = _doi_pmc(doc.get("ArticleIdList", ()))
    data_doi, data_pmc = _doi_pmc(book_data.get("ArticleIdList", ()))  # the chapter's own win
    return Article(
        pmid=pmid,
        version=_version(pmid_el),
        title=title,
        abstract=abstract,
        journal=book_title if chapter_title else "",  # a chapter's container is its book
        journal_iso="",
        pub_year=pub_year,
        pub_date=pub_date,
        entrez_date=_history_date(book_data.get("History", ())),
        authors=_authors(doc.get("AuthorList", ())) or _authors(book.get("AuthorList", ())),
        publication_types=(_texts(doc.get("PublicationType", ()))
                           or _child_texts(doc.get("PublicationTypeList", ()), "PublicationType")),
        mesh_terms=(),
        keywords=_child_texts(doc.get("KeywordList", ()), "Keyword"),
        doi=(doi or data_doi or _doi_from_elocation(doc.get("ELocationID", ()))
             or _doi_from_elocation(book.get("ELocationID", ()))),
        pmc=pmc or data_pmc,
        registry_ids=_registry_ids(doc.get("DataBankList", ()), title, abstract),
        languages=_texts(doc.get("Language", ())),
        corrections=(),
        status=None,
        indexing_method=None,
        is_book=True,
    )
