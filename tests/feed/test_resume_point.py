"""The live stream's resume point: which sequence numbers of the last window were delivered."""

from __future__ import annotations

import random

from datamesh.feed.stream import _RESUME_WINDOW, ResumePoint


def test_round_trip_and_window() -> None:
    rng = random.Random(7)
    point = ResumePoint(100, 100, set())
    sent: list[int] = []
    for _ in range(2000):
        seq = point.top + rng.randint(-40, 60)  # late commits arrive below the top
        if seq <= point.floor or seq in point.delivered:
            continue
        point.add(seq)
        sent.append(seq)
        again = ResumePoint.decode(point.encode())
        assert again == point
        assert again.top - again.floor <= _RESUME_WINDOW
        assert all(again.floor < d <= again.top for d in again.delivered)
    assert len(sent) > 1000


def test_what_is_not_a_resume_point() -> None:
    for value in ("", "1.2", "a.b.c", "5.3.AA", "1.1000.AA", "1.2.!!", "01a2-uuid"):
        assert ResumePoint.decode(value) is None, value
    assert ResumePoint.decode("7.7.") == ResumePoint(7, 7, set())
