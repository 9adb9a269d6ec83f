"""SageMaker's container contracts on a local Docker engine: one engine layer, one class per job kind.

`_JobRun` is what every kind shares: for each of InstanceCount hosts (algo-1..algo-N) one container
of the job's image, on a private network when there are several (none under
EnableNetworkIsolation), with the instance type's memory and CPU limits, MaxRuntimeInSeconds
enforced, logs streamed to workdir/logs/<host>.log, peak memory and CPU time per host (exact from
a job cgroup, cgroups.py, else sampled and said so), and containers, networks and volumes removed
however the run ends. Every input is writable inside the container and unchanged on the host
(inputs.py). The job completes only if every container exits 0.

The kinds add their mounts, environment, config files and command, and what happens after:
- `_ProcessingRun` (CreateProcessingJob): inputs at their LocalPaths (ShardedByS3Key: each host
  gets every N-th file), outputs created first and merged by hard links across hosts (clashing
  names kept side by side), /opt/ml/config/{processingjobconfig,resourceconfig}.json,
  ContainerEntrypoint / ContainerArguments applied as the service does, /opt/ml/output/message as
  the ExitMessage;
- `_TrainingRun` (CreateTrainingJob, script mode): channels at /opt/ml/input/data/<channel>,
  /opt/ml/input/config/*.json, the training toolkit's SM_* environment, the hyperparameters as
  arguments, /opt/ml/model and /opt/ml/output/data packed into model.tar.gz and output.tar.gz,
  /opt/ml/output/failure as the FailureReason.
A CreateModel job runs no container (model.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

from .. import interrupts, ownership
from ..errors import UserError
from ..jobs import instance_types, training
from ..jobs.base import Job
from ..jobs.bindings import check_not_system, inside, mounted_notes
from ..jobs.processing import describe
from ..jobs.validation import container_path
from ..links import link_file, link_tree
from ..redact import Secrets
from ..status import JobEvent, JobStatus
from . import images, leftovers
from .base import EventHandler, HostResult, JobResult
from .cgroups import (
    SAMPLED,
    JobCgroups,
    _cgroup_files,
    _read_cpu,
    _read_int,
    job_cgroup_version,
)
from .images import LABEL, already_gone, docker_errors
from .inputs import (
    INPUT_MODE_ENV,
    WritableInputs,
    known_overlay,
    overlay_probe,
    remove_as_root,
)

EXIT_MESSAGE_BYTES = 1024
# EnableNetworkIsolation on several hosts: an internal bridge (no forwarding, no NAT) on which the
# host takes no address (inhibit_ipv4). `internal` alone leaves the host reachable at the bridge's
# gateway address, and through it every address of the host (docker0's, its own). With no address
# on the bridge, the containers' gateway is an address nobody holds: the job's hosts reach each
# other and nothing else. IPv6 stays off in the containers (the engine's default).
ISOLATED_BRIDGE = {"com.docker.network.bridge.inhibit_ipv4": "true"}
STOP_GRACE_SECONDS = 10
OOM_REASON = ("ClientError: {host} ran out of memory ({limit} GiB, the memory of {itype}). "
              "Please use an instance type with more memory, or reduce the size of job data "
              "processed on an instance.")


class DockerBackend:
    def __init__(self, client=None, input_mode: str | None = None):
        self.client = client or images.docker_client()
        # writable inputs: "overlay" (copy-on-write, nothing copied), "copy", or None: overlay where
        # a probe shows the engine can mount it over this filesystem (CURSUS_LOCAL_INPUTS overrides)
        self.input_mode = input_mode or os.environ.get(INPUT_MODE_ENV) or None
        self._overlay_ok: dict[int, str] = {}   # st_dev of a step folder -> "" (works) or why not
        self._image_ids: dict[str, str] = {}
        self._cgroup_version: int | None = None
        self._cgroup_version_known = False
        self._lock = threading.Lock()
        leftovers.sweep(self.client)   # every start cleans up after runners that died

    def image_id(self, uri: str) -> str:
        """The image's content id (pulled first if missing), asked of the engine once per URI."""
        with self._lock:
            if uri not in self._image_ids:
                self._image_ids[uri] = images.ensure_image(self.client, uri)
            return self._image_ids[uri]

    def run(self, job: Job, workdir: Path, on_event: EventHandler | None = None,
            cancel: threading.Event | None = None) -> JobResult:
        self.image_id(job.image)
        workdir = Path(workdir).resolve()
        if job.kind == "Model":   # CreateModel runs no container, here as on the service
            from .model import run_model
            return run_model(job, workdir)
        inputs = WritableInputs(self.client, job.image, job.name, *self._input_mode(job.image, workdir))
        cgroups = self._job_cgroups(job.name)
        kind = _TrainingRun if job.kind == "Training" else _ProcessingRun
        run = kind(self.client, job, workdir, on_event or (lambda event: None),
                   cancel or threading.Event(), cgroups, inputs)
        try:
            with interrupts.shielded():   # a signal is acted upon where every container is known
                return run.run()
        finally:
            if cgroups is not None and cgroups.unseen:   # our view is not the engine's: stop trying
                with self._lock:
                    self._cgroup_version = None

    def _input_mode(self, image: str, workdir: Path) -> tuple[str, str]:
        """("overlay" | "copy", why overlay is not used). The overlay probe runs once per filesystem."""
        if self.input_mode in ("overlay", "copy"):
            return self.input_mode, "" if self.input_mode == "overlay" else f"{INPUT_MODE_ENV}=copy"
        workdir.mkdir(parents=True, exist_ok=True)
        device = workdir.stat().st_dev
        with self._lock:
            if device not in self._overlay_ok:
                self._overlay_ok[device] = known_overlay(self.client, device, lambda: overlay_probe(
                    self.client, image, workdir))
            why = self._overlay_ok[device]
        return ("copy", why) if why else ("overlay", "")

    def _job_cgroups(self, job_name: str) -> JobCgroups | None:
        with self._lock:   # the engine is asked once per backend
            if not self._cgroup_version_known:
                self._cgroup_version = job_cgroup_version(self.client)
                self._cgroup_version_known = True
            version = self._cgroup_version
        return None if version is None else JobCgroups(version, job_name)


