"""Keyset cursor pagination: a walk through `next` returns every row exactly once, however many rows share a key.

The order is made unique by the primary key (`unique_ordering`), and a cursor carries the value of every sort key
of the row it stands after, so the next page is "the rows after this one" in that order: no offsets, no skipped or
repeated rows when values repeat, and rows added or removed meanwhile shift nothing. NULL counts as larger than every
value: last ascending, first descending (PostgreSQL's own rule, asked for explicitly so that SQLite agrees).
"""

import base64
import binascii
import datetime as dt
import json
import operator
from dataclasses import dataclass
from decimal import Decimal
from functools import reduce
from uuid import UUID

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import F, Field, Q
from django.utils.duration import duration_string
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.settings import api_settings
from rest_framework.utils.urls import remove_query_param, replace_query_param

from apps.core.errors import ValidationFailed
from apps.core.ordering import unique_ordering


@dataclass(frozen=True)
class SortKey:
    name: str  # the column (a foreign key's `_id`) or an annotation
    descending: bool
    field: Field | None
    nullable: bool

    def order_by(self, reverse: bool):
        expression = F(self.name)
        if self.descending != reverse:
            return expression.desc(nulls_first=True) if self.nullable else expression.desc()
        return expression.asc(nulls_last=True) if self.nullable else expression.asc()

    def equal(self, value) -> Q:
        return Q(**{f"{self.name}__isnull": True}) if value is None else Q(**{self.name: value})

    def after(self, value, reverse: bool) -> Q | None:
        """Rows strictly after `value` on this key; None when there are none (after NULL, ascending)."""
        if self.descending != reverse:
            return Q(**{f"{self.name}__isnull": False}) if value is None else Q(**{f"{self.name}__lt": value})
        if value is None:
            return None
        after = Q(**{f"{self.name}__gt": value})
        return after | Q(**{f"{self.name}__isnull": True}) if self.nullable else after

    def value_of(self, row):
        return row[self.name] if isinstance(row, dict) else getattr(row, self.name)

    def parse(self, value):
        return value if value is None or self.field is None else self.field.to_python(value)


def sort_keys(queryset, ordering: tuple[str, ...]) -> list[SortKey]:
    keys = []
    for term in ordering:
        name = term.removeprefix("-")
        try:
            field = queryset.model._meta.get_field(name)
        except FieldDoesNotExist:
            field = None  # an annotation of the list's selector
        keys.append(
            SortKey(
                name=field.attname if field is not None else name,
                descending=term.startswith("-"),
                field=field,
                nullable=field is None or field.null,
            )
        )
    return keys


def rows_after(keys: list[SortKey], values: list, reverse: bool) -> Q | None:
    """(k1 > v1) or (k1 = v1 and k2 > v2) or ...: the rows after `values` in the order of `keys`."""
    alternatives, same = [], Q()
    for key, value in zip(keys, values, strict=True):
        after = key.after(value, reverse)
        if after is not None:
            alternatives.append(same & after)
        same &= key.equal(value)
    return reduce(operator.or_, alternatives) if alternatives else None


def _plain(value):
    """A sort key's value as it travels in a cursor (JSON); `SortKey.parse` reads it back."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return duration_string(value)  # what DurationField.to_python reads back
    if isinstance(value, Decimal | UUID):
        return str(value)
    return value


class StableCursorPagination(CursorPagination):
    """Cursor pagination over the list's ordering plus the primary key; `?page_size=` up to API_MAX_PAGE_SIZE."""

    ordering = ("-created_at",)
    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:
        return settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request):
        text = request.query_params.get(self.page_size_query_param)
        if text is None:
            return self.page_size
        if not text.isdigit() or not 1 <= int(text) <= self.max_page_size:
            raise ValidationFailed.for_field(
                self.page_size_query_param, f"Give a whole number from 1 to {self.max_page_size}, not {text!r}."
            )
        return int(text)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
                parameter["description"] = f"Rows per page, 1 to {self.max_page_size} (default {self.page_size})."
            elif parameter["name"] == self.cursor_query_param:
                parameter["description"] = "Where the page starts: the `cursor` of a `next` or `previous` URL."
        return parameters

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        link = (
            "The {} page as a full URL (the same filters, `ordering` and `page_size`, and a `cursor`), or null. "
            "Follow it as it is; a client that takes a bare cursor passes this URL's `cursor` query parameter."
        )
        paginated["properties"]["next"]["description"] = link.format("next")
        paginated["properties"]["previous"]["description"] = link.format("previous")
        for key in ("next", "previous"):
            paginated["properties"][key].pop("example", None)
        return paginated

    def get_ordering(self, request, queryset, view):
        sortable = any(hasattr(backend, "get_ordering") for backend in getattr(view, "filter_backends", []))
        if not sortable and request.query_params.get(api_settings.ORDERING_PARAM):
            raise ValidationFailed.for_field(
                api_settings.ORDERING_PARAM, "This list has a fixed order (newest first); it takes no `ordering`."
            )
        return unique_ordering(super().get_ordering(request, queryset, view), queryset.model)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page_size = self.get_page_size(request)
        if not self.page_size:
            return None
        self.base_url = request.build_absolute_uri()
        self.ordering = self.get_ordering(request, queryset, view)
        self.keys = sort_keys(queryset, self.ordering)
        reverse, position = self.decode_cursor(request) or (False, None)

        queryset = queryset.order_by(*(key.order_by(reverse) for key in self.keys))
        if position is not None:
            after = rows_after(self.keys, position, reverse)
            queryset = queryset.filter(after) if after is not None else queryset.none()
        rows = list(queryset[: self.page_size + 1])
        more = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        if reverse:
            self.page.reverse()
            self.has_previous, self.has_next = more, position is not None
        else:
            self.has_next, self.has_previous = more, position is not None
        self.display_page_controls = (self.has_previous or self.has_next) and self.template is not None
        return self.page

    def _position(self, row) -> list:
        return [_plain(key.value_of(row)) for key in self.keys]

    def get_next_link(self):
        if not self.has_next:
            return None
        if not self.page:  # nothing before the cursor: the next page is the first one
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self.encode_cursor((False, self._position(self.page[-1])))

    def get_previous_link(self):
        if not self.has_previous:
            return None
        if not self.page:  # nothing after the cursor: the previous page is the last one
            return self.encode_cursor((True, None))
        return self.encode_cursor((True, self._position(self.page[0])))

    def encode_cursor(self, cursor):
        reverse, position = cursor
        token = {"o": ",".join(self.ordering), "r": int(reverse), "p": position}
        encoded = base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def decode_cursor(self, request):
        """(reverse, position) from `?cursor=`; None without one. A cursor of another ordering is refused."""
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            token = json.loads(base64.urlsafe_b64decode(encoded.encode("ascii")))
            if token["o"] != ",".join(self.ordering):
                raise ValueError("the cursor belongs to another ordering")
            position = token["p"]
            if position is not None:
                if not isinstance(position, list) or len(position) != len(self.keys):
                    raise ValueError("the cursor does not match the sort keys")
                position = [key.parse(value) for key, value in zip(self.keys, position, strict=True)]
            return bool(token["r"]), position
        except (TypeError, ValueError, KeyError, UnicodeError, binascii.Error, ValidationError):
            raise NotFound(self.invalid_cursor_message) from None


class CreatedCursorPagination(StableCursorPagination):
    """Newest first (the default of every list)."""

    ordering = ("-created_at",)
