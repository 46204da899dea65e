"""ldn_monitor.mailer against a real SMTP server (aiosmtpd on 127.0.0.1), not a mocked smtplib.

A mock would happily accept whatever smtplib calls we make; a real server checks the protocol:
AUTH, STARTTLS, dot-stuffing, line lengths and what a dropped connection looks like to the client.
"""
from __future__ import annotations

import datetime as dt
import email
import ipaddress
import logging
import shutil
import socket
import ssl
import subprocess
from email import policy
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import free_port
from ldn_monitor.errors import MailError
from ldn_monitor.mailer import (
    Delivery,
    SendResult,
    build_message,
    deliver,
    make_message_id,
    send_smtp,
    write_eml,
)
from ldn_monitor.settings import Settings

pytestmark = pytest.mark.faults

USER = "reviewer"
# Distinctive, so a leak is unmistakable in any message, log line or repr.
PASSWORD = "Pw-9f3c7e1b-do-not-leak"
SUBJECT = "Дайджест LDN 🧪: 3 new studies — fibromyalgia"
LONG_LINE = "x" * 10_000
TEXT = f"Привет, reviewers!\nNew: LDN 4.5 mg RCT (n=58) ✓\n{LONG_LINE}\n.leading dot line\n"
HTML = (
    "<html><body><h1>Дайджест 🧪</h1><p>Zoë’s note: LDN 4.5&nbsp;mg</p>"
    f'<img src="cid:chart1" alt="chart"><p>{LONG_LINE}</p></body></html>\n'
)
# Smallest valid PNG signature + IHDR is enough: the mailer sniffs the magic bytes only.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256))
DATE = dt.datetime(2024, 6, 3, 7, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
SENDER = "LDN Monitor — Зоя <ldn@example.org>"
RCPTS = ("alice@example.org", "Böb Reviewer <bob@example.org>")


def make(digest_id="2024-W23", **over):
    kw = dict(
        subject=SUBJECT, text=TEXT, html=HTML, sender=SENDER, recipients=RCPTS,
        message_id=make_message_id(digest_id, "ldn@example.org"), date=DATE,
    )
    kw.update(over)
    return build_message(**kw)


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


def body(part) -> str:
    # Mail readers treat CRLF and LF alike; the wire form is CRLF.
    return part.get_content().replace("\r\n", "\n")


# --------------------------------------------------------------------------------------------
# SMTP server fixtures
# --------------------------------------------------------------------------------------------

class Recorder:
    """aiosmtpd handler: records delivered envelopes; refuses RCPT for addresses in ``reject``."""

    def __init__(self, reject=(), drop_data=False):
        self.reject = set(reject)
        self.drop_data = drop_data
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.drop_data:
            # Abort after the whole body arrived but before the final reply: the client cannot
            # know whether the message was queued, which is the case the caller must hear about.
            server.transport.abort()
            return "250 never seen"
        self.envelopes.append(SimpleNamespace(
            mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
            content=envelope.original_content,
            # Works for STARTTLS and implicit TLS (session.ssl is only set by STARTTLS).
            tls=server.transport.get_extra_info("cipher") is not None,
            authenticated=session.authenticated,
        ))
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False: let aiosmtpd send the 235/535 reply itself (handled=True would leave the
    # client waiting for a reply nobody sends).
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtpd():
    """Factory: start an aiosmtpd Controller on 127.0.0.1:<free port>; stopped at teardown."""
    started = []

    def start(handler=None, **kw):
        handler = handler or Recorder()
        port = free_port()
        # server_hostname avoids socket.getfqdn() (a reverse DNS lookup) on every start.
        ctl = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="mx.test", **kw)
        ctl.start()
        started.append(ctl)
        return handler, port

    yield start
    for ctl in started:
        ctl.stop()


def settings_for(port, **over) -> Settings:
    base = dict(
        smtp_host="127.0.0.1", smtp_port=port, smtp_security="none", smtp_timeout=3.0,
        mail_from="ldn@example.org", mail_to=("alice@example.org", "bob@example.org"),
    )
    base.update(over)
    return Settings(**base)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1/localhost, made at test time (no key in the repo)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    try:
        _cert_with_cryptography(cert, key)
    except ImportError:
        if not shutil.which("openssl"):
            pytest.skip("neither the cryptography package nor the openssl CLI is available")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True,
        )
    return cert, key


