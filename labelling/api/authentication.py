"""Token authentication on hashed, expiring, revocable tokens (labelling/models/tokens.py).

A request sends ``Authorization: Token <key>`` (or ``Bearer <key>``). Wrong keys count
against the "token" throttle of the address they come from; once it is over its rate, every
token from that address waits (429), the right one too, or a guesser would still learn
which of its guesses was right.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from labelling.services.tokens import token_authenticate
from labelling.throttling import KeyedThrottle, client_address

KEYWORDS = (b"token", b"bearer")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as “Authorization: Token <key>”, with no spaces in the key."
            )
        throttle = KeyedThrottle("token", client_address(request))
        wait = throttle.wait_without_counting()
        if wait is not None:
            raise exceptions.Throttled(wait)
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            key = None
        token = token_authenticate(key=key) if key else None
        if token is None:
            throttle.allow_request(request, None)  # counts this failure
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        return token.user, token

    def authenticate_header(self, request):
        return "Token"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "“Token <key>”: make a key on the API tokens page.",
        }
