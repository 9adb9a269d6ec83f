"""Inputs writable inside the container, as File-mode inputs are on the service, while the host's
folders stay byte-identical: an overlay volume per input, made through the engine (copy-on-write),
or a copy where the engine can't make one, with the bytes copied reported."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path

from ..jobs import training
from ..jobs.bindings import inside
from ..links import link_file
from . import leftovers
from .images import already_gone, docker_errors

INPUT_MODE_ENV = "CURSUS_LOCAL_INPUTS"   # overlay | copy: how inputs are made writable


class WritableInputs:
    """Inputs writable inside the container while the host's folders stay byte-identical.

    overlay: one engine volume per input and host, of the local driver with type overlay
    (lowerdir = the input folder, upper/work under <step>/hosts/algo-N/inputs/<name>/), mounted at
    the input's path. Writes land in upper; nothing is copied. A single file becomes a folder holding
    a hard link to it. copy: where the engine can't mount an overlay over these folders (Docker
    Desktop, another filesystem), each input is copied into <step>/hosts/algo-N/inputs/<name>/copy and
    the bytes are counted. Everything is removed after the job (cleanup)."""

    def __init__(self, client, image: str, job_name: str, mode: str, why_not_overlay: str):
        self.client, self.image, self.job_name = client, image, job_name
        self.mode, self.why = mode, why_not_overlay
        self.bytes_copied = 0
        self.volumes: list = []
        self.scratch: list[Path] = []
        self.notes: list[str] = []
        self._copied_inputs: list[str] = []

    def mount(self, host: str, name: str, layers: list[Path], target: str, host_dir: Path,
              is_code: bool = False):
        """The Mount of input `name` at `target`: `layers` top first (a file: a folder holding it)."""
        from docker.types import Mount
        base = inside(host_dir / "inputs", training.safe_name(name))   # safe_name lets '..' through
        if base.exists():
            remove_as_root(self.client, self.image, [base])
        base.mkdir(parents=True)
        self.scratch.append(base)
        lowers = []
        for i, layer in enumerate(layers):
            if layer.is_file():   # one S3 object lands as <LocalPath>/<its name>
                holder = base / f"file-{i}"
                self.bytes_copied += link_file(layer, holder / layer.name)
                layer = holder
            lowers.append(layer)
        usable = all(":" not in str(p) and "," not in str(p) for p in [*lowers, base])
        if self.mode == "overlay" and usable:
            (base / "upper").mkdir()
            (base / "work").mkdir()
            volume = self.client.volumes.create(
                name=f"cursus-{training.safe_name(self.job_name)}-{host}-{training.safe_name(name)}-"
                     f"{secrets.token_hex(3)}"[:200],
                driver="local", labels=leftovers.labels(self.job_name),
                driver_opts={"type": "overlay", "device": "overlay",
                             "o": f"lowerdir={':'.join(str(p) for p in lowers)},"
                                  f"upperdir={base / 'upper'},workdir={base / 'work'}"})
            self.volumes.append(volume)
            return Mount(target, volume.name, type="volume")
        copy = base / "copy"
        copy.mkdir()
        for layer in reversed(lowers):   # the bottom layer first, the top one over it
            for path in sorted(layer.rglob("*")):
                dest = copy / path.relative_to(layer)
                if path.is_dir() and not path.is_symlink():
                    dest.mkdir(parents=True, exist_ok=True)
                else:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    if dest.exists():
                        dest.unlink()
                    shutil.copy2(path, dest, follow_symlinks=False)
                    self.bytes_copied += 0 if path.is_symlink() else path.stat().st_size
        self._copied_inputs.append(f"{host}:{name}")
        return Mount(target, str(copy), type="bind", read_only=False)

    def cleanup(self):
        for volume in self.volumes:
            with already_gone():
                volume.remove(force=True)
        self.volumes = []
        if self.scratch:
            remove_as_root(self.client, self.image, self.scratch)
            self.scratch = []
        if self._copied_inputs:
            why = self.why or "a path holds ':' or ','"
            self.notes.append(f"inputs made writable by copying ({self.bytes_copied} bytes copied; "
                              f"no overlay: {why}): {', '.join(self._copied_inputs)}")
            self._copied_inputs = []


def remove_as_root(client, image: str, folders: list[Path]) -> None:
    """rm -rf folders that hold root-owned files (an overlay's work/work is root's, mode 000):
    directly when root, else through a short container."""
    folders = [f for f in folders if f.exists()]
    if not folders:
        return
    if os.geteuid() == 0:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        return
    from docker.types import Mount
    mounts = [Mount(f"/remove/{i}", str(f.parent), type="bind") for i, f in enumerate(folders)]
    paths = [f"/remove/{i}/{f.name}" for i, f in enumerate(folders)]
    client.containers.run(image, entrypoint=["rm", "-rf", *paths], command=[], mounts=mounts,
                          network_mode="none", remove=True, user="0")


def known_overlay(client, device: int, probe) -> str:
    """The overlay probe's answer for this engine and filesystem, remembered on disk: the probe is a
    container run (~0.3 s), and the answer changes only with the engine or the filesystem."""
    from ..results import cache_root, read_json, write_json
    key = f"{client.info().get('ID', '?')}:{device}"
    remembered = cache_root() / "overlay-probe.json"
    try:
        known = read_json(remembered)
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = probe()
        with contextlib.suppress(OSError):   # a read-only home: probe again next time
            write_json(remembered, known)
    return known[key]


def overlay_probe(client, image: str, workdir: Path) -> str:
    """"" if the engine can mount a copy-on-write overlay over folders on workdir's filesystem (a
    write inside is seen, the lower folder keeps its bytes); else why not."""
    from docker.types import Mount
    base = workdir / f".overlay-probe-{secrets.token_hex(3)}"
    volume = None
    try:
        for sub in ("lower", "upper", "work"):
            (base / sub).mkdir(parents=True)
        (base / "lower" / "f").write_text("lower")
        volume = client.volumes.create(
            name=f"cursus-overlay-probe-{secrets.token_hex(4)}", driver="local", labels=leftovers.labels("probe"),
            driver_opts={"type": "overlay", "device": "overlay",
                         "o": f"lowerdir={base / 'lower'},upperdir={base / 'upper'},workdir={base / 'work'}"})
        out = client.containers.run(image, entrypoint=["sh", "-c", "echo upper > /m/f && cat /m/f"],
                                    command=[], mounts=[Mount("/m", volume.name, type="volume")],
                                    network_mode="none", remove=True)
        if b"upper" not in out or (base / "lower" / "f").read_text() != "lower":
            return "the overlay mount did not behave as copy-on-write"
        return ""
    except (docker_errors().DockerException, OSError) as exc:
        return f"the engine could not mount an overlay here ({str(exc).strip()[:200]})"
    finally:
        if volume is not None:
            with already_gone():
                volume.remove(force=True)
        with contextlib.suppress(Exception):
            remove_as_root(client, image, [base])
