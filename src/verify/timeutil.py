"""UTC time: one clock for the whole tool, overridable for reproducible tests and reports;
times read from the database without the ORM (`stored_datetime`, `stored_iso`); and a media
file's own capture time as its metadata gives it (`capture_time`, shared by `media show`,
the timeline and the reports)."""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from verify.errors import BadInputError

# The pinned clock, for tests and demos only: every change made under it is recorded at the
# time it gives, so it is honoured only with the switch beside it, and the audit entries
# written under it say so (`audit.CLOCK_KEY`).
FAKE_NOW = "VERIFY_FAKE_NOW"
ALLOW_FAKE_NOW = "VERIFY_ALLOW_FAKE_NOW"


def pinned() -> bool:
    """`VERIFY_FAKE_NOW` is in effect (set, and not empty)."""
    return bool(os.environ.get(FAKE_NOW))


def check_clock() -> None:
    """Refuse a pinned clock (`VERIFY_FAKE_NOW`) without `VERIFY_ALLOW_FAKE_NOW=1`: left set
    in a shell after the tutorial, or set to backdate a change, it would record every change
    at the time it gives rather than when it is made. The CLI calls this before any command
    runs; `now` calls it on every use."""
    fake = os.environ.get(FAKE_NOW)
    if fake and os.environ.get(ALLOW_FAKE_NOW) != "1":
        raise BadInputError(
            f"{FAKE_NOW} is set ({fake!r}): it pins the clock for tests and demos, so every "
            "change would be recorded at that time instead of when it is made; unset it (to "
            "record when something happened, say so in what you record: a note's text, an "
            f"appearance's dates), or for a test or demo archive also set {ALLOW_FAKE_NOW}=1 "
            "(each audit entry is then marked as written under a pinned clock)"
        )


def now() -> datetime:
    """Current UTC time; `VERIFY_FAKE_NOW` (ISO 8601) pins it for tests and demos, with
    `VERIFY_ALLOW_FAKE_NOW=1` (`check_clock`)."""
    fake = os.environ.get(FAKE_NOW)
    if fake:
        check_clock()
        try:
            return parse_utc(fake)
        except (ValueError, OverflowError):  # not a time; or beyond year 1-9999 in UTC
            raise BadInputError(
                "VERIFY_FAKE_NOW must be an ISO 8601 date-time, e.g. 2024-05-01T12:00:00Z; "
                f"got {fake!r}"
            ) from None
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """`dt` in UTC; a naive value is taken to be UTC already.

    Database columns come back aware (sqlmodel's `UTCDateTime`), but naive values still
    arrive from elsewhere: TOML local date-times in case files, ISO text without an offset.
    """
    return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).astimezone(UTC)


def parse_utc(value: str) -> datetime:
    """Parse ISO 8601; a value without an offset is taken as UTC."""
    return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def iso(dt: datetime | None) -> str | None:
    """Canonical text form: `2023-05-23T10:15:00Z` (microseconds only when present)."""
    if dt is None:
        return None
    return as_utc(dt).isoformat().replace("+00:00", "Z")


def stored_datetime(value: object) -> datetime | None:
    """A time read from the database without the ORM, as the ORM gives it (aware, in UTC):
    SQLite keeps `YYYY-MM-DD HH:MM:SS.ffffff` text in UTC; PostgreSQL gives an aware
    datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def stored_iso(value: object) -> str | None:
    """`iso` of a time read from the database without the ORM (`stored_datetime`)."""
    return iso(stored_datetime(value))


# A media file's own capture time, as its metadata gives it (docs/metadata.md): `captured_at`
# is ISO 8601 with the offset, set only when the offset is known; `captured_at_raw` is the
# string as written (EXIF `2008:10:22 16:28:39`, XMP `2008-10-22T16:28:39`, IPTC
# `20081022 162839`, a container's naive `2008-10-22 16:28:39`).
LOCAL_TIME_CAVEAT = "camera local time, offset unknown"  # as `verify media show` says it
_LOCAL_DT = re.compile(r"^\s*(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?")
_ZONE_AT_END = re.compile(r"(Z|[+-]\d\d:?\d\d)$")
_IPTC_DT = re.compile(r"^\s*(\d{4})(\d{2})(\d{2}) (\d{2})(\d{2})(\d{2})")


@dataclass(frozen=True)
class CaptureTime:
    """When a file's metadata says it was captured.

    `at` is the instant in UTC when the offset is known (`local` False); otherwise `local`
    is True and `at` is the camera's clock time read as if it were UTC (for ordering only:
    the real instant may be up to 14 hours earlier or 12 hours later). `text` is the display
    form: `2008-10-22T13:28:39Z`, or `2008-10-22 16:28:39 (camera local time, offset
    unknown)`. `raw` is the value as written in the file, `offset` the UTC offset if known.
    """

    at: datetime
    local: bool
    text: str
    raw: str | None
    offset: str | None

    def as_written(self) -> str | None:
        """The value as the file writes it, with the offset when EXIF keeps that in a tag
        of its own: `2023:05:22 14:03:11 +03:00`. None when it adds nothing to `text`: no
        raw value, or a UTC time naming the same instant (a container's
        `2025-08-23T04:39:57.000000Z`). A local time with its offset is kept: the offset
        tells the zone the device was set to."""
        if not self.raw:
            return None
        raw = self.raw.strip()
        if self.local and raw == self.at.replace(tzinfo=None).isoformat(sep=" "):
            return None  # already the clock time shown
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.utcoffset() == timedelta(0) and parsed == self.at:
            return None
        if self.offset and not _ZONE_AT_END.search(raw):
            return f"{raw} {self.offset}"
        return raw


def _local_clock(text: str) -> datetime | None:
    """A naive clock time from a raw capture-time string; None when it is not one (a date
    alone, `0000:00:00 00:00:00`, anything else)."""
    m = _LOCAL_DT.match(text) or _IPTC_DT.match(text)
    if m is None:
        return None
    try:
        y, mo, d, h, mi = (int(g) for g in m.groups()[:5])
        return datetime(y, mo, d, h, mi, int(m.group(6) or 0))
    except ValueError:
        return None


def capture_time(meta: Mapping[str, Any] | None) -> CaptureTime | None:
    """The capture time a file's metadata gives (`Blob.meta`, or the report's metadata,
    which has the same keys); None when it gives none this can read.

    With the offset known (`captured_at`), the UTC instant. Without it, the clock time of
    `captured_at_raw`, marked local: a camera writes its own clock, in a zone it does not
    record. Either way it is what the file says, not a finding: clocks are often wrong, and
    metadata is easy to edit.
    """
    if not meta:
        return None
    raw = meta.get("captured_at_raw")
    raw = raw if isinstance(raw, str) and raw.strip() else None
    offset = meta.get("captured_offset")
    offset = offset if isinstance(offset, str) and offset else None
    stored = meta.get("captured_at")
    if isinstance(stored, str) and stored.strip():
        try:
            dt = datetime.fromisoformat(stored.strip().replace("Z", "+00:00"))
        except ValueError:
            dt = None
        if dt is not None and dt.tzinfo is not None:
            try:
                at = as_utc(dt)
            except OverflowError:  # 9999-12-31T23:00-05:00 is beyond year 9999 in UTC
                return None
            return CaptureTime(at, False, iso(at) or "", raw, offset)
    clock = _local_clock(raw) if raw else None
    if clock is None:
        return None
    text = f"{clock.isoformat(sep=' ')} ({LOCAL_TIME_CAVEAT})"
    return CaptureTime(clock.replace(tzinfo=UTC), True, text, raw, None)
