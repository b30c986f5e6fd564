"""When the weekly digest is announced: a weekday and a time, in UTC.

Pure date arithmetic with the current time passed in, never read here, so the
scheduler's tests move time forward instead of sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from config.settings import WEEKDAYS

WEEK = timedelta(days=7)


@dataclass(frozen=True)
class WeeklySlot:
    """One moment per week, e.g. Monday 09:00 UTC."""

    weekday: int  # Monday = 0, as datetime.weekday()
    hour: int
    minute: int

    @classmethod
    def from_settings(cls, weekday: str, hhmm: str) -> WeeklySlot:
        """From ``PAPERBOT_ANNOUNCE_WEEKDAY`` (mon..sun) and ``PAPERBOT_ANNOUNCE_TIME`` (HH:MM)."""
        hours, _, minutes = hhmm.partition(":")
        return cls(WEEKDAYS.index(weekday), int(hours), int(minutes))

    def latest(self, now: datetime) -> datetime:
        """The most recent slot at or before ``now`` (an aware datetime, any zone)."""
        now = now.astimezone(timezone.utc)
        this_week = (now - timedelta(days=(now.weekday() - self.weekday) % 7)).replace(
            hour=self.hour, minute=self.minute, second=0, microsecond=0
        )
        return this_week if this_week <= now else this_week - WEEK

    def next(self, now: datetime) -> datetime:
        """The first slot strictly after ``now``."""
        return self.latest(now) + WEEK

    def describe(self) -> str:
        day = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")[self.weekday]
        return f"{day}s at {self.hour:02d}:{self.minute:02d} UTC"


def utc_now() -> datetime:
    """The real clock (the bot's default)."""
    return datetime.now(timezone.utc)


def utc_text(moment: datetime | float | None) -> str:
    """A moment as ``YYYY-MM-DD HH:MM UTC`` (epoch seconds accepted); "never" for None."""
    if moment is None:
        return "never"
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