def _cert_with_cryptography(cert_path, key_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())  # EC: generated in milliseconds, unlike RSA
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture
def tls(tls_files):
    cert, key = tls_files
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))  # trusts exactly this certificate
    return SimpleNamespace(server=server, client=client)


def assert_no_password(err: BaseException, caplog=None):
    chain, e = [], err
    while e is not None:
        chain += [str(e), repr(e), repr(e.args)]
        e = e.__cause__ or e.__context__
    for text in chain:
        assert PASSWORD not in text
    if caplog is not None:
        assert PASSWORD not in caplog.text


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------

def test_parts_decode_to_the_given_text_and_html():
    raw = make().as_bytes(policy=policy.SMTP)
    # 7-bit clean and within RFC 5321's 998-octet line limit despite the 10,000-char line.
    assert raw.isascii()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    m = parse(raw)
    assert m.get_content_type() == "multipart/alternative"
    plain, html = m.get_payload()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert body(plain) == TEXT
    assert body(html) == HTML
    assert m["Subject"] == SUBJECT


def test_headers_date_message_id_from_to():
    mid = make_message_id("2024-W23", "LDN Monitor <ldn@Example.org>")
    assert mid == make_message_id("2024-W23", "ldn@example.org") == "<ldn-digest-2024-W23@example.org>"
    assert make_message_id("2024-W23", "") == "<ldn-digest-2024-W23@ldn-monitor.local>"
    assert make_message_id("2024-W23", "not an address") == "<ldn-digest-2024-W23@ldn-monitor.local>"
    # Unsafe characters are escaped, not dropped, so distinct ids never share a Message-ID.
    assert make_message_id("a b", None) != make_message_id("a_b", None)

    m = parse(make().as_bytes(policy=policy.SMTP))
    assert m["Message-ID"] == mid
    assert m["Date"] == email.utils.format_datetime(DATE)
    assert m["Date"].datetime == DATE
    assert m["Auto-Submitted"] == "auto-generated"
    assert m["X-LDN-Digest-Id"] == "2024-W23"
    assert m["MIME-Version"] == "1.0"
    frm = m["From"].addresses[0]
    assert (frm.display_name, frm.addr_spec) == ("LDN Monitor — Зоя", "ldn@example.org")
    assert [a.addr_spec for a in m["To"].addresses] == ["alice@example.org", "bob@example.org"]
    assert m["To"].addresses[1].display_name == "Böb Reviewer"
    # Same inputs, same bytes (fixed boundaries): the basis of the outbox's idempotence.
    assert make().as_bytes(policy=policy.SMTP) == make().as_bytes(policy=policy.SMTP)


def test_extra_headers_and_naive_date():
    m = make(headers={"Reply-To": "team@example.org", "X-LDN-Run": "r1"}, date=dt.datetime(2024, 6, 3, 5, 30))
    assert m["Reply-To"] == "team@example.org" and m["X-LDN-Run"] == "r1"
    assert parse(m.as_bytes(policy=policy.SMTP))["Date"].datetime == DATE  # naive = UTC
    with pytest.raises(ValueError):
        make(headers={"X-Evil": "a\r\nBcc: victim@example.org"})  # header injection refused


def test_inline_image_is_related_to_the_html():
    m = parse(make(inline_images={"chart1": PNG}).as_bytes(policy=policy.SMTP))
    assert m.get_content_type() == "multipart/alternative"
    plain, related = m.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    assert related.get_param("type") == "text/html"
    html, image = related.get_payload()
    assert html.get_content_type() == "text/html" and body(html) == HTML
    assert image.get_content_type() == "image/png"
    assert image["Content-ID"] == "<chart1>"
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == PNG
    assert "cid:chart1" in body(html)
    with pytest.raises(ValueError):
        make(inline_images={"chart1": b"not an image"})


# --------------------------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------------------------

