"""Settings from the environment (YUANJIAO_*); every engine URL defaults under YUANJIAO_HOME."""

import os
import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All configuration; URLs choose the engine (SQLite/PostgreSQL, local/S3, SQLite/Redis)."""

    model_config = SettingsConfigDict(env_prefix="YUANJIAO_", env_file=".env", extra="ignore")

    home: Path = Path("var")
    database_url: str = ""
    storage_url: str = ""
    queue_url: str = ""
    # Signing key for session cookies and the HMAC key for ID-card numbers. When unset they are
    # generated once and kept in files under `home` (fine for one machine; set them in production).
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
    ladder_heights: tuple[int, ...] = (1080, 720, 480, 360)
    job_max_attempts: int = 3
    job_retry_base_seconds: float = 10.0
    # A running job whose heartbeat is older than this is taken to have lost its worker.
    job_stale_seconds: float = 120.0
    presign_seconds: int = 3600
    default_locale: str = "zh_CN"
    cookie_secure: bool = False

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
