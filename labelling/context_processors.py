from labelling.notices import NOTICE_ROLES, pipeline_notices


def current_client(request):
    return {
        "current_client": getattr(request, "client", None),
        "current_membership": getattr(request, "membership", None),
        "memberships": getattr(request, "memberships", []),
        "pipeline_notices": _notices(request),
    }


def _notices(request) -> list[str]:
    client = getattr(request, "client", None)
    membership = getattr(request, "membership", None)
    if client is None or membership is None or membership.role not in NOTICE_ROLES:
        return []
    return pipeline_notices(client=client)