def test_send_plain_delivers_both_recipients(smtpd):
    rec, port = smtpd()
    msg = make()
    res = send_smtp(settings_for(port), msg)
    assert res == SendResult(accepted=("alice@example.org", "bob@example.org"), refused={})
    (env,) = rec.envelopes
    assert env.mail_from == "ldn@example.org"
    assert env.rcpt_tos == ["alice@example.org", "bob@example.org"]
    got = parse(env.content)
    assert got["Message-ID"] == msg["Message-ID"]
    assert body(got.get_payload()[0]) == TEXT  # the ".leading dot line" survived dot-stuffing


def test_bcc_is_in_the_envelope_but_not_transmitted(smtpd):
    rec, port = smtpd()
    msg = make(headers={"Bcc": "carol@example.org"})
    send_smtp(settings_for(port), msg)
    env = rec.envelopes[0]
    assert env.rcpt_tos == ["alice@example.org", "bob@example.org", "carol@example.org"]
    assert parse(env.content)["Bcc"] is None
    assert msg["Bcc"] == "carol@example.org"  # the caller's message is left untouched


def test_login_succeeds_and_wrong_password_is_not_leaked(smtpd, caplog):
    caplog.set_level(logging.DEBUG, logger="ldn_monitor")
    rec, port = smtpd(authenticator=authenticator, auth_require_tls=False)
    send_smtp(settings_for(port, smtp_user=USER, smtp_password=PASSWORD), make())
    assert rec.envelopes[0].authenticated is True

    bad = settings_for(port, smtp_user=USER, smtp_password=PASSWORD + "-wrong")
    with pytest.raises(MailError) as ei:
        send_smtp(bad, make())
    msg = str(ei.value)
    assert f"SMTP login failed for user {USER}" in msg and "LDN_SMTP_PASSWORD" in msg
    assert "\n" not in msg
    assert_no_password(ei.value, caplog)
    assert PASSWORD not in repr(bad)
    assert len(rec.envelopes) == 1


def test_non_ascii_password_refused_before_connecting():
    # smtplib would raise UnicodeEncodeError holding the password in .object; we refuse first.
    s = settings_for(free_port(), smtp_user=USER, smtp_password="pässwörd-секрет")
    with pytest.raises(MailError, match="not ASCII") as ei:
        send_smtp(s, make())
    assert "pässwörd" not in str(ei.value)


def test_server_down_is_a_mail_error_naming_host_and_port():
    port = free_port()  # nothing listens here
    with pytest.raises(MailError) as ei:
        send_smtp(settings_for(port), make())
    assert str(ei.value) == (
        f"SMTP server 127.0.0.1:{port} refused the connection; check LDN_SMTP_HOST/LDN_SMTP_PORT"
    )


def test_silent_server_times_out():
    # A socket that is listening but never accepts: the TCP connect succeeds, no greeting comes.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        with pytest.raises(MailError, match="LDN_SMTP_TIMEOUT"):
            send_smtp(settings_for(port, smtp_timeout=0.3), make())


def test_all_recipients_refused_is_an_error(smtpd):
    rec, port = smtpd(Recorder(reject={"alice@example.org", "bob@example.org"}))
    with pytest.raises(MailError) as ei:
        send_smtp(settings_for(port), make())
    msg = str(ei.value)
    assert msg.startswith("SMTP server rejected recipient(s) alice@example.org: 550")
    assert "bob@example.org: 550" in msg and "LDN_MAIL_TO" in msg
    assert rec.envelopes == []


def test_some_recipients_refused_is_a_partial_result(smtpd, caplog):
    rec, port = smtpd(Recorder(reject={"bob@example.org"}))
    with caplog.at_level(logging.WARNING, logger="ldn_monitor.mailer"):
        res = send_smtp(settings_for(port), make())
    assert res.accepted == ("alice@example.org",)
    assert list(res.refused) == ["bob@example.org"]
    assert res.refused["bob@example.org"][0] == 550
    assert "refused 1 of 2" in caplog.text
    assert rec.envelopes[0].rcpt_tos == ["alice@example.org"]


def test_connection_dropped_during_data(smtpd):
    rec, port = smtpd(Recorder(drop_data=True))
    with pytest.raises(MailError, match="lost during DATA") as ei:
        send_smtp(settings_for(port), make())
    assert "may or may not have been delivered" in str(ei.value)


