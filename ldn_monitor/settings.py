"""One frozen Settings object, built once at the entry point (CLI or flow).

Sources, later wins: built-in defaults < TOML file (``LDN_CONFIG`` or ``--config``) < ``LDN_*``
environment variables. Secrets (``LDN_NCBI_API_KEY``, ``LDN_SMTP_PASSWORD``) are read from the
environment only — a TOML file that holds one is refused — and never appear in ``repr``.
A bad value raises :class:`SettingsError` naming the variable.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from .errors import SettingsError

EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
CTGOV_URL = "https://clinicaltrials.gov/api/v2/"

# A librarian's query: the drug by MeSH or free text, AND a low-dose cue. No design filter, so
# protocols, case reports and reviews come in too; the assessor (not the query) separates LDN from
# standard-dose naltrexone, which a "low dose" phrase alone cannot.
DEFAULT_QUERY = (
    '("Naltrexone"[MeSH Terms] OR naltrexone[tiab]) AND ('
    '"low dose"[tiab] OR "low-dose"[tiab] OR "very low dose"[tiab] OR "very low-dose"[tiab] '
    'OR "ultra-low dose"[tiab] OR "ultralow dose"[tiab] OR "ultra low dose"[tiab] OR LDN[tiab] '
    'OR "4.5 mg"[tiab] OR "4.5mg"[tiab] OR "1.5 mg"[tiab] OR "3 mg"[tiab] OR "3mg"[tiab] '
    'OR "low dosage"[tiab] OR microdose*[tiab])'
)

SECRET_FIELDS = ("ncbi_api_key", "smtp_password")
SECURITY_CHOICES = ("none", "starttls", "ssl")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


@dataclass(frozen=True)
class Settings:
    db: Path = Path("data/ldn-monitor.db")
    eutils_url: str = EUTILS_URL
    ncbi_api_key: Optional[str] = field(default=None, repr=False)
    ncbi_email: Optional[str] = None
    ncbi_tool: str = "ldn-monitor"
    query: str = DEFAULT_QUERY
    smtp_host: Optional[str] = None
    smtp_port: Optional[int] = None  # default by security: 25 / 587 / 465
    smtp_user: Optional[str] = None
    smtp_password: Optional[str] = field(default=None, repr=False)
    smtp_security: str = "starttls"
    smtp_timeout: float = 30.0
    mail_from: str = "ldn-monitor@localhost"
    mail_to: tuple[str, ...] = ()
    outbox: Path = Path("data/outbox")
    digest_when_empty: bool = False
    overlap_days: int = 7
    backfill_from: str = "1970/01/01"
    batch_size: int = 500
    timeout: float = 30.0
    max_retries: int = 5
    backoff: float = 1.0  # seconds; doubles each retry
    rate: Optional[float] = None  # requests/second; None = 3/s, or 10/s with an API key
    ctgov_url: str = CTGOV_URL
    registry: bool = True
    rules: Optional[Path] = None  # None = the bundled data/rules.toml
    lease_seconds: int = 3600
    dask_address: Optional[str] = None

    @property
    def requests_per_second(self) -> float:
        if self.rate is not None:
            return self.rate
        return 10.0 if self.ncbi_api_key else 3.0

    @property
    def smtp_port_effective(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return {"none": 25, "starttls": 587, "ssl": 465}[self.smtp_security]

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed, checked like a freshly loaded one."""
        return _validate(dataclasses.replace(self, **changes))

    def public_dict(self) -> dict:
        """Settings for display and logs: secrets reduced to 'set' / 'unset'."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in SECRET_FIELDS:
                v = "set" if v else "unset"
            elif isinstance(v, Path):
                v = str(v)
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


def _env_name(name: str) -> str:
    return "LDN_" + name.upper()


def _parse_bool(name: str, raw: str) -> bool:
    low = str(raw).strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{_env_name(name)}={raw!r} is not a boolean; use true or false")


def _convert(name: str, raw, source: str):
    """Turn a raw env/TOML value into the field's type, or raise naming the variable."""
    var = _env_name(name) if source == "env" else f"{name} (in {source})"
    ftype = {f.name: f.type for f in dataclasses.fields(Settings)}[name]
    try:
        if name in ("db", "outbox", "rules"):
            return Path(str(raw)).expanduser() if str(raw) else None
        if name == "mail_to":
            items = raw if isinstance(raw, list) else str(raw).split(",")
            addrs = tuple(a.strip() for a in items if str(a).strip())
            bad = [a for a in addrs if not _EMAIL.match(a)]
            if bad:
                raise SettingsError(f"{var}: {bad[0]!r} is not an email address (comma-separated list expected)")
            return addrs
        if name in ("digest_when_empty", "registry"):
            return raw if isinstance(raw, bool) else _parse_bool(name, raw)
        if "int" in ftype:
            val = int(raw)
            if val < 0 or (name in ("batch_size", "lease_seconds") and val == 0):
                raise ValueError
            return val
        if "float" in ftype:
            val = float(raw)
            if val <= 0 and name != "backoff" or val < 0:
                raise ValueError
            return val
    except SettingsError:
        raise
    except (TypeError, ValueError):
        raise SettingsError(f"{var}={raw!r} is not a valid {ftype.replace('Optional[', '').rstrip(']')}") from None
    return str(raw) if raw is not None else None


