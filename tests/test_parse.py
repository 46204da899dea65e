"""ldn_monitor.parse: real EFetch bodies (checked against Biopython), error bodies, hostile XML,
odd text, and streaming in constant memory."""
from __future__ import annotations

import gzip
import http.server
import io
import re
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from lxml import etree

from ldn_monitor import parse
from ldn_monitor.errors import BadResponse
from ldn_monitor.parse import PARSER_OPTIONS, iter_records, parse_efetch

SAMPLES = Path("/work/shared/eutils-samples")
SAMPLE_FILES = sorted(SAMPLES.glob("pubmed*.xml"))
MATHML = "{http://www.w3.org/1998/Math/MathML}"
needs_samples = pytest.mark.skipif(not SAMPLE_FILES, reason=f"no EFetch samples in {SAMPLES}")


def article_xml(pmid="100", title="A title.", abstract="Some text.", extra_article="",
                extra_citation="", version=None, extra_data=""):
    ver = f' Version="{version}"' if version is not None else ""
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID{ver}>{pmid}</PMID>'
            f'<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Internet"><PubDate>'
            f'<Year>2024</Year><Month>Mar</Month><Day>5</Day></PubDate></JournalIssue>'
            f'<Title>Pain Medicine</Title><ISOAbbreviation>Pain Med</ISOAbbreviation></Journal>'
            f'<ArticleTitle>{title}</ArticleTitle><Abstract><AbstractText>{abstract}</AbstractText>'
            f'</Abstract>{extra_article}<Language>eng</Language></Article>{extra_citation}'
            f'</MedlineCitation><PubmedData><History><PubMedPubDate PubStatus="entrez"><Year>2024'
            f'</Year><Month>3</Month><Day>7</Day></PubMedPubDate></History><PublicationStatus>'
            f'ppublish</PublicationStatus><ArticleIdList><ArticleId IdType="pubmed">{pmid}'
            f'</ArticleId>{extra_data}</ArticleIdList></PubmedData></PubmedArticle>')


