"""config.toml → one frozen, fully validated Config; every error reported with its TOML path.

Secrets never live in config.toml: keys ending in ``_file`` name files that hold them. Relative
paths are resolved against the directory of the config file, so the repository's example
config.toml runs the demo from any working directory. ``${CREDENTIALS_DIRECTORY}`` in a path is
the directory systemd gives a unit's ``LoadCredential=`` files (the only variable expanded).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor.inspect.limits import Limits
from monitor.inspect.pipeline import Settings
from monitor.store import Store
from monitor.store.connection import DEFAULT_LOCK_TIMEOUT
from rules import TRAFFIC_RULES
from rules.base import Action
from rules.facts import Domains
from rules.mailbox_facts import AccountProfile
from rules.profile import PROFILE_NAMES, RULE_IDS, Profile, check_overrides, load_profile

DEFAULT_PATHS = (Path("/etc/mailmon/config.toml"), Path("config.toml"))
EX_CONFIG = 78
CREDENTIALS = "CREDENTIALS_DIRECTORY"

HostPort = Annotated[str, Field(pattern=r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$")]
Domain = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")]


class ConfigError(Exception):
    """A config file that cannot be used; ``errors`` holds one line per problem."""

    def __init__(self, path: Path, errors: list[str]) -> None:
        super().__init__(f"{path}: {len(errors)} error(s)")
        self.path = path
        self.errors = errors


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if "password" in key and not key.endswith("_file"):
                    raise ValueError(
                        f"'{key}': secrets are not written in config.toml; "
                        f"put it in a file and name that file in '{key}_file'"
                    )
        return data


class Organization(_Section):
    name: str = "Cơ quan nhà nước"
    local_domains: list[Domain] = Field(min_length=1)
    government_domains: list[Domain] = ["gov.vn"]
    timezone: str = "Asia/Ho_Chi_Minh"
    # Networks the organisation's own staff log in from; a login from elsewhere is a login-anomaly
    # finding (DN-2022 Đ12.3; site policy under a profile without such a clause). Empty: not checked.
    trusted_networks: list[str] = []

    @field_validator("trusted_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        out = []
        for i, text in enumerate(v):
            try:
                out.append(str(ipaddress.ip_network(text.strip(), strict=False)))
            except ValueError as exc:
                raise ValueError(f"item {i}: not an IP network ({text!r})") from exc
        return out

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("local_domains", "government_domains")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [d.lower() for d in v]


class ProfileSection(_Section):
    name: str = "dn-2022"
    # The profile's own tables ([lists], [detection], [working_hours], [rules.<id>]) with site values;
    # checked against the profile in load_config, each problem reported by its TOML path.
    overrides: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in PROFILE_NAMES:
            raise ValueError(f"unknown profile {v!r}; shipped profiles: {', '.join(PROFILE_NAMES)}")
        return v


class Storage(_Section):
    database: Path = Path("/var/lib/mailmon/mailmon.sqlite3")
    spool_dir: Path = Path("/var/spool/mailmon/incoming")
    quarantine_dir: Path = Path("/var/spool/mailmon/quarantine")
    # How long a write waits for another writer (another mailmon process, `mailmon` commands) to
    # finish before it counts as failed; the filter keeps a failed record and retries it.
    lock_timeout_seconds: float = Field(default=DEFAULT_LOCK_TIMEOUT, gt=0, le=600)
    # Empty: SQLite at ``database`` (one machine, no server). ``postgresql://user@host:port/dbname``:
    # PostgreSQL, which several mailmon nodes share (docs/scale-out.md); its password in
    # ``password_file``. Away from loopback the server's certificate is verified (sslmode=verify-full)
    # unless the URL names another sslmode.
    url: str = ""
    password_file: Path | None = None
    # Where quarantined messages' bytes are kept: "files" under quarantine_dir, or "database" (a shared
    # store's nodes all reach them). Unset: "database" with PostgreSQL, "files" with SQLite.
    quarantine_in: Literal["files", "database"] | None = None

    def quarantine_in_database(self) -> bool:
        return (self.quarantine_in or ("database" if self.url else "files")) == "database"

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, v: str) -> str:
        return postgres_url(v) if v else v

    def target(self) -> Path | str:
        """What the store opens: the PostgreSQL URL, or else the SQLite file."""
        return self.url or self.database

    def password(self) -> str | None:
        return read_secret(self.password_file, "storage.password_file") if self.url and self.password_file else None

    def open_store(self, *, migrate: bool = True) -> Store:
        return Store(self.target(), lock_timeout=self.lock_timeout_seconds, migrate=migrate, password=self.password())


def postgres_url(url: str) -> str:
    """Check a ``[storage] url``: PostgreSQL, no password in it, TLS verified away from loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("expected postgresql://user@host:port/dbname (leave it empty for SQLite at 'database')")
    if parts.password:
        raise ValueError("secrets are not written in config.toml; put the password in 'password_file'")
    query = parse_qs(parts.query)
    host = parts.hostname or ""
    local = host in ("", "localhost") or host.startswith("/") or _is_loopback(host)
    if not local and "sslmode" not in query and "host" not in query:
        query["sslmode"] = ["verify-full"]
        url = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    elif "sslmode" in query and query["sslmode"][-1] in ("disable", "allow", "prefer") and not local:
        raise ValueError(f"sslmode={query['sslmode'][-1]} sends the mail's findings in clear text; use verify-full")
    return url


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FilterSection(_Section):
    mode: Literal["after-queue", "before-queue"] = "after-queue"
    listen: HostPort = "127.0.0.1:10025"
    reinject: HostPort = "127.0.0.1:10026"
    hostname: str = "mailmon.localhost"
    max_message_bytes: int = Field(default=64 * 2**20, ge=1024)
    spool_memory_bytes: int = Field(default=2**20, ge=0)
    scan_timeout_seconds: float = Field(default=60.0, gt=0)
    reinject_timeout_seconds: float = Field(default=120.0, gt=0)
    workers: int = Field(default=2, ge=1, le=64)
    # A worker still inspecting one message after this long is ended and replaced (hard deadline).
    worker_deadline_seconds: float = Field(default=15.0, gt=0)
    # Address space one worker process may use; past it allocations fail (inspection-limit verdict).
    worker_memory_bytes: int = Field(default=2**30, ge=256 * 2**20)
    # Bytes of messages being parsed at once; a larger message still goes, alone (memory bound).
    parse_bytes_in_flight: int = Field(default=32 * 2**20, ge=2**20)
    quarantine_rejected: bool = True
    # Peers whose XFORWARD (Postfix's original client and queue id) is believed; others get 550.
    xforward_clients: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [
        ipaddress.IPv4Network("127.0.0.0/8"),
        ipaddress.IPv6Network("::1/128"),
    ]
    # Postfix's myhostname: the SASL login is taken only from the Received field it writes on top.
    postfix_hostname: str = ""
    # Connections at once; past it a new one hears 421 and is closed (Postfix retries later).
    max_connections: int = Field(default=100, ge=1, le=10_000)
    # Idle time allowed while waiting for a command, and between two reads during DATA.
    command_timeout_seconds: float = Field(default=300.0, gt=0)
    data_timeout_seconds: float = Field(default=180.0, gt=0)
    # Free space the spool's file system keeps: below it MAIL gets 452 4.3.1 and Postfix waits.
    spool_min_free_bytes: int = Field(default=100 * 2**20, ge=0)


