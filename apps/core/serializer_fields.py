"""Serializer fields shared by every app's API."""

from decimal import Decimal

from rest_framework import serializers


def json_type_name(value) -> str:
    """The JSON name of a parsed value's type, for messages ("got an array")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class JSONObjectField(serializers.DictField):
    """A JSON object ({...}), for configs and labels: `true`, `[1]`, `5` or `"x"` is a 400 naming the field, before
    any service sees it. With `child`, each value is checked by that field as well."""

    default_error_messages = {"not_an_object": "Give a JSON object ({{...}}), not {input_type}."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_an_object", input_type=json_type_name(data))
        return super().to_internal_value(data)


def decimal_normalized(value: Decimal) -> Decimal:
    """The same number without trailing zeros and without an exponent: 125000.500000 -> 125000.5, 42.000000 -> 42."""
    normalized = value.normalize()
    return normalized.quantize(Decimal(1)) if normalized.as_tuple().exponent > 0 else normalized


class NormalizedDecimalField(serializers.DecimalField):
    """A measured value (a KPI reading) as a decimal string without the column's padding: "125000.5", "42", "-0.25".

    Exact, as every decimal of the API is a string rather than a JSON number, but as short as the number is: the
    column's six decimal places are its precision, not part of what was measured. Input takes any decimal string
    with at most `decimal_places` decimals."""

    def to_representation(self, value):
        if value is None:
            return None
        return str(decimal_normalized(self.quantize(Decimal(value))))
