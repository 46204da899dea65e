"""Build digest emails and hand them to an SMTP relay or to an ``.eml`` outbox.

Standard library only (``email`` + ``smtplib``). This module knows nothing about the database:
the "never send a digest twice" bookkeeping belongs to the caller and the store's digests table.

- :func:`make_message_id` — deterministic ``<ldn-digest-{id}@{domain}>`` so a re-sent digest
  carries the same Message-ID and mail clients/relays can de-duplicate it.
- :func:`build_message` — multipart/alternative (text/plain, then text/html, optionally
  multipart/related with inline images). Given the same inputs it returns byte-identical output
  (fixed MIME boundaries), which is what makes :func:`write_eml` idempotent across re-runs.
- :func:`send_smtp` — one SMTP session; every failure becomes a one-line :class:`MailError`
  naming the ``LDN_*`` setting to check. The password never appears in a message or log.
- :func:`write_eml` / :func:`deliver` — the outbox fallback when no SMTP host is configured.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import ipaddress
import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy as email_policy
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

from .errors import MailError

log = logging.getLogger(__name__)

FALLBACK_DOMAIN = "ldn-monitor.local"

# Parts are built with a 7-bit policy so every body is 7bit, quoted-printable or base64: the
# message can then cross any relay without the 8BITMIME extension, and a 10,000-character line
# is soft-wrapped by quoted-printable instead of breaking the 998-octet SMTP line limit.
_BUILD_POLICY = email_policy.default.clone(cte_type="7bit")
# Serialization: CRLF line endings, headers folded at 78, non-ASCII headers RFC 2047-encoded.
# Long header lines are legal up to 998 octets; folding a subject at 78 makes CPython's parser
# (and some clients) read it back with a leading space, so fold only past 998.
WIRE_POLICY = email_policy.SMTP.clone(max_line_length=998)

# Characters kept verbatim in the Message-ID local part; everything else becomes =XX (UTF-8 hex),
# so the mapping digest id -> Message-ID stays injective and always a valid dot-atom.
_ID_SAFE = re.compile(r"[A-Za-z0-9_-]")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
_OUR_ID = re.compile(r"<ldn-digest-([A-Za-z0-9_=-]+)@[^>]+>")
_CID = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]+")
_EML_NAME = re.compile(r"[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*")


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------

def make_message_id(digest_id: str, domain: Optional[str] = None) -> str:
    """``<ldn-digest-{digest_id}@{domain}>``, the same string every time for the same digest.

    ``domain`` may be a bare domain or a whole address such as ``settings.mail_from`` (its domain
    is used). Missing or unusable → ``ldn-monitor.local``. Characters outside ``[A-Za-z0-9_-]``
    in the digest id are written as ``=XX`` so the id stays a valid, unambiguous local part.
    """
    digest_id = str(digest_id)
    if not digest_id:
        raise ValueError("make_message_id: digest_id is empty")
    local = "".join(
        ch if _ID_SAFE.fullmatch(ch) else "".join(f"={b:02X}" for b in ch.encode("utf-8"))
        for ch in digest_id
    )
    return f"<ldn-digest-{local}@{_message_id_domain(domain)}>"


def _message_id_domain(domain: Optional[str]) -> str:
    if not domain:
        return FALLBACK_DOMAIN
    dom = domain.strip()
    if "@" in dom:  # a whole address such as settings.mail_from, maybe with a display name
        dom = (parseaddr(dom)[1] or dom).rpartition("@")[2]
    dom = dom.strip().strip("<>").rstrip(".")
    if dom and not dom.isascii():
        try:
            dom = dom.encode("idna").decode("ascii")
        except UnicodeError:
            return FALLBACK_DOMAIN
    return dom.lower() if dom and _DOMAIN.fullmatch(dom) else FALLBACK_DOMAIN


def _digest_id_from_message_id(message_id: str) -> Optional[str]:
    """Invert :func:`make_message_id` (``=XX`` escapes back to characters); None if not ours."""
    m = _OUR_ID.fullmatch(message_id.strip())
    if not m:
        return None
    raw = re.sub(rb"=([0-9A-F]{2})", lambda g: bytes([int(g.group(1), 16)]), m.group(1).encode("ascii"))
    return raw.decode("utf-8", "replace")


def _sniff_image(cid: str, data: bytes) -> tuple[str, str]:
    """(subtype, extension) from the magic bytes; the brief says PNG but a chart could be GIF/JPEG."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png", "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg", "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif", "gif"
    raise ValueError(f"inline image {cid!r} is not PNG, JPEG or GIF data")