_LIMITS = Limits()


class Inspection(_Section):
    """Bounds on inspecting one message; the defaults are monitor/inspect/limits.py's ``Limits``."""

    max_mime_parts: int = Field(default=_LIMITS.max_mime_parts, ge=1)
    max_mime_depth: int = Field(default=_LIMITS.max_mime_depth, ge=1)
    max_header_bytes: int = Field(default=_LIMITS.max_header_bytes, ge=1024)
    max_archive_members: int = Field(default=_LIMITS.max_archive_members, ge=1)
    max_decode_bytes: int = Field(default=_LIMITS.max_decode_bytes, ge=1024)
    max_archive_depth: int = Field(default=_LIMITS.max_archive_depth, ge=1)
    max_expanded_bytes: int = Field(default=_LIMITS.max_expanded_bytes, ge=1024)
    max_compression_ratio: int = Field(default=_LIMITS.max_compression_ratio, ge=2)
    max_inspection_seconds: float = Field(default=_LIMITS.max_inspection_seconds, gt=0)
    max_extracted_text_chars: int = Field(default=_LIMITS.max_extracted_text_chars, ge=0)
    max_pdf_pages: int = Field(default=_LIMITS.max_pdf_pages, ge=0)
    max_pdf_seconds: float = Field(default=_LIMITS.max_pdf_seconds, gt=0)


class RuleSection(_Section):
    action: Literal["pass", "tag", "quarantine", "reject"] | None = None
    # None: as the profile says; true where the regulation has no such clause: site policy.
    enabled: bool | None = None


