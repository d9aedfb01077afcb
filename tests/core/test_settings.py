"""Settings: the keys a node signs and hashes with are never invented where they must be shared,
and the development values shipped for a trial are refused in production."""

from pathlib import Path

import pytest

from core.errors import ConfigurationError
from core.settings import DEVELOPMENT_SECRETS, Settings

pytestmark = pytest.mark.engine_neutral

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("YUANJIAO_SECRET_KEY", "YUANJIAO_ID_HASH_KEY")


def _shipped_keys() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = dict(line.split("=", 1) for line in lines if line.startswith(KEYS))
    assert set(pairs) == set(KEYS)
    return pairs


def test_shipped_development_keys_are_refused_in_production(tmp_path: Path) -> None:
    shipped = _shipped_keys()
    assert set(shipped.values()) <= DEVELOPMENT_SECRETS
    for value in shipped.values():
        with pytest.raises(ConfigurationError, match="development value"):
            Settings(mode="production", home=tmp_path, secret_key=value, id_hash_key="k" * 32)
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "YUANJIAO_MODE: production" in compose


def test_keys_are_generated_only_for_the_embedded_default(tmp_path: Path) -> None:
    unset = {"secret_key": "", "id_hash_key": "", "database_url": ""}  # the embedded default
    embedded = Settings(home=tmp_path, **unset)
    assert (tmp_path / "secret.key").read_text() == embedded.secret_key
    assert Settings(home=tmp_path, **unset).secret_key == embedded.secret_key  # kept, not new
    external = "postgresql+psycopg://yj@db/yj"
    with pytest.raises(ConfigurationError, match="YUANJIAO_SECRET_KEY"):
        Settings(home=tmp_path / "other", secret_key="", database_url=external)
    with pytest.raises(ConfigurationError, match="YUANJIAO_SECRET_KEY"):
        Settings(home=tmp_path / "prod", secret_key="", mode="production")
    assert not (tmp_path / "other").exists() and not (tmp_path / "prod" / "secret.key").exists()
