"""Shared fixtures: the real Docker engine, the stand-in image, small step folders."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IMAGE = "cursus-local/sklearn-processing:1.2-1"


# Fixtures that need the engine. A test using one (directly or through another fixture) must carry
# the `docker` mark, so that `make test-fast` (-m "not docker") never needs an engine.
ENGINE_FIXTURES = ("docker_client", "backend")


def pytest_collection_modifyitems(config, items):
    unmarked = [f"{item.nodeid} (uses {', '.join(f for f in ENGINE_FIXTURES if f in item.fixturenames)})"
                for item in items
                if any(f in getattr(item, "fixturenames", ()) for f in ENGINE_FIXTURES)
                and item.get_closest_marker("docker") is None]
    if unmarked:
        raise pytest.UsageError("these tests need the Docker engine but lack @pytest.mark.docker:\n  "
                                + "\n  ".join(unmarked))


@pytest.fixture(scope="session")
def docker_client():
    from cursus_local.backends.images import docker_client as connect
    from cursus_local.errors import UserError
    try:
        client = connect()
    except UserError as exc:   # a failure, not a skip: CI runs everything
        pytest.fail(f"{exc}\n(`make test-fast` runs the tests that need no engine)")
    try:
        client.images.get(IMAGE)
    except Exception:
        pytest.fail(f"image {IMAGE} is missing: run `make images`")
    return client


@pytest.fixture(scope="session")
def backend(docker_client):
    from cursus_local.backends.docker import DockerBackend
    return DockerBackend(docker_client)


def write_step(folder: Path, name: str, script: str, contract: dict, *, compute: dict | None = None,
               local: dict | None = None) -> Path:
    """A step file plus its script in `folder/code`; returns the step file."""
    code = folder / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / f"{name}.py").write_text(textwrap.dedent(script))
    doc = {"contract": {"entry_point": f"{name}.py", **contract},
           "compute": {"kind": "sklearn", "framework_version": "1.2-1", **(compute or {})},
           "local": {"code": "code", **(local or {})}}
    path = folder / f"{name}.step.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def leftover_containers(client, job_name: str) -> list:
    return client.containers.list(all=True, filters={"label": f"cursus-local.job={job_name}"})


@pytest.fixture(scope="session")
def moto():
    """A moto server on a free port; its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, deadline = f"http://127.0.0.1:{port}", time.time() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"moto server did not answer on {url}")
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)
