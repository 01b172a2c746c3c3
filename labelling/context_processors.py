def current_client(request):
    return {
        "current_client": getattr(request, "client", None),
        "current_membership": getattr(request, "membership", None),
        "memberships": getattr(request, "memberships", []),
    }
