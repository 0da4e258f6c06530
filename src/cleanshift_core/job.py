"""Job constraints: how long the work runs and by when it must have started or finished."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import ConfigurationError
from .timeutil import ensure_utc, parse_duration

#: cleanshift 0.1's default patience, kept so the seed's API behaves as documented.
DEFAULT_MAX_DELAY = timedelta(hours=6)
#: Longest duration or delay accepted: no grid forecast reaches further, and bounding it keeps
#: deadline arithmetic inside ``datetime``'s range.
MAX_SPAN = timedelta(days=3660)


@dataclass(frozen=True)
class JobSpec:
    """A job of ``duration`` that may start at ``earliest_start`` (default: when planned).

    The deadline is the latest start (``earliest + max_delay``), the latest finish
    (``finish_by``), or both, in which case the stricter one holds. With neither, the job may
    wait :data:`DEFAULT_MAX_DELAY`.
    """

    duration: timedelta
    max_delay: timedelta | None = None
    finish_by: datetime | None = None
    earliest_start: datetime | None = None

    @classmethod
    def create(
        cls,
        duration: timedelta | str | float,
        max_delay: timedelta | str | float | None = None,
        finish_by: datetime | None = None,
        earliest_start: datetime | None = None,
    ) -> JobSpec:
        """Build a spec from user-facing values ("2h", timedelta, hours as a number)."""
        return cls(
            duration=parse_duration(duration, "duration"),
            max_delay=None if max_delay is None else parse_duration(max_delay, "max_delay"),
            finish_by=finish_by,
            earliest_start=earliest_start,
        )

    def __post_init__(self) -> None:
        if not isinstance(self.duration, timedelta) or self.duration <= timedelta(0):
            raise ConfigurationError(
                f"duration must be positive, got {self.duration}; e.g. duration='2h'"
            )
        if self.max_delay is not None and (
            not isinstance(self.max_delay, timedelta) or self.max_delay < timedelta(0)
        ):
            raise ConfigurationError(f"max_delay must be zero or positive, got {self.max_delay}")
        for name in ("duration", "max_delay"):
            span = getattr(self, name)
            if span is not None and span > MAX_SPAN:
                raise ConfigurationError(
                    f"{name}={span} is longer than {MAX_SPAN.days} days; no forecast reaches that "
                    f"far, so give a shorter {name}"
                )
        if self.finish_by is not None:
            object.__setattr__(self, "finish_by", ensure_utc(self.finish_by, "finish_by"))
        if self.earliest_start is not None:
            object.__setattr__(
                self, "earliest_start", ensure_utc(self.earliest_start, "earliest_start")
            )
            self.bounds(self.earliest_start)

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """``(earliest_start, latest_start)`` for a job planned at ``now``."""
        earliest = self.earliest_start or ensure_utc(now, "now")
        latest_candidates = []
        try:
            if self.max_delay is not None:
                latest_candidates.append(earliest + self.max_delay)
            if self.finish_by is not None:
                latest_candidates.append(self.finish_by - self.duration)
            if not latest_candidates:
                latest_candidates.append(earliest + DEFAULT_MAX_DELAY)
        except OverflowError:
            raise ConfigurationError(
                f"the deadline of a job starting at {earliest.isoformat()} falls outside the "
                "calendar (years 1-9999); check finish_by, earliest_start and max_delay"
            ) from None
        latest = min(latest_candidates)
        if latest < earliest:
            raise ConfigurationError(
                f"finish_by={self.finish_by.isoformat() if self.finish_by else None} leaves no room: "
                f"a {self.duration} job starting at {earliest.isoformat()} ends after it; "
                "move finish_by later or shorten duration"
            )
        return earliest, latest

    def retried(self, first_start: datetime, now: datetime) -> JobSpec:
        """This job planned again at ``now`` by a run that first started at ``first_start``
        (a retry): the deadline stays where the first start put it, and once it has passed
        the job starts at once. Retrying never buys a job more patience than it was given."""
        now = ensure_utc(now, "now")
        _, latest = self.bounds(ensure_utc(first_start, "first_start"))
        return JobSpec(
            self.duration, earliest_start=now, finish_by=max(latest, now) + self.duration
        )
