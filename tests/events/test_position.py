"""The gap rule of outbox readers (``events.consumer.Position``), on its own: the one piece the
database consumers and the lineage index both move by. The tests with real transactions
committing out of order are in tests/lineage/test_index_gaps.py and tests/alerts."""

from __future__ import annotations

from datamesh.events.consumer import GAP_GRACE_SECONDS, Position


def test_numbers_read_in_order_move_the_position_and_come_back_new() -> None:
    pos = Position(3)
    assert pos.advance([4, 5, 6], xmin=10, xmax=10, now=0.0) == [4, 5, 6]
    assert (pos.last_seq, pos.gaps) == (6, {})


def test_a_skipped_number_is_a_gap_until_it_commits() -> None:
    pos = Position(0)
    assert pos.advance([1, 3], xmin=10, xmax=12, now=0.0) == [1, 3]
    assert pos.gaps == {2: (12, 0.0)}
    assert pos.advance([2, 4], xmin=11, xmax=13, now=1.0) == [2, 4]
    assert (pos.last_seq, pos.gaps) == (4, {})


def test_duplicates_are_dropped_whatever_the_order() -> None:
    pos = Position(0)
    pos.advance([1, 3], xmin=10, xmax=12, now=0.0)
    assert pos.advance([1, 3, 3], xmin=10, xmax=12, now=0.0) == []
    assert pos.advance([2, 2], xmin=10, xmax=12, now=0.0) == [2]
    assert pos.advance([2], xmin=10, xmax=12, now=0.0) == []


def test_a_gap_is_kept_while_a_transaction_that_could_fill_it_runs() -> None:
    pos = Position(0)
    pos.advance([2], xmin=10, xmax=12, now=0.0)
    later = GAP_GRACE_SECONDS * 10
    assert pos.advance([], xmin=11, xmax=14, now=later) == []  # xid 11 still runs
    assert set(pos.gaps) == {1}


def test_a_rolled_back_number_is_forgotten_after_its_transactions_and_the_grace() -> None:
    pos = Position(0)
    pos.advance([2], xmin=10, xmax=12, now=0.0)
    pos.advance([], xmin=12, xmax=12, now=GAP_GRACE_SECONDS / 2)  # ended, but within grace
    assert set(pos.gaps) == {1}
    pos.advance([], xmin=12, xmax=12, now=GAP_GRACE_SECONDS + 1)
    assert pos.gaps == {}
    assert pos.advance([1], xmin=12, xmax=12, now=GAP_GRACE_SECONDS + 2) == []  # never again
