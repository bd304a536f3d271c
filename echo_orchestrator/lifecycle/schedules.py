"""When a schedule fires: its fire times, and which of them are due, on time or missed.

Pure: every function takes the moment it is asked at, so tests give any clock they like.
Cron expressions are read in the schedule's time zone by cronsim, which keeps to what cron
does on a DST change: a time that does not exist that day (spring forward) fires once at
the next valid minute, and a time that comes twice (fall back) fires once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim

from echo_orchestrator.models.triggers import Schedule

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# At most this many missed fires are counted (a per-second schedule down for a week).
MISSED_COUNTED = 10_000
_TINY = timedelta(microseconds=1)


def _cron_after(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    assert schedule.cron is not None
    local = after.astimezone(ZoneInfo(schedule.timezone))
    for moment in CronSim(schedule.cron, local):
        yield moment.astimezone(UTC)


def _interval_after(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    assert schedule.interval_seconds is not None
    anchor, step = schedule.start_at or EPOCH, schedule.interval_seconds
    elapsed = (after - anchor).total_seconds()
    k = 0 if elapsed < 0 else math.floor(elapsed / step) + 1
    while True:
        moment = anchor + timedelta(seconds=k * step)
        if moment > after:  # float rounding may land on `after` itself
            yield moment.astimezone(UTC)
        k += 1


def fires_after(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """Every fire time strictly after `after`, in order, within `start_at` .. `end_at` (UTC)."""
    if schedule.start_at is not None and after < schedule.start_at:
        after = schedule.start_at - _TINY
    moments = _cron_after(schedule, after) if schedule.cron is not None else _interval_after(schedule, after)
    for moment in moments:
        if schedule.end_at is not None and moment > schedule.end_at:
            return
        yield moment


def next_fires(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    found: list[datetime] = []
    for moment in fires_after(schedule, after):
        if len(found) == count:
            break
        found.append(moment)
    return found


@dataclass(frozen=True, slots=True)
class Due:
    """The fires between the last one recorded and now."""

    on_time: list[datetime]  # within the grace period: each one runs (or meets the overlap policy)
    missed: int  # older than the grace period: came while no node ran
    latest_missed: datetime | None

    @property
    def last(self) -> datetime | None:
        return self.on_time[-1] if self.on_time else self.latest_missed


def due(schedule: Schedule, last: datetime, now: datetime) -> Due:
    """The fires in (`last`, `now`]: on time if at most `grace_seconds` old, else missed."""
    horizon = now - timedelta(seconds=schedule.grace_seconds)
    on_time: list[datetime] = []
    missed, latest_missed = 0, None
    start = last
    if last < horizon:
        for moment in fires_after(schedule, last):
            if moment >= horizon:
                break
            missed, latest_missed = missed + 1, moment
            if missed >= MISSED_COUNTED:  # the rest are counted no further; the latest is found backwards
                latest_missed = _latest_before(schedule, horizon, latest_missed)
                break
        start = horizon - _TINY
    for moment in fires_after(schedule, start):
        if moment > now:
            break
        on_time.append(moment)
    return Due(on_time=on_time, missed=missed, latest_missed=latest_missed)


def _latest_before(schedule: Schedule, moment: datetime, floor: datetime) -> datetime:
    """The last fire before `moment` (and not before `floor`, a fire known to be earlier)."""
    if schedule.cron is not None:
        local = moment.astimezone(ZoneInfo(schedule.timezone))
        found = next(iter(CronSim(schedule.cron, local, reverse=True)), None)
        return floor if found is None else max(floor, found.astimezone(UTC))
    assert schedule.interval_seconds is not None
    anchor = schedule.start_at or EPOCH
    k = math.ceil((moment - anchor).total_seconds() / schedule.interval_seconds) - 1
    return max(floor, anchor + timedelta(seconds=k * schedule.interval_seconds))
