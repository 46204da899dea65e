"""The reviewers' commands, run in-process against a real database built from the snapshot."""
from __future__ import annotations

import json

import pytest

from ldn_monitor.cli import build_parser, main
from ldn_monitor.replay import ReplayServer
from ldn_monitor.store import Store

from pipeline_helpers import ROOT, SNAPSHOT, outbox_messages


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("LDN_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("LDN_OUTBOX", str(tmp_path / "outbox"))
    monkeypatch.setenv("LDN_REGISTRY", "false")
    monkeypatch.setenv("LDN_BACKOFF", "0.001")
    return tmp_path


@pytest.fixture(scope="module")
def _demo_template(tmp_path_factory):
    """One demo run per module; each test gets its own copy of the database."""
    d = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {"LDN_DB": str(d / "cli.db"), "LDN_OUTBOX": str(d / "outbox"), "LDN_REGISTRY": "false"}.items():
            mp.setenv(k, v)
        assert main(["demo", "--no-prefect"]) == 0
    return d


@pytest.fixture
def demo_db(env, _demo_template, capsys):
    import shutil

    with Store(_demo_template / "cli.db") as s:  # fold the WAL into the file before copying
        s.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(_demo_template / "cli.db", env / "cli.db")
    shutil.copytree(_demo_template / "outbox", env / "outbox")
    capsys.readouterr()
    return env


def test_every_command_has_help_with_an_example(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        text = p.format_help()
        assert "example:" in text and f"ldn-monitor {name}" in text, name


def test_demo_then_status(demo_db, capsys):
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "watermark" in out and "demo" in out and "pending digests: 0" in out
    assert "fibromyalgia" in out
    assert main(["status", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["articles"] > 0 and data["runs"][0]["trigger"] == "demo"


def test_verdicts_json_shape(demo_db, capsys):
    assert main(["verdicts", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data["should_change"], bool)
    c = data["conditions"][0]
    assert {"condition", "status", "rules_fired", "studies", "cumulative_n", "largest_trial_n"} <= set(c)
    assert main(["verdicts", "--history"]) == 0
    assert "status history" in capsys.readouterr().out


def test_review_set_show_and_audit(demo_db, capsys):
    with Store(demo_db / "cli.db") as s:
        pmid = sorted(s.pmids())[0]
        machine_n = s.machine_assessment(pmid).n_enrolled
    assert main(["review", pmid, "--set", "n_enrolled=120", "--set", "design=rct_parallel",
                 "--note", "per full text", "--by", "A. Reviewer"]) == 0
    out = capsys.readouterr().out
    assert f"n_enrolled {machine_n!r} -> 120" in out
    assert main(["review", pmid, "--show"]) == 0
    out = capsys.readouterr().out
    assert "audit trail" in out and "A. Reviewer" in out and "per full text" in out
    assert main(["rescore"]) == 0
    assert "reviewer overrides kept" in capsys.readouterr().out
    with Store(demo_db / "cli.db") as s:
        assert s.assessments(include_excluded=True)[pmid].n_enrolled == 120


@pytest.mark.parametrize("argv,message", [
    (["review", "12345", "--set", "n_enrolled=5", "--by", "R"], "not in"),
    (["review", "{pmid}", "--set", "n_enrolled=lots", "--by", "R"], "expected a int"),
    (["review", "{pmid}", "--set", "colour=red", "--by", "R"], "cannot override"),
    (["review", "{pmid}", "--set", "n_enrolled=5"], "--by"),
    (["run", "--since", "2024-13-01", "--no-prefect"], "use YYYY-MM-DD"),
    (["digest", "--resend", "nope"], "no digest"),
])
def test_errors_are_one_line(demo_db, capsys, argv, message):
    with Store(demo_db / "cli.db") as s:
        pmid = sorted(s.pmids())[0]
    code = main([a.replace("{pmid}", pmid) for a in argv])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_bad_setting_names_the_variable(env, capsys, monkeypatch):
    monkeypatch.setenv("LDN_SMTP_PORT", "twenty-five")
    assert main(["status"]) == 1
    assert "LDN_SMTP_PORT" in capsys.readouterr().err


def test_digest_preview_and_resend(demo_db, capsys):
    out_dir = demo_db / "preview"
    assert main(["digest", "--preview", "--out", str(out_dir)]) == 0
    assert (out_dir / "digest.html").exists() and (out_dir / "digest.txt").read_text().startswith("LDN evidence")
    assert len(outbox_messages(demo_db / "outbox")) == 1  # a preview sends nothing
    with Store(demo_db / "cli.db") as s:
        (d,) = s.digests()
    assert main(["digest", "--resend", d["id"]]) == 0
    assert f"digest {d['id']}: sent" in capsys.readouterr().out


def test_search(demo_db, capsys):
    assert main(["search", "crossover fibromyalgia"]) == 0
    out = capsys.readouterr().out
    assert "fibromyalgia" in out.lower() and "no matches" not in out


def test_assess_and_evaluate_commands(tmp_path, capsys):
    corpus = ROOT.parent / "shared" / "corpus" / "dev.jsonl"
    if not corpus.exists():
        pytest.skip("shared corpus not present")
    out = tmp_path / "pred.jsonl"
    assert main(["assess", "--input", str(corpus), "--output", str(out)]) == 0
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(lines) == sum(1 for l in corpus.read_text().splitlines() if l.strip())
    assert {"is_ldn", "design", "n_enrolled", "evidence"} <= set(lines[0])
    assert main(["evaluate", "--gold", str(corpus), "--predictions", str(out)]) == 0
    assert "design" in capsys.readouterr().out


def test_run_window_against_replay(env, capsys):
    with ReplayServer(SNAPSHOT) as server:
        import os

        os.environ["LDN_EUTILS_URL"] = server.url
        try:
            assert main(["run", "--since", "2020-01-01", "--until", "2020-12-31", "--no-prefect"]) == 0
        finally:
            del os.environ["LDN_EUTILS_URL"]
    out = capsys.readouterr().out
    assert "run 1 (window): succeeded, Entrez dates 2020/01/01 to 2020/12/31" in out


def test_second_demo_adds_nothing_and_sends_nothing(tmp_path, monkeypatch, capsys):
    # The whole demo, registry included, exactly as `make demo` runs it (minus Prefect).
    monkeypatch.setenv("LDN_DB", str(tmp_path / "demo.db"))
    monkeypatch.setenv("LDN_OUTBOX", str(tmp_path / "outbox"))
    assert main(["demo", "--no-prefect"]) == 0
    first = capsys.readouterr().out
    assert main(["demo", "--no-prefect"]) == 0
    second = capsys.readouterr().out
    assert "new 72" in first and "sent " in first
    assert "new 0" in second and "no digest" in second and "sent " not in second
    assert len(outbox_messages(tmp_path / "outbox")) == 1
