"""SageMaker Processing's container contract, on a local Docker engine.

For each of InstanceCount hosts (algo-1..algo-N) one container of the job's image, with:
- every input bind-mounted read-only at its LocalPath (ShardedByS3Key: each host gets every N-th
  file, hard-linked into its own shard folder; FullyReplicated: the folder itself);
- every output folder created first and mounted read-write (several hosts: one folder each, merged
  by hard links afterwards, clashing names kept side by side);
- /opt/ml/config/{processingjobconfig.json,resourceconfig.json} and a writable /opt/ml/output;
- ContainerEntrypoint / ContainerArguments applied as the service does (arguments alone go to the
  image's ENTRYPOINT), the Environment, memory and CPU limits of the instance type, no network
  under EnableNetworkIsolation, MaxRuntimeInSeconds enforced.
The job completes only if every container exits 0. Containers and networks are removed however the
run ends; logs stay under workdir/logs, one file per host.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

from .. import ownership
from ..errors import UserError
from ..jobs import instance_types
from ..jobs.processing import ProcessingJob, describe
from ..links import link_file
from ..redact import redact_env, redact_text, secret_values
from ..status import JobEvent, JobStatus
from . import images
from .base import EventHandler, HostResult, JobResult

EXIT_MESSAGE_BYTES = 1024
STOP_GRACE_SECONDS = 10
LABEL = "cursus-local.job"
OOM_REASON = ("ClientError: {host} ran out of memory ({limit} GiB, the memory of {itype}). "
              "Please use an instance type with more memory, or reduce the size of job data "
              "processed on an instance.")


class DockerBackend:
    def __init__(self, client=None):
        self.client = client or images.docker_client()
        self._image_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def image_id(self, uri: str) -> str:
        """The image's content id (pulled first if missing), asked of the engine once per URI."""
        with self._lock:
            if uri not in self._image_ids:
                self._image_ids[uri] = images.ensure_image(self.client, uri)
            return self._image_ids[uri]

    def run(self, job: ProcessingJob, workdir: Path, on_event: EventHandler | None = None,
            cancel: threading.Event | None = None) -> JobResult:
        self.image_id(job.request["AppSpecification"]["ImageUri"])
        return _JobRun(self.client, job, Path(workdir).resolve(), on_event or (lambda event: None),
                       cancel or threading.Event()).run()


