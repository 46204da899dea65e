"""Bulk ingestion of PubMed baseline/update files (``ldn-monitor ingest-files``, ``ldn-ingest-files``)."""
from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from ldn_monitor import ingest
from ldn_monitor.cli import main
from ldn_monitor.errors import InputError
from ldn_monitor.settings import Settings
from ldn_monitor.store import Store

from replay_helpers import DOCTYPE, article_xml

MESH_NALTREXONE = ('<MeshHeadingList><MeshHeading><DescriptorName UI="D009271" MajorTopicYN="Y">Naltrexone'
                   '</DescriptorName></MeshHeading></MeshHeadingList>')


def ldn(pmid, version: int = 1, title: str = "Low-dose naltrexone for fibromyalgia: a pilot study") -> str:
    return article_xml(pmid, "2024/03/01", title=title, version=version)


def other(pmid, version: int = 1) -> str:
    return article_xml(pmid, "2024/03/01", title=f"Metformin and exercise in older adults {pmid}", version=version)


def mesh_only(pmid) -> str:
    """Off-topic title and abstract; only the MeSH heading says Naltrexone."""
    x = article_xml(pmid, "2024/03/01", title=f"Opioid antagonists in alcohol use disorder {pmid}")
    return x.replace("</MedlineJournalInfo>", "</MedlineJournalInfo>" + MESH_NALTREXONE)


def write_file(path: Path, articles, deleted=(), gz: bool = True) -> Path:
    body = "\n".join(articles)
    if deleted:
        body += "\n<DeleteCitation>" + "".join(f'<PMID Version="1">{p}</PMID>' for p in deleted) + "</DeleteCitation>"
    data = f'<?xml version="1.0" encoding="UTF-8"?>\n{DOCTYPE}\n<PubmedArticleSet>\n{body}\n</PubmedArticleSet>\n'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data.encode()) if gz else data.encode())
    return path


def settings(tmp_path, **kw) -> Settings:
    return Settings(db=tmp_path / "ingest.db", **kw)


def test_prefilter_on_raw_bytes():
    assert ingest.prefilter(b"<ArticleTitle>Low-dose naltrexone</ArticleTitle>")
    assert ingest.prefilter(b"<DescriptorName>Naltrexone</DescriptorName>")
    assert ingest.prefilter(b"NALTREXONE HYDROCHLORIDE")
    assert ingest.prefilter(b"methylnaltrexone for opioid-induced constipation")
    assert not ingest.prefilter(b"<ArticleTitle>Naloxone and nalmefene</ArticleTitle>")
    assert not ingest.prefilter(b"")


def test_ingest_keeps_only_naltrexone_articles(tmp_path):
    arts = [other(30000000 + i) for i in range(40)]
    arts[3] = ldn(30000003)
    arts[17] = ldn(30000017, title="NALTREXONE AT LOW DOSE IN CROHN DISEASE")
    arts[29] = mesh_only(30000029)
    f = write_file(tmp_path / "pubmed25n0001.xml.gz", arts)
    out = ingest.ingest_file(settings(tmp_path), f, run_id=None)
    assert out["records"] == 40 and out["topic"] == 3 and out["matched"] == 3 and out["new"] == 3
    with Store(tmp_path / "ingest.db") as store:
        assert store.pmids() == {"30000003", "30000017", "30000029"}
        assert store.count("assessments") == 3  # the assessor ran on each kept record
        row = store.db.execute("SELECT path, records, matched FROM processed_files").fetchone()
        assert row == (str(f), 40, 3)


def test_byte_scan_agrees_with_prefilter_across_piece_boundaries(tmp_path):
    rng = random.Random(7)
    arts, expected = [], []
    for i in range(300):
        pmid = 31000000 + i
        kind = rng.random()
        x = ldn(pmid) if kind < 0.1 else mesh_only(pmid) if kind < 0.15 else other(pmid)
        arts.append(x)
        if ingest.prefilter(x.encode()):
            expected.append(str(pmid))
    f = write_file(tmp_path / "pubmed25n0002.xml.gz", arts)
    for chunk in (257, 4096, 65536, 1 << 22):  # pieces cut mid-record, mid-tag and not at all
        scan = ingest.FileScan()
        got = [a.pmid for a in ingest.scan_file(f, scan=scan, chunk_bytes=chunk)]
        assert got == expected and scan.records == 300, chunk


def test_delete_citation_flags_stored_pmids(tmp_path):
    s = settings(tmp_path)
    ingest.ingest_file(s, write_file(tmp_path / "pubmed25n0001.xml.gz", [ldn(32000001), ldn(32000002), other(1)]),
                       None)
    upd = write_file(tmp_path / "pubmed25n0002.xml.gz", [other(2)], deleted=["32000002", "99999999", "1"])
    out = ingest.ingest_file(s, upd, None)
    assert out["deleted"] == 1  # only a stored, live PMID counts
    with Store(s.db) as store:
        assert store.pmids() == {"32000001"}
        assert store.article_meta("32000002")["deleted"] == 1
        assert [e["pmid"] for e in store.events(event="deleted")] == ["32000002"]
        assert store.db.execute("SELECT deleted FROM processed_files WHERE path = ?", [str(upd)]).fetchone() == (1,)


