"""Request throttling, per scope, on DRF's rate throttles and the shared cache (Redis when
REDIS_URL is set, so every web process counts together).

Rates live in settings (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], from THROTTLE_* variables).
API views name a scope; pages (the login forms, the training form) go through
``throttle_post``, which answers 429 with Retry-After as the API does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle, SimpleRateThrottle


class WriteScopedRateThrottle(ScopedRateThrottle):
    """A view's ``throttle_scope`` applied to the requests that change something (upload,
    queue a run, ask for predictions); reads are left to the anon/user rates."""

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)


class KeyedThrottle(SimpleRateThrottle):
    """One scope's counter for an explicit key (a client address, a user name)."""

    def __init__(self, scope: str, key: str):
        self.scope = scope
        self.ident = key  # SimpleRateThrottle keeps its cache key in self.key
        super().__init__()

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.ident}

    def wait_without_counting(self) -> float | None:
        """Seconds until the next request would be allowed, or None when it would be."""
        if self.rate is None:
            return None
        self.key = self.get_cache_key(None, None)
        self.now = self.timer()
        self.history = [t for t in self.cache.get(self.key, []) if t > self.now - self.duration]
        if len(self.history) < self.num_requests:
            return None
        return self.wait() or 1


def client_address(request: HttpRequest) -> str:
    # DRF's own choice of address (REMOTE_ADDR, or X-Forwarded-For behind NUM_PROXIES).
    return BaseThrottle().get_ident(request)


def over_limit(request: HttpRequest, scope: str, keys: Iterable[str]) -> float | None:
    """Counts this request against each key of ``scope``; returns the seconds to wait when
    any of them is over its rate, else None."""
    waits = []
    for key in keys:
        throttle = KeyedThrottle(scope, key)
        if throttle.rate is not None and not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 1)
    return max(waits) if waits else None


def too_many_requests(request: HttpRequest, wait: float) -> HttpResponse:
    seconds = max(1, math.ceil(wait))
    response = TemplateResponse(
        request, "throttled.html", {"retry_after": seconds}, status=429
    ).render()
    response["Retry-After"] = str(seconds)
    return response


def throttle_post(scope: str, keys: Callable[[HttpRequest], Iterable[str]] | None = None):
    """Decorator for a page view: its POSTs count against ``scope`` (by default per signed-in
    user, or per client address) and answer 429 with Retry-After once over the rate."""

    def default_keys(request: HttpRequest) -> list[str]:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return [str(user.pk)]  # DRF's own key, so a page and the API count together
        return [client_address(request)]

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method == "POST":
                wait = over_limit(request, scope, (keys or default_keys)(request))
                if wait is not None:
                    return too_many_requests(request, wait)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def login_keys(request: HttpRequest) -> list[str]:
    """A login attempt counts against the address it comes from and against the account it
    names, so neither many accounts from one address nor one account from many addresses
    can be guessed at speed."""
    keys = [f"addr-{client_address(request)}"]
    username = request.POST.get("username", "").strip().lower()
    if username:
        keys.append(f"user-{username[:150]}")
    return keys


throttle_login = throttle_post("login", keys=login_keys)
