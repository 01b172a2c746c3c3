"""The compose file must describe every process the design names, and build from files
that exist. (`docker compose config` needs a Docker engine; this check does not.)"""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_has_every_process():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"web", "worker", "gpu-worker", "beat", "postgres", "redis", "minio"} <= set(services)
    for name, service in services.items():
        build = service.get("build")
        if build:
            assert (ROOT / "docker" / build["context"] / build["dockerfile"]).is_file(), name


def test_workers_consume_the_designed_queues():
    services = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]
    assert "-Q ingest" in services["worker"]["command"]
    assert "-Q training" in services["gpu-worker"]["command"]
