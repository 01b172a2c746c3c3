from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from labelling.health import run_checks


def health(request: HttpRequest) -> HttpResponse:
    """Public status page (no secrets in it): 200 when all is well, 503 otherwise, so a
    load balancer can use it too. ?format=json for scripts."""
    checks = run_checks()
    healthy = all(c.ok for c in checks)
    status = 200 if healthy else 503
    if request.GET.get("format") == "json":
        payload = {
            "healthy": healthy,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
        }
        return JsonResponse(payload, status=status)
    return render(
        request, "labelling/health.html", {"checks": checks, "healthy": healthy}, status=status
    )
