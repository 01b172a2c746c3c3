from django.conf import settings
from django.http import HttpResponse, JsonResponse

from labelling.tenancy import SESSION_KEY, memberships_of


class CurrentClientMiddleware:
    """Pages work on one client at a time: the one chosen in the switcher, else the
    user's first. Sets request.client, request.membership and request.memberships."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.client = None
        request.membership = None
        request.memberships = []
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            memberships = memberships_of(user)
            request.memberships = memberships
            wanted = request.session.get(SESSION_KEY)
            chosen = next((m for m in memberships if m.client_id == wanted), None)
            if chosen is None and memberships:
                chosen = memberships[0]
            if chosen is not None:
                request.membership = chosen
                request.client = chosen.client
        return self.get_response(request)


def accepts_files(view):
    """Marks a view (function or class) that takes image files: its requests may be as large
    as MAX_UPLOAD_REQUEST_BYTES instead of MAX_REQUEST_BYTES."""
    view.accepts_files = True
    return view


class RequestSizeLimitMiddleware:
    """Refuses a request whose declared body is over its endpoint's limit, with a 413 and
    before anything reads it: DRF's parsers read the stream directly, past Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE check on request.body, and the multipart parser spools
    files to disk whatever their size. It runs before CSRF's check, which parses forms.

    Under WSGI a body is only ever read up to its Content-Length (Django's LimitedStream),
    and one without (chunked) reads as empty, so the declared length is the whole body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(declared)
        except ValueError:
            length = -1
        if length < 0:
            return self._refuse(request, 400, f"The Content-Length “{declared[:40]}” is not valid.")
        view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
        takes_files = getattr(view_func, "accepts_files", False) or getattr(
            view_class, "accepts_files", False
        )
        limit = settings.MAX_UPLOAD_REQUEST_BYTES if takes_files else settings.MAX_REQUEST_BYTES
        if length <= limit:
            return None
        what = "An upload request" if takes_files else "A request to this address"
        hint = (
            " Send the files in several requests (a few at a time)."
            if takes_files
            else " Send less in one request."
        )
        return self._refuse(
            request,
            413,
            f"{what} may carry at most {_megabytes(limit)}; this one declares "
            f"{_megabytes(length)}, so it was not read.{hint}",
        )

    @staticmethod
    def _refuse(request, status: int, message: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=status)
        else:
            response = HttpResponse(message, status=status, content_type="text/plain")
        return response


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
