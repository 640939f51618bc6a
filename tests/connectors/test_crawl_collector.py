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


def test_a_freeze_made_before_the_crawl_is_there_after_it() -> None:
    """``datamesh serve`` freezes start-up's objects; a crawl's own freeze ends with
    ``gc.unfreeze``, which would hand them back to every full collection: it freezes again
    (after one collection, so the crawl's garbage is not frozen). In a child process: tests
    themselves never freeze."""
    import subprocess
    import sys

    code = (
        "import gc, weakref\n"
        "from datamesh.connectors import crawls\n"
        "class Cycle: pass\n"
        "kept = Cycle()\n"
        "gc.collect(); gc.freeze()\n"
        "with crawls._older_objects_frozen():\n"
        "    c = Cycle(); c.me = c; ref = weakref.ref(c); del c\n"
        "assert all(o is not kept for o in gc.get_objects()), 'start-up not frozen again'\n"
        "assert ref() is None, 'the crawl garbage was frozen, not collected'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
