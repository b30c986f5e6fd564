"""The announcement cog under a test's clock: fixed times either side of the weekly
slot, and the cog once its start-up tick has settled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import cast

from bot.cogs.announce import AnnounceCog
from tests.support.bot import Session

#: A Sunday: the latest slot is the previous Monday, handled at start-up with nothing subscribed.
SUNDAY = datetime(2024, 10, 6, 12, 0, tzinfo=timezone.utc)
#: The Monday 09:00 UTC slot (the default PAPERBOT_ANNOUNCE_*) after the week ending 2024-10-06.
MONDAY = datetime(2024, 10, 7, 9, 0, tzinfo=timezone.utc)


@dataclass
class Clock:
    """The bot's clock, set by the test."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def announcer(session: Session) -> AnnounceCog:
    """The running bot's announcement cog, once its start-up tick is settled: calling
    ``run_due`` at the clock's time either does that tick's work or waits for it."""
    cog = session.bot.get_cog("AnnounceCog")
    # load_extension imports the cog's module afresh, so compare by name, not class identity.
    assert cog is not None and type(cog).__name__ == AnnounceCog.__name__
    await cog.run_due(session.bot.clock())
    return cast(AnnounceCog, cog)