def build_message(
    *,
    subject: str,
    text: str,
    html: str,
    sender: str,
    recipients: Sequence[str] | str,
    message_id: str,
    date: datetime,
    inline_images: Optional[Mapping[str, bytes]] = None,
    headers: Optional[Mapping[str, str]] = None,
    digest_id: Optional[str] = None,
) -> EmailMessage:
    """A digest email: multipart/alternative with text/plain first, then text/html (UTF-8).

    ``inline_images`` maps a content id (``"chart1"``, as the HTML references it: ``cid:chart1``)
    to image bytes; with any, the HTML part becomes multipart/related holding the images as
    ``Content-ID: <chart1>`` inline parts. ``date`` without tzinfo is taken as UTC.
    ``X-LDN-Digest-Id`` is ``digest_id`` or, when omitted, recovered from a Message-ID made by
    :func:`make_message_id`. ``headers`` are extra headers applied last (they replace ours).
    """
    if isinstance(recipients, str):
        recipients = [recipients]  # a bare string would otherwise be joined character by character
    recipients = [str(r) for r in recipients if str(r).strip()]
    if not recipients:
        raise ValueError("build_message: no recipients")
    if date.tzinfo is None:
        date = date.replace(tzinfo=timezone.utc)
    if digest_id is None:
        digest_id = _digest_id_from_message_id(message_id)

    msg = EmailMessage(policy=_BUILD_POLICY)
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    # RFC 3834: tells vacation responders and ticket systems not to auto-reply to the digest.
    msg["Auto-Submitted"] = "auto-generated"
    if digest_id is not None:
        msg["X-LDN-Digest-Id"] = str(digest_id)
    for name, value in (headers or {}).items():
        del msg[name]
        msg[name] = value

    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")

    if inline_images:
        html_part = msg.get_payload()[1]
        for raw_cid, data in inline_images.items():
            cid = str(raw_cid).strip().strip("<>")
            if not _CID.fullmatch(cid):
                raise ValueError(f"inline image content id {raw_cid!r} is not a valid Content-ID")
            if f"cid:{cid}" not in html:
                log.warning("inline image %r is not referenced as cid:%s in the HTML", cid, cid)
            subtype, ext = _sniff_image(cid, bytes(data))
            # add_related turns the text/html part into multipart/related on first use.
            html_part.add_related(
                bytes(data), "image", subtype, cid=f"<{cid}>", disposition="inline", filename=f"{cid}.{ext}"
            )
        # RFC 2387 requires the root's type on multipart/related; some clients check it.
        html_part.set_param("type", "text/html")

    _fix_boundaries(msg)
    return msg


def _fix_boundaries(msg: Message) -> None:
    """Deterministic MIME boundaries, so identical inputs serialize to identical bytes.

    Python picks random boundaries at serialization time, which would make every rebuilt digest
    differ and defeat the outbox's identical-bytes check. A boundary only has to be absent from
    the content: ``=_`` never occurs in quoted-printable or base64 bodies, and a 7-bit body
    would have to contain the hash of itself.
    """
    h = hashlib.sha256()
    for part in msg.walk():
        if not part.is_multipart():
            h.update(part.as_bytes(policy=WIRE_POLICY))
    tag = h.hexdigest()[:32]
    for i, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"=_ldn_{i}_{tag}")


def _wire_bytes(msg: Message, *, drop_bcc: bool) -> bytes:
    if drop_bcc and msg.get("Bcc") is not None:
        msg = copy.deepcopy(msg)  # never strip the caller's copy
        del msg["Bcc"]
    return msg.as_bytes(policy=WIRE_POLICY)


# ---------------------------------------------------------------------------------------------
# SMTP
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SendResult:
    """Envelope outcome. ``refused`` maps address -> (SMTP code, server text)."""

    accepted: tuple[str, ...]
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)


