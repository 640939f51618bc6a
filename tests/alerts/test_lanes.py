"""Sends at once are spread over the outbound lanes (small pools), never more on one lane than
an even share, and a quiet process keeps using the first lane (its connections are reused)."""

from __future__ import annotations

import contextlib

from datamesh.alerts.channels import Lanes
from datamesh.alerts.worker import LANE_WIDTH, build_context
from datamesh.config import Settings
from tests.conftest import running_app


async def test_sends_at_once_spread_over_lanes_as_wide_as_the_concurrency(
    settings: Settings, clean_db: None
) -> None:
    wide = settings.model_copy(update={"alerts_enabled": False, "alert_concurrency": 20})
    async with running_app(wide, migrate_on_start=False) as app:
        ctx = build_context(app)
        lanes = ctx.lanes
        assert isinstance(lanes, Lanes)
        try:
            assert len(lanes.lanes) == 3 >= 20 / LANE_WIDTH
            assert ctx.outbound is lanes.lanes[0]  # tests and rule checks: the first lane
            await _spread(lanes)
        finally:
            await lanes.aclose()


async def _spread(lanes: Lanes) -> None:
    with lanes.take() as first:
        pass
    with lanes.take() as again:
        assert again is first is lanes.lanes[0]  # quiet: the same lane each time
    with contextlib.ExitStack() as stack:
        taken = [stack.enter_context(lanes.take()) for _ in range(20)]
        per_lane = [sum(t is lane for t in taken) for lane in lanes.lanes]
        assert per_lane == [7, 7, 6]  # 20 at once, none over ceil(20 / 3)
    with lanes.take() as after:
        assert after is lanes.lanes[0]  # all given back
