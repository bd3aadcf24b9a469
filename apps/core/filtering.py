"""Query-parameter filters shared by the API's filter sets."""

import datetime as dt

from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, turned into UTC before it reaches the database: Python accepts offsets up to ±23:59,
    PostgreSQL only up to ±15:59, so `…-17:08` would otherwise be a 500 (found by the API fuzzing gate)."""

    def to_python(self, value):
        parsed = super().to_python(value)
        return parsed.astimezone(dt.UTC) if parsed is not None and parsed.tzinfo is not None else parsed


class UtcIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