def articleset(*items: str, prolog: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> bytes:
    return (prolog + "<PubmedArticleSet>" + "".join(items) + "</PubmedArticleSet>").encode("utf-8")


# --------------------------------------------------------------------------- Biopython oracle

@pytest.fixture(scope="module")
def entrez_read():
    """Bio.Entrez.read, guaranteed offline.

    Biopython 1.88 ships the DTDs these samples name (pubmed_180101/180601/190101/250101 and the
    MathML modules) in Bio/Entrez/DTDs, so validation needs no download; urlopen is replaced so
    a missing DTD fails loudly instead of reaching NCBI (the conftest socket guard is the
    second line). escape=True keeps inline markup as escaped XML we can flatten ourselves.
    """
    from Bio import Entrez
    import Bio.Entrez.Parser as entrez_parser

    def no_network(*args, **kwargs):
        raise AssertionError(f"Biopython tried to download {args[:1]}")

    mp = pytest.MonkeyPatch()
    mp.setattr(entrez_parser, "urlopen", no_network)

    def read(path):
        with open(path, "rb") as handle:
            return Entrez.read(handle, validate=True, escape=True)

    yield read
    mp.undo()


def _oracle_flat(value) -> str:
    # Independent of parse.flatten_text: parse Biopython's escaped string as a fragment, take the
    # text, glue MathML tokens together, collapse whitespace.
    def walk(el):
        out = [el.text or ""]
        for child in el:
            if child.tag.startswith(MATHML):
                out.append("".join(t.strip() for t in child.itertext()))
            else:
                out.append(walk(child))
            out.append(child.tail or "")
        return "".join(out)

    frag = etree.fromstring(f"<x>{value}</x>".encode("utf-8"))
    return " ".join(walk(frag).split())


def _oracle_date(d) -> str | None:
    months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    if "Year" not in d:
        m = re.search(r"\d{4}", d.get("MedlineDate", ""))
        return m.group(0) if m else None
    out = str(d["Year"])
    month = str(d.get("Month", ""))
    if month:
        num = int(month) if month.isdigit() else months.index(month[:3].lower()) + 1
        out += f"-{num:02d}"
        if d.get("Day"):
            out += f"-{int(d['Day']):02d}"
    return out


def _oracle(pa) -> dict:
    mc, data = pa["MedlineCitation"], pa["PubmedData"]
    art = mc["Article"]
    ids = {i.attributes["IdType"]: str(i) for i in reversed(data["ArticleIdList"])}
    eloc = [str(e) for e in art.get("ELocationID", []) if e.attributes.get("EIdType") == "doi"]
    history = {h.attributes["PubStatus"]: h for h in data["History"]}
    ent = history.get("entrez") or history.get("pubmed")
    authors = []
    for a in art.get("AuthorList", []):
        if "LastName" in a:
            authors.append(f"{a['LastName']} {a['Initials']}" if a.get("Initials") else str(a["LastName"]))
        else:
            authors.append(_oracle_flat(a["CollectiveName"]))
    pub_date = _oracle_date(art["Journal"]["JournalIssue"]["PubDate"])
    return {
        "pmid": str(mc["PMID"]),
        "version": int(mc["PMID"].attributes.get("Version", 1)),
        "title": _oracle_flat(art["ArticleTitle"]),
        "abstract": [(_oracle_flat(s), s.attributes.get("Label"), s.attributes.get("NlmCategory"))
                     for s in art.get("Abstract", {}).get("AbstractText", [])],
        "mesh": [str(h["DescriptorName"]) for h in mc.get("MeshHeadingList", [])],
        "publication_types": [str(p) for p in art["PublicationTypeList"]],
        "keywords": [_oracle_flat(k) for kl in mc.get("KeywordList", []) for k in kl],
        "doi": ids.get("doi") or (eloc[0] if eloc else None),
        "pmc": ids.get("pmc"),
        "journal": str(art["Journal"].get("Title", "")),
        "journal_iso": str(art["Journal"].get("ISOAbbreviation", "")),
        "pub_date": pub_date,
        "pub_year": int(pub_date[:4]) if pub_date else None,
        "entrez_date": f"{int(ent['Year']):04d}-{int(ent['Month']):02d}-{int(ent['Day']):02d}",
        "authors": authors,
        "languages": [str(x) for x in art["Language"]],
        "status": mc.attributes.get("Status"),
        "indexing_method": mc.attributes.get("IndexingMethod"),
        "corrections": [(c.attributes["RefType"], str(c.get("PMID", "")) or None)
                        for c in mc.get("CommentsCorrectionsList", [])],
    }


def _ours(a) -> dict:
    return {
        "pmid": a.pmid, "version": a.version, "title": a.title,
        "abstract": [(s.text, s.label, s.category) for s in a.abstract],
        "mesh": list(a.mesh_terms), "publication_types": list(a.publication_types),
        "keywords": list(a.keywords), "doi": a.doi, "pmc": a.pmc, "journal": a.journal,
        "journal_iso": a.journal_iso, "pub_date": a.pub_date, "pub_year": a.pub_year,
        "entrez_date": a.entrez_date, "authors": list(a.authors), "languages": list(a.languages),
        "status": a.status, "indexing_method": a.indexing_method,
        "corrections": [(c.ref_type, c.pmid) for c in a.corrections],
    }


@needs_samples
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_sample_matches_biopython_field_by_field(path, entrez_read):
    expected = [_oracle(pa) for pa in entrez_read(path)["PubmedArticle"]]
    got = [_ours(a) for a in iter_records(path)]
    assert [g["pmid"] for g in got] == [e["pmid"] for e in expected]
    for g, e in zip(got, expected):
        for field in e:
            assert g[field] == e[field], f"{path.name} PMID {e['pmid']}: {field}"


@needs_samples
def test_pubmed1_requested_ids_both_come_back_and_an_unknown_id_is_just_absent():
    # The manifest calls 9997 "unknown", but the body does hold a record for it (a 1976
    # Biochim Biophys Acta paper). What PubMed does with a truly unknown id is leave it out.
    assert [a.pmid for a in iter_records(SAMPLES / "pubmed1.xml")] == ["12091962", "9997"]
    result = parse_efetch(b'<?xml version="1.0" ?>\n<PubmedArticleSet></PubmedArticleSet>\n')
    assert result.articles == () and result.deleted == ()


@needs_samples
def test_inline_markup_and_mathml_are_flattened():
    def one(name):
        (a,) = list(iter_records(SAMPLES / name))
        return a

    tagish = re.compile(r"<\s*/?\s*[A-Za-z]")
    p5, p6, p7 = one("pubmed5.xml"), one("pubmed6.xml"), one("pubmed7.xml")
    for a in (p5, p6, p7, one("pubmed4.xml")):
        assert not tagish.search(a.title) and not tagish.search(a.abstract_text)
    assert "(ORQ3=4.15, 95% CI 1.56 to 11.01" in p5.abstract_text  # OR<sub>Q3</sub>
    assert "ptrend <0.01" in p5.abstract_text
    assert p6.title.startswith('A "Blood Relationship" Between')  # <i> spanning a quote
    assert "(LEmin)" in p6.abstract_text and "km·h-1" in p6.abstract_text
    assert "maximal oxygen uptake ( V.O2max )" in p6.abstract_text  # MathML kept, not dropped
    assert "inhaled He3/Xe129MRI" in p7.abstract_text  # mmultiscripts
    assert "H1MRI" in p7.abstract_text
    assert one("pubmed4.xml").title == ("Leucocyte telomere length, genetic variants at the TERT "
                                        "gene region and risk of pancreatic cancer.")


@needs_samples
def test_structured_abstract_labels():
    (p4,) = iter_records(SAMPLES / "pubmed4.xml")
    assert [s.label for s in p4.abstract] == ["OBJECTIVE", "DESIGN", "RESULTS", "CONCLUSIONS"]
    assert all(s.category is None for s in p4.abstract)  # the 2018 record has no NlmCategory
    assert p4.abstract_text.startswith("OBJECTIVE: Telomere shortening")
    assert "\n\nDESIGN: We measured" in p4.abstract_text
    (p5,) = iter_records(SAMPLES / "pubmed5.xml")
    assert [(s.label, s.category) for s in p5.abstract] == [
        ("OBJECTIVES", "OBJECTIVE"), ("METHODS", "METHODS"), ("RESULTS", "RESULTS"),
        ("CONCLUSIONS", "CONCLUSIONS")]


@needs_samples
def test_gzip_path_bytes_and_file_object_give_the_same_records(tmp_path):
    raw = (SAMPLES / "pubmed2.xml").read_bytes()
    gz = tmp_path / "pubmed2.xml.gz"
    gz.write_bytes(gzip.compress(raw))
    expected = list(iter_records(SAMPLES / "pubmed2.xml"))
    assert len(expected) == 2
    assert list(iter_records(gz)) == expected
    assert list(iter_records(str(gz))) == expected
    assert list(iter_records(gzip.compress(raw))) == expected
    assert list(iter_records(io.BytesIO(raw))) == expected
    assert parse_efetch(raw).articles == tuple(expected)
    with pytest.raises(TypeError):
        list(iter_records(io.StringIO(raw.decode("utf-8"))))


# --------------------------------------------------------------------------- record shapes

def test_fields_from_a_full_synthetic_record():
    extra_article = (
        '<AuthorList><Author ValidYN="Y"><LastName>Younger</LastName><ForeName>Jarred</ForeName>'
        '<Initials>J</Initials></Author><Author ValidYN="N"><LastName>Yonger</LastName>'
        '<Initials>J</Initials></Author><Author><CollectiveName>LDN <i>Study</i> Group'
        '</CollectiveName></Author></AuthorList>'
        '<DataBankList><DataBank><DataBankName>ClinicalTrials.gov</DataBankName>'
        '<AccessionNumberList><AccessionNumber>NCT00568555</AccessionNumber><AccessionNumber>'
        'NCT01111111</AccessionNumber></AccessionNumberList></DataBank><DataBank><DataBankName>'
        'ISRCTN</DataBankName><AccessionNumberList><AccessionNumber>ISRCTN123</AccessionNumber>'
        '</AccessionNumberList></DataBank></DataBankList>'
        '<PublicationTypeList><PublicationType UI="D016449">Randomized Controlled Trial'
        '</PublicationType><PublicationType UI="D016441">Retracted Publication</PublicationType>'
        '</PublicationTypeList>')
    extra_citation = (
        '<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn"><RefSource>Pain Med.'
        ' 2025;1:1</RefSource><PMID Version="1">999</PMID></CommentsCorrections>'
        '</CommentsCorrectionsList><MeshHeadingList><MeshHeading><DescriptorName UI="D005356">'
        'Fibromyalgia</DescriptorName></MeshHeading></MeshHeadingList>'
        '<OtherAbstract Type="Publisher" Language="spa"><AbstractText>Resumen NCT09999999'
        '</AbstractText></OtherAbstract>'
        '<KeywordList Owner="NOTNLM"><Keyword>low-dose <i>naltrexone</i></Keyword></KeywordList>')
    body = articleset(article_xml(
        pmid="123", title="LDN trial (NCT01111111)", extra_article=extra_article,
        abstract="Registered as NCT02222222 and nct00568555.", extra_citation=extra_citation,
        extra_data='<ArticleId IdType="doi">10.1/abc</ArticleId><ArticleId IdType="pmc">PMC1'
                   '</ArticleId>'))
    (a,) = parse_efetch(body).articles
    assert a.authors == ("Younger J", "LDN Study Group")  # ValidYN="N" is NLM's discarded spelling
    assert a.registry_ids == ("NCT00568555", "NCT01111111", "NCT02222222")
    assert "NCT09999999" not in a.registry_ids  # OtherAbstract is ignored
    assert a.abstract_text == "Registered as NCT02222222 and nct00568555."
    assert a.is_retracted and a.corrections[0].pmid == "999"
    assert a.corrections[0].source == "Pain Med. 2025;1:1"
    assert a.mesh_terms == ("Fibromyalgia",) and a.keywords == ("low-dose naltrexone",)
    assert (a.doi, a.pmc, a.status, a.indexing_method) == ("10.1/abc", "PMC1", "MEDLINE", None)
    assert (a.journal, a.journal_iso, a.pub_year, a.pub_date, a.entrez_date) == (
        "Pain Medicine", "Pain Med", 2024, "2024-03-05", "2024-03-07")


@pytest.mark.parametrize("pubdate, year, iso", [
    ("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>", 1998, "1998"),
    ("<Year>2019</Year><Season>Spring</Season>", 2019, "2019"),
    ("<Year>2020</Year><Month>11</Month>", 2020, "2020-11"),
    ("<MedlineDate></MedlineDate>", None, None),
    # hostile or odd digits: a date is dropped or shortened, the record is still read
    pytest.param("<Year>\u00b2\u2070\u00b2\u2074</Year>", None, None, id="superscript-year"),
    pytest.param("<Year>" + "9" * 5000 + "</Year>", None, None, id="5000-digit-year"),
    pytest.param("<Year>2020</Year><Month>\u00b9\u00b9</Month><Day>3</Day>", 2020, "2020", id="superscript-month"),
    pytest.param("<Year>2020</Year><Month>11</Month><Day>" + "1" * 5000 + "</Day>", 2020, "2020-11", id="5000-digit-day"),
])
def test_publication_date_shapes(pubdate, year, iso):
    xml = article_xml().replace(
        "<Year>2024</Year><Month>Mar</Month><Day>5</Day></PubDate>", pubdate + "</PubDate>")
    (a,) = parse_efetch(articleset(xml)).articles
    assert (a.pub_year, a.pub_date) == (year, iso)


def test_doi_from_elocation_and_entrez_falls_back_to_pubmed_date():
    xml = article_xml(extra_article='<ELocationID EIdType="doi" ValidYN="Y">10.9/x</ELocationID>')
    xml = xml.replace('PubStatus="entrez"', 'PubStatus="pubmed"')
    (a,) = parse_efetch(articleset(xml)).articles
    assert a.doi == "10.9/x" and a.entrez_date == "2024-03-07"


def test_newer_pmid_version_and_default_version():
    result = parse_efetch(articleset(article_xml(pmid="7", version=3), article_xml(pmid="8")))
    assert [(a.pmid, a.version) for a in result.articles] == [("7", 3), ("8", 1)]


def test_not_available_title_is_kept_stripped():
    (a,) = parse_efetch(articleset(article_xml(title="  [Not Available].  "))).articles
    assert a.title == "[Not Available]."


def test_delete_citation_is_reported_not_yielded():
    body = articleset(article_xml(pmid="1"), article_xml(pmid="2"),
                      '<DeleteCitation><PMID Version="1">31</PMID><PMID Version="1">32</PMID>'
                      '</DeleteCitation>')
    seen = []
    articles = list(iter_records(body, on_deleted=seen.append))
    assert [a.pmid for a in articles] == ["1", "2"] and seen == [["31", "32"]]
    result = parse_efetch(body)
    assert result.deleted == ("31", "32") and len(result.articles) == 2
    only = parse_efetch(articleset('<DeleteCitation><PMID Version="1">5</PMID></DeleteCitation>'))
    assert only.articles == () and only.deleted == ("5",)
    list(iter_records(body))  # no callback: fine


BOOK = """<PubmedBookArticle><BookDocument><PMID Version="1">20301295</PMID>
<ArticleIdList><ArticleId IdType="bookaccession">NBK1116</ArticleId>
<ArticleId IdType="doi">10.5555/book</ArticleId></ArticleIdList>
<Book><Publisher><PublisherName>University of Washington</PublisherName></Publisher>
<BookTitle book="gene">GeneReviews<sup>®</sup></BookTitle>
<PubDate><Year>1993</Year><Month>09</Month></PubDate>
<AuthorList Type="editors"><Author><LastName>Adam</LastName><Initials>MP</Initials></Author></AuthorList>
</Book>
<ArticleTitle>Low-dose naltrexone in a rare disease</ArticleTitle>
<Language>eng</Language>
<AuthorList Type="authors"><Author><LastName>Smith</LastName><Initials>JP</Initials></Author></AuthorList>
<PublicationType UI="D016454">Review</PublicationType>
<Abstract><AbstractText Label="CLINICAL CHARACTERISTICS" NlmCategory="UNASSIGNED">Rare <i>thing</i>.</AbstractText>
<AbstractText Label="MANAGEMENT" NlmCategory="UNASSIGNED">Trial NCT01234567.</AbstractText></Abstract>
</BookDocument>
<PubmedBookData><History><PubMedPubDate PubStatus="pubmed"><Year>2010</Year><Month>3</Month><Day>20</Day></PubMedPubDate>
<PubMedPubDate PubStatus="entrez"><Year>2010</Year><Month>3</Month><Day>19</Day></PubMedPubDate></History>
<PublicationStatus>ppublish</PublicationStatus>
<ArticleIdList><ArticleId IdType="pubmed">20301295</ArticleId></ArticleIdList></PubmedBookData>
</PubmedBookArticle>"""


def test_pubmed_book_article():
    (a,) = parse_efetch(articleset(BOOK, article_xml(pmid="3"))).articles[:1]
    assert a.is_book and (a.pmid, a.version) == ("20301295", 1)
    assert a.title == "Low-dose naltrexone in a rare disease" and a.journal == "GeneReviews®"
    assert a.authors == ("Smith JP",)  # editors are not authors
    assert (a.pub_year, a.pub_date, a.entrez_date) == (1993, "1993-09", "2010-03-19")
    assert [(s.label, s.text) for s in a.abstract] == [
        ("CLINICAL CHARACTERISTICS", "Rare thing."), ("MANAGEMENT", "Trial NCT01234567.")]
    assert a.publication_types == ("Review",) and a.doi == "10.5555/book"
    assert a.registry_ids == ("NCT01234567",) and a.languages == ("eng",)
    # A whole book (no chapter title) is titled by its BookTitle, inside a PubmedBookArticleSet.
    whole = BOOK.replace("<ArticleTitle>Low-dose naltrexone in a rare disease</ArticleTitle>", "")
    (b,) = parse_efetch(f"<PubmedBookArticleSet>{whole}</PubmedBookArticleSet>".encode()).articles
    assert b.is_book and b.title == "GeneReviews®" and b.journal == ""


def test_fifty_thousand_character_abstract():
    words = ("lorem ipsum dolor sit amet " * 2000)[:50_000].strip()
    (a,) = parse_efetch(articleset(article_xml(abstract=words))).articles
    assert a.abstract_text == words and len(a.abstract_text) == 50_000


def test_non_latin_text_round_trips():
    title = "低剂量纳曲酮治疗纤维肌痛的随机对照试验"
    abstract = "Низкие дозы налтрексона (НДН) снижали боль; ελληνικά; العربية; 日本語テキスト"
    for encoding in ("UTF-8", "UTF-16"):
        body = ('<?xml version="1.0" encoding="%s"?>\n<PubmedArticleSet>%s</PubmedArticleSet>'
                % (encoding, article_xml(title=title, abstract=abstract))).encode(encoding)
        (a,) = parse_efetch(body).articles
        assert (a.title, a.abstract_text) == (title, abstract)


def test_control_characters_are_stripped():
    # Raw C0 bytes are illegal XML (a strict parser would reject the whole batch, on every
    # retry); DEL and C1 controls are legal XML but garbage in e-mail and terminals.
    abstract = "A\x01B\x0bC &#x7F;D&#x85;E&#x9C;F\tG\nH\rI"
    body = articleset(article_xml(title="Ti\x02tle\x1f", abstract=abstract))
    (a,) = parse_efetch(body).articles
    assert a.title == "Title"
    assert a.abstract_text == "ABC DEF G H I"


def test_whitespace_collapses_inside_and_around_markup():
    (a,) = parse_efetch(articleset(article_xml(
        title="  Low\n  dose <b>nal</b><i>trexone</i>\t<sup>2</sup> ", abstract="x<sub>1</sub> "))).articles
    assert a.title == "Low dose naltrexone 2" and a.abstract_text == "x1"


_CONTROLS = dict.fromkeys([c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)] + list(range(0x7F, 0xA0)))
# Whitespace of every kind, the controls split() also counts as whitespace (\x0b \x1c \x85),
# other controls, and printable text.
_TRICKY = st.text(alphabet=st.sampled_from(
    list(" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2009\u2028\u3000\x00\x01\x7f\x9f\u200b") + ["a", "é", "–", "😀"]),
    max_size=40)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(_TRICKY, st.text(max_size=40), _TRICKY.map(lambda t: "word " * 30 + t)))
