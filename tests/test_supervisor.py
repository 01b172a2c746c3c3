"""make run's supervisord.conf: valid, and a process that dies is started again."""

import configparser
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "supervisord.conf"


def _env(tmp_path) -> dict:
    return {
        **os.environ,
        "TAXONOMY_DATA_DIR": str(tmp_path),
        "VENV_BIN": str(Path(sys.executable).parent),
        "HOST": "127.0.0.1",
        "PORT": "8199",
    }


def test_the_config_runs_web_both_workers_and_beat_each_restarted(tmp_path, monkeypatch):
    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    options = ServerOptions()
    options.realize(args=["-c", str(CONF)])
    # One group, so that Ctrl-C stops the four together rather than one after another.
    [group] = options.process_group_configs
    programs = {config.name: config for config in group.process_configs}
    assert set(programs) == {"web", "ingest", "training", "beat"}
    for config in programs.values():
        assert config.autorestart is RestartUnconditionally
        assert config.stopasgroup and config.killasgroup
        assert config.stopwaitsecs <= 10  # Ctrl-C stops everything within seconds
    assert "beat" in programs["beat"].command and "--beat" not in programs["ingest"].command


def _ctl(tmp_path, conf, *args) -> str:
    return subprocess.run(
        [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(conf), *args],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
    ).stdout


def _beat_pid(tmp_path, conf, deadline) -> int:
    while time.monotonic() < deadline:
        status = _ctl(tmp_path, conf, "status", "taxonomy:beat")
        if "RUNNING" in status:
            return int(status.split("pid ")[1].split(",")[0])
        time.sleep(0.2)
    raise AssertionError(f"beat never ran: {status}")


def test_a_killed_beat_is_started_again_and_ctrl_c_stops_all(tmp_path):
    # The real config, with its beat program only (the others cost a CPU each to start).
    parser = configparser.RawConfigParser()
    parser.read(CONF)
    for section in ("program:web", "program:ingest", "program:training"):
        parser.remove_section(section)
    parser.set("group:taxonomy", "programs", "beat")
    conf = tmp_path / "supervisord.conf"
    with conf.open("w") as handle:
        parser.write(handle)
    supervisord = subprocess.Popen(
        [str(Path(sys.executable).parent / "supervisord"), "-c", str(conf)],
        env=_env(tmp_path),
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 90
        first = _beat_pid(tmp_path, conf, deadline)
        os.kill(first, signal.SIGKILL)
        second = first
        while second == first:
            second = _beat_pid(tmp_path, conf, deadline)
        assert second != first
        supervisord.send_signal(signal.SIGINT)
        assert supervisord.wait(timeout=30) == 0
        try:
            os.kill(second, 0)
            raise AssertionError("beat outlived supervisord")
        except ProcessLookupError:
            pass
    finally:
        if supervisord.poll() is None:
            supervisord.kill()