def test_starttls_with_auth(smtpd, tls):
    rec, port = smtpd(authenticator=authenticator, tls_context=tls.server, require_starttls=True)
    s = settings_for(port, smtp_security="starttls", smtp_user=USER, smtp_password=PASSWORD)
    res = send_smtp(s, make(inline_images={"chart1": PNG}), ssl_context=tls.client)
    assert res.accepted == ("alice@example.org", "bob@example.org")
    env = rec.envelopes[0]
    assert env.tls and env.authenticated
    assert parse(env.content)["Message-ID"] == "<ldn-digest-2024-W23@example.org>"


def test_starttls_rejects_an_untrusted_certificate(smtpd, tls):
    rec, port = smtpd(tls_context=tls.server, require_starttls=True)
    # Default context = system CAs only, which do not include our self-signed certificate.
    with pytest.raises(MailError, match="certificate .* failed verification"):
        send_smtp(settings_for(port, smtp_security="starttls"), make())
    assert rec.envelopes == []


def test_starttls_required_but_not_offered(smtpd):
    rec, port = smtpd()  # no tls_context: the server never advertises STARTTLS
    with pytest.raises(MailError, match="does not offer STARTTLS; check LDN_SMTP_SECURITY"):
        send_smtp(settings_for(port, smtp_security="starttls"), make())
    assert rec.envelopes == []  # no silent fallback to plaintext


def test_implicit_tls(smtpd, tls):
    rec, port = smtpd(ssl_context=tls.server)
    send_smtp(settings_for(port, smtp_security="ssl"), make(), ssl_context=tls.client)
    assert rec.envelopes[0].tls


def test_ssl_against_a_plaintext_port(smtpd, tls):
    rec, port = smtpd()
    with pytest.raises(MailError, match="TLS handshake .* check LDN_SMTP_SECURITY/LDN_SMTP_PORT"):
        send_smtp(settings_for(port, smtp_security="ssl"), make(), ssl_context=tls.client)


# --------------------------------------------------------------------------------------------
# Outbox and dispatch
# --------------------------------------------------------------------------------------------

def test_write_eml_roundtrip_and_idempotent(tmp_path):
    outbox = tmp_path / "new" / "outbox"  # folder created on demand
    path = write_eml(outbox, make(inline_images={"chart1": PNG}), "digest-2024-W23")
    assert path == outbox / "digest-2024-W23.eml"
    m = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert m["Message-ID"] == "<ldn-digest-2024-W23@example.org>"
    assert m["Subject"] == SUBJECT
    assert body(m.get_body(("plain",))) == TEXT

    before = path.stat()
    # A freshly rebuilt message with the same inputs is byte-identical: the second write is a no-op.
    assert write_eml(outbox, make(inline_images={"chart1": PNG}), "digest-2024-W23") == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in outbox.iterdir()) == ["digest-2024-W23.eml"]  # no temp files left

    # The pipeline stores the bytes and later re-parses them to deliver: that copy must also be
    # byte-identical, or a retry after a crash would rewrite the file.
    reparsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    write_eml(outbox, reparsed, "digest-2024-W23")
    assert path.stat().st_mtime_ns == before.st_mtime_ns

    write_eml(outbox, make(subject="changed"), "digest-2024-W23")  # different bytes: replaced
    assert parse(path.read_bytes())["Subject"] == "changed"
    with pytest.raises(ValueError):
        write_eml(outbox, make(), "../escape")


def test_deliver_chooses_eml_without_host_and_smtp_with_one(tmp_path, smtpd):
    d = deliver(Settings(outbox=tmp_path), make(), "digest-1")
    assert d == Delivery("eml", str(tmp_path / "digest-1.eml"))
    assert (tmp_path / "digest-1.eml").exists()

    rec, port = smtpd()
    d = deliver(settings_for(port, outbox=tmp_path / "unused"), make(), "digest-1")
    assert d.method == "smtp" and "alice@example.org" in d.detail
    assert len(rec.envelopes) == 1
    assert not (tmp_path / "unused").exists()
