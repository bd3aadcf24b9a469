"""`?ordering=` for every API list: the list's own sort fields only, and always a unique order.

A list offers the fields its view names in `ordering_fields`; a view that names none offers the plain columns its
serializer shows (no relations, JSON or lookups across tables, which cannot be paged by value). The primary key is
always the last sort key, in the direction of the key before it, so rows that share a value (two milestones of the
same amount) keep one order from page to page. An unknown value is a 400 naming `ordering`, never silently dropped.
"""

from django.core.exceptions import FieldDoesNotExist
from rest_framework.filters import OrderingFilter

from apps.core.errors import ValidationFailed

UNPAGEABLE_TYPES = ("JSONField", "BinaryField")


def unique_ordering(terms, model) -> tuple[str, ...]:
    """`terms` with the primary key added as the final tie-breaker (same direction as the last term)."""
    pk = model._meta.pk
    ordering, seen = [], set()
    for term in terms or ():
        name = term.removeprefix("-")
        if name == "pk":
            name, term = pk.name, term.replace("pk", pk.name)
        if name in seen:
            continue
        seen.add(name)
        ordering.append(term)
        if name in (pk.name, pk.attname):
            return tuple(ordering)
    descending = bool(ordering) and ordering[-1].startswith("-")
    return (*ordering, f"-{pk.name}" if descending else pk.name)


def _is_plain_column(model, name: str) -> bool:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return field.concrete and not field.is_relation and field.get_internal_type() not in UNPAGEABLE_TYPES


class StableOrderingFilter(OrderingFilter):
    ordering_description = "Sort keys, comma-separated; `-` before a key sorts it descending."

    def get_default_valid_fields(self, queryset, view, context=None):
        fields = super().get_default_valid_fields(queryset, view, context)
        return [(name, label) for name, label in fields if _is_plain_column(queryset.model, name)]

    def allowed(self, queryset, view, request=None) -> list[str]:
        return [name for name, _label in self.get_valid_fields(queryset, view, {"request": request})]

    def get_ordering(self, request, queryset, view):
        # `ordering=amount,-due_date` or `ordering=amount&ordering=-due_date`: a client sends a list either way.
        terms = [
            term.strip() for param in request.query_params.getlist(self.ordering_param) for term in param.split(",")
        ]
        terms = [term for term in terms if term]
        if not terms:
            default = self.get_default_ordering(view)
            return unique_ordering(default, queryset.model) if default else default
        allowed = self.allowed(queryset, view, request)
        unknown = [term for term in terms if term.removeprefix("-") not in allowed]
        if unknown:
            choices = ", ".join(allowed) if allowed else "none: this list has a fixed order"
            raise ValidationFailed.for_field(
                self.ordering_param,
                f"Unknown sort key {', '.join(repr(t) for t in unknown)}. Sort by: {choices} (`-` for descending).",
            )
        return unique_ordering(terms, queryset.model)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        queryset = getattr(view, "queryset", None)
        if queryset is None:
            return parameters
        allowed = self.allowed(queryset, view)
        for parameter in parameters:
            # A list of sort keys, each one of the list's own: comma-separated (`explode: false`) or repeated.
            keys = [(name, f"-{name}") for name in allowed]
            names = [(name.upper(), f"{name.upper()}_DESC") for name in allowed]
            parameter["schema"] = {
                "type": "array",
                "items": {
                    "type": "string",
                    "enum": [key for pair in keys for key in pair],
                    # Names for generated clients, which cannot name "-amount" themselves.
                    "x-enum-varnames": [name for pair in names for name in pair],
                },
            }
            parameter["style"], parameter["explode"] = "form", False
            parameter["description"] = (
                f"Sort by {', '.join(f'`{name}`' for name in allowed)}; comma-separated for several keys, "
                "`-` before a key for descending. The `id` is always the last key, so pages never repeat or skip a row."
            )
        return parameters