class _JobRun:
    """One job on the engine, whatever its kind: networks, containers (create, start, wait, logs,
    stop, remove), cgroup figures, writable inputs and the hand-back of what the containers wrote.
    A kind says only its mounts, environment, command, and what happens afterwards."""

    def __init__(self, client, job: Job, workdir: Path, on_event: EventHandler,
                 cancel: threading.Event, cgroups: JobCgroups | None = None,
                 inputs: WritableInputs | None = None):
        self.client, self.job, self.workdir, self.emit, self.cancel = client, job, workdir, on_event, cancel
        request = job.request
        self.count, instance_type, self.isolated = self._cluster()
        self.itype = instance_types.lookup(instance_type)
        self.image = job.image
        self.max_runtime = request["StoppingCondition"]["MaxRuntimeInSeconds"]
        self.inputs = inputs or WritableInputs(client, job.image, job.name, "overlay", "")
        self.hosts = [f"algo-{i}" for i in range(1, self.count + 1)]
        # masked in every file and line we write: values under secret names (environment, job
        # arguments, hyperparameters, job.local_env, --secret-env) and credentials in URLs
        self.secrets = Secrets.of_job(job)
        self.containers: dict[str, object] = {}
        self.network = None
        # on everything this job makes: which runner made it, so a sweep knows when it is an orphan
        self.labels = leftovers.labels(job.name, workdir)
        self.results = {h: HostResult(h, log=workdir / "logs" / f"{h}.log") for h in self.hosts}
        self.threads: list[threading.Thread] = []
        self.exited = threading.Event()   # every container has exited
        self.cgroups = cgroups            # a parent cgroup per host, or None: sampled
        self.sources: dict[str, str] = {}   # host -> where its figures come from (started hosts only)

    # --- the whole job ------------------------------------------------------------------------
    def run(self) -> JobResult:
        created = time.time()
        started = ended = None
        status, reason = JobStatus.FAILED, ""
        self._check_inputs_supported()
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        host_outputs = self._prepare_outputs()
        refused = self._precheck()
        if refused:   # the service fails such a job before any container starts
            for host in self.hosts:
                self.results[host].log.write_text(refused + "\n")
            ended = time.time()
            notes = self._collect_outputs(host_outputs, JobStatus.FAILED)
            result = self._result(JobStatus.FAILED, refused, created, None, ended, notes)
            self.emit(JobEvent("status", "", JobStatus.FAILED))
            return result
        try:
            self._create_network()
            for host in self.hosts:
                self._stop_if_asked()
                self.containers[host] = self._create_container(host, host_outputs[host])
            interrupts.pause("start")
            self._stop_if_asked()
            self.emit(JobEvent("status", "", JobStatus.IN_PROGRESS))
            started = time.time()
            for host, container in self.containers.items():
                container.start()
                self._watch(host, container)
            interrupts.pause("run")
            timed_out = self._wait_all(started)
            ended = time.time()
            status, reason = self._verdict(timed_out)
        except docker_errors().APIError as exc:   # e.g. the entrypoint is not in the image
            ended, status, reason = time.time(), JobStatus.FAILED, f"ClientError: {exc.explanation or exc}"
            self._stop_all()
        except KeyboardInterrupt:   # reported as Stopped; the caller sees result.interrupted
            ended, status = time.time(), JobStatus.STOPPED
            reason = f"interrupted by the user ({interrupts.signal_name(interrupts.received())})"
            self._stop_all(announce=True)
        finally:
            for thread in self.threads:
                thread.join(timeout=5)
            self._remove_all()
            usage_notes = self._final_usage()   # after the containers are gone: removes the cgroups
            self.inputs.cleanup()               # overlay volumes, upper/work folders, copies
        notes = self._collect_outputs(host_outputs, status) + usage_notes + self.inputs.notes
        result = self._result(status, reason, created, started, ended, notes)
        result.bytes_copied = self.inputs.bytes_copied
        result.interrupted = reason.startswith("interrupted")
        self.emit(JobEvent("status", "", status))
        return result

    # --- what a kind says -------------------------------------------------------------------------
    def _cluster(self) -> tuple[int, str, bool]:
        """(InstanceCount, InstanceType, EnableNetworkIsolation)"""
        raise NotImplementedError

    def _precheck(self) -> str:
        """A FailureReason if the service would fail the job before its containers start."""
        return ""

    def _container_spec(self, host: str, outputs: dict[str, Path]) -> dict:
        """mounts, environment, entrypoint, command (and working_dir) of the host's container."""
        raise NotImplementedError

    def _verdict_failure(self, host: str, result: HostResult) -> str:
        return f"AlgorithmError: {host} exited with code {result.exit_code}; see {result.log}"

    def _check_inputs_supported(self):
        pass

    def _prepare_outputs(self) -> dict[str, dict[str, Path]]:
        raise NotImplementedError

    def _collect_outputs(self, host_outputs: dict[str, dict[str, Path]], status: str = "") -> list[str]:
        raise NotImplementedError

    def _result(self, status, reason, created, started, ended, notes) -> JobResult:
        raise NotImplementedError

    def _job_result(self, info, status, reason, created, started, ended, notes, **extra) -> JobResult:
        """The Describe*Job-shaped `info` (its secrets masked) and what every kind reports beside it."""
        info = self.secrets.request(info)
        if status == JobStatus.STOPPED and reason:
            notes = [reason, *notes]
        return JobResult(status=status, describe=info,
                         duration_seconds=round((ended or time.time()) - (started or created), 3),
                         hosts=list(self.results.values()), outputs=dict(self.job.local_outputs),
                         notes=self.secrets.data(notes), **extra)

    # --- containers -----------------------------------------------------------------------------
    def _environment(self, *layers: dict[str, str]) -> dict[str, str]:
        """The job's local_env (host package-index settings, wheelhouse), under `layers` (the
        request's Environment, then what the kind adds): the request wins over the host."""
        env = dict(getattr(self.job, "local_env", {}) or {})
        for layer in layers:
            env.update(layer)
        return env

    def _local_mounts(self) -> list:
        """job.local_mounts (container path -> host file or folder), bound read-only."""
        from docker.types import Mount
        return [Mount(target, str(Path(source)), type="bind", read_only=True)
                for target, source in (getattr(self.job, "local_mounts", {}) or {}).items()]

    def _create_network(self):
        if self.count == 1:
            return
        self.network = self.client.networks.create(
            f"cursus-{self.job.name}", driver="bridge", internal=self.isolated,
            labels=leftovers.labels(self.job.name), options=ISOLATED_BRIDGE if self.isolated else None)

    def _create_container(self, host: str, outputs: dict[str, Path]):
        memory = min(self.itype.memory_bytes, _host_memory())
        kwargs = dict(
            image=self.image, name=f"{self.job.name}-{host}"[:128], hostname=host,
            labels=self.labels, mem_limit=memory, memswap_limit=memory, detach=True,
            # the engine's init as PID 1 passes the stop signal on: a plain script that never set a
            # SIGTERM handler ends at once, instead of after the engine's grace period
            init=True,
            **self._container_spec(host, outputs),
        )
        if self.itype.vcpus < (os.cpu_count() or 1):   # a quota at the host's size only throttles
            kwargs["nano_cpus"] = int(self.itype.vcpus * 1e9)
        if self.network is not None:   # reachable as algo-N from the other hosts
            kwargs["network"] = self.network.name
            kwargs["networking_config"] = {
                self.network.name: self.client.api.create_endpoint_config(aliases=[host])}
        elif self.isolated:
            kwargs["network_mode"] = "none"
        if self.cgroups is not None:   # the engine puts the container's cgroup under this one
            kwargs["cgroup_parent"] = self.cgroups.parent(host)
        container = self.client.containers.create(**kwargs)
        interrupts.pause("create")
        return container

    def _stop_if_asked(self):
        """Between engine calls: a signal (recorded while shielded) or `cancel` stops the job here."""
        if self.cancel.is_set() or interrupts.requested():
            raise KeyboardInterrupt

    def _watch(self, host: str, container):
        targets = [self._stream_logs]
        if self.cgroups is not None and self.cgroups.exists(host):   # it has started: runc made it
            self.sources[host] = "cgroup"
        else:
            if self.cgroups is not None:   # not the engine's cgroup filesystem after all
                self.cgroups.unseen = True
            targets.append(self._sample_usage)
        for target in targets:
            thread = threading.Thread(target=target, args=(host, container), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _stream_logs(self, host: str, container):
        def write(raw: bytes):
            line = self.secrets.text(raw.decode(errors="replace"))
            log.write(line + "\n")
            self.emit(JobEvent("log", host, line))

        pending = b""
        with open(self.results[host].log, "w") as log:
            for chunk in container.logs(stream=True, follow=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    write(raw)
            if pending:
                write(pending)

    # --- peak memory and CPU time ---------------------------------------------------------------
    def _sample_usage(self, host: str, container):
        """Where no job cgroup is used: peak memory and CPU time sampled from the container's
        cgroup until it goes away, or from the engine's stats API (a sample a second) where the
        cgroup can't be read (Docker Desktop, a remote engine, the runner in a container)."""
        files = _cgroup_files(container.id, self.exited)
        if files is None:
            self.sources[host] = "stats API"
            return self._sample_stats_api(host, container)
        self.sources[host] = "container cgroup"
        while True:
            try:
                self._record(host, _read_int(files["memory"]), _read_cpu(files["cpu"]))
            except OSError:   # the container has gone, and its cgroup with it
                return
            if self.exited.wait(0.05):
                return

    def _sample_stats_api(self, host: str, container):
        try:
            for stats in container.stats(stream=True, decode=True):
                memory = stats.get("memory_stats") or {}
                cpu = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
                self._record(host, memory.get("max_usage") or memory.get("usage"), cpu and cpu / 1e9)
                if self.exited.is_set():
                    return
        except docker_errors().APIError:   # the container is gone
            return

    def _record(self, host: str, memory: int | None, cpu: float | None):
        result = self.results[host]
        if memory:
            result.peak_memory_bytes = max(result.peak_memory_bytes or 0, memory)
        if cpu:
            result.cpu_seconds = cpu

    def _final_usage(self) -> list[str]:
        """Every host's figures from its job cgroup (exact and final: every container has exited),
        then the job cgroups removed. Notes say which figures were only sampled, or are missing."""
        notes = []
        if self.cgroups is not None:
            for host, source in self.sources.items():
                usage = self.cgroups.usage(host) if source == "cgroup" else None
                if usage is not None:
                    self.results[host].peak_memory_bytes, self.results[host].cpu_seconds = usage
            notes += self.cgroups.remove()
        by_source: dict[str, list[str]] = {}
        for host, source in self.sources.items():
            by_source.setdefault(source, []).append(host)
        for source, hosts in by_source.items():
            if source != "cgroup":
                notes.append(f"{', '.join(hosts)}: peak memory and CPU time were sampled from "
                             f"{SAMPLED[source]}, so they are not exact")
        missing = [h for h in self.sources if self.results[h].peak_memory_bytes is None]
        if missing:
            notes.append(f"{', '.join(missing)}: peak memory and CPU time were not measured "
                         "(the container ended before the first sample, or its cgroup was gone)")
        return notes

    def _wait_all(self, started: float) -> bool:
        """Wait for every container; True if MaxRuntimeInSeconds ran out first (they are stopped)."""
        deadline = started + self.max_runtime
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
            self._stop_if_asked()   # a signal, or another thread's Ctrl-C (a pipeline run)
            if time.time() >= deadline:
                self._stop_all(announce=True)
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
            elif result.exit_code and (unstartable := _exec_failure(container, result.exit_code)):
                failures.append(f"ClientError: {host}: the entrypoint could not be started: {unstartable}")
            elif result.exit_code:
                failures.append(self._verdict_failure(host, result))
        if timed_out:
            return JobStatus.STOPPED, f"MaxRuntimeInSeconds ({self.max_runtime} s) exceeded: the job was stopped"
        return (JobStatus.FAILED, failures[0]) if failures else (JobStatus.COMPLETED, "")

    def _stop_all(self, announce: bool = False):
        """Stop every container at once, each with the engine's grace period; a second interrupt
        kills them without waiting for it."""
        if announce:
            self.emit(JobEvent("status", "", JobStatus.STOPPING))

        def stop(container):
            with already_gone():
                container.stop(timeout=STOP_GRACE_SECONDS)

        stoppers = [threading.Thread(target=stop, args=(c,), daemon=True) for c in self.containers.values()]
        for stopper in stoppers:
            stopper.start()
        interrupts.pause("stop")
        begun, told = time.time(), False
        while any(s.is_alive() for s in stoppers):
            if interrupts.hurried():
                for container in self.containers.values():
                    with already_gone():
                        container.kill()
                break
            if not told and time.time() - begun > 0.5:   # a script that takes its grace period
                count = len(self.containers)
                interrupts.say(f"stopping {count} container{'s' * (count > 1)} of {self.job.name}… "
                               "(interrupt again to kill at once)")
                told = True
            time.sleep(0.05)
        for stopper in stoppers:
            stopper.join()

    def _remove_all(self):
        """Everything this runner made for this job, found by its labels rather than by what
        `create` returned: nothing the engine made is missed, whatever cut an answer short."""
        api, runner = self.client.api, self.labels[leftovers.RUNNER_LABEL]
        mine = {"label": f"{LABEL}={self.job.name}"}
        for found in api.containers(all=True, filters=mine):
            if (found.get("Labels") or {}).get(leftovers.RUNNER_LABEL) == runner:
                with already_gone():
                    api.remove_container(found["Id"], force=True)
        for found in api.networks(filters=mine) if self.count > 1 else []:
            if (found.get("Labels") or {}).get(leftovers.RUNNER_LABEL) == runner:
                with already_gone():
                    api.remove_network(found["Id"])

    def _shard(self, name: str, source: Path, host: str) -> Path:
        """This host's share of the input's files: every N-th in key order, as hard links."""
        index = self.hosts.index(host)
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        shard = inside(self._host_dir(host) / "shards", name, field=f"inputs.{name}")
        if shard.exists():
            shutil.rmtree(shard)
        shard.mkdir(parents=True)
        base = source if source.is_dir() else source.parent
        for path in files[index::self.count]:
            link_file(path, shard / path.relative_to(base))
        return shard

    def _host_dir(self, host: str) -> Path:
        return inside(self.workdir / "hosts", host)


class _ProcessingRun(_JobRun):
    """SageMaker Processing's container contract."""

    def _cluster(self):
        request = self.job.request
        cluster = request["ProcessingResources"]["ClusterConfig"]
        return (cluster["InstanceCount"], cluster["InstanceType"],
                request["NetworkConfig"].get("EnableNetworkIsolation", False))

    def _container_spec(self, host, outputs):
        app = self.job.request["AppSpecification"]
        return dict(environment=self._environment(self.job.request.get("Environment", {})),
                    entrypoint=app.get("ContainerEntrypoint"),   # None keeps the image's ENTRYPOINT
                    command=app.get("ContainerArguments"),       # with an entrypoint, no image CMD
                    mounts=self._mounts(host, outputs))

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
        """Per host, OutputName -> the folder mounted for it (created now, owned by us). What the
        output folders hold already is recorded first: it is never handed over (a folder given
        with --output keeps its files and their owners' names)."""
        data_root = self.client.info().get("DockerRootDir", "")
        for kind, paths in (("input", self.job.local_inputs), ("output", self.job.local_outputs)):
            for name, path in paths.items():
                check_not_system(Path(path).resolve(), f"{kind} {name}", self.job.step_file,
                                 f"contract.{kind}s.{name}", f"--{kind} {name}=PATH outside {data_root}",
                                 folders=(data_root,))
        self.kept = ownership.existing(self.job.local_outputs.values())
        per_host = {}
        for host in self.hosts:
            per_host[host] = {}
            for name, final in self.job.local_outputs.items():
                folder = final if self.count == 1 else inside(self._host_dir(host) / "outputs", name,
                                                              field=f"contract.outputs.{name}")
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
            # writable, the upstream folder untouched; one object lands as LocalPath/<its name>
            mounts.append(self.inputs.mount(host, name, [source], container_path(s3["LocalPath"]),
                                            self._host_dir(host)))
        for out in request["ProcessingOutputConfig"]["Outputs"]:   # at the path validated: normalised
            mounts.append(Mount(container_path(out["S3Output"]["LocalPath"]), str(outputs[out["OutputName"]]),
                                type="bind", read_only=False))
        config_dir, message_dir = self._write_config(host)
        mounts.append(Mount("/opt/ml/config", str(config_dir), type="bind", read_only=True))
        mounts.append(Mount("/opt/ml/output", str(message_dir), type="bind", read_only=False))
        return mounts + self._local_mounts()

    def _write_config(self, host: str) -> tuple[Path, Path]:
        base = self._host_dir(host)
        config_dir, message_dir = base / "config", base / "ml-output"   # /opt/ml/config, /opt/ml/output
        config_dir.mkdir(parents=True, exist_ok=True)
        message_dir.mkdir(parents=True, exist_ok=True)
        request = self.secrets.request(self.job.request)   # what the container needs is in its environment
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

    # --- after the containers -------------------------------------------------------------------
    def _collect_outputs(self, host_outputs: dict[str, dict[str, Path]], status: str = "") -> list[str]:
        notes = []
        if self.count > 1:
            for name, final in self.job.local_outputs.items():
                notes += _merge([(h, host_outputs[h][name]) for h in self.hosts], final)
        for host in self.hosts:   # hard links to the input's own files: never to be handed over
            shutil.rmtree(self._host_dir(host) / "shards", ignore_errors=True)
        owned = [*self.job.local_outputs.values(), self.workdir / "hosts"]
        give_back(self.client, self.image, owned, keep=getattr(self, "kept", frozenset()))
        return mounted_notes(self.job.notes) + notes

    def _exit_message(self) -> str:
        """The first host's message. Every host's message file is masked in place: the script
        writes it through the /opt/ml/output mount, so it can only be masked once the job is over."""
        messages = [_mask_file(self._host_dir(host) / "ml-output" / "message", self.secrets)
                    for host in self.hosts]
        return next((m.encode()[:EXIT_MESSAGE_BYTES].decode(errors="ignore") for m in messages if m is not None), "")

    def _result(self, status, reason, created, started, ended, notes) -> JobResult:
        info = describe(self.job, status=status, created=created, started=started, ended=ended,
                        exit_message=self._exit_message(),
                        failure_reason=reason if status == JobStatus.FAILED else "")
        return self._job_result(info, status, reason, created, started, ended, notes)


class _TrainingRun(_JobRun):
    """SageMaker Training's container contract, script mode, with the sagemaker-training toolkit's
    part done here (the stand-in images have no `train`): per host

    - each channel at /opt/ml/input/data/<channel> (writable, copy-on-write);
    - /opt/ml/input/config/{hyperparameters,inputdataconfig,resourceconfig}.json;
    - the code (the SDK's source_dir, with inputs placed inside it) at /opt/ml/code, writable, also
      the working directory; /opt/ml/model and /opt/ml/output (with data/) empty and writable;
    - the request's Environment plus the toolkit's SM_* variables;
    - `python3 <entry point> --hp value ...` (the toolkit's rules for arguments and entry types).
    Afterwards algo-1's /opt/ml/model is packed into <model output>/model.tar.gz and its
    /opt/ml/output/data into <data output>/output.tar.gz; /opt/ml/output/failure becomes the
    FailureReason (AlgorithmError: ...)."""

    def _cluster(self):
        request = self.job.request
        resources = request["ResourceConfig"]
        return (resources["InstanceCount"], resources["InstanceType"],
                bool(request.get("EnableNetworkIsolation", False)))

    @property
    def hps_args(self) -> list[str]:
        return training.to_cmd_args(training.split_hyperparameters(self.job.request)[0])

    def _command(self) -> list[str]:
        return training.entry_command(self.job.entry_point, self.job.local_inputs[training.CODE_INPUT],
                                      self.hps_args)

    def _check_inputs_supported(self):
        for channel in self.job.request.get("InputDataConfig", []):
            name = channel["ChannelName"]
            owner = self.job.channels[name][0]
            if owner not in self.job.local_inputs:
                raise RuntimeError(f"internal error: channel {name} ({owner}) has no local copy")
            mode = channel.get("InputMode") or self.job.request["AlgorithmSpecification"]["TrainingInputMode"]
            if mode != "File" or channel["DataSource"].get("S3DataSource", {}).get("S3DataType") != "S3Prefix":
                raise UserError(f"channel {name}: only File mode with S3Prefix data runs locally",
                                field=f"inputs.{owner}", fix="use TrainingInputMode File with S3DataType S3Prefix")

    def _precheck(self) -> str:
        """A channel with no objects fails the job while downloading, as on the service."""
        for channel in self.job.request.get("InputDataConfig", []):
            source = self.job.channel_source(channel["ChannelName"])
            if not (source.is_file() or (source.is_dir() and any(p.is_file() for p in source.rglob("*")))):
                uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
                return (f'ClientError: Data download failed:No S3 objects found under S3 URL "{uri}" given '
                        f"in input data source (channel {channel['ChannelName']}, local folder {source}). "
                        "Please ensure that objects exist under that S3 prefix.")
        return ""

    def _prepare_outputs(self):
        """Per host its /opt/ml/model and /opt/ml/output folders, created empty. What the output
        folders hold already is never handed over (see _ProcessingRun._prepare_outputs)."""
        self.kept = ownership.existing(self.job.local_outputs.values())
        per_host = {}
        for host in self.hosts:
            base = self._host_dir(host)
            for sub in ("model", "output"):
                if (base / sub).exists():
                    remove_as_root(self.client, self.image, [base / sub])
            (base / "model").mkdir(parents=True)
            (base / "output" / "data").mkdir(parents=True)
            per_host[host] = {"model": base / "model", "output": base / "output"}
        for folder in self.job.local_outputs.values():
            folder.mkdir(parents=True, exist_ok=True)
        return per_host

    def _container_spec(self, host, outputs):
        from docker.types import Mount
        job, base = self.job, self._host_dir(host)
        mounts = []
        for channel in job.request.get("InputDataConfig", []):
            name = channel["ChannelName"]
            source = job.channel_source(name)
            if channel["DataSource"]["S3DataSource"].get("S3DataDistributionType") == "ShardedByS3Key" \
                    and self.count > 1:
                source = self._shard(name, source, host)
            mounts.append(self.inputs.mount(host, name, [source], f"{training.DATA_ROOT}/{name}", base))
        mounts.append(self.inputs.mount(host, training.CODE_INPUT, self._code_layers(host),
                                        training.CODE_DIR, base, is_code=True))
        config = base / "input-config"
        config.mkdir(parents=True, exist_ok=True)
        hps = {k: v for k, v in job.request.get("HyperParameters", {}).items()}
        (config / "hyperparameters.json").write_text(json.dumps(hps))
        (config / "inputdataconfig.json").write_text(json.dumps(training.input_data_config(job.request)))
        (config / "resourceconfig.json").write_text(json.dumps(
            training.resource_config(host, self.hosts, self.itype.name)))
        mounts.append(Mount("/opt/ml/input/config", str(config), type="bind", read_only=False))
        mounts.append(Mount(training.MODEL_DIR, str(outputs["model"]), type="bind", read_only=False))
        mounts.append(Mount("/opt/ml/output", str(outputs["output"]), type="bind", read_only=False))
        environment = self._environment(
            job.request.get("Environment", {}),
            training.sm_environment(job, host, self.hosts, self.itype.name,
                                    num_cpus=min(self.itype.vcpus, os.cpu_count() or 1)))
        return dict(environment=environment, entrypoint=self._command(), command=[],
                    mounts=mounts + self._local_mounts(), working_dir=training.CODE_DIR)

    def _code_layers(self, host: str) -> list[Path]:
        """The code folder, under a folder holding the inputs placed inside it (hard links)."""
        layers = [self.job.local_inputs[training.CODE_INPUT]]
        if not self.job.code_files:
            return layers
        placed = self._host_dir(host) / "placed-code"
        if placed.exists():
            shutil.rmtree(placed)
        placed.mkdir(parents=True)
        for rel, name in self.job.code_files.items():
            source = self.job.local_inputs.get(name)
            if source is None:
                continue
            if source.is_dir():
                # a folder bound to a file path (an upstream output folder): the file of that name in it
                inner = source / Path(rel).name
                if Path(rel).suffix and inner.is_file():
                    self.inputs.bytes_copied += link_file(inner, placed / rel)
                else:
                    self.inputs.bytes_copied += link_tree(source, placed / rel)
            else:
                self.inputs.bytes_copied += link_file(source, placed / rel)
        return [placed, *layers]

    def _verdict_failure(self, host, result):
        """The failure file (the script's, or the toolkit's ExecuteUserScriptError) as the service
        reports it: "AlgorithmError: <first 1024 bytes>, exit code: <the toolkit's exit code>"."""
        failure = self._host_dir(host) / "output" / "failure"
        if failure.is_file():
            with open(failure, "rb") as handle:
                text = handle.read(EXIT_MESSAGE_BYTES).decode(errors="replace")
        else:   # the toolkit writes it when the script exits non-zero (and none exists)
            extra = "OutOfMemory: Process killed by SIGKILL (signal 9)" if result.exit_code == 137 else None
            text = training.failure_file_text(self._command(), result.exit_code, extra)
            with contextlib.suppress(OSError):
                failure.write_text(self.secrets.text(text))
        # the toolkit exits 1 (DEFAULT_FAILURE_CODE) for a failed script: the service reports that
        return self.secrets.text(f"AlgorithmError: {text}, exit code: 1")[:1024]

    def _collect_outputs(self, host_outputs, status=""):
        for host in self.hosts:   # hard links to the inputs' own files: never to be handed over
            for scratch in ("placed-code", "shards"):
                shutil.rmtree(self._host_dir(host) / scratch, ignore_errors=True)
        # first: a plain user can read what root's containers wrote only once it is handed over
        give_back(self.client, self.image, [*self.job.local_outputs.values(), self.workdir / "hosts"],
                  keep=getattr(self, "kept", frozenset()))
        notes, self.artifacts = [], {}
        first = self.hosts[0]
        for other in self.hosts[1:]:
            if any(host_outputs[other]["model"].iterdir()):
                notes.append(f"{other} wrote files to /opt/ml/model: only {first}'s are packed into "
                             "model.tar.gz")
        pack_model = status in (JobStatus.COMPLETED, JobStatus.STOPPED)
        if self.job.model_output and pack_model:
            target = self.job.local_outputs[self.job.model_output] / "model.tar.gz"
            pack_tar(host_outputs[first]["model"], target)
            self.artifacts["model.tar.gz"] = target
        if self.job.data_output and status:
            target = self.job.local_outputs[self.job.data_output] / "output.tar.gz"
            pack_tar(host_outputs[first]["output"] / "data", target)
            self.artifacts["output.tar.gz"] = target
        ownership.hand_over(list(self.artifacts.values()))   # packed by root, under sudo
        return notes

    def _result(self, status, reason, created, started, ended, notes) -> JobResult:
        for host in self.hosts:   # the containers needed them as they were; they are gone now
            _mask_file(self._host_dir(host) / "output" / "failure", self.secrets)
            hyperparameters = self._host_dir(host) / "input-config" / "hyperparameters.json"
            if hyperparameters.is_file():
                hyperparameters.write_text(json.dumps(self.secrets.env(json.loads(hyperparameters.read_text()))))
        status = JobStatus(status)
        if status == JobStatus.STOPPED:
            secondary = "MaxRuntimeExceeded" if reason.startswith("MaxRuntime") else "Stopped"
        else:
            secondary = str(status)
        info = training.describe(self.job, status=status, secondary=secondary, created=created,
                                 started=started, ended=ended,
                                 failure_reason=reason if status == JobStatus.FAILED else "")
        return self._job_result(info, status, reason, created, started, ended, notes,
                                artifacts=dict(getattr(self, "artifacts", {})))


def _mask_file(path: Path, secrets: Secrets) -> str | None:
    """The text of a file a container wrote, rewritten with its secrets masked (None: no file)."""
    if not path.is_file():
        return None
    text = path.read_bytes().decode(errors="replace")
    masked = secrets.text(text)
    if masked != text:
        path.write_text(masked)
    return masked


def _exec_failure(container, exit_code: int) -> str:
    """The init's word that it could not exec the entrypoint (a missing or non-executable file):
    on the service such a container never starts, a ClientError, not the script's failure."""
    if exit_code not in (126, 127):
        return ""
    with already_gone():
        first = container.logs(tail=2).decode(errors="replace").strip().splitlines()
        return next((line for line in first if line.startswith("[FATAL tini") and " exec " in line), "")
    return ""


def pack_tar(folder: Path, target: Path) -> None:
    """`folder`'s contents as a gzipped tar at `target`, entries relative to it (no ./ prefix), in
    name order, as SageMaker uploads /opt/ml/model (model.tar.gz) and /opt/ml/output/data."""
    import tarfile
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    tmp.replace(target)


def _merge(sources: list[tuple[str, Path]], final: Path) -> list[str]:
    """Hard-link every host's output files into `final`; a clash keeps both (suffix .algo-N).
    One note per host that clashed, however many files did: a note per file would flood the
    summary and result.json when every host writes the same names."""
    notes = []
    final.mkdir(parents=True, exist_ok=True)
    for host, folder in sources:
        clashes = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            target = final / path.relative_to(folder)
            if target.exists():
                clashes.append(target)
                target = target.with_name(f"{target.stem}.{host}{target.suffix}")
            link_file(path, target)
        if clashes:
            shown = ", ".join(str(c.relative_to(final)) for c in clashes[:5])
            notes.append(f"{host} also wrote {len(clashes)} file(s) another host wrote: its copies are kept "
                         f"beside them as <name>.{host}.<ext> ({'first 5' if len(clashes) > 5 else 'all'}: "
                         f"{shown})")
    return notes


def give_back(client, image: str, folders: list[Path], keep: ownership.Inodes = frozenset()):
    """Make every file the containers wrote (as root) belong to the invoking user: each entry the
    job made, itself (a symlink, not its target); never one `keep` lists (there before the job)."""
    if os.geteuid() == 0:
        return ownership.hand_over(folders, keep)
    folders = [Path(f) for f in folders if Path(f).is_dir() and not Path(f).is_symlink()]
    todo = ownership.foreign(folders, keep)
    if not todo:
        return
    uid, gid = ownership.owner()
    import tempfile

    from docker.types import Mount
    # not root here: a short container does it, entry by entry
    mounts = [Mount(f"/give-back/{i}", str(f), type="bind") for i, f in enumerate(folders)]
    inner = [next(f"/give-back/{i}/{p.relative_to(f)}" for i, f in enumerate(folders) if p.is_relative_to(f))
             for p in todo]
    with tempfile.TemporaryDirectory(prefix="cursus-give-back-") as scratch:
        listing = Path(scratch) / "entries"
        listing.write_bytes(b"".join(os.fsencode(p) + b"\0" for p in inner))
        mounts.append(Mount("/give-back-entries", str(listing), type="bind", read_only=True))
        chown = f"xargs -0 -r chown -h {uid}:{gid} < /give-back-entries"
        client.containers.run(image, entrypoint=["sh", "-c", chown],
                              command=[], mounts=mounts, network_mode="none", remove=True, user="0")


def _host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
