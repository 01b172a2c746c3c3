from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from labelling.health import run_checks


def health(request: HttpRequest) -> HttpResponse:
    """Status page: 200 when all is well, 503 otherwise, so a load balancer can use it too;
    ?format=json for scripts. Anyone sees which parts are OK; only site staff see the details
    (host names, backends, error messages), which would help someone probing the site."""
    checks = run_checks()
    healthy = all(c.ok for c in checks)
    status = 200 if healthy else 503
    show_details = request.user.is_authenticated and request.user.is_staff
    if request.GET.get("format") == "json":
        payload = {
            "healthy": healthy,
            "checks": {
                c.name: {"ok": c.ok, **({"detail": c.detail} if show_details else {})}
                for c in checks
            },
        }
        return JsonResponse(payload, status=status)
    context = {"checks": checks, "healthy": healthy, "show_details": show_details}
    return render(request, "labelling/health.html", context, status=status)