class _JobRun:
    def __init__(self, client, job: ProcessingJob, workdir: Path, on_event: EventHandler,
                 cancel: threading.Event):
        self.client, self.job, self.workdir, self.emit, self.cancel = client, job, workdir, on_event, cancel
        request = job.request
        cluster = request["ProcessingResources"]["ClusterConfig"]
        self.count = cluster["InstanceCount"]
        self.itype = instance_types.lookup(cluster["InstanceType"])
        self.hosts = [f"algo-{i}" for i in range(1, self.count + 1)]
        self.secrets = secret_values(request.get("Environment", {}))
        self.containers: dict[str, object] = {}
        self.network = None
        self.results = {h: HostResult(h, log=workdir / "logs" / f"{h}.log") for h in self.hosts}
        self.threads: list[threading.Thread] = []
        self.exited = threading.Event()   # every container has exited

    # --- the whole job ------------------------------------------------------------------------
    def run(self) -> JobResult:
        created = time.time()
        started = ended = None
        status, reason, notes = JobStatus.FAILED, "", []
        self._check_inputs_supported()
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        host_outputs = self._prepare_outputs()
        try:
            self._create_network()
            for host in self.hosts:
                self.containers[host] = self._create_container(host, host_outputs[host])
            self.emit(JobEvent("status", "", JobStatus.IN_PROGRESS))
            started = time.time()
            for host, container in self.containers.items():
                container.start()
                self._watch(host, container)
            timed_out = self._wait_all(started)
            ended = time.time()
            status, reason = self._verdict(timed_out)
        except docker_errors().APIError as exc:   # e.g. the entrypoint is not in the image
            ended, status, reason = time.time(), JobStatus.FAILED, f"ClientError: {exc.explanation or exc}"
            self._stop_all()
        except KeyboardInterrupt:   # reported as Stopped; the caller sees result.interrupted
            ended, status, reason = time.time(), JobStatus.STOPPED, "interrupted by the user (Ctrl-C)"
            self.emit(JobEvent("status", "", JobStatus.STOPPING))
            self._stop_all()
        finally:
            for thread in self.threads:
                thread.join(timeout=5)
            self._remove_all()
        notes = self._collect_outputs(host_outputs)
        result = self._result(status, reason, created, started, ended, notes)
        result.interrupted = reason.startswith("interrupted")
        self.emit(JobEvent("status", "", status))
        return result

    def _check_inputs_supported(self):
        for item in self.job.request.get("ProcessingInputs", []):
            s3 = item.get("S3Input") or {}
            name = item["InputName"]
            if name not in self.job.local_inputs:   # run_job stages s3:// inputs before this
                raise RuntimeError(f"internal error: input {name} ({s3.get('S3Uri')}) has no local copy")
            if s3.get("S3InputMode") == "Pipe" or s3.get("S3DataType") == "ManifestFile":
                raise UserError(f"input {name}: Pipe mode and manifest files are not supported locally",
                                field=f"inputs.{name}", fix="use S3InputMode File with S3DataType S3Prefix")

    # --- folders and mounts ---------------------------------------------------------------------
    def _prepare_outputs(self) -> dict[str, dict[str, Path]]:
        """Per host, OutputName -> the folder mounted for it (created now, owned by us)."""
        per_host = {}
        for host in self.hosts:
            per_host[host] = {}
            for name, final in self.job.local_outputs.items():
                folder = final if self.count == 1 else self.workdir / "hosts" / host / "outputs" / name
                folder.mkdir(parents=True, exist_ok=True)
                per_host[host][name] = folder
        return per_host

    def _mounts(self, host: str, outputs: dict[str, Path]) -> list:
        from docker.types import Mount
        request = self.job.request
        mounts = []
        for item in request.get("ProcessingInputs", []):
            name, s3 = item["InputName"], item["S3Input"]
            source = self.job.local_inputs[name]
            if s3.get("S3DataDistributionType") == "ShardedByS3Key" and self.count > 1:
                source = self._shard(name, source, host)
            target = s3["LocalPath"]
            if source.is_file():   # an S3Prefix naming one object lands as LocalPath/<name>
                target = f"{target.rstrip('/')}/{source.name}"
            mounts.append(Mount(target, str(source), type="bind", read_only=True))
        for out in request["ProcessingOutputConfig"]["Outputs"]:
            mounts.append(Mount(out["S3Output"]["LocalPath"], str(outputs[out["OutputName"]]),
                                type="bind", read_only=False))
        config_dir, message_dir = self._write_config(host)
        mounts.append(Mount("/opt/ml/config", str(config_dir), type="bind", read_only=True))
        mounts.append(Mount("/opt/ml/output", str(message_dir), type="bind", read_only=False))
        return mounts

    def _shard(self, name: str, source: Path, host: str) -> Path:
        """This host's share of the input's files: every N-th in key order, as hard links."""
        index = self.hosts.index(host)
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        shard = self.workdir / "hosts" / host / "shards" / name
        if shard.exists():
            shutil.rmtree(shard)
        shard.mkdir(parents=True)
        base = source if source.is_dir() else source.parent
        for path in files[index::self.count]:
            link_file(path, shard / path.relative_to(base))
        return shard

    def _write_config(self, host: str) -> tuple[Path, Path]:
        base = self.workdir / "hosts" / host
        config_dir, message_dir = base / "config", base / "ml-output"   # /opt/ml/config, /opt/ml/output
        config_dir.mkdir(parents=True, exist_ok=True)
        message_dir.mkdir(parents=True, exist_ok=True)
        request = dict(self.job.request)
        request["Environment"] = redact_env(request.get("Environment", {}))
        request["ProcessingJobArn"] = describe(self.job, status=JobStatus.IN_PROGRESS, created=time.time(),
                                               started=None, ended=None)["ProcessingJobArn"]
        resource = {
            "current_host": host, "hosts": self.hosts, "network_interface_name": "eth0",
            "current_instance_type": self.itype.name, "current_group_name": "homogeneousCluster",
            "instance_groups": [{"instance_group_name": "homogeneousCluster",
                                 "instance_type": self.itype.name, "hosts": self.hosts}],
        }
        (config_dir / "processingjobconfig.json").write_text(json.dumps(request, indent=2))
        (config_dir / "resourceconfig.json").write_text(json.dumps(resource, indent=2))
        return config_dir, message_dir

    # --- containers -----------------------------------------------------------------------------
    def _create_network(self):
        if self.count == 1:
            return
        isolated = self.job.request["NetworkConfig"].get("EnableNetworkIsolation", False)
        self.network = self.client.networks.create(
            f"cursus-{self.job.name}", driver="bridge", internal=isolated, labels={LABEL: self.job.name})

    def _create_container(self, host: str, outputs: dict[str, Path]):
        app = self.job.request["AppSpecification"]
        isolated = self.job.request["NetworkConfig"].get("EnableNetworkIsolation", False)
        memory = min(self.itype.memory_bytes, _host_memory())
        kwargs = dict(
            image=app["ImageUri"], name=f"{self.job.name}-{host}"[:128], hostname=host,
            environment=self.job.request.get("Environment", {}),
            entrypoint=app.get("ContainerEntrypoint"),   # None keeps the image's ENTRYPOINT
            command=app.get("ContainerArguments"),       # with an entrypoint, no image CMD is used
            mounts=self._mounts(host, outputs), labels={LABEL: self.job.name},
            mem_limit=memory, memswap_limit=memory,
            detach=True,
        )
        if self.itype.vcpus < (os.cpu_count() or 1):   # a quota at the host's size only throttles
            kwargs["nano_cpus"] = int(self.itype.vcpus * 1e9)
        if self.network is not None:   # reachable as algo-N from the other hosts
            kwargs["network"] = self.network.name
            kwargs["networking_config"] = {
                self.network.name: self.client.api.create_endpoint_config(aliases=[host])}
        elif isolated:
            kwargs["network_mode"] = "none"
        return self.client.containers.create(**kwargs)

    def _watch(self, host: str, container):
        for target in (self._stream_logs, self._sample_usage):
            thread = threading.Thread(target=target, args=(host, container), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _stream_logs(self, host: str, container):
        pending = b""
        with open(self.results[host].log, "w") as log:
            for chunk in container.logs(stream=True, follow=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    line = redact_text(raw.decode(errors="replace"), self.secrets)
                    log.write(line + "\n")
                    self.emit(JobEvent("log", host, line))
            if pending:
                line = redact_text(pending.decode(errors="replace"), self.secrets)
                log.write(line + "\n")
                self.emit(JobEvent("log", host, line))

    def _sample_usage(self, host: str, container):
        """Peak memory and CPU time from the container's cgroup, read until it goes away; from
        the engine's stats API (a sample a second) where the cgroup can't be read (Docker Desktop)."""
        files = _cgroup_files(container.id, self.exited)
        result = self.results[host]
        if files is None:
            return self._sample_stats_api(result, container)
        while True:
            try:
                memory = _read_int(files["memory"])
                cpu = _read_cpu(files["cpu"])
            except OSError:
                return
            result.peak_memory_bytes = max(result.peak_memory_bytes or 0, memory)
            result.cpu_seconds = cpu
            if self.exited.wait(0.05):
                return

    def _sample_stats_api(self, result: HostResult, container):
        try:
            for stats in container.stats(stream=True, decode=True):
                memory = stats.get("memory_stats") or {}
                peak = memory.get("max_usage") or memory.get("usage")
                cpu = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
                if peak:
                    result.peak_memory_bytes = max(result.peak_memory_bytes or 0, peak)
                if cpu:
                    result.cpu_seconds = cpu / 1e9
                if self.exited.is_set():
                    return
        except docker_errors().APIError:   # the container is gone
            return

    def _wait_all(self, started: float) -> bool:
        """Wait for every container; True if MaxRuntimeInSeconds ran out first (they are stopped)."""
        deadline = started + self.job.request["StoppingCondition"]["MaxRuntimeInSeconds"]
        done = {}

        def wait(host, container):
            done[host] = container.wait()
            if len(done) == len(self.containers):
                self.exited.set()

        waiters = [threading.Thread(target=wait, args=item, daemon=True)
                   for item in self.containers.items()]
        for waiter in waiters:
            waiter.start()
        # short waits keep Ctrl-C and cancellation responsive; the last exit wakes us at once
        while not self.exited.wait(min(0.1, max(0.0, deadline - time.time()))):
            if self.cancel.is_set():   # another thread's Ctrl-C (a pipeline run)
                raise KeyboardInterrupt
            if time.time() >= deadline:
                self.emit(JobEvent("status", "", JobStatus.STOPPING))
                self._stop_all()
                for waiter in waiters:
                    waiter.join()
                return True
        return False

    def _verdict(self, timed_out: bool) -> tuple[str, str]:
        failures = []
        for host, container in self.containers.items():
            container.reload()
            state = container.attrs["State"]
            result = self.results[host]
            result.exit_code, result.oom_killed = state.get("ExitCode"), bool(state.get("OOMKilled"))
            if result.oom_killed:
                failures.append(OOM_REASON.format(host=host, limit=self.itype.memory_gib,
                                                  itype=self.itype.name))
            elif result.exit_code:
                failures.append(f"AlgorithmError: {host} exited with code {result.exit_code}; "
                                f"see {result.log}")
        if timed_out:
            limit = self.job.request["StoppingCondition"]["MaxRuntimeInSeconds"]
            return JobStatus.STOPPED, f"MaxRuntimeInSeconds ({limit} s) exceeded: the job was stopped"
        return (JobStatus.FAILED, failures[0]) if failures else (JobStatus.COMPLETED, "")

    def _stop_all(self):
        for container in self.containers.values():
            with contextlib.suppress(docker_errors().APIError):   # already gone is fine
                container.stop(timeout=STOP_GRACE_SECONDS)

    def _remove_all(self):
        for container in self.containers.values():
            with contextlib.suppress(docker_errors().APIError):
                container.remove(force=True)
        if self.network is not None:
            with contextlib.suppress(docker_errors().APIError):
                self.network.remove()

    # --- after the containers -------------------------------------------------------------------
    def _collect_outputs(self, host_outputs: dict[str, dict[str, Path]]) -> list[str]:
        notes = []
        if self.count > 1:
            for name, final in self.job.local_outputs.items():
                notes += _merge([(h, host_outputs[h][name]) for h in self.hosts], final)
        owned = [*self.job.local_outputs.values(), self.workdir / "hosts"]
        give_back(self.client, self.job.request["AppSpecification"]["ImageUri"], owned)
        return notes

    def _exit_message(self) -> str:
        for host in self.hosts:   # the first host that left a message
            message = self.workdir / "hosts" / host / "ml-output" / "message"
            if message.is_file():
                with open(message, "rb") as handle:
                    return redact_text(handle.read(EXIT_MESSAGE_BYTES).decode(errors="replace"),
                                       self.secrets)
        return ""

    def _result(self, status, reason, created, started, ended, notes) -> JobResult:
        info = describe(self.job, status=status, created=created, started=started, ended=ended,
                        exit_message=self._exit_message(),
                        failure_reason=reason if status == JobStatus.FAILED else "")
        info["Environment"] = redact_env(info.get("Environment", {}))
        if status == JobStatus.STOPPED and reason:
            notes = [reason, *notes]
        return JobResult(status=status, describe=info,
                         duration_seconds=round((ended or time.time()) - (started or created), 3),
                         hosts=list(self.results.values()),
                         outputs=dict(self.job.local_outputs), notes=notes)


def docker_errors():
    import docker.errors
    return docker.errors


def _merge(sources: list[tuple[str, Path]], final: Path) -> list[str]:
    """Hard-link every host's output files into `final`; a clash keeps both (suffix .algo-N)."""
    notes = []
    final.mkdir(parents=True, exist_ok=True)
    for host, folder in sources:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            target = final / path.relative_to(folder)
            if target.exists():
                clash = target.with_name(f"{target.stem}.{host}{target.suffix}")
                notes.append(f"{host} also wrote {target.relative_to(final)}: kept as {clash.name}")
                target = clash
            link_file(path, target)
    return notes


def give_back(client, image: str, folders: list[Path]):
    """Make every file the containers wrote (as root) belong to the invoking user."""
    if os.geteuid() == 0:
        return ownership.hand_over(folders)
    todo = ownership.foreign(folders)
    if not todo:
        return
    uid, gid = ownership.owner()
    from docker.types import Mount  # not root here: let a short container do it
    mounts = [Mount(f"/give-back/{i}", str(f), type="bind") for i, f in enumerate(todo)]
    client.containers.run(image, entrypoint=["chown", "-R", f"{uid}:{gid}", "/give-back"],
                          command=[], mounts=mounts, network_mode="none", remove=True, user="0")


def _host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _cgroup_files(container_id: str, exited: threading.Event) -> dict[str, Path] | None:
    """The memory-peak and CPU-usage files of a container's cgroup (v1 or v2), if readable here."""
    root = Path("/sys/fs/cgroup")
    v1 = {"memory": root / "memory/docker" / container_id / "memory.max_usage_in_bytes",
          "cpu": root / "cpuacct/docker" / container_id / "cpuacct.usage"}
    candidates = [v1]
    for group in (root / "system.slice" / f"docker-{container_id}.scope", root / "docker" / container_id):
        candidates.append({"memory": group / "memory.peak", "cpu": group / "cpu.stat"})
    deadline = time.time() + 0.2   # the container has started: its cgroup is there, or never will be
    while time.time() < deadline:
        for files in candidates:
            if files["memory"].exists():
                return files
        if exited.wait(0.01):
            return None
    return None


def _read_int(path: Path) -> int:
    return int(path.read_text().split()[0])


def _read_cpu(path: Path) -> float:
    text = path.read_text()
    if path.name == "cpuacct.usage":
        return int(text) / 1e9
    usage = next(line for line in text.splitlines() if line.startswith("usage_usec"))
    return int(usage.split()[1]) / 1e6
