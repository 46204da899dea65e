"""The Datasette metadata loads, labels the tables, and every canned query runs on a real database."""
from __future__ import annotations

import asyncio
import json

import pytest

from ldn_monitor.records import AbstractSection, Article, DesignAssessment
from ldn_monitor.store import Store

from pipeline_helpers import ROOT

datasette = pytest.importorskip("datasette.app")
METADATA = ROOT / "data" / "datasette-metadata.json"


def test_metadata_and_canned_queries(tmp_path):
    db_path = tmp_path / "ldn-monitor.db"  # the database name in the metadata is the file's stem
    with Store(db_path) as s:
        s.upsert_articles([Article(pmid="1", title="LDN trial", entrez_date="2024-01-01",
                                   abstract=(AbstractSection("Randomized."),))], 1)
        s.save_assessments([DesignAssessment(pmid="1", is_ldn=True, design="rct_parallel", n_enrolled=40,
                                             condition="fibromyalgia")], 1)
        s.add_override("1", "n_enrolled", 44, "R", "full text")
        s.record_digest("d1", run_id=1, subject="s", text="t", html="h", eml=b"", recipients=[], message_id="<m>",
                        should_change=False, pmids=[])
        s.save_verdicts(1, [{"condition": "fibromyalgia", "status": "review_benefit"}])
    metadata = json.loads(METADATA.read_text())
    ds = datasette.Datasette([str(db_path)], metadata=metadata)

    async def get(path):
        r = await ds.client.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        return r.json()

    async def run():
        queries = metadata["databases"]["ldn-monitor"]["queries"]
        out = {}
        for name in queries:
            out[name] = await get(f"/ldn-monitor/{name}.json?_shape=array&condition=")
        out["tables"] = await get("/ldn-monitor.json")
        return out

    res = asyncio.run(run())
    assert res["trials_by_condition"][0]["n_enrolled"] == 44  # the reviewer's value, not the machine's
    assert res["pending_digests"][0]["id"] == "d1"
    assert res["overrides"][0]["by"] == "R"
    assert res["status_moves"][0]["status"] == "review_benefit"