def test_clean_text_is_drop_controls_then_collapse_whitespace(text):
    # clean_text takes shortcuts for speed; this is the definition they must agree with.
    assert parse.clean_text(text) == " ".join(text.translate(_CONTROLS).split())


def test_repeated_elements_first_last_or_all_as_before():
    # Which occurrence counts when PubMed (or a broken body) repeats an element. The parser
    # walks children by hand for speed; these are the choices it must keep.
    xml = article_xml(
        title="First title", abstract="Part one.",
        extra_article=(
            '<ArticleTitle>Second title</ArticleTitle><Abstract><AbstractText Label=" B ">Part two.'
            '</AbstractText></Abstract><AuthorList><Author><LastName>Old</LastName><LastName>New'
            '</LastName><Initials>A</Initials></Author></AuthorList><AuthorList Type="editors">'
            '<Author><LastName>Editor</LastName></Author></AuthorList><AuthorList Type="authors">'
            '<Author><CollectiveName>Group</CollectiveName></Author></AuthorList>'
            '<Language>fre</Language>'),
        extra_data='<ArticleId IdType="doi"> </ArticleId><ArticleId IdType="doi">10.1/second</ArticleId>'
                   '<ArticleId IdType="doi">10.1/third</ArticleId>')
    xml = xml.replace("<JournalIssue CitedMedium=\"Internet\">",
                      "<JournalIssue><Volume>1</Volume></JournalIssue><JournalIssue CitedMedium=\"Internet\">")
    xml = xml.replace("<ISOAbbreviation>Pain Med</ISOAbbreviation>",
                      "<ISOAbbreviation>Pain Med</ISOAbbreviation><ISOAbbreviation>PM</ISOAbbreviation>")
    xml = xml.replace('<PubMedPubDate PubStatus="entrez"><Year>2024</Year>',
                      '<PubMedPubDate PubStatus="entrez"><Year>2023</Year></PubMedPubDate>'
                      '<PubMedPubDate PubStatus="entrez"><Year>2022</Year><Year>2024</Year>')
    (a,) = parse_efetch(articleset(xml)).articles
    assert a.title == "First title"  # first ArticleTitle
    assert [(s.label, s.text) for s in a.abstract] == [(None, "Part one."), ("B", "Part two.")]  # all
    assert a.authors == ("New A", "Group")  # last LastName; every AuthorList but editors'
    assert a.languages == ("fre", "eng") and a.journal_iso == "Pain Med"  # all, in order; first
    assert a.pub_date == "2024-03-05"  # the first JournalIssue that has a PubDate
    assert a.entrez_date == "2024-03-07"  # first complete entrez date; last Year in it
    assert a.doi == "10.1/second"  # first non-empty


