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
