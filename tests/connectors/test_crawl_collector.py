"""A crawl's collector settings (``crawls._older_objects_frozen``): the process's older objects
set aside and young collections made rarer while it runs, and both put back afterwards, also
when the crawl fails."""

from __future__ import annotations

import gc

import pytest

from datamesh.connectors import crawls


def test_collector_settings_hold_during_a_crawl_and_are_put_back() -> None:
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    with crawls._older_objects_frozen():
        during = gc.get_threshold()
        assert during[0] == max(before[0], crawls.YOUNG_THRESHOLD)
        assert during[1:] == before[1:]
        assert gc.get_freeze_count() > frozen_before
        assert gc.isenabled()  # collection is made rarer, never turned off
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen_before


def test_collector_settings_are_put_back_when_the_crawl_fails() -> None:
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    with pytest.raises(RuntimeError), crawls._older_objects_frozen():
        raise RuntimeError("the crawl failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen_before
