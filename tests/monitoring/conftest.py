"""Pipeline-health fixtures: the SLA loop off by default (tests drive passes with a clock they
control); tests of the loop itself turn it on."""

from __future__ import annotations

import pytest

from datamesh.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sla_check_interval_seconds": 0})
