"""Alert fixtures: the consumer and workers on, polling often, retrying fast, no digest window
(tests of digests set one), and a real webhook receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from datamesh.config import Settings
from tests.fixtures.receiver import Receiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "alerts_enabled": True,
            "alert_poll_seconds": 0.1,
            "alert_retry_base_seconds": 0.2,
            "alert_digest_seconds": 0,
        }
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r
