"""Timestamps on the wire: ISO-8601, milliseconds, Z (the contract's format)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from authgate.clock import iso_millis


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31),
                    timezones=st.just(UTC)))
def test_iso_millis_round_trips_to_the_millisecond(dt: datetime) -> None:
    text = iso_millis(dt)
    assert text is not None and len(text) == 24 and text.endswith("Z")
    back = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert back == dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def test_iso_millis_examples() -> None:
    assert iso_millis(None) is None
    assert iso_millis(datetime(2026, 11, 28, 9, 5, 7, 999_999, tzinfo=UTC)) == \
        "2026-11-28T09:05:07.999Z"
    assert iso_millis(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"
