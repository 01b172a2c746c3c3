"""The API's answer to the errors services raise.

Services raise Django's ValidationError (they are called from pages and commands too); the
API answers it as DRF answers its own: a 400 with the messages by field.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from rest_framework import exceptions
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, OverflowError | DataError):
        # The last line of defence behind labelling.api.input's fields: a number (a path id,
        # a filter nobody declared) the database cannot compare with its columns.
        exc = exceptions.ValidationError({"detail": "A number in the request is out of range."})
    return drf_exception_handler(exc, context)


class ServiceErrorsMixin:
    """For views that call services, until REST_FRAMEWORK["EXCEPTION_HANDLER"] names
    ``exception_handler`` above for every view."""

    def get_exception_handler(self):
        return exception_handler
