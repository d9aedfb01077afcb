"""Every test of the terminals starts with no remembered fetch scopes (site ids are reused)."""

from collections.abc import Iterator

import pytest

from terminals.sync.manifest import forget_fetch_scopes


@pytest.fixture(autouse=True)
def _fresh_fetch_scopes() -> Iterator[None]:
    forget_fetch_scopes()
    yield
    forget_fetch_scopes()
