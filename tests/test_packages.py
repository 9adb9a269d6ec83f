"""Scripts that install packages when they start (issue 8, section 5): the host's package-index
settings (index, proxies, CA bundle mounted read-only), none of it under network isolation, or an
offline wheelhouse; nothing of it in the request or in a file. The docker-marked tests install a
tiny package from the package index this machine really reaches (PyPI, through the host's settings)."""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
from pathlib import Path

import pytest
from conftest import write_step
from cursus_local.errors import UserError
from cursus_local.jobs import packages
from cursus_local.jobs.build import build
from cursus_local.jobs.contracts import load_step
from cursus_local.jobs.packages import CA_BUNDLE_PATH, WHEELHOUSE_PATH, package_access, pip_config
from cursus_local.jobs.processing import RunOptions, build_job
from cursus_local.redact import redact_env, redact_text, url_secrets

PROXY = "http://proxyuser:pr0xy-pw@proxy.invalid:3128"
INDEX = "https://indexuser:t0ken-123@index.invalid/simple"
OUT = {"out": {"path": "/opt/ml/processing/output/out"}}


@pytest.fixture
def clean_host(monkeypatch):
    """No package-index settings on this host but those a test sets."""
    for key in (*packages.INDEX_VARS, *packages.PROXY_VARS, *packages.CA_VARS, packages.WHEELHOUSE_ENV):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(packages, "pip_config_files", lambda: [])
    return monkeypatch


def step_file(tmp_path, script="print('hi')\n", compute=None, outputs=OUT):
    return load_step(write_step(tmp_path, "main", script, {"inputs": {}, "outputs": outputs},
                                compute=compute))


def test_the_host_settings_go_to_the_job_never_the_request(tmp_path, clean_host):
    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    clean_host.setenv("PIP_INDEX_URL", INDEX)
    clean_host.setenv("PIP_TRUSTED_HOST", "index.invalid")
    clean_host.setenv("HTTPS_PROXY", PROXY)
    clean_host.setenv("no_proxy", "localhost,127.0.0.1")
    clean_host.setenv("REQUESTS_CA_BUNDLE", str(ca))
    job = build_job(step_file(tmp_path), RunOptions(), tmp_path / "run")
    assert job.local_env == {"PIP_INDEX_URL": INDEX, "PIP_TRUSTED_HOST": "index.invalid",
                             "HTTPS_PROXY": PROXY, "no_proxy": "localhost,127.0.0.1",
                             "PIP_CERT": CA_BUNDLE_PATH, "REQUESTS_CA_BUNDLE": CA_BUNDLE_PATH}
    assert job.local_mounts == {CA_BUNDLE_PATH: ca.resolve()}
    text = json.dumps(job.request) + "\n".join(job.notes)
    assert "PIP_" not in json.dumps(job.request) and "PROXY" not in json.dumps(job.request)
    assert "pr0xy-pw" not in text and "t0ken-123" not in text   # the notes name settings, not values
    assert any("HTTPS_PROXY" in n and "PIP_INDEX_URL" in n for n in job.notes)


def test_network_isolation_gets_none_of_it_but_a_wheelhouse_still_works(tmp_path, clean_host):
    clean_host.setenv("HTTPS_PROXY", PROXY)
    clean_host.setenv("SSL_CERT_FILE", str(Path(__file__)))
    (tmp_path / "wheels").mkdir()
    job = build_job(step_file(tmp_path), RunOptions(network_isolation=True), tmp_path / "run")
    assert job.local_env == {} and job.local_mounts == {}
    assert any("EnableNetworkIsolation" in n and "pip install" in n for n in job.notes)
    job = build_job(step_file(tmp_path), RunOptions(network_isolation=True, wheelhouse=str(tmp_path / "wheels"),
                                                    pip_offline=True), tmp_path / "run")
    assert job.local_env == {"PIP_FIND_LINKS": WHEELHOUSE_PATH, "PIP_NO_INDEX": "1"}
    assert job.local_mounts == {WHEELHOUSE_PATH: (tmp_path / "wheels").resolve()}


def test_the_wheelhouse_from_the_environment_and_pip_offline_needs_one(tmp_path, clean_host):
    (tmp_path / "wheels").mkdir()
    clean_host.setenv(packages.WHEELHOUSE_ENV, str(tmp_path / "wheels"))
    job = build_job(step_file(tmp_path), RunOptions(), tmp_path / "run")
    assert job.local_env == {"PIP_FIND_LINKS": WHEELHOUSE_PATH}
    clean_host.delenv(packages.WHEELHOUSE_ENV)
    with pytest.raises(UserError) as err:
        build_job(step_file(tmp_path), RunOptions(pip_offline=True), tmp_path / "run")
    assert "--wheelhouse DIR" in err.value.fix


def test_the_ca_bundle_first_found_our_variable_first(tmp_path):
    a, b = tmp_path / "a.pem", tmp_path / "b.pem"
    a.write_text("a")
    b.write_text("b")
    env, ca, _ = packages.host_index_settings({"PIP_CERT": str(a), "CURSUS_LOCAL_CA_BUNDLE": str(b)}, {})
    assert ca == b.resolve() and env["PIP_CERT"] == env["REQUESTS_CA_BUNDLE"] == CA_BUNDLE_PATH
    env, ca, notes = packages.host_index_settings({"PIP_CERT": str(tmp_path / "gone.pem"),
                                                   "SSL_CERT_FILE": str(a)}, {})
    assert ca == a.resolve() and any("gone.pem" in n and "not a file" in n for n in notes)
    assert packages.host_index_settings({}, {}) == ({}, None, [])


