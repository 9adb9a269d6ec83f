"""Run the CLI as somebody other than root: a plain user with engine access, or that user through
sudo. Ownership and escape tests need both, since only root can chown, and sudo's caller is whom
root hands files back to."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

USER = "cursus-tester"
CLI = [str(Path(sys.executable).with_name("cursus-local"))]


def _ensure_user() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.fail("these tests create a user and need root (CI runs as root)")
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        groups = ["docker"] if _has_group("docker") else []
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash",
                        *(["--groups", ",".join(groups)] if groups else []), USER], check=True)
        return pwd.getpwnam(USER)


def _has_group(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session")
def tester() -> pwd.struct_passwd:
    """A non-root user in the `docker` group (the engine's socket), with a home of its own."""
    return _ensure_user()


def as_user(user: pwd.struct_passwd, args: list[str], cwd: Path, env: dict | None = None,
            **kwargs) -> subprocess.CompletedProcess:
    """`args` run as `user` (not root), with the docker group, in `cwd`."""
    command, env = _as_user(user, args, env)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)


def spawn_as_user(user: pwd.struct_passwd, args: list[str], cwd: Path, env: dict | None = None,
                  **kwargs) -> subprocess.Popen:
    """As `as_user`, started and not waited for (setpriv execs: the Popen's pid is the command's)."""
    command, env = _as_user(user, args, env)
    return subprocess.Popen(command, cwd=cwd, env=env, text=True, **kwargs)


def _as_user(user: pwd.struct_passwd, args: list[str], env: dict | None) -> tuple[list[str], dict]:
    groups = [grp.getgrnam("docker").gr_gid] if _has_group("docker") else []
    base = {"HOME": user.pw_dir, "PATH": os.environ["PATH"], "USER": user.pw_name,
            "LANG": "C.UTF-8"}
    return (["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
             f"--groups={','.join(map(str, groups)) or str(user.pw_gid)}", "--", *args],
            {**base, **(env or {})})


def via_sudo(user: pwd.struct_passwd, args: list[str], cwd: Path, env: dict | None = None,
             **kwargs) -> subprocess.CompletedProcess:
    """`args` run as root through sudo, called by `user`: root with SUDO_UID/SUDO_GID set, as sudo
    sets them (the real sudo when installed, else the same environment by hand)."""
    extra = [f"{k}={v}" for k, v in (env or {}).items()]
    if shutil.which("sudo"):
        cmd = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
               "sudo", "-n", "--preserve-env=PATH", "env", *extra, *args]
        _allow_sudo(user)
    else:
        cmd = ["env", f"SUDO_UID={user.pw_uid}", f"SUDO_GID={user.pw_gid}",
               f"SUDO_USER={user.pw_name}", *extra, *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "HOME": user.pw_dir, "LANG": "C.UTF-8"},
                          **kwargs)


def _allow_sudo(user: pwd.struct_passwd) -> None:
    rule = Path(f"/etc/sudoers.d/{USER}")
    if not rule.exists():
        rule.write_text(f"{user.pw_name} ALL=(ALL) NOPASSWD: ALL\n")
        rule.chmod(0o440)


def owned_by_others(folder: Path, user: pwd.struct_passwd) -> list[Path]:
    """Everything under `folder` (itself included) that `user` does not own."""
    paths = [folder, *folder.rglob("*")] if folder.exists() else []
    return [p for p in paths if p.lstat().st_uid != user.pw_uid]


@pytest.fixture
def tester_dir(tester, tmp_path_factory):
    """A folder `tester` owns and can reach (pytest's own tmp folders are root's, mode 700)."""
    import tempfile
    folder = Path(tempfile.mkdtemp(prefix="cursus-tester-", dir="/tmp"))
    os.chown(folder, tester.pw_uid, tester.pw_gid)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
