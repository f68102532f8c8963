"""The time of the admin API's live changes: the sandbox's clock, but never the same moment twice.

A poller keeps what it has seen by (id, lastUpdateDateTime), so two changes must never share a time stamp, even
within one microsecond (the finest the APIs write), and a later change must never be stamped earlier.
"""
from __future__ import annotations

import datetime
import threading
from typing import Optional

TICK = datetime.timedelta(microseconds=1)


class StrictClock:
    """Thread-safe; each call answers a moment after every moment answered before."""

    def __init__(self, clock):
        self._clock = clock
        self._lock = threading.Lock()
        self._last = None

    def __call__(self, after: Optional[datetime.datetime] = None) -> datetime.datetime:
        """Now, or one tick past the last answer or ``after`` (a record's own time stamp) if now is not later."""
        with self._lock:
            moment = self._clock()
            for floor in (self._last, after):
                if floor is not None and moment <= floor:
                    moment = floor + TICK
            self._last = moment
            return moment