def test_pip_config_files_and_host_paths(tmp_path):
    """pip's own config (a later file wins, [install] over [global]); a file:// index is a host path
    and stays behind; the environment wins over the config."""
    first, second = tmp_path / "a.conf", tmp_path / "b.conf"
    first.write_text("[global]\nindex-url = https://first.invalid/simple\ncert = /nonexistent.pem\n")
    second.write_text("[global]\nextra-index-url = file:///opt/pypi/simple\n  https://extra.invalid/simple\n"
                      "[install]\ntrusted-host = extra.invalid\n")
    config = pip_config([first, second])
    assert config == {"index-url": "https://first.invalid/simple", "cert": "/nonexistent.pem",
                      "extra-index-url": "file:///opt/pypi/simple https://extra.invalid/simple",
                      "trusted-host": "extra.invalid"}
    env, ca, notes = packages.host_index_settings({"PIP_INDEX_URL": INDEX}, config)
    assert env == {"PIP_INDEX_URL": INDEX, "PIP_EXTRA_INDEX_URL": "https://extra.invalid/simple",
                   "PIP_TRUSTED_HOST": "extra.invalid"}
    assert ca is None and any("file://" in n for n in notes)


def test_a_training_job_gets_them_too(tmp_path, clean_host):
    clean_host.setenv("HTTP_PROXY", PROXY)
    step = step_file(tmp_path, compute={"kind": "estimator", "image": "cursus-local/xgboost-training:1.7-1"},
                     outputs={"model": {"path": "/opt/ml/model"}})
    job = build(step, RunOptions(), tmp_path / "run")
    assert job.kind == "Training" and job.local_env == {"HTTP_PROXY": PROXY}
    assert build(step, RunOptions(network_isolation=True), tmp_path / "run").local_env == {}


def test_credentials_in_urls_are_masked():
    secrets = url_secrets([PROXY, INDEX, "http://proxy.invalid:3128", "plain"])
    line = f"Retrying after connection broken by ProxyError('{PROXY}') for {INDEX}"
    masked = redact_text(line, secrets)
    assert "pr0xy-pw" not in masked and "t0ken-123" not in masked and "proxyuser" not in masked
    assert "http://***@proxy.invalid:3128" in masked
    assert redact_env({"HTTPS_PROXY": PROXY, "A_TOKEN": "x" * 8, "N": "1"}) == {
        "HTTPS_PROXY": "http://***@proxy.invalid:3128", "A_TOKEN": "***", "N": "1"}


def test_package_access_is_what_both_job_kinds_call(tmp_path, clean_host):
    env, mounts, notes = package_access(None, False, False, "x", environ={}, config={})
    assert (env, mounts, notes) == ({}, {}, [])


# --- on the engine, against the package index this machine reaches -------------------------------

INSTALL = """
import subprocess, sys
print("PIP_CERT", __import__("os").environ.get("PIP_CERT"), flush=True)
code = subprocess.call([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--force-reinstall",
                        "--no-deps", "--retries", "1", "--timeout", "20", "six==1.16.0"])
print("pip exited", code, flush=True)
sys.exit(code)
"""


def pypi_reachable() -> bool:
    """PyPI through this host's own settings (its CA bundle, its proxy environment)."""
    cafile = next((os.environ[k] for k in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
                   if os.environ.get(k) and Path(os.environ[k]).is_file()), None)
    try:
        with urllib.request.urlopen("https://pypi.org/simple/six/",
                                    context=ssl.create_default_context(cafile=cafile), timeout=20):
            return True
    except OSError:
        return False


@pytest.mark.docker
def test_pip_install_at_start_reaches_the_index_with_the_host_settings_and_fails_isolated(tmp_path, backend):
    if not pypi_reachable():
        pytest.skip("this machine reaches no package index (https://pypi.org) with its own settings")
    from helpers import run_step
    step = step_file(tmp_path, INSTALL)
    run = run_step(step, RunOptions(), tmp_path / "runs", backend)
    log = "".join(h.log.read_text() for h in run.result.hosts)
    assert run.result.status == "Completed", (run.result.describe, log)
    assert "Successfully installed six-1.16.0" in log
    result = (run.folder / "result.json").read_text()
    config = "".join(p.read_text() for p in (run.folder / "hosts").rglob("*.json"))
    for value in run.job.local_env.values():   # host settings are not written anywhere
        if value != CA_BUNDLE_PATH:
            assert value not in result and value not in config
    if run.job.local_mounts.get(CA_BUNDLE_PATH):
        assert f"PIP_CERT {CA_BUNDLE_PATH}" in log

    isolated = run_step(step, RunOptions(network_isolation=True), tmp_path / "runs-isolated", backend)
    log = "".join(h.log.read_text() for h in isolated.result.hosts)
    assert isolated.result.status == "Failed" and isolated.result.exit_code == 1, log
    assert "PIP_CERT None" in log
    assert any(s in log for s in ("NewConnectionError", "Failed to establish a new connection",
                                  "Temporary failure in name resolution")), log
    assert "No matching distribution found for six==1.16.0" in log


@pytest.mark.docker
def test_proxy_credentials_never_reach_the_log(tmp_path, backend):
    from cursus_local.pipeline.step import run_job
    step = step_file(tmp_path, "import os\nprint('proxy is', os.environ['HTTPS_PROXY'])\n")
    job = build(step, RunOptions(network_isolation=True), tmp_path / "runs" / "main" / "output")
    job.local_env["HTTPS_PROXY"] = PROXY      # as the host would give it (kept off the engine client)
    run = run_job(job, tmp_path / "runs" / "main", backend)
    log = "".join(h.log.read_text() for h in run.result.hosts)
    assert run.result.status == "Completed", log
    assert "proxy is http://***@proxy.invalid:3128" in log and "pr0xy-pw" not in log
