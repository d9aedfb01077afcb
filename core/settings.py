"""Settings from the environment (YUANJIAO_*); every engine URL defaults under YUANJIAO_HOME."""

import os
import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All configuration; URLs choose the engine (SQLite/PostgreSQL, local/S3, SQLite/Redis)."""

    model_config = SettingsConfigDict(env_prefix="YUANJIAO_", env_file=".env", extra="ignore")

    home: Path = Path("var")
    database_url: str = ""
    storage_url: str = ""
    queue_url: str = ""
    # The master key that session cookies, media links and device tokens are signed with (each
    # with its own key derived from it), and the HMAC key for ID-card numbers. When unset they are
    # generated once and kept in files under `home` (fine for one machine; set them in production).
    secret_key: str = ""
    id_hash_key: str = ""
    max_upload_bytes: int = 4 * 1024**3
    ladder_heights: tuple[int, ...] = (1080, 720, 480, 360)
    job_max_attempts: int = 3
    job_retry_base_seconds: float = 10.0
    # A running job whose heartbeat is older than this is taken to have lost its worker.
    job_stale_seconds: float = 120.0
    presign_seconds: int = 3600
    default_locale: str = "zh_CN"
    # Where users reach the site; with https every cookie is marked Secure.
    base_url: str = "http://127.0.0.1:8000"
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
            self.database_url = f"sqlite:///{home / 'yuanjiao.db'}"
        if not self.storage_url:
            self.storage_url = f"file://{home / 'objects'}"
        if not self.queue_url:
            self.queue_url = f"sqlite:///{home / 'queue.db'}"
        if not self.secret_key:
            self.secret_key = _local_secret(home / "secret.key")
        if not self.id_hash_key:
            self.id_hash_key = _local_secret(home / "id-hash.key")
        return self


def _local_secret(path: Path) -> str:
    """Read a generated secret from `path`, creating it (mode 600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(value)
    return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