def test_registry_ids_do_not_run_across_title_and_abstract_sections():
    body = articleset(article_xml(
        title="Trial NCT0123456",  # 7 digits; the abstract's leading "7" must not complete it
        abstract="7 then NCT11111111", extra_article=(
            '<Abstract><AbstractText>NCT22222222</AbstractText><AbstractText>xNCT33333333 and '
            'nct44444444.</AbstractText></Abstract>')))
    (a,) = parse_efetch(body).articles
    assert a.registry_ids == ("NCT11111111", "NCT22222222", "NCT44444444")


# --------------------------------------------------------------------------- failed requests

@needs_samples
def test_truncated_sample_raises_bad_response():
    raw = (SAMPLES / "pubmed4.xml").read_bytes()
    with pytest.raises(BadResponse, match=r"truncated or malformed XML at line \d+.*retried"):
        parse_efetch(raw[: len(raw) // 2])


@needs_samples
def test_truncation_after_some_records_still_raises_and_parse_efetch_returns_nothing():
    raw = (SAMPLES / "pubmed2.xml").read_bytes()
    cut = raw[: raw.index(b"</PubmedArticle>") + len(b"</PubmedArticle>") + 200]
    got = []
    with pytest.raises(BadResponse, match="truncated or malformed"):
        for article in iter_records(cut):
            got.append(article.pmid)
    assert got == ["11748933"]  # streaming had already handed one over; callers must discard
    with pytest.raises(BadResponse):
        parse_efetch(cut)


@needs_samples
def test_truncated_gzip_raises_bad_response():
    packed = gzip.compress((SAMPLES / "pubmed2.xml").read_bytes())
    for cut in (len(packed) // 2, len(packed) - 4):
        with pytest.raises(BadResponse, match="truncated or corrupt gzip"):
            parse_efetch(packed[:cut])


@needs_samples
@pytest.mark.parametrize("name, message", [
    ("epost2.xml", "Invalid db name specified: nothing"),
    ("epost3.xml", "Empty ID list; Nothing to store"),
])
def test_error_bodies_raise(name, message):
    with pytest.raises(BadResponse, match=re.escape(message)):
        parse_efetch((SAMPLES / name).read_bytes())


@pytest.mark.parametrize("body, message", [
    (b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>",
     "Unable to obtain query #1"),
    (articleset(article_xml(), "<ERROR>Some backend failure</ERROR>"), "Some backend failure"),
    (b"<eSearchResult><Count>0</Count></eSearchResult>", "eSearchResult"),
    (b'<?xml version="1.0"?><Foo/>', "instead of PubmedArticleSet"),
])
def test_error_and_foreign_roots_raise(body, message):
    with pytest.raises(BadResponse, match=re.escape(message)):
        parse_efetch(body)


@pytest.mark.parametrize("body", [
    b"<!DOCTYPE html>\n<html><head><title>Service unavailable</title></head><body><p>Try later"
    b"<br></body></html>",
    b'<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>',
    b"<HTML><BODY>Proxy error</BODY></HTML>",
    b"\n\n  <html><body>x</body></html>",
])
def test_html_pages_raise(body):
    with pytest.raises(BadResponse, match="HTML page"):
        parse_efetch(body)


@pytest.mark.parametrize("body", [b"", b"   \n\t", b"\xef\xbb\xbf"])
def test_empty_bodies_raise(body):
    with pytest.raises(BadResponse, match="empty body"):
        parse_efetch(body)


def test_garbage_raises():
    with pytest.raises(BadResponse, match="malformed"):
        parse_efetch(b'{"error":"API rate limit exceeded","count":"11"}')


# --------------------------------------------------------------------------- hostile XML

def test_parser_options_are_the_safe_ones():
    assert PARSER_OPTIONS["resolve_entities"] is False
    assert PARSER_OPTIONS["no_network"] is True
    assert PARSER_OPTIONS["load_dtd"] is False
    assert PARSER_OPTIONS["dtd_validation"] is False
    assert PARSER_OPTIONS["huge_tree"] is False


def test_billion_laughs_does_not_expand():
    decls = ['<!ENTITY lol0 "lollollollollollollollollollol">'] + [
        f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10)]
    body = ('<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [\n' + "\n".join(decls) + "\n]>\n"
            + "<PubmedArticleSet>" + article_xml(title="Bomb &lol9; here", abstract="&lol9;")
            + "</PubmedArticleSet>").encode()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = parse_efetch(body)
    except BadResponse as exc:
        result = None
        assert "entit" in str(exc).lower()
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < 10.0 and peak < 5_000_000  # expanded, it would be ~3 GB and minutes
    if result is not None:  # entities left unexpanded contribute nothing
        assert "lol" not in result.articles[0].title + result.articles[0].abstract_text


def test_external_entities_are_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-CONTENT\n")
    evil_dtd = tmp_path / "evil.dtd"
    evil_dtd.write_text('<!ENTITY leak "LEAKED-FROM-DTD">')
    bodies = [
        f'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [ <!ENTITY xxe SYSTEM "file:///etc/passwd">'
        f' <!ENTITY sec SYSTEM "{secret.as_uri()}"> ]>\n<PubmedArticleSet>'
        f'{article_xml(title="a &xxe; b", abstract="c &sec; d")}</PubmedArticleSet>',
        f'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet SYSTEM "{evil_dtd.as_uri()}">\n'
        f'<PubmedArticleSet>{article_xml(title="a &leak; b")}</PubmedArticleSet>',
        f'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [ <!ENTITY % p SYSTEM '
        f'"{evil_dtd.as_uri()}"> %p; ]>\n<PubmedArticleSet>{article_xml(title="a &leak; b")}'
        f'</PubmedArticleSet>',
    ]
    for body in bodies:
        try:
            articles = parse_efetch(body.encode()).articles
        except BadResponse:
            continue
        text = " ".join(a.title + " " + a.abstract_text for a in articles)
        assert "root:" not in text and "TOPSECRET" not in text and "LEAKED" not in text
        assert articles[0].title == "a b"


def test_no_network_fetch_for_dtd_or_entity():
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY net "FROM-NETWORK">')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        body = (f'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet SYSTEM "{base}/pubmed.dtd" ['
                f' <!ENTITY e SYSTEM "{base}/entity"> ]>\n<PubmedArticleSet>'
                f'{article_xml(title="x &e; &net; y")}</PubmedArticleSet>').encode()
        try:
            text = parse_efetch(body).articles[0].title
            assert "FROM-NETWORK" not in text
        except BadResponse:
            pass
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []


# --------------------------------------------------------------------------- streaming

class GeneratedBody:
    """A binary file-like that makes EFetch XML on demand: the test itself holds no body."""

    def __init__(self, n_records: int, abstract_chars: int = 2000):
        self._chunks = self._generate(n_records, abstract_chars)
        self._buf = b""

    @staticmethod
    def _generate(n, abstract_chars):
        yield b'<?xml version="1.0" encoding="UTF-8"?>\n<PubmedArticleSet>\n'
        filler = ("Low-dose naltrexone reduced pain scores in this cohort. " * 100)[:abstract_chars]
        for i in range(n):
            yield article_xml(pmid=str(40_000_000 + i), title=f"Record {i} about LDN",
                              abstract=f"{i} {filler}").encode("utf-8") + b"\n"
        yield b"</PubmedArticleSet>\n"

    def read(self, n=-1):
        while len(self._buf) < n or n < 0:
            try:
                self._buf += next(self._chunks)
            except StopIteration:
                break
        if n < 0:
            n = len(self._buf)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def test_streaming_5000_records_in_constant_memory():
    # ~6 MB of XML. Holding the Articles (or the body) would cost over 5 MB of Python memory;
    # streaming needs one record at a time (measured peak: under 0.1 MB).
    n = 5000
    tracemalloc.start()
    count = chars = 0
    try:
        for article in iter_records(GeneratedBody(n, abstract_chars=1000)):
            count += 1
            chars += len(article.abstract_text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n and chars > n * 1000
    assert peak < 2_000_000, f"peak {peak:,} bytes: records are being kept"


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_streaming_releases_the_libxml2_tree():
    # tracemalloc cannot see libxml2's own allocations, so watch resident memory instead: an
    # uncleared tree for ~21 MB of XML grows RSS by tens of MB; a cleared one barely moves.
    baseline = _rss_bytes()
    worst = 0
    for i, _ in enumerate(iter_records(GeneratedBody(5000, abstract_chars=4000))):
        if i % 250 == 0:
            worst = max(worst, _rss_bytes() - baseline)
    assert worst < 12_000_000, f"RSS grew by {worst:,} bytes while streaming"
