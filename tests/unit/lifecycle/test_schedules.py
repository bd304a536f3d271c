"""When schedules fire: cron in a time zone (DST changes included), intervals, bounds, and
which fires are due on time or were missed. Every moment is given: no clock is read."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from echo_orchestrator.lifecycle.schedules import MISSED_COUNTED, due, fires_after, next_fires
from echo_orchestrator.models.triggers import Schedule


def schedule(**fields: Any) -> Schedule:
    return msgspec.convert({"schedule_id": "s", "workflow": "wf", **fields}, Schedule)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_cron_is_read_in_its_time_zone_summer_and_winter() -> None:
    nine = schedule(cron="0 9 * * *", timezone="Europe/Berlin")
    assert next_fires(nine, utc(2026, 1, 10, 12), 1) == [utc(2026, 1, 11, 8)]  # CET: UTC+1
    assert next_fires(nine, utc(2026, 7, 10, 12), 1) == [utc(2026, 7, 11, 7)]  # CEST: UTC+2


def test_a_time_the_spring_change_skips_fires_once_at_the_next_valid_minute() -> None:
    half_two = schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    fires = next_fires(half_two, utc(2026, 3, 28, 12), 3)
    assert fires == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)]


def test_a_time_the_autumn_change_repeats_fires_once() -> None:
    half_two = schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    # 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 comes twice that night.
    fires = next_fires(half_two, utc(2026, 10, 24, 12), 3)
    assert fires == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]
    # An hourly schedule has every real hour that night: 25 fires between the two midnights.
    hourly = schedule(cron="0 * * * *", timezone="Europe/Berlin")
    night = list(itertools.takewhile(lambda m: m < utc(2026, 10, 25, 23), fires_after(hourly, utc(2026, 10, 24, 21, 59))))
    assert len(night) == 25 and len(set(night)) == 25


def test_six_fields_fire_every_second() -> None:
    every = schedule(cron="* * * * * *")
    assert next_fires(every, utc(2026, 1, 1, 0, 0, 0), 3) == [utc(2026, 1, 1, 0, 0, 1), utc(2026, 1, 1, 0, 0, 2), utc(2026, 1, 1, 0, 0, 3)]


def test_intervals_count_from_start_at_within_the_bounds() -> None:
    start = utc(2026, 5, 1, 10, 0, 0)
    every = schedule(interval_seconds=90, start_at=start.isoformat(), end_at=(start + timedelta(seconds=300)).isoformat())
    assert list(fires_after(every, utc(2026, 1, 1))) == [start + timedelta(seconds=s) for s in (0, 90, 180, 270)]
    assert next_fires(every, start + timedelta(seconds=100), 5) == [start + timedelta(seconds=180), start + timedelta(seconds=270)]
    # With no start_at, intervals are counted from the epoch: the same fires on every node.
    plain = schedule(interval_seconds=60)
    assert next_fires(plain, utc(2026, 1, 1, 0, 0, 30), 1) == [utc(2026, 1, 1, 0, 1, 0)]


def test_due_fires_on_time_and_missed() -> None:
    minutely = schedule(cron="* * * * *", grace_seconds=90)
    last = utc(2026, 1, 1, 0, 0)
    on_time = due(minutely, last, utc(2026, 1, 1, 0, 2, 30))
    assert on_time.on_time == [utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 2)] and on_time.missed == 0
    late = due(minutely, last, utc(2026, 1, 1, 1, 0, 10))  # an hour down: older than 90 s are missed
    assert late.on_time == [utc(2026, 1, 1, 0, 59), utc(2026, 1, 1, 1, 0)]
    assert late.missed == 58 and late.latest_missed == utc(2026, 1, 1, 0, 58) and late.last == utc(2026, 1, 1, 1, 0)
    assert due(minutely, utc(2026, 1, 1, 1, 0), utc(2026, 1, 1, 1, 0, 59)).on_time == []


def test_a_week_down_counts_a_bounded_number_of_missed_fires() -> None:
    every = schedule(cron="* * * * * *", grace_seconds=5)
    now = utc(2026, 1, 8)
    late = due(every, utc(2026, 1, 1), now)
    assert late.missed == MISSED_COUNTED
    assert late.latest_missed == now - timedelta(seconds=6)  # the latest missed, found backwards
    assert late.on_time == [now - timedelta(seconds=s) for s in (5, 4, 3, 2, 1, 0)]  # at most 5 s old: on time


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"graph": "g"}, "exactly one of `workflow`"),
        ({"cron": "* * * * *", "interval_seconds": 5}, "exactly one of `cron`"),
        ({}, "exactly one of `cron`"),
        ({"cron": "61 * * * *"}, "not a cron expression"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"cron": "* * * * *", "start_at": "2026-01-01T00:00:00"}, "give an offset"),
        ({"interval_seconds": 0.5}, ">= 1"),
    ],
)
def test_a_schedule_that_cannot_fire_is_refused_naming_why(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=problem):
        schedule(**fields)