class Dovecot(_Section):
    master_user: str = "monitor"
    master_password_file: Path | None = None
    imap: HostPort = "127.0.0.1:143"
    managesieve: HostPort = "127.0.0.1:4190"
    tls: Literal["auto", "starttls", "none"] = "auto"
    sweep_concurrency: int = Field(default=8, ge=1, le=256)
    # Boxes started per second at most (0: as fast as Dovecot answers). Every box costs Dovecot two
    # logins: unpaced, a sweep took both cores of a 2-core server and the filter's p99 rose 4-5 fold
    # while it ran; at 10 a second it did not rise (bench/filter_during_sweep.py). 10,000 boxes: ~17 min.
    sweep_boxes_per_second: float = Field(default=10.0, ge=0)
    box_timeout_seconds: float = Field(default=30.0, gt=0)
    last_login_dict: Path | None = None
    virtual_alias_maps: list[Path] = []


class RateWindow(_Section):
    messages_per_hour: int = Field(ge=1)
    external_recipients_per_hour: int = Field(ge=1)
    external_recipients_per_day: int = Field(ge=1)


class RateLimit(_Section):
    """Outbound sending windows per sender (monitor/smtp/sending_windows.py); limits by mailbox kind."""

    enabled: bool = True
    cooldown_minutes: int = Field(default=60, ge=1)
    limits: dict[Literal["personal", "unit", "agency", "admin"], RateWindow] = {}


class ClamAV(_Section):
    """Virus scanning through clamd's INSTREAM (monitor/scanners/clamd.py; rules/virus.py)."""

    # Off unless asked for: a config without [clamav] (tests, sites without clamd) keeps working.
    enabled: bool = False
    # "host:port" for TCPSocket, or an absolute path for clamd's LocalSocket.
    address: str = Field(default="127.0.0.1:3310", pattern=r"^(/\S+|\S+:\d{1,5})$")
    timeout_seconds: float = Field(default=60.0, gt=0)
    # Must equal clamd's StreamMaxLength (its default, 25M): clamd resets a longer stream.
    stream_max_bytes: int = Field(default=25 * 2**20, ge=1024)
    # False: clamd down → 451, Postfix retries (fail closed: nothing passes unscanned unless asked).
    fail_open: bool = False
    # Streams sent to clamd at once (clamd's own default MaxThreads is 10); more only wait in
    # clamd's queue, outside our timeout.
    concurrency: int = Field(default=10, ge=1, le=256)
    # Of those, streams of 1 MiB or more (decoded attachments, mostly) at once. Their scanning is
    # where clamd's CPU goes; one at a time kept clamd's CPU a message lowest here (2 cores).
    big_concurrency: int = Field(default=1, ge=1, le=256)


class Rspamd(_Section):
    """Optional content scoring through rspamd's /checkv2."""

    url: str = Field(default="", pattern=r"^(https?://[^\s]+)?$")
    timeout_seconds: float = Field(default=15.0, gt=0)
    # rspamd actions that make an outbound message spam (a `spam` finding), and inbound ones tagged.
    outbound_spam_actions: list[str] = ["reject", "soft reject", "rewrite subject", "add header"]
    inbound_spam_actions: list[str] = ["reject", "soft reject", "rewrite subject", "add header"]
    fail_open: bool = True


class CalendarSection(_Section):
    """Days off and make-up working days the government announces each year (monitor/mailboxes/calendar.py).

    Public holidays, Tết and Hùng Kings' day included, come from the `holidays` package; these lists
    add what it does not know yet: a bridge day off, and the Saturday worked to make up for it.
    """

    extra_days_off: list[date] = []
    extra_working_days: list[date] = []

    @model_validator(mode="after")
    def _disjoint(self) -> CalendarSection:
        both = sorted(set(self.extra_days_off) & set(self.extra_working_days))
        if both:
            raise ValueError(f"days listed both as off and as working days: {', '.join(map(str, both))}")
        return self


class Alerts(_Section):
    """Alert mail to each unit's IT contact, through an SMTP relay."""

    enabled: bool = True
    relay: HostPort = "127.0.0.1:25"
    starttls: bool = False
    username: str = ""
    password_file: Path | None = None
    from_address: str = "mailmon@localhost"
    fallback_to: list[str] = []
    flush_interval_seconds: int = Field(default=60, ge=5)


class DaemonSection(_Section):
    """[daemon]: what `mailmon run` schedules beside the filter."""

    log_source: str = ""
    sweep_interval_minutes: int = Field(default=60, ge=1)
    digest_time: str = Field(default="07:30", pattern=r"^\d\d:\d\d$")
    retention_days_findings: int = Field(default=730, ge=1)
    retention_days_quarantine: int = Field(default=90, ge=1)
    # Login events only keep a log that is read again from counting twice; the per-day summaries the
    # account rules and reports read are kept as long as findings (retention_days_findings).
    retention_days_login_events: int = Field(default=90, ge=45)
    drain_timeout_seconds: float = Field(default=60.0, gt=0)
    metrics_listen: HostPort = "127.0.0.1:9187"


