"""Every error ldn-monitor raises on purpose, in one tree.

    LdnError                      base: a one-line message that says what to do next
    ├── SettingsError             a setting is missing or malformed (names the LDN_ variable)
    ├── UpstreamError             a remote service failed us (after retries, where retrying made sense)
    │   ├── EutilsError           PubMed E-utilities
    │   │   ├── RateLimited       HTTP 429 / "API rate limit exceeded" after all retries
    │   │   ├── ServerError       HTTP 5xx, connection refused, timeout after all retries
    │   │   ├── BadResponse       HTTP 200 whose body is an <ERROR>, an HTML page, empty or truncated XML
    │   │   └── IncompleteResult  ESearch count and ids delivered disagree; WebEnv expired
    │   └── RegistryError         ClinicalTrials.gov API v2
    ├── StoreError                SQLite: locked, read-only, disk full, schema too new
    │   └── RunLocked             another run holds the lease
    ├── MailError                 SMTP refused, auth failed, recipient rejected, connection lost
    └── InputError                a reviewer's input (file, PMID, --set field=value) is unusable

The CLI prints ``str(err)`` as one line and exits non-zero; flows let them fail the run, so the
watermark does not move.
"""


class LdnError(Exception):
    """Base class. ``str(err)`` is a complete, actionable one-line message."""


class SettingsError(LdnError):
    pass


class UpstreamError(LdnError):
    pass


class EutilsError(UpstreamError):
    pass


class RateLimited(EutilsError):
    pass


class ServerError(EutilsError):
    pass


class BadResponse(EutilsError):
    pass


class IncompleteResult(EutilsError):
    pass


class RegistryError(UpstreamError):
    pass


class StoreError(LdnError):
    pass


class RunLocked(StoreError):
    pass


class MailError(LdnError):
    pass


class InputError(LdnError):
    pass