def _addresses(msg: Message, names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        for header in msg.get_all(name, []) or []:
            found = getattr(header, "addresses", None)  # headerregistry keeps quoted names intact
            specs = [a.addr_spec for a in found] if found is not None else [a for _, a in getaddresses([str(header)])]
            out.extend(s for s in specs if s and s not in out)
    return out


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(resp) -> str:
    if isinstance(resp, bytes):
        resp = resp.decode("utf-8", "replace")
    return " ".join(str(resp).split())


def _scrub(message: str, user: Optional[str], password: Optional[str]) -> str:
    """Remove the password (raw, and base64 as AUTH PLAIN/LOGIN send it) from a message.

    Our own messages never include it; this guards against a server that echoes credentials
    back in its reply text, which we do quote.
    """
    if not password:
        return message
    forms = {password}
    for raw in (password, f"\0{user or ''}\0{password}"):
        try:
            forms.add(base64.b64encode(raw.encode("utf-8")).decode("ascii"))
        except UnicodeError:
            pass
    for form in sorted(forms, key=len, reverse=True):
        message = message.replace(form, "***")
    return message


def send_smtp(settings, msg: Message, *, ssl_context: Optional[ssl.SSLContext] = None) -> SendResult:
    """Send ``msg`` through ``settings.smtp_host`` in one session, then QUIT.

    Envelope sender is ``settings.mail_from``; envelope recipients are the message's To/Cc/Bcc
    (Bcc is not transmitted). ``smtp_security``: ``ssl`` = implicit TLS (SMTP_SSL), ``starttls``
    = plain connect then STARTTLS (refused if the server does not offer it — no silent
    downgrade), ``none`` = plaintext. ``ssl_context`` overrides ``ssl.create_default_context()``
    (tests pass one that trusts a self-signed certificate).

    Returns :class:`SendResult`; some recipients refused → logged warning, caller decides.
    Raises :class:`MailError` when nothing was accepted or anything else fails. A MailError
    raised during DATA means delivery is *unknown*: the server may have queued the message.
    """
    host = settings.smtp_host
    if not host:
        raise MailError(
            "no SMTP server configured; set LDN_SMTP_HOST (or leave it unset to write .eml files to LDN_OUTBOX)"
        )
    port = settings.smtp_port_effective
    security = settings.smtp_security
    timeout = settings.smtp_timeout
    user = settings.smtp_user
    password = settings.smtp_password
    where = _where(host, port)

    sender = parseaddr(settings.mail_from)[1] or (_addresses(msg, ["From"]) or [""])[0]
    recipients = _addresses(msg, ["To", "Cc", "Bcc"])
    if not sender:
        raise MailError(f"LDN_MAIL_FROM={settings.mail_from!r} has no usable address")
    if not recipients:
        raise MailError("the message has no recipients; check LDN_MAIL_TO")
    for addr in [sender, *recipients]:
        if not addr.isascii():
            raise MailError(
                f"address {addr!r} is not ASCII (SMTPUTF8 is not supported); check LDN_MAIL_FROM/LDN_MAIL_TO"
            )
    if user and not (user + (password or "")).isascii():
        # smtplib encodes AUTH data as ASCII and would raise UnicodeEncodeError carrying the
        # password in its .object attribute; refuse before that exception can exist.
        raise MailError(
            f"SMTP user name or password for {user!r} is not ASCII, which smtplib cannot send; "
            f"check LDN_SMTP_USER/LDN_SMTP_PASSWORD"
        )
    if user and security == "none" and not _is_loopback(host):
        log.warning("LDN_SMTP_SECURITY=none with LDN_SMTP_USER set: the password crosses the network unencrypted")
    payload = _wire_bytes(msg, drop_bcc=True)

    def fail(text: str) -> MailError:
        return MailError(_scrub(text, user, password))

    phase = "connect"
    smtp: Optional[smtplib.SMTP] = None
    try:
        try:
            if security == "ssl":
                context = ssl_context or ssl.create_default_context()
                smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            phase = "EHLO"
            smtp.ehlo_or_helo_if_needed()
            if security == "starttls":
                phase = "STARTTLS"
                if not smtp.has_extn("starttls"):
                    raise fail(
                        f"SMTP server {where} does not offer STARTTLS; check LDN_SMTP_SECURITY "
                        f"(ssl for port 465, none only for a trusted local relay) and LDN_SMTP_PORT"
                    )
                smtp.starttls(context=ssl_context or ssl.create_default_context())
                smtp.ehlo()  # capabilities (AUTH, SIZE) may differ after TLS
            if user:
                phase = "AUTH"
                try:
                    smtp.login(user, password or "")
                finally:
                    smtp.password = None  # smtplib keeps it on the object otherwise
            phase = "MAIL FROM"
            options = [f"SIZE={len(payload)}"] if smtp.has_extn("size") else []
            code, resp = smtp.mail(sender, options)
            if code != 250:
                raise fail(f"SMTP server {where} rejected sender {sender}: {code} {_text(resp)}; check LDN_MAIL_FROM")
            phase = "RCPT TO"
            accepted: list[str] = []
            refused: dict[str, tuple[int, str]] = {}
            for rcpt in recipients:
                code, resp = smtp.rcpt(rcpt)
                if code in (250, 251):
                    accepted.append(rcpt)
                else:
                    refused[rcpt] = (code, _text(resp))
            if not accepted:
                try:
                    smtp.rset()
                except (smtplib.SMTPException, OSError):
                    pass
                detail = "; ".join(f"{a}: {c} {t}" for a, (c, t) in refused.items())
                raise fail(f"SMTP server rejected recipient(s) {detail}; check LDN_MAIL_TO")
            phase = "DATA"
            code, resp = smtp.data(payload)
            if code != 250:
                raise fail(f"SMTP server {where} refused the message: {code} {_text(resp)}")
        except MailError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise fail(
                f"SMTP login failed for user {user}: {exc.smtp_code} {_text(exc.smtp_error)}; "
                f"check LDN_SMTP_USER/LDN_SMTP_PASSWORD") from None
        except smtplib.SMTPNotSupportedError as exc:
            if phase == "AUTH":
                hint = (" before TLS; set LDN_SMTP_SECURITY=starttls or ssl" if security == "none"
                        else "; unset LDN_SMTP_USER if no login is needed")
                raise fail(f"SMTP server {where} does not offer AUTH{hint}") from None
            raise fail(f"SMTP server {where} does not support a command needed for {phase}: {exc}") from exc
        except smtplib.SMTPServerDisconnected as exc:
            if "timed out" in str(exc):
                raise fail(
                    f"SMTP server {where} stopped answering during {phase} (LDN_SMTP_TIMEOUT={timeout:g}s)"
                ) from exc
            if phase == "DATA":
                raise fail(
                    f"connection to SMTP server {where} lost during DATA; the message may or may not "
                    f"have been delivered — check the server's log before resending") from exc
            hint = "; check LDN_SMTP_SECURITY/LDN_SMTP_PORT" if phase in ("connect", "EHLO", "STARTTLS") else ""
            raise fail(f"connection to SMTP server {where} lost during {phase}{hint}") from exc
        except smtplib.SMTPResponseException as exc:  # greeting refused, HELO error, DATA not 354 ...
            hint = "; check LDN_SMTP_HOST/LDN_SMTP_PORT" if phase in ("connect", "EHLO") else ""
            err = fail(f"SMTP server {where} answered {exc.smtp_code} {_text(exc.smtp_error)} during {phase}{hint}")
            # Replies inside the AUTH exchange are not chained: they may echo credentials.
            raise err from (None if phase == "AUTH" else exc)
        except smtplib.SMTPException as exc:  # e.g. "No suitable authentication method found."
            if phase == "AUTH":
                offered = (smtp.esmtp_features.get("auth", "") if smtp else "").strip() or "none"
                raise fail(
                    f"SMTP server {where} offers no AUTH method smtplib supports (offered: {offered}); "
                    f"check LDN_SMTP_SECURITY/LDN_SMTP_USER") from None
            raise fail(f"SMTP error during {phase} with {where}: {exc}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise fail(
                f"TLS certificate of SMTP server {where} failed verification ({exc.verify_message}); "
                f"check LDN_SMTP_HOST matches the server's certificate") from exc
        except ssl.SSLError as exc:
            raise fail(
                f"TLS handshake with SMTP server {where} failed ({exc.reason or exc}); "
                f"check LDN_SMTP_SECURITY/LDN_SMTP_PORT (ssl is usually 465, starttls 587)") from exc
        except ConnectionRefusedError as exc:
            raise fail(f"SMTP server {where} refused the connection; check LDN_SMTP_HOST/LDN_SMTP_PORT") from exc
        except socket.gaierror as exc:
            raise fail(f"cannot resolve SMTP host {host!r} ({exc.strerror}); check LDN_SMTP_HOST") from exc
        except TimeoutError as exc:  # socket.timeout is TimeoutError on 3.10+
            raise fail(
                f"SMTP server {where} did not answer within {timeout:g}s during {phase}; "
                f"check LDN_SMTP_HOST/LDN_SMTP_PORT/LDN_SMTP_TIMEOUT") from exc
        except OSError as exc:
            if phase == "DATA":
                raise fail(
                    f"connection to SMTP server {where} lost during DATA ({exc.strerror or exc}); the message "
                    f"may or may not have been delivered — check the server's log before resending") from exc
            raise fail(
                f"network error with SMTP server {where} during {phase} ({exc.strerror or exc}); "
                f"check LDN_SMTP_HOST/LDN_SMTP_PORT") from exc
    finally:
        if smtp is not None:
            _close(smtp)

    result = SendResult(accepted=tuple(accepted), refused=refused)
    if refused:
        log.warning(
            "SMTP server %s refused %d of %d recipient(s) of %s: %s",
            where, len(refused), len(recipients), msg.get("Message-ID", "?"),
            "; ".join(f"{a}: {c} {t}" for a, (c, t) in refused.items()),
        )
    log.info("sent %s via %s to %s", msg.get("Message-ID", "?"), where, ", ".join(accepted))
    return result


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; a dead or hung connection is just closed (the send outcome is already known)."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


# ---------------------------------------------------------------------------------------------
# Outbox and dispatch
# ---------------------------------------------------------------------------------------------

def write_eml(outbox: Path, msg: Message, name: str) -> Path:
    """Write ``outbox/{name}.eml`` atomically; a no-op when the file already holds these bytes.

    The temporary file is hidden (``.name.*.tmp``) in the same folder, so a watcher globbing
    ``*.eml`` never sees a partial file, and ``os.replace`` is atomic on one filesystem.
    Different existing content is replaced. Bcc is kept (this file is local, not transmitted).
    """
    if not _EML_NAME.fullmatch(name or ""):
        raise ValueError(f"write_eml: {name!r} is not a safe file name (letters, digits, . _ @ + -)")
    outbox = Path(outbox)
    path = outbox / f"{name}.eml"
    data = _wire_bytes(msg, drop_bcc=False)
    try:
        outbox.mkdir(parents=True, exist_ok=True)
        try:
            if path.read_bytes() == data:
                return path
            log.info("replacing %s: its content differs from this message", path)
        except FileNotFoundError:
            pass
        fd, tmp = tempfile.mkstemp(dir=outbox, prefix=f".{name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the digest from a reviewer's tooling
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _fsync_dir(outbox)
    except OSError as exc:
        raise MailError(f"cannot write {path}: {exc.strerror or exc}; check LDN_OUTBOX") from exc
    return path


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; not every platform/filesystem lets a directory be fsync'd."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Delivery:
    """How a digest left: ``method`` "smtp" or "eml"; ``detail`` a human line (or the .eml path).

    ``accepted``/``refused`` are the SMTP envelope outcome (empty for "eml").
    """

    method: str
    detail: str
    accepted: tuple[str, ...] = ()
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)


def deliver(settings, msg: Message, name: str, *, ssl_context: Optional[ssl.SSLContext] = None) -> Delivery:
    """SMTP when ``settings.smtp_host`` is set, otherwise ``settings.outbox/{name}.eml``."""
    if settings.smtp_host:
        res = send_smtp(settings, msg, ssl_context=ssl_context)
        detail = f"sent via {_where(settings.smtp_host, settings.smtp_port_effective)} to {', '.join(res.accepted)}"
        if res.refused:
            detail += "; refused: " + "; ".join(f"{a}: {c} {t}" for a, (c, t) in res.refused.items())
        return Delivery("smtp", detail, res.accepted, dict(res.refused))
    path = write_eml(settings.outbox, msg, name)
    return Delivery("eml", str(path))