class Web(_Section):
    """The operators' console that `mailmon run` serves (monitor/web; docs/console.md)."""

    enabled: bool = True
    # Loopback: the site's reverse proxy (nginx) terminates TLS in front of it.
    listen: HostPort = "127.0.0.1:8470"
    # Mailboxes whose owners see and act on everything; a unit's IT contacts come from the directory.
    admins: list[str] = []
    # Cookies only over HTTPS. false only for a console reached on plain loopback HTTP (tests, the demo).
    secure_cookies: bool = True
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=24 * 7)
    # Failed sign-ins allowed per mailbox and per client address within the window, then refused.
    signin_window_minutes: int = Field(default=15, ge=1)
    signin_failures_per_address: int = Field(default=5, ge=1)
    signin_failures_per_client: int = Field(default=20, ge=1)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (the client address above).
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]
    # How often the mailboxes page's states are evaluated anew (all mailboxes, in the background).
    mailbox_refresh_minutes: int = Field(default=15, ge=1)

    @field_validator("admins")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [a.strip().lower() for a in v]

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        for i, text in enumerate(v):
            try:
                ipaddress.ip_address(text)
            except ValueError as exc:
                raise ValueError(f"item {i}: not an IP address ({text!r})") from exc
        return v


class Config(_Section):
    organization: Organization
    profile: ProfileSection = ProfileSection()
    storage: Storage = Storage()
    filter: FilterSection = FilterSection()
    inspection: Inspection = Inspection()
    rules: dict[str, RuleSection] = {}
    dovecot: Dovecot = Dovecot()
    daemon: DaemonSection = DaemonSection()
    ratelimit: RateLimit = RateLimit()
    rspamd: Rspamd = Rspamd()
    clamav: ClamAV = ClamAV()
    alerts: Alerts = Alerts()
    web: Web = Web()
    calendar: CalendarSection = CalendarSection()

    def rule_action(self, rule_id: str) -> Action | None:
        """The action config.toml sets for a traffic rule (None: the rule's, capped by the profile's mode)."""
        section = self.rules.get(rule_id)
        if section is None or section.action is None:
            return None
        return Action.parse(section.action)

    def rule_switches(self) -> dict[str, bool]:
        return {rule_id: s.enabled for rule_id, s in self.rules.items() if s.enabled is not None}

    def load_profile(self) -> Profile:
        """The profile in force: the shipped one, config.toml's overrides and switches, the trusted networks."""
        return load_profile(
            self.profile.name,
            self.profile.overrides,
            self.rule_switches(),
            tuple(self.organization.trusted_networks),
        )

    def account_profile(self) -> AccountProfile:
        return self.load_profile().accounts

    def evaluation_settings(self) -> Settings:
        """The picklable part of the config that evaluation needs (sent to worker processes)."""
        actions = {}
        for rule_id in TRAFFIC_RULES:
            action = self.rule_action(rule_id)
            if action is not None:
                actions[rule_id] = action
        return Settings(
            domains=Domains(
                local=tuple(self.organization.local_domains), government=tuple(self.organization.government_domains)
            ),
            profile=self.load_profile(),
            limits=Limits(**self.inspection.model_dump()),  # [inspection] keys are Limits fields
            actions=actions,
        )


