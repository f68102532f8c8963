"""Time stamps in the spellings the Microsoft services use."""
from __future__ import annotations

import datetime
import re
from typing import Optional

_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})(?:T(?P<time>\d{2}:\d{2}(?::\d{2})?)(?:\.(?P<fraction>\d{1,7}))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?",
    re.IGNORECASE,
)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def parse_datetime(text: str) -> datetime.datetime:
    """Parses ISO-8601 with up to 7 fraction digits ("Z" or offset; no zone means UTC), as .NET writes it."""
    match = _ISO.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not an ISO-8601 date and time: {text!r}")
    time = match["time"] or "00:00:00"
    if len(time) == 5:
        time += ":00"
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    zone = match["zone"] or "+00:00"
    zone = "+00:00" if zone.upper() == "Z" else zone
    return datetime.datetime.fromisoformat(f"{match['date']}T{time}.{fraction}{zone}").astimezone(datetime.timezone.utc)


def odata(moment: datetime.datetime) -> str:
    """As both APIs write time stamps: ``2024-05-01T12:34:56.1234560Z`` (seven fraction digits) for a time with
    microseconds, otherwise without trailing zeros: ``…:56.12Z``, ``…:56Z``. The spelling is exact, so a filter
    on a value read from an answer matches that record."""
    moment = moment.astimezone(datetime.timezone.utc)
    fraction = f"{moment.microsecond:06d}0"
    if moment.microsecond % 10 == 0:
        fraction = fraction.rstrip("0")
    return f"{moment:%Y-%m-%dT%H:%M:%S}{'.' + fraction if fraction else ''}Z"


def seconds(moment: datetime.datetime) -> str:
    """``2024-05-01T12:34:56Z``."""
    return f"{moment.astimezone(datetime.timezone.utc):%Y-%m-%dT%H:%M:%S}Z"


def entra(moment: datetime.datetime) -> str:
    """``2024-05-01 12:34:56Z``, the spelling of Entra ID error bodies."""
    return f"{moment.astimezone(datetime.timezone.utc):%Y-%m-%d %H:%M:%S}Z"


def graph_inner_error(moment: datetime.datetime) -> str:
    """``2024-05-01T12:34:56``, the spelling of ``innerError.date`` in Graph errors."""
    return f"{moment.astimezone(datetime.timezone.utc):%Y-%m-%dT%H:%M:%S}"


def from_epoch(value) -> Optional[str]:
    """``2024-05-01T12:34:56Z`` for a JWT time claim (seconds since the epoch); None if it is not a number."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return seconds(datetime.datetime.fromtimestamp(value, datetime.timezone.utc))
