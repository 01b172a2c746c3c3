"""Query parameters checked by a serializer, so a bad value is a 400 that says which
parameter and why, never a 500 or a silently ignored filter."""

from rest_framework import serializers
from rest_framework.request import Request


def validated_query_params(request: Request, serializer_class: type[serializers.Serializer]):
    # An empty value (?status=) means "no filter", as an HTML form sends it; a plain dict
    # (not the QueryDict) so that an absent boolean is absent, not False.
    data = {key: value for key, value in request.query_params.items() if value != ""}
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