def resolve_path(explicit: str | Path | None) -> Path:
    """--config FILE, else /etc/mailmon/config.toml, else ./config.toml."""
    if explicit:
        return Path(explicit)
    for candidate in DEFAULT_PATHS:
        if candidate.exists():
            return candidate
    return DEFAULT_PATHS[0]


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the whole file; raise ConfigError listing every problem.

    ``environ`` supplies ``CREDENTIALS_DIRECTORY`` (default: this process's environment).
    """
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror or exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"TOML syntax: {exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(path, [f"not UTF-8: {exc}"]) from exc
    errors = _unknown_rules(data) + _profile_errors(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_describe(e) for e in exc.errors()] + errors) from exc
    if errors:
        raise ConfigError(path, errors)
    credentials = (os.environ if environ is None else environ).get(CREDENTIALS, "")
    return _resolve_paths(config, path.parent.resolve(), credentials)


def _unknown_rules(data: dict[str, Any]) -> list[str]:
    """Checked beside the model so that an unknown id is reported with every other error."""
    rules = data.get("rules")
    if not isinstance(rules, dict):
        return []
    errors = [
        f"rules.{rule_id}: unknown rule id; known: {', '.join(RULE_IDS)}"
        for rule_id in sorted(set(rules) - set(RULE_IDS))
    ]
    for rule_id, section in sorted(rules.items()):
        action = section.get("action") if isinstance(section, dict) else None
        if (
            not isinstance(action, str)
            or rule_id not in RULE_IDS
            or action not in ("pass", "tag", "quarantine", "reject")
        ):
            continue
        rule = TRAFFIC_RULES.get(rule_id)
        if rule is None:
            errors.append(f"rules.{rule_id}.action: an account rule only reports (tags); set enabled instead")
        elif Action.parse(action) > rule.max_action:
            errors.append(f"rules.{rule_id}.action: at most {rule.max_action} for this rule (got {action!r})")
    return errors


def _profile_errors(data: dict[str, Any]) -> list[str]:
    """[profile.overrides] and the [rules.<id>] switches checked against the chosen profile, by TOML path."""
    section = data.get("profile", {})
    name = section.get("name", "dn-2022") if isinstance(section, dict) else None
    overrides = section.get("overrides", {}) if isinstance(section, dict) else {}
    if name not in PROFILE_NAMES or not isinstance(overrides, dict):
        return []  # the model reports these
    rules = data.get("rules", {})
    switches = {
        rule_id: s["enabled"]
        for rule_id, s in (rules.items() if isinstance(rules, dict) else ())
        if rule_id in RULE_IDS and isinstance(s, dict) and isinstance(s.get("enabled"), bool)
    }
    return check_overrides(name, overrides, switches)


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    got = error.get("input")
    shown = "" if isinstance(got, dict) or error["type"] == "missing" else f" (got {got!r})"
    return f"{where}: {message}{shown}"


_CREDENTIALS_VAR = "${" + CREDENTIALS + "}"
_UNSET = (
    f"{_CREDENTIALS_VAR} is not set (systemd sets it for a unit with LoadCredential=; "
    f"elsewhere run with {CREDENTIALS}=/etc/mailmon/secrets)"
)


def _resolve_paths(config: Config, base: Path, credentials: str) -> Config:
    def resolve(p: Path) -> Path:
        text = str(p)
        if _CREDENTIALS_VAR in text:
            if not credentials:
                return p  # left as written: check-config and read_secret say what is missing
            p = Path(text.replace(_CREDENTIALS_VAR, credentials))
        return p if p.is_absolute() else base / p

    def fix(p: Path | None) -> Path | None:
        return None if p is None else resolve(p)

    storage = config.storage.model_copy(
        update={
            k: fix(getattr(config.storage, k)) for k in ("database", "spool_dir", "quarantine_dir", "password_file")
        }
    )
    dovecot = config.dovecot.model_copy(
        update={
            "master_password_file": fix(config.dovecot.master_password_file),
            "last_login_dict": fix(config.dovecot.last_login_dict),
            "virtual_alias_maps": [resolve(p) for p in config.dovecot.virtual_alias_maps],
        }
    )
    alerts = config.alerts.model_copy(update={"password_file": fix(config.alerts.password_file)})
    return config.model_copy(update={"storage": storage, "dovecot": dovecot, "alerts": alerts})


def unexpanded_credentials(config: Config) -> list[str]:
    """One error per path that names ${CREDENTIALS_DIRECTORY} while it is not set."""
    paths = {
        "storage.database": config.storage.database,
        "storage.spool_dir": config.storage.spool_dir,
        "storage.quarantine_dir": config.storage.quarantine_dir,
        "storage.password_file": config.storage.password_file,
        "dovecot.master_password_file": config.dovecot.master_password_file,
        "dovecot.last_login_dict": config.dovecot.last_login_dict,
        "alerts.password_file": config.alerts.password_file,
        **{f"dovecot.virtual_alias_maps.{i}": p for i, p in enumerate(config.dovecot.virtual_alias_maps)},
    }
    return [f"{where}: {_UNSET}" for where, p in paths.items() if p is not None and _CREDENTIALS_VAR in str(p)]


def read_secret(path: Path | None, what: str) -> str:
    """The first line of a secret file (systemd credentials and `echo pw > file` both work)."""
    if path is None:
        raise ConfigError(Path("config.toml"), [f"{what}: no file is configured"])
    if _CREDENTIALS_VAR in str(path):
        raise ConfigError(path, [f"{what}: {_UNSET}"])
    try:
        return path.read_text("utf-8").splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        raise ConfigError(path, [f"{what}: cannot read the secret file {path}: {exc}"]) from exc


def split_hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)