def test_newer_pmid_version_wins(tmp_path):
    s = settings(tmp_path)
    # In one file, v2 before v1; across files, v3 then an older v1 again.
    ingest.ingest_file(s, write_file(tmp_path / "pubmed25n0001.xml.gz",
                                     [ldn(33000001, 2, "Naltrexone low dose, version two"), ldn(33000001, 1)]), None)
    with Store(s.db) as store:
        assert store.get_article("33000001").version == 2
        assert store.get_article("33000001").title == "Naltrexone low dose, version two"
        assert store.machine_assessment("33000001") is not None
    ingest.ingest_file(s, write_file(tmp_path / "pubmed25n0002.xml.gz",
                                     [ldn(33000001, 3, "Naltrexone low dose, version three")]), None)
    out = ingest.ingest_file(s, write_file(tmp_path / "pubmed25n0003.xml.gz", [ldn(33000001, 1)]), None)
    assert out["older"] == 1
    with Store(s.db) as store:
        assert store.get_article("33000001").version == 3
        assert store.get_article("33000001").title == "Naltrexone low dose, version three"


def test_update_that_drops_the_topic_word_still_replaces_the_stored_record(tmp_path):
    s = settings(tmp_path)
    ingest.ingest_file(s, write_file(tmp_path / "pubmed25n0001.xml.gz", [ldn(34000001)]), None)
    out = ingest.ingest_file(s, write_file(tmp_path / "pubmed25n0002.xml.gz", [other(34000001), other(5)]), None)
    assert out["topic"] == 0 and out["matched"] == 1 and out["updated"] == 1
    with Store(s.db) as store:
        assert store.get_article("34000001").title.startswith("Metformin")
        assert store.pmids() == {"34000001"}


def test_rerun_skips_files_by_checksum(tmp_path):
    s = settings(tmp_path)
    f = write_file(tmp_path / "pubmed25n0001.xml.gz", [ldn(35000001), other(6)])
    first = ingest.ingest_file(s, f, None)
    again = ingest.ingest_file(s, f, None)
    assert first["skipped"] is False and again["skipped"] is True
    copy = tmp_path / "elsewhere" / f.name  # same bytes under another path: same checksum
    copy.parent.mkdir()
    copy.write_bytes(f.read_bytes())
    assert ingest.ingest_file(s, copy, None)["skipped"] is True
    with Store(s.db) as store:
        assert store.count("processed_files") == 1
        assert store.count("article_events") == 1  # one "new", nothing from the re-runs


def test_damaged_files_fail_loudly_and_are_not_logged(tmp_path):
    s = settings(tmp_path)
    good = write_file(tmp_path / "pubmed25n0001.xml.gz", [ldn(36000000 + i) for i in range(50)])
    cut = tmp_path / "pubmed25n0002.xml.gz"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(InputError, match="truncated or corrupt gzip"):
        ingest.ingest_file(s, cut, None)
    short = tmp_path / "pubmed25n0003.xml"
    short.write_bytes(gzip.decompress(good.read_bytes())[:-40])
    with pytest.raises(InputError, match="truncated"):
        ingest.ingest_file(s, short, None)
    html = tmp_path / "pubmed25n0004.xml"
    html.write_bytes(b"<html><body>Not Found</body></html>")
    with pytest.raises(InputError, match="not a PubMed"):
        ingest.ingest_file(s, html, None)
    with Store(s.db) as store:
        assert store.count("processed_files") == 0


