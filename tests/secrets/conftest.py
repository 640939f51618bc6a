"""Fixtures for the secrets tests: a real OpenBao dev server for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.openbao import OpenBaoServer


@pytest.fixture(scope="session")
def openbao() -> Iterator[OpenBaoServer]:
    with OpenBaoServer() as server:
        yield server
