"""Durations as the contract writes them: ``"15m"``, ``"7d"``, ``"1h30m"`` or plain seconds."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+$")


def parse_duration(value: Any) -> timedelta:
    """Parse seconds (int/float/digit string) or a unit string into a positive timedelta.

    Raises ValueError with a readable reason; negative or zero durations are refused
    because every duration in the settings is a lifetime or a window.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError("duration must be seconds or a string like '15m'")
    elif isinstance(value, (int, float)):
        if isinstance(value, int) and abs(value) > 10**12:  # float() would overflow past 1e308
            raise ValueError(f"duration {value!r} must be positive and under 100 years")
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif _WHOLE.match(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(f"invalid duration {value!r}; use seconds or e.g. '30s', '15m', '7d'")
    else:
        raise ValueError("duration must be seconds or a string like '15m'")
    if not 0 < seconds <= 100 * 365 * 86400:  # also refuses NaN
        raise ValueError(f"duration {value!r} must be positive and under 100 years")
    duration = timedelta(seconds=seconds)
    if not duration:
        raise ValueError(f"duration {value!r} is shorter than a microsecond")
    return duration


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda d: d.total_seconds(), return_type=float),
]
