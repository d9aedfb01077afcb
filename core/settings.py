"""Settings from the environment (YUANJIAO_*); every engine URL defaults under YUANJIAO_HOME."""

import logging
import os
import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigurationError
from core.i18n import N_

log = logging.getLogger(__name__)

# The keys that .env.example and docker-compose.yml ship for a local trial: production refuses them.
DEVELOPMENT_SECRETS = frozenset(
    {"dev-session-key-change-me", "dev-id-hash-key-change-me", "change-me", "secret"}
)
# Keys kept in files under `home` when the embedded single-node default may generate them.
_KEY_FILES = {"secret_key": "secret.key", "id_hash_key": "id-hash.key"}


class IceServer(BaseModel):
    """One STUN or TURN server, as browsers' RTCIceServer names its fields."""

    urls: list[str] = Field(min_length=1)
    username: str = ""
    credential: str = ""


class Settings(BaseSettings):
    """All configuration; URLs choose the engine (SQLite/PostgreSQL, local/S3, SQLite/Redis)."""

    model_config = SettingsConfigDict(env_prefix="YUANJIAO_", env_file=".env", extra="ignore")

    home: Path = Path("var")
    database_url: str = ""
    storage_url: str = ""
    queue_url: str = ""
    # development: the embedded single-node default may generate its keys; production: every
    # key must be set, and to none of the development values.
    mode: Literal["development", "production"] = "development"
    # The master key that session cookies, media links and device tokens are signed with (each
    # with its own key derived from it), and the HMAC key for ID-card numbers. Only the embedded
    # default (SQLite, development) generates them, once, into files under `home`; a node with an
    # external database must be given them, so that every node signs and hashes alike.
    secret_key: str = ""
    id_hash_key: str = ""
    max_upload_bytes: int = 4 * 1024**3
    # Request bodies: JSON and forms (login included), one tus chunk (tus-js-client sends 1 MiB;
    # a chunk is held in memory until written), an attachment. Larger bodies get 413 unread.
    max_request_bytes: int = 64 * 1024
    max_chunk_bytes: int = 16 * 1024**2
    max_attachment_bytes: int = 256 * 1024**2
    # Pooled database connections per process (SQLAlchemy's QueuePool); unset: its defaults.
    database_pool_size: int | None = None
    database_max_overflow: int | None = None
    ladder_heights: tuple[int, ...] = (1080, 720, 480, 360, 240)
    job_max_attempts: int = 3
    job_retry_base_seconds: float = 10.0
    # A running job whose heartbeat is older than this is taken to have lost its worker.
    job_stale_seconds: float = 120.0
    # A queued, due job that no worker took this long after its hand-off to the queue (a failed
    # enqueue, a crash before it, a queue that lost it) is handed over again.
    job_enqueue_grace_seconds: float = 30.0
    # One transcode attempt is stopped after this long and tried again (a stuck ffmpeg).
    transcode_timeout_seconds: float = 6 * 3600.0
    presign_seconds: int = 3600
    default_locale: str = "zh_CN"
    # Where users reach the site; with https every cookie is marked Secure and HSTS is sent.
    base_url: str = "http://127.0.0.1:8000"
    # host:port to serve /metrics on a listener of its own; when empty, /metrics is on the
    # site and only platform admins may read it.
    metrics_address: str = ""
    # A login session ends this long after it began (or earlier: logout, password change).
    session_days: int = Field(default=14, ge=1)
    # Failed logins: an account (or a device that logged in before) is locked after this many,
    # an address (a /64 for IPv6) after more, since a village office shares one address.
    login_account_failures: int = Field(default=5, ge=1)
    login_address_failures: int = Field(default=30, ge=1)
    # The first lockout lasts this long; each further failure doubles it, up to the maximum.
    login_lockout_seconds: int = Field(default=60, ge=1)
    login_lockout_max_seconds: int = Field(default=900, ge=1)
    # A count starts again when its last failure is older than this.
    login_failure_window_seconds: int = Field(default=3600, ge=1)
    # argon2 takes 64 MiB and a core's worth of work per hash: at most this many at once, and
    # at most `password_hash_queue` more waiting; beyond that a login is told to try again.
    password_hash_slots: int = Field(default=2, ge=1)
    password_hash_queue: int = Field(default=16, ge=0)
    # The lesson player buffers at most this many seconds ahead of the playhead, so a viewer
    # who stops early has not paid for the rest of the lesson.
    player_buffer_seconds: int = Field(default=30, ge=4, le=600)
    # Terminal site tiers, best first, each with the tallest rendition its sites download
    # (精品 / 示范 / 基础 by default). JSON in the environment: {"premium": 720, ...}.
    site_tiers: dict[str, int] = Field(
        default_factory=lambda: {"premium": 720, "demonstration": 480, "basic": 360},
        min_length=1,
    )
    # A site is shown offline when its agent has not been heard from for this long.
    site_offline_grace_seconds: int = Field(default=15 * 60, ge=60)
    # A site's monthly duties (DOMAIN.md): on each fixed study day (5th/15th/25th; "逢六" regions
    # set 6,16,26) at least this many minutes of courseware played, and together on the other
    # days at least that many; group sessions held; days the site was open.
    site_study_days: tuple[int, ...] = (5, 15, 25)
    site_study_day_minutes: int = Field(default=90, ge=0)
    site_other_days_minutes: int = Field(default=180, ge=0)
    site_group_sessions: int = Field(default=2, ge=0)
    site_open_days: int = Field(default=4, ge=0)
    # A member checked in to a site's group session earns its lessons when present for at
    # least this share of the session's played time.
    site_presence_threshold: float = Field(default=0.8, gt=0, le=1)
    # Members bound by a study plan are reminded this many days before its deadline (and once
    # when it has passed).
    plan_reminder_days: int = Field(default=7, ge=1, le=90)
    # What the site map draws: "auto" (the province of the sites' codes when they share one,
    # else the country), "china" (the provinces), or one province with its cities, named as
    # china-geojson names its file ("chong_qing", "gui_zhou", "shan_xi_1" 陕西, "shan_xi_2" 山西).
    map_region: str = Field(default="auto", pattern=r"^[a-z][a-z0-9_]{0,39}$")
    # Terminal sync: records one upload batch may carry, the bytes of one record's body and of a
    # whole batch, how far in the future a record's time may lie before it is flagged, and how
    # long the download links in a site's manifest live.
    sync_max_batch_records: int = Field(default=500, ge=1, le=10_000)
    sync_max_record_bytes: int = Field(default=64 * 1024, ge=1024)
    sync_max_batch_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024)
    sync_max_clock_skew_seconds: int = Field(default=10 * 60, ge=0)
    sync_link_ttl_seconds: int = Field(default=6 * 3600, ge=60)
    # Member invitation codes (/activate): how long a code lasts, how many wrong identity checks
    # spend it, and how many failed activations lock an address (same lockout as logins).
    invitation_days: int = Field(default=30, ge=1, le=365)
    invitation_failures: int = Field(default=5, ge=1)
    activation_address_failures: int = Field(default=20, ge=1)
    # The notifier's channels besides in-app notices (core/notify), both off by default.
    # E-mail over SMTP: smtp_tls is "starttls", "ssl" (implicit TLS, port 465) or "none".
    email_enabled: bool = False
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    # An SMS gateway: a JSON POST to sms_url with "Authorization: Bearer <sms_token>".
    sms_enabled: bool = False
    sms_url: str = ""
    sms_token: str = ""
    # Seconds one e-mail or SMS attempt may take, and attempts before a delivery has failed.
    notify_timeout_seconds: float = Field(default=20.0, gt=0)
    notify_max_attempts: int = Field(default=5, ge=1)
    # Study credits (学时). A lesson is credited once its played coverage reaches this share.
    credit_coverage_threshold: float = Field(default=0.9, gt=0, le=1)
    # Played media may run at most this much faster than wall-clock time (the player's top
    # speed), plus a slack of seconds per beat for timer jitter and once per playback session.
    credit_max_rate: float = Field(default=2.0, ge=1, le=4)
    credit_beat_slack_seconds: float = Field(default=2.0, ge=0, le=30)
    credit_session_slack_seconds: float = Field(default=5.0, ge=0, le=120)
    # Hours a member may earn per day in a category ("online" web study, "group" site sessions,
    # "live" events); a category not named is not capped. JSON in the environment.
    credit_daily_caps: dict[str, float] = Field(default_factory=lambda: {"online": 8.0})
    # Hours required per year by duty (职务).
    credit_requirements: dict[str, float] = Field(
        default_factory=lambda: {
            "member": 32.0,
            "secretary": 56.0,
            "committee_member": 56.0,
            "township_cadre": 90.0,
        }
    )
    # Hours per unit of study, for credit given by the unit (a training day = 8 by default).
    credit_conversions: dict[str, float] = Field(
        default_factory=lambda: {"hour": 1.0, "training_day": 8.0, "half_day_lecture": 4.0}
    )
    # Hours earned above the year's requirement that count towards the next year (0: none).
    credit_carry_over_hours: float = Field(default=0.0, ge=0)
    # What a site's administrative code looks like (a village's 12-digit code by default).
    site_code_pattern: str = Field(default=r"\d{12}", min_length=1, max_length=200)
    # How long a one-time enrolment code stays usable after it is issued.
    site_enrolment_code_days: int = Field(default=7, ge=1, le=90)
    # Live rooms. The STUN/TURN servers browsers and the media node use, as JSON:
    # [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]. Empty
    # means host candidates only: right on a LAN, or with the media node reachable directly.
    ice_servers: list[IceServer] = Field(default_factory=list)
    # A TURN server with time-limited credentials (coturn's use-auth-secret, as docker-compose
    # runs it): its URLs and shared secret; each participant gets credentials valid for a day.
    turn_urls: list[str] = Field(default_factory=list)
    turn_secret: str = ""
    # What each participant receives: video slots besides the spotlight and the active speaker
    # (Last-N), and audio lanes for the loudest unmuted voices; the one video codec of a room.
    room_tiles: int = Field(default=6, ge=0, le=24)
    room_audio_lanes: int = Field(default=4, ge=1, le=16)
    room_video_codec: Literal["H264", "VP8"] = "H264"
    # Media nodes: each says it is alive this often, and one silent for the timeout is taken for
    # dead (its rooms go to another node). A node is known by the URL web nodes reach it at:
    # `yuanjiao media` and `yuanjiao run` make it from their host and port unless this is set.
    media_heartbeat_seconds: float = Field(default=3.0, gt=0, le=60)
    media_node_timeout_seconds: float = Field(default=15.0, gt=0, le=600)
    media_url: str = ""
    # The address browsers reach a media node at, where it is not its own (a container behind
    # published UDP ports, a 1:1 NAT): its ICE candidates are announced with it.
    media_announced_address: str = ""
    # A speaker's time at the floor; the page shows it counting and marks it when it is over.
    speaking_minutes: int = Field(default=5, ge=1, le=120)
    # The invited are reminded this many minutes before an event starts.
    event_reminder_minutes: int = Field(default=30, ge=1, le=24 * 60)

    @field_validator("metrics_address")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, colon, port = value.rpartition(":")
        if value and not (colon and host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError("give host:port, for example 127.0.0.1:9100")
        return value

    @field_validator("site_tiers")
    @classmethod
    def _tier_names_and_heights(cls, value: dict[str, int]) -> dict[str, int]:
        for name, height in value.items():
            if not (name.isidentifier() and len(name) <= 40) or not 144 <= height <= 4320:
                raise ValueError("give tier names (letters, digits, _) with heights 144 to 4320")
        return value

    @field_validator("site_study_days")
    @classmethod
    def _days_of_the_month(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not all(1 <= day <= 31 for day in value) or len(set(value)) != len(value):
            raise ValueError("give distinct days of the month, 1 to 31")
        return tuple(sorted(value))

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("YUANJIAO_BASE_URL must start with http:// or https://")
        return value.rstrip("/")

    @property
    def https(self) -> bool:
        """Whether the site is served over HTTPS (cookies then carry the Secure flag)."""
        return self.base_url.lower().startswith("https://")

    @property
    def presign_delta(self) -> timedelta:
        """How long a presigned media URL stays valid."""
        return timedelta(seconds=self.presign_seconds)

    @model_validator(mode="after")
    def _fill_defaults(self) -> "Settings":
        home = self.home
        if not self.database_url:
            home.mkdir(parents=True, exist_ok=True)
            self.database_url = f"sqlite:///{home / 'yuanjiao.db'}"
        if not self.storage_url:
            self.storage_url = f"file://{home / 'objects'}"
        if not self.queue_url:
            self.queue_url = f"sqlite:///{home / 'queue.db'}"
        for name, filename in _KEY_FILES.items():
            setattr(self, name, self._key(name, home / filename))
        return self

    @property
    def embedded(self) -> bool:
        """The single-node default: a SQLite database in development mode."""
        return self.mode == "development" and self.database_url.startswith("sqlite")

    def _key(self, name: str, path: Path) -> str:
        """The configured key, or on the embedded default one generated into `path`; a node that
        other nodes may share a database with never invents a key of its own."""
        value: str = getattr(self, name)
        setting = f"YUANJIAO_{name.upper()}"
        if value and value in DEVELOPMENT_SECRETS and self.mode == "production":
            raise ConfigurationError(
                N_("%(setting)s has a development value: set a secret of your own in production."),
                setting=setting,
            )
        if value:
            return value
        if not self.embedded:
            raise ConfigurationError(
                N_(
                    "%(setting)s is not set: outside the embedded default every node needs the "
                    'same key (generate one with `python3 -c "import secrets; '
                    'print(secrets.token_urlsafe(32))"`).'
                ),
                setting=setting,
            )
        return _local_secret(path, setting)


def _local_secret(path: Path, setting: str) -> str:
    """Read a generated secret from `path`, creating it (mode 600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(value)
    log.warning(
        "generated %s into %s for this single node; set %s to run more than one",
        setting,
        path,
        setting,
    )
    return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment; a malformed value is a
    ConfigurationError naming its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        setting = "YUANJIAO_" + "_".join(str(part) for part in error["loc"]).upper()
        raise ConfigurationError(
            N_("%(setting)s is invalid: %(reason)s"), setting=setting, reason=error["msg"]
        ) from None