def test_expand_paths_orders_baseline_before_updates(tmp_path):
    for name in ("pubmed25n1275.xml.gz", "pubmed25n0002.xml.gz", "pubmed25n0001.xml.gz", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    got = [p.name for p in ingest.expand_paths([tmp_path, tmp_path / "pubmed25n0001.xml.gz"])]
    assert got == ["pubmed25n0001.xml.gz", "pubmed25n0002.xml.gz", "pubmed25n1275.xml.gz"]
    with pytest.raises(InputError, match="no such file"):
        ingest.expand_paths([tmp_path / "missing.xml.gz"])


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cli_ingest_files_without_prefect(tmp_path, capsys, workers):
    d = tmp_path / "baseline"
    write_file(d / "pubmed25n0001.xml.gz", [ldn(37000001), other(7), other(8)])
    write_file(d / "pubmed25n0002.xml.gz", [ldn(37000001, 2, "Naltrexone low dose v2"), other(9)],
               deleted=["37000001"])
    db = tmp_path / "cli.db"
    argv = ["ingest-files", str(d), "--no-prefect", "--workers", workers, "--db", str(db)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "pubmed25n0001.xml.gz: 3 records, 1 on topic" in out and "5 records scanned" in out
    with Store(db) as store:  # file 2 updates to v2, then its DeleteCitation removes it: name order held
        assert store.get_article("37000001").version == 2 and store.article_meta("37000001")["deleted"] == 1
        assert [r["kind"] for r in store.runs(1)] == ["ingest"] and store.runs(1)[0]["status"] == "succeeded"
    assert main(argv) == 0
    assert "skipped 2 already done" in capsys.readouterr().out


def test_cli_ingest_files_error_is_one_line(tmp_path, capsys):
    assert main(["ingest-files", str(tmp_path / "nope.xml.gz"), "--no-prefect", "--db", str(tmp_path / "x.db")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no such file") and "\n" not in err


@pytest.mark.flow
def test_flow_on_a_local_two_worker_dask_cluster(prefect_harness, tmp_path):
    pytest.importorskip("prefect_dask")
    from flows.ingest import run_ingest

    d = tmp_path / "baseline"
    expected = set()
    for n in range(3):
        arts = []
        for i in range(200):
            pmid = 38000000 + n * 1000 + i
            arts.append(ldn(pmid) if i % 40 == 0 else other(pmid))
            if i % 40 == 0:
                expected.add(str(pmid))
        write_file(d / f"pubmed25n{n + 1:04d}.xml.gz", arts, deleted=["38000000"] if n == 2 else ())
    db = tmp_path / "flow.db"
    first = run_ingest([str(d)], workers=2, overrides={"db": str(db)}, trigger="test")
    assert first["files"] == 3 and first["skipped"] == 0 and first["records"] == 600 and first["matched"] == 15
    assert first["new"] == 15 and first["deleted"] == 1
    second = run_ingest([str(d)], workers=2, overrides={"db": str(db)}, trigger="test")
    assert second["skipped"] == 3 and second["records"] == 0
    with Store(db) as store:
        assert store.pmids(include_deleted=True) == expected
        assert store.pmids() == expected - {"38000000"}
        assert store.count("assessments") == 15 and store.count("processed_files") == 3
        runs = store.runs(2)
        assert [r["status"] for r in runs] == ["succeeded", "succeeded"] and all(r["flow_run_id"] for r in runs)


@pytest.mark.flow
def test_cli_ingest_files_through_the_prefect_flow(prefect_harness, tmp_path, capsys):
    f = write_file(tmp_path / "in" / "pubmed25n0001.xml.gz", [ldn(39000001), other(10), other(11)])
    db = tmp_path / "cli-flow.db"
    assert main(["ingest-files", str(f), "--db", str(db)]) == 0  # one worker: ThreadPool, no Dask
    out = capsys.readouterr().out
    assert "pubmed25n0001.xml.gz: 3 records, 1 on topic, 1 kept" in out and "ingested 1 file(s)" in out
    with Store(db) as store:
        assert store.pmids() == {"39000001"} and store.runs(1)[0]["flow_run_id"]


def test_store_result_reassesses_what_another_assessor_version_made(tmp_path):
    import dataclasses

    from ldn_monitor.assess import ASSESSOR_VERSION

    f = write_file(tmp_path / "pubmed25n0001.xml.gz", [ldn(39500001), ldn(39500002), other(12)])
    res = ingest.analyse_file(f)
    assert res.matched == 2 and all(a.assessor_version == ASSESSOR_VERSION for a in res.assessments)
    stale = dataclasses.replace(res.assessments[0], assessor_version="assess-old", design="other")
    res = dataclasses.replace(res, assessments=(stale, res.assessments[1]))
    with Store(tmp_path / "r.db") as store:
        counts = ingest.store_result(store, res, None, batch_size=1)  # two batches: the last one logs the file
        assert counts["new"] == 2 and counts["assessed"] == 2
        assert {a.assessor_version for a in store.machine_assessments().values()} == {ASSESSOR_VERSION}
        assert ingest.processed_checksums(store) == {res.sha256}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_run_is_finished_with_its_totals_and_error(tmp_path, workers):
    s = settings(tmp_path)
    d = tmp_path / "in"
    write_file(d / "pubmed25n0001.xml.gz", [ldn(39600001), other(13)])
    (d / "pubmed25n0002.xml.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(InputError, match="truncated or corrupt gzip") as err:
        ingest.ingest_paths(s, [d], workers=workers)
    with Store(s.db) as store:
        run = store.runs(1)[0]
        assert (run["kind"], run["status"], run["error"]) == ("ingest", "failed", str(err.value))
        assert run["counts"]["records"] == 2 and run["counts"]["files"] == 2  # the first file's counts stay
        assert store.count("processed_files") == 1  # and its checksum: a re-run skips it


@pytest.mark.parametrize("recorded, error", [(InputError, None), (Exception, "RuntimeError text")])
def test_ingest_run_records_the_message_only_of_the_errors_it_is_told_to(tmp_path, recorded, error):
    """The CLI path records an LdnError's message; the flow records any exception's (see flows/ingest.py)."""
    s = settings(tmp_path)
    f = write_file(tmp_path / "pubmed25n0001.xml.gz", [ldn(39700001)])

    def work(run):
        raise RuntimeError("RuntimeError text")

    with pytest.raises(RuntimeError):
        ingest.ingest_run(s, [f], work, trigger="test", recorded_errors=recorded)
    with Store(s.db) as store:
        run = store.runs(1)[0]
        assert (run["status"], run["error"], run["trigger"]) == ("failed", error, "test")