def _validate(s: Settings) -> Settings:
    if s.smtp_security not in SECURITY_CHOICES:
        raise SettingsError(f"LDN_SMTP_SECURITY={s.smtp_security!r}: choose one of {', '.join(SECURITY_CHOICES)}")
    for name in ("eutils_url", "ctgov_url"):
        url = getattr(s, name)
        if not re.match(r"^https?://[^/\s]+", url):
            raise SettingsError(f"{_env_name(name)}={url!r} is not an http(s) URL")
    if not s.eutils_url.endswith("/"):
        object.__setattr__(s, "eutils_url", s.eutils_url + "/")
    if not s.ctgov_url.endswith("/"):
        object.__setattr__(s, "ctgov_url", s.ctgov_url + "/")
    if s.ncbi_email is not None and not _EMAIL.match(s.ncbi_email):
        raise SettingsError(f"LDN_NCBI_EMAIL={s.ncbi_email!r} is not an email address")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", s.ncbi_tool):
        raise SettingsError(f"LDN_NCBI_TOOL={s.ncbi_tool!r}: NCBI wants a tool name without spaces")
    if not _EMAIL.match(s.mail_from) and not re.fullmatch(r"[^@\s]+@[^@\s]+", s.mail_from):
        raise SettingsError(f"LDN_MAIL_FROM={s.mail_from!r} is not an email address")
    if s.batch_size > 10000:
        raise SettingsError(f"LDN_BATCH_SIZE={s.batch_size}: EFetch takes at most 10000 records per call")
    if not re.fullmatch(r"\d{4}(/\d{2}(/\d{2})?)?", s.backfill_from):
        raise SettingsError(f"LDN_BACKFILL_FROM={s.backfill_from!r}: use YYYY/MM/DD")
    if s.smtp_host and not s.mail_to:
        raise SettingsError("LDN_SMTP_HOST is set but LDN_MAIL_TO is empty: name at least one recipient")
    if s.smtp_password and not s.smtp_user:
        raise SettingsError("LDN_SMTP_PASSWORD is set without LDN_SMTP_USER")
    return s


def load_settings(environ: Optional[Mapping[str, str]] = None, config: Optional[str | Path] = None) -> Settings:
    """Build Settings from defaults, an optional TOML file, then ``LDN_*`` environment variables."""
    env = dict(os.environ if environ is None else environ)
    values: dict = {}
    names = {f.name for f in dataclasses.fields(Settings)}
    config = config or env.get("LDN_CONFIG")
    if config:
        path = Path(config)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"LDN_CONFIG: no such file {str(path)!r}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"LDN_CONFIG: {path} is not valid TOML ({exc})") from None
        data = data.get("ldn_monitor", data)
        for key, raw in data.items():
            if key in SECRET_FIELDS:
                raise SettingsError(
                    f"{path}: {key} must not be in a file; set {_env_name(key)} in the environment instead"
                )
            if key not in names:
                raise SettingsError(f"{path}: unknown setting {key!r} (known: {', '.join(sorted(names))})")
            values[key] = _convert(key, raw, str(path))
    for name in names:
        var = _env_name(name)
        if var in env:
            values[name] = _convert(name, env[var], "env")
    values = {k: v for k, v in values.items() if not (v is None and k in ("db", "outbox"))}
    return _validate(Settings(**values))


REQUIRED_RULE_KEYS = {
    "pivotal": ("min_n", "min_weeks", "blinding", "controls"),
    "information_size": ("optimal_n",),
    "conflict": ("min_n", "blinding", "controls"),
    "pooled": ("designs", "min_participants", "min_trials"),
}


def default_rules_path() -> Path:
    return Path(__file__).resolve().parent.parent / "data" / "rules.toml"


def load_rules(path: Optional[str | Path] = None) -> dict:
    """Read and check the verdict thresholds (data/rules.toml unless LDN_RULES names another)."""
    path = Path(path) if path else default_rules_path()
    try:
        rules = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"LDN_RULES: no such file {str(path)!r}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"LDN_RULES: {path} is not valid TOML ({exc})") from None
    for key in ("version", "verdict_date"):
        if key not in rules:
            raise SettingsError(f"LDN_RULES: {path} lacks top-level {key!r}")
    rules["verdict_date"] = str(rules["verdict_date"])
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", rules["verdict_date"]):
        raise SettingsError(f"LDN_RULES: verdict_date {rules['verdict_date']!r} must be YYYY-MM-DD")
    for section, keys in REQUIRED_RULE_KEYS.items():
        for key in keys:
            if key not in rules.get(section, {}):
                raise SettingsError(f"LDN_RULES: {path} lacks [{section}] {key}")
    rules.setdefault("safety", {"retraction_counts": True})
    return rules
