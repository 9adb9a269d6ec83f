"""How a job's script reaches packages when it runs `pip install` at start (Cursus's training
scripts do, at import time; FrameworkProcessor's runproc.sh installs requirements.txt).

Nothing of this is in the request (it would be wrong on the service) or baked into an image; it is
the job's `local_env` and `local_mounts` (read-only), and never written to a file:

- **The host's package-index settings**, for every job that has network (they are the host's own):
  PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_TRUSTED_HOST and the proxies (HTTP_PROXY, HTTPS_PROXY,
  NO_PROXY, upper and lower case) from the runner's environment; where the environment does not set
  them, `index-url`, `extra-index-url` and `trusted-host` from pip's own config files (pip's order:
  /etc/xdg/pip, /etc/pip.conf, ~/.pip, ~/.config/pip, $PIP_CONFIG_FILE). An index that is a host
  path (file://) means nothing in the container: left out, with a note. The CA bundle (the first of
  CURSUS_LOCAL_CA_BUNDLE, PIP_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE, pip's `cert` that names a
  file) is mounted read-only at CA_BUNDLE_PATH, and PIP_CERT and REQUESTS_CA_BUNDLE point at it.
  Proxy and index URLs may carry credentials: the backend masks them in the logs
  (`redact.url_secrets`).
- **Under EnableNetworkIsolation** the job gets none of it, and a pip install from an index fails
  as it would on the service.
- **An offline wheelhouse** (`--wheelhouse DIR`, `wheelhouse:` in a DAG YAML, CURSUS_LOCAL_WHEELHOUSE),
  network or not: mounted read-only at WHEELHOUSE_PATH with PIP_FIND_LINKS; with `--pip-offline`
  also PIP_NO_INDEX=1, so pip uses nothing else.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from ..errors import UserError
from .bindings import check_not_system

WHEELHOUSE_PATH = "/opt/cursus-local/wheelhouse"
CA_BUNDLE_PATH = "/opt/cursus-local/ca-bundle.pem"
WHEELHOUSE_ENV = "CURSUS_LOCAL_WHEELHOUSE"
CA_BUNDLE_ENV = "CURSUS_LOCAL_CA_BUNDLE"
INDEX_VARS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
CA_VARS = (CA_BUNDLE_ENV, "PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
PIP_CONFIG_KEYS = {"index-url": "PIP_INDEX_URL", "extra-index-url": "PIP_EXTRA_INDEX_URL",
                   "trusted-host": "PIP_TRUSTED_HOST"}


def pip_config_files() -> list[Path]:
    """pip's config files, in the order pip reads them (a later one wins)."""
    home = Path.home()
    xdg_dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    files = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs if d] + [Path("/etc/pip.conf")]
    files += [home / ".pip" / "pip.conf",
              Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf"]
    if os.environ.get("PIP_CONFIG_FILE") and os.environ["PIP_CONFIG_FILE"] != os.devnull:
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    return files


def pip_config(files: list[Path] | None = None) -> dict[str, str]:
    """`index-url`, `extra-index-url`, `trusted-host` and `cert` from pip's config files ([global],
    then [install] over it), as a later file overrides an earlier one."""
    out: dict[str, str] = {}
    for path in pip_config_files() if files is None else files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path)
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        for section in ("global", "install"):
            if parser.has_section(section):
                for key in (*PIP_CONFIG_KEYS, "cert"):
                    if parser.has_option(section, key):
                        out[key] = " ".join(parser.get(section, key).split())
    return out


def host_index_settings(environ: dict[str, str] | None = None,
                        config: dict[str, str] | None = None) -> tuple[dict[str, str], Path | None, list[str]]:
    """(env entries, the CA bundle file, notes) of the host's package-index settings."""
    environ = dict(os.environ if environ is None else environ)
    config = pip_config() if config is None else config
    env, notes = {}, []
    for key in INDEX_VARS:
        value = environ.get(key)
        if value is None:
            value = next((v for k, v in config.items() if PIP_CONFIG_KEYS.get(k) == key), None)
        if not value:
            continue
        if key == "PIP_TRUSTED_HOST":
            env[key] = value
            continue
        urls = value.split()
        kept = [u for u in urls if not u.lower().startswith("file:")]
        if len(kept) < len(urls):
            notes.append(f"{key}: the host's file:// index(es) are host paths and are not passed "
                         "(use --wheelhouse DIR for local wheels)")
        if kept:
            env[key] = " ".join(kept)
    for key in PROXY_VARS:
        if environ.get(key):
            env[key] = environ[key]
    ca, where = None, ""
    candidates = [(k, environ.get(k)) for k in CA_VARS] + [("pip.conf cert", config.get("cert"))]
    for key, value in candidates:
        if not value:
            continue
        if Path(value).is_file():
            ca, where = Path(value).resolve(), key
            break
        notes.append(f"{key} names {value}, which is not a file: not mounted")
    if ca is not None:
        env["PIP_CERT"] = env["REQUESTS_CA_BUNDLE"] = CA_BUNDLE_PATH
        notes.append(f"the host's CA bundle ({where}: {ca}) is mounted read-only at {CA_BUNDLE_PATH} "
                     "(PIP_CERT, REQUESTS_CA_BUNDLE)")
    return env, ca, notes


def package_access(wheelhouse: str | None, pip_offline: bool, isolated: bool, where: str,
                   environ: dict[str, str] | None = None, config: dict[str, str] | None = None
                   ) -> tuple[dict[str, str], dict[str, Path], list[str]]:
    """(local_env, local_mounts, notes) of a job: see the module doc."""
    environ = dict(os.environ if environ is None else environ)
    env: dict[str, str] = {}
    mounts: dict[str, Path] = {}
    notes: list[str] = []
    host_env, ca, host_notes = host_index_settings(environ, config)
    passed = sorted(k for k in host_env if k not in ("PIP_CERT", "REQUESTS_CA_BUNDLE"))
    if isolated:
        if host_env:
            notes.append("EnableNetworkIsolation: the job gets none of the host's package-index "
                         "settings; a pip install from an index fails, as on SageMaker "
                         "(use --wheelhouse DIR --pip-offline)")
    else:
        env.update(host_env)
        if ca is not None:
            mounts[CA_BUNDLE_PATH] = ca
        notes += host_notes
        if passed:
            notes.append(f"the host's package-index settings are passed: {', '.join(passed)}")
    wheelhouse = wheelhouse or environ.get(WHEELHOUSE_ENV) or None
    if pip_offline and not wheelhouse:
        raise UserError("--pip-offline needs a wheelhouse", field="pip_offline",
                        fix=f"pass --wheelhouse DIR (or `wheelhouse:` in a DAG YAML, or set {WHEELHOUSE_ENV})")
    if wheelhouse:
        wheels = Path(wheelhouse).resolve()
        check_not_system(wheels, f"the wheelhouse ({wheelhouse})", where, "--wheelhouse",
                         "pass --wheelhouse DIR with a folder of your own wheels")
        if not wheels.is_dir():
            raise UserError(f"wheelhouse {wheels} is not a folder", file=where, field="wheelhouse",
                            fix="make one with `pip wheel -r requirements.txt -w DIR`")
        mounts[WHEELHOUSE_PATH] = wheels
        env["PIP_FIND_LINKS"] = WHEELHOUSE_PATH
        if pip_offline:
            env["PIP_NO_INDEX"] = "1"
        notes.append(f"wheelhouse {wheels} is mounted read-only at {WHEELHOUSE_PATH} (PIP_FIND_LINKS"
                     + (", PIP_NO_INDEX: pip uses nothing else)" if pip_offline else ")"))
    return env, mounts, notes
