"""The shapes the API accepts, checked in one place: integers within what the database can
store, JSON bodies that are objects, page offsets that can be queried. A value outside them
is a 400 that says which and why, never a 500 from the database driver."""

from __future__ import annotations

from rest_framework import pagination, parsers, serializers
from rest_framework.exceptions import ParseError

# The widest integer column (BigAutoField ids, SQLite's and PostgreSQL's bigint).
DB_INT_MAX = 2**63 - 1
DB_INT_MIN = -(2**63)


class DbIntegerField(serializers.IntegerField):
    """An integer the database can compare with its columns (an id over 2**63 - 1 made
    SQLite raise OverflowError and PostgreSQL "out of range")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_value", DB_INT_MAX)
        kwargs.setdefault("min_value", DB_INT_MIN)
        super().__init__(**kwargs)


class IdField(DbIntegerField):
    """The id of a row: a positive integer the database can store."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)


class ObjectJSONParser(parsers.JSONParser):
    """Every JSON body the API documents is an object: ``[null]``, ``"x"`` or ``null`` is a
    400 here, not an AttributeError in the view that reads its fields."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if not isinstance(data, dict):
            raise ParseError(f"The body must be a JSON object ({{...}}), not {_json_kind(data)}.")
        return data


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's, with an offset the database can take: a huge one is a 400, not a 500."""

    max_limit = 500

    def get_offset(self, request):
        raw = request.query_params.get(self.offset_query_param)
        offset = super().get_offset(request)
        if raw not in (None, "") and offset > DB_INT_MAX:
            raise serializers.ValidationError(
                {self.offset_query_param: [f"Ensure this value is at most {DB_INT_MAX}."]}
            )
        return offset


def _json_kind(data) -> str:
    if data is None:
        return "null"
    if isinstance(data, list):
        return "an array"
    if isinstance(data, str):
        return "a string"
    if isinstance(data, bool):
        return "a boolean"
    return "a number"
