"""A beat scheduler of a team's own, as django-celery-beat's and celery-redbeat's are: a
subclass of Celery's Scheduler base class keeping its schedule elsewhere (here, in memory)."""

from __future__ import annotations

from typing import Any

from celery.beat import Scheduler


class MemoryScheduler(Scheduler):  # type: ignore[misc]
    """Keeps the schedule in this process only; reads the app's beat_schedule at start."""

    def setup_schedule(self) -> None:
        self.merge_inplace(self.app.conf.beat_schedule)

    def get_schedule(self) -> dict[str, Any]:
        return self.data  # type: ignore[no-any-return]

    def set_schedule(self, schedule: dict[str, Any]) -> None:
        self.data = schedule

    schedule = property(get_schedule, set_schedule)
