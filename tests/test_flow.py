"""The Prefect flows under one session-scoped test harness: a real run, secrets, deployments."""
from __future__ import annotations

import asyncio
import logging

import pytest

from ldn_monitor.replay import ReplayServer
from ldn_monitor.store import Store

from pipeline_helpers import SNAPSHOT, outbox_messages

pytestmark = pytest.mark.flow


def _overrides(tmp_path, server, **kw):
    o = {"db": str(tmp_path / "flow.db"), "outbox": str(tmp_path / "outbox"), "eutils_url": server.url,
         "rate": 1000.0, "backoff": 0.001, "registry": False}
    o.update(kw)
    return o


def test_monitor_flow_end_to_end(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.monitor import monitor

    with ReplayServer(SNAPSHOT) as server:
        first = monitor(trigger="test", overrides=_overrides(tmp_path, server))
        second = monitor(trigger="test", overrides=_overrides(tmp_path, server))
    assert first["status"] == "succeeded" and first["new"] > 0 and len(first["sent"]) == 1
    assert second["new"] == 0 and second["sent"] == [] and second["digest"] is None
    assert len(outbox_messages(tmp_path / "outbox")) == 1
    with Store(tmp_path / "flow.db") as store:
        runs = store.runs(5)
        assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
        assert all(r["flow_run_id"] for r in runs)  # each run says which Prefect flow run it was

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts()

    keys = {a.key for a in asyncio.run(artifacts())}
    assert {"ldn-digest", "ldn-evidence-map"} <= keys


def test_secrets_never_reach_database_logs_artifacts_or_digest(prefect_harness, tmp_path, monkeypatch, caplog):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from conftest import free_port
    from flows.monitor import monitor

    api_key, password = "APIKEY-s3cr3t-9f8e7d", "SMTP-pa55w0rd-1a2b3c"
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    def auth(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.password.decode() == password
        return AuthResult(success=ok, handled=False)

    port = free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=auth, auth_require_tls=False)
    ctl.start()
    monkeypatch.setenv("LDN_NCBI_API_KEY", api_key)
    monkeypatch.setenv("LDN_SMTP_PASSWORD", password)
    monkeypatch.setenv("LDN_SMTP_USER", "reviewer")
    caplog.set_level(logging.DEBUG)
    try:
        with ReplayServer(SNAPSHOT) as server:
            counts = monitor(trigger="test", overrides=_overrides(
                tmp_path, server, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                mail_to=["team@example.org"]))
            assert all(p.get("api_key") == api_key for _, p in server.requests)  # it was really used
    finally:
        ctl.stop()
    assert counts["status"] == "succeeded" and len(received) == 1

    from prefect.client.orchestration import get_client

    async def artifacts_and_params():
        async with get_client() as client:
            arts = await client.read_artifacts()
            runs = await client.read_flow_runs()
            return [str(a.data) for a in arts] + [str(r.parameters) for r in runs]

    haystacks = {
        "database": (tmp_path / "flow.db").read_bytes() + b"".join(
            p.read_bytes() for p in tmp_path.glob("flow.db-*")),
        "mail": b"".join(received),
        "logs": caplog.text.encode(),
        "prefect": "\n".join(asyncio.run(artifacts_and_params())).encode(),
    }
    for where, data in haystacks.items():
        for secret in (api_key, password):
            assert secret.encode() not in data, f"{secret[:6]}… leaked into {where}"


def test_a_secret_cannot_be_a_flow_parameter(prefect_harness, tmp_path):
    from flows.monitor import monitor
    from ldn_monitor.errors import SettingsError

    with pytest.raises(SettingsError, match="cannot be a flow parameter"):
        monitor(trigger="test", overrides={"smtp_password": "x", "db": str(tmp_path / "x.db")})


def test_deployments_register_with_schedule(prefect_harness):
    from prefect.client.orchestration import get_client

    from flows.deploy import DEFAULT_CRON, DEFAULT_TZ, deployments

    weekly, manual = deployments()
    ids = [d.apply() for d in (weekly, manual)]

    async def read():
        async with get_client() as client:
            return [await client.read_deployment(i) for i in ids]

    w, m = asyncio.run(read())
    assert w.name == "weekly" and m.name == "manual"
    (sched,) = w.schedules
    assert sched.schedule.cron == DEFAULT_CRON and sched.schedule.timezone == DEFAULT_TZ
    assert w.parameters == {"trigger": "schedule"}
    assert not m.schedules
    assert w.global_concurrency_limit is not None and w.global_concurrency_limit.limit == 1
