"""The same jobs on SageMaker itself: the request the Docker backend runs, submitted to
CreateProcessingJob / CreateTrainingJob.

Only three things of `job.request` change, each named in the result's notes and in
`<step folder>/sagemaker.json`: the placeholder S3 URIs (`s3://cursus-local/<job>/...`) become real
ones in `--bucket`, the RoleArn becomes `--role`, and our stand-in image becomes the real framework
image of the region (jobs/sagemaker_images.py). A URI the user gave (an `s3://` input or output) is
left as it is.

Local inputs and code go to `s3://<bucket>/cursus-local/<content hash>/...`: the key comes from the
content, so what is already there is not sent again (a second run uploads 0 bytes). A job's outputs
go to `s3://<bucket>/cursus-local/outputs/<job name>/<output>` and stay there.

While the job runs: Describe*Job polled with backoff; the CloudWatch streams of the job
(`/aws/sagemaker/ProcessingJobs`, `/aws/sagemaker/TrainingJobs`, `<job>/algo-N-<time>`) followed
into `logs/algo-N.log` and the same log events as local runs; `cancel`, Ctrl-C or SIGTERM call
Stop*Job and wait for Stopped. Credentials come from boto3's chain only and are never written.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .. import interrupts, results
from ..errors import UserError
from ..jobs.base import Job
from ..jobs.processing import PLACEHOLDER_BUCKET, stage_source
from ..jobs.sagemaker_images import remote_image
from ..redact import Secrets
from ..status import JobEvent, JobStatus
from .base import EventHandler, HostResult, JobResult

PREFIX = "cursus-local"
LOG_GROUPS = {"Processing": "/aws/sagemaker/ProcessingJobs", "Training": "/aws/sagemaker/TrainingJobs"}
TERMINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/\S+$")
UPLOAD_THREADS = 16
MULTIPART_BYTES = 8 * 2**20    # boto3's multipart threshold: smaller files go in one PutObject
CREDENTIALS_FIX = ("log in as you would for the AWS CLI: `aws configure`, `aws sso login` with AWS_PROFILE, "
                   "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment (boto3's chain)")


@dataclass(frozen=True)
class Backoff:
    """Describe*Job every `first` seconds at first, `factor` times longer each time, at most `most`."""
    first: float = 1.0
    factor: float = 1.5
    most: float = 30.0


@dataclass
class Uploads:
    """What one run sent to S3 (and what it found there already)."""
    files: int = 0
    bytes: int = 0
    skipped_files: int = 0
    skipped_bytes: int = 0
    seconds: float = 0.0

    def add(self, other: "Uploads") -> None:
        for name in ("files", "bytes", "skipped_files", "skipped_bytes", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Remote:
    """The request as submitted, and every change made to the local one."""
    request: dict
    replacements: list[dict] = field(default_factory=list)

    def replace(self, where: str, old: str, new: str) -> str:
        self.replacements.append({"field": where, "local": old, "sagemaker": new})
        return new


class SageMakerBackend:
    remote = True   # the service reads s3:// inputs and writes s3:// outputs: nothing staged here

    def __init__(self, role: str | None, bucket: str | None, region: str | None = None, *,
                 session=None, backoff: Backoff = Backoff()):
        import boto3
        self.role, self.bucket, self.backoff = role, check_bucket(bucket), backoff
        check_role(role)
        self.session = session or boto3.session.Session()
        # botocore reads AWS_DEFAULT_REGION and the profile; AWS_REGION is what the SDKs and this tool also honour
        self.region = region or self.session.region_name or os.environ.get("AWS_REGION")
        if not self.region:
            raise UserError("no AWS region for the SageMaker jobs", field="--region",
                            fix="pass --region (e.g. us-east-1) or set AWS_REGION")
        if self.session.get_credentials() is None:   # only asked whether there are any: never kept
            raise UserError("boto3 finds no AWS credentials (profile, environment, SSO, instance role)",
                            field="AWS credentials", fix=CREDENTIALS_FIX)
        self.uploads = Uploads()       # every run of this backend, added up
        self.output_keys: dict[str, str] = {}   # job name -> the key its outputs are stored under
        self._lock = threading.Lock()
        self._clients: dict[str, object] = {}

    def client(self, service: str):
        from botocore.config import Config
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service, region_name=self.region,
                    config=Config(retries={"mode": "standard"}, max_pool_connections=UPLOAD_THREADS))
            return self._clients[service]

    def keyed(self, job: Job, key: str) -> None:
        """Store the job's outputs under `key` (a DAG's cache key) instead of its name: a later run
        with the same key finds them where its children look for them."""
        with self._lock:
            self.output_keys[job.name] = key

    def output_uri(self, job: Job, output: str) -> str:
        """Where the job's `output` is on S3 once it has run (what a child's input is bound to)."""
        if job.kind == "Training":   # the service puts it under <S3OutputPath>/<job>/output/
            base = f"s3://{self.bucket}/{PREFIX}/outputs/{job.name}/output"
            return f"{base}/model.tar.gz" if output == job.model_output else f"{base}/output.tar.gz"
        given = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in job.request["ProcessingOutputConfig"]["Outputs"]}
        if not self.placeholder(job, given[output]):
            return given[output]
        with self._lock:
            where = self.output_keys.get(job.name, job.name)
        return f"s3://{self.bucket}/{PREFIX}/outputs/{where}/{output}"

    def image_id(self, uri: str) -> str:
        """The image SageMaker runs for `uri` (no engine is asked: the service pulls it)."""
        return remote_image(uri, self.region)

    def run(self, job: Job, workdir: Path, on_event: EventHandler | None = None,
            cancel: threading.Event | None = None) -> JobResult:
        if job.kind not in LOG_GROUPS:
            raise UserError(f"a {job.kind} job has no SageMaker backend here", field="--backend",
                            fix="run this step with --backend docker")
        emit, cancel = on_event or (lambda event: None), cancel or threading.Event()
        workdir = results.make_dir(Path(workdir).resolve())
        secrets = Secrets.of_job(job)
        image = self.image_id(job.image)              # a region without the image fails here, before uploads
        remote, uploads = self.remote_request(job, image)
        self.uploads.add(uploads)
        notes = [f"sagemaker: {r['field']}: {r['local']} -> {r['sagemaker']}" for r in remote.replacements]
        notes.append(f"sagemaker: uploaded {uploads.files} file(s), {uploads.bytes} bytes; "
                     f"{uploads.skipped_files} file(s), {uploads.skipped_bytes} bytes already in S3")
        results.write_json(workdir / "sagemaker.json", secrets.data({
            "region": self.region, "replacements": remote.replacements,
            "uploads": uploads.__dict__, "request": secrets.request(remote.request)}))
        created = time.time()
        self.submit(job.kind, remote.request)
        follower = LogFollower(self.client("logs"), LOG_GROUPS[job.kind], job.name, workdir / "logs",
                               secrets, emit)
        interrupted, info = False, {}
        try:
            with interrupts.shielded():   # a signal is acted upon between two polls
                info, interrupted = self._watch(job, follower, emit, cancel)
        except KeyboardInterrupt:         # Python's own Ctrl-C (a library caller, no handlers)
            interrupted = True
            info, _ = self._watch(job, follower, emit, cancel, stopping=True)
        notes += follower.notes()
        return self._result(job, info, created, follower, secrets, notes, interrupted)

    # --- uploads and the request ------------------------------------------------------------------
    def remote_request(self, job: Job, image: str) -> tuple[Remote, Uploads]:
        """The request to submit, with real URIs, role and image, after uploading what it names."""
        remote, uploads = Remote(copy.deepcopy(job.request)), Uploads()
        request = remote.request
        started = time.perf_counter()
        uploaded: dict[Path, str] = {}

        def upload(path: Path) -> str:
            if path not in uploaded:
                uploaded[path] = self.upload(path, uploads)
            return uploaded[path]

        def local(name: str, where: str) -> Path:
            path = job.local_inputs.get(name)
            if path is None:
                raise UserError(f"input {name} has no local file or folder to upload", field=where,
                                fix=f"bind input {name} to a file, a folder or an s3:// URI")
            return Path(path)

        outputs = f"s3://{self.bucket}/{PREFIX}/outputs"
        if job.kind == "Processing":
            for item in request["ProcessingInputs"]:
                name, uri = item["InputName"], item["S3Input"]["S3Uri"]
                if self.placeholder(job, uri):
                    where = f"ProcessingInputs[{name}].S3Input.S3Uri"
                    item["S3Input"]["S3Uri"] = remote.replace(where, uri, upload(local(name, where)))
            for item in request["ProcessingOutputConfig"]["Outputs"]:
                name, uri = item["OutputName"], item["S3Output"]["S3Uri"]
                if self.placeholder(job, uri):
                    item["S3Output"]["S3Uri"] = remote.replace(
                        f"ProcessingOutputConfig.Outputs[{name}].S3Output.S3Uri", uri, self.output_uri(job, name))
            app = request["AppSpecification"]
            app["ImageUri"] = remote.replace("AppSpecification.ImageUri", app["ImageUri"], image)
        else:
            for channel in request.get("InputDataConfig", []):
                source = channel["DataSource"]["S3DataSource"]
                if self.placeholder(job, source["S3Uri"]):
                    input_name, sub = job.channels[channel["ChannelName"]]
                    where = f"InputDataConfig[{channel['ChannelName']}].DataSource.S3DataSource.S3Uri"
                    base = upload(local(input_name, where))
                    source["S3Uri"] = remote.replace(where, source["S3Uri"], f"{base}/{sub}" if sub else base)
            hyper = request["HyperParameters"]
            submit = json.loads(hyper["sagemaker_submit_directory"])
            if self.placeholder(job, submit):
                code = {rel: Path(job.local_inputs[name]) for rel, name in job.code_files.items()
                        if job.local_inputs.get(name) is not None}
                tarball, _ = stage_source(local("code", "local.code"), job.entry_point, True, code)
                hyper["sagemaker_submit_directory"] = json.dumps(remote.replace(
                    "HyperParameters.sagemaker_submit_directory", submit, upload(tarball)))
            if json.loads(hyper.get("sagemaker_region", "null")) not in (None, self.region):
                # built for the local region (AWS_REGION); the script's toolkit reads its code there
                hyper["sagemaker_region"] = json.dumps(remote.replace(
                    "HyperParameters.sagemaker_region", json.loads(hyper["sagemaker_region"]), self.region))
            config = request["OutputDataConfig"]
            if self.placeholder(job, config["S3OutputPath"]):
                config["S3OutputPath"] = remote.replace("OutputDataConfig.S3OutputPath",
                                                        config["S3OutputPath"], outputs)
            algorithm = request["AlgorithmSpecification"]
            algorithm["TrainingImage"] = remote.replace("AlgorithmSpecification.TrainingImage",
                                                        algorithm["TrainingImage"], image)
        request["RoleArn"] = remote.replace("RoleArn", request["RoleArn"], self.role)
        uploads.seconds = round(time.perf_counter() - started, 3)
        return remote, uploads

    @staticmethod
    def placeholder(job: Job, uri: str) -> bool:
        """A URI the job builder made up for a local file or folder (the user's own are real)."""
        base = f"s3://{PLACEHOLDER_BUCKET}"
        return uri == base or uri.startswith(f"{base}/{job.name}/")

    def upload(self, path: Path, uploads: Uploads) -> str:
        """`path` (a file or a folder) under a key made of its content hash; what is there already
        is not sent. Returns the S3 URI that names it (a file: the object; a folder: the prefix)."""
        if not path.exists():
            raise UserError(f"{path} does not exist", file=str(path), fix="bind the input to a file or folder that exists")
        prefix, files, base = content_key(path)
        s3 = self.client("s3")
        present = self._present(s3, prefix)
        missing = [p for p in files if f"{prefix}/{p.relative_to(base).as_posix()}" not in present]
        sent: list[Path] = []

        def put(p: Path) -> None:
            key = f"{prefix}/{p.relative_to(base).as_posix()}"
            with p.open("rb") as body:
                if p.stat().st_size < MULTIPART_BYTES:   # one request: the transfer manager costs more
                    s3.put_object(Bucket=self.bucket, Key=key, Body=body)
                else:
                    s3.upload_fileobj(body, self.bucket, key)
            sent.append(p)

        try:
            with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
                list(pool.map(put, missing))
        except Exception as exc:
            raise aws_error(exc, f"s3://{self.bucket}/{prefix}",
                            f"{len(sent)} of {len(missing)} file(s) were uploaded before it failed "
                            "(kept: the next run sends only the rest)") from None
        sizes = {p: p.stat().st_size for p in files}
        uploads.files += len(missing)
        uploads.bytes += sum(sizes[p] for p in missing)
        uploads.skipped_files += len(files) - len(missing)
        uploads.skipped_bytes += sum(sizes.values()) - sum(sizes[p] for p in missing)
        uri = f"s3://{self.bucket}/{prefix}"
        return f"{uri}/{path.name}" if path.is_file() else uri

    def _present(self, s3, prefix: str) -> set[str]:
        try:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix + "/")
            return {o["Key"] for page in pages for o in page.get("Contents", ())}
        except Exception as exc:
            raise aws_error(exc, f"s3://{self.bucket}/{prefix}", "nothing was uploaded") from None

    # --- the job on the service -------------------------------------------------------------------
    def submit(self, kind: str, request: dict) -> None:
        sagemaker = self.client("sagemaker")
        create = sagemaker.create_processing_job if kind == "Processing" else sagemaker.create_training_job
        try:
            create(**request)
        except Exception as exc:
            raise aws_error(exc, f"Create{kind}Job {request[f'{kind}JobName']}",
                            "the inputs are uploaded (kept: the next run sends nothing again)") from None

    def describe(self, job: Job) -> dict:
        sagemaker = self.client("sagemaker")
        if job.kind == "Processing":
            info = sagemaker.describe_processing_job(ProcessingJobName=job.name)
        else:
            info = sagemaker.describe_training_job(TrainingJobName=job.name)
        info.pop("ResponseMetadata", None)
        return info

    def stop(self, job: Job) -> None:
        """Stop*Job; a job that has ended meanwhile is left as it is."""
        from botocore.exceptions import ClientError
        sagemaker = self.client("sagemaker")
        try:
            if job.kind == "Processing":
                sagemaker.stop_processing_job(ProcessingJobName=job.name)
            else:
                sagemaker.stop_training_job(TrainingJobName=job.name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise

    def _watch(self, job: Job, follower: "LogFollower", emit: EventHandler, cancel: threading.Event,
               stopping: bool = False) -> tuple[dict, bool]:
        """Poll until the job ends; a stop request on the way calls Stop*Job and waits for Stopped.
        Returns (the last Describe*Job, whether it was interrupted)."""
        delay, last, interrupted = self.backoff.first, None, stopping
        if stopping:
            self.stop(job)
            emit(JobEvent("status", "", JobStatus.STOPPING))
        while True:
            if not interrupted and (cancel.is_set() or interrupts.requested()):
                interrupted = True
                interrupts.say(f"stopping SageMaker job {job.name} (Stop{job.kind}Job), waiting for Stopped")
                self.stop(job)
                emit(JobEvent("status", "", JobStatus.STOPPING))
            info = self.describe(job)
            status = info[f"{job.kind}JobStatus"]
            if status != last:
                emit(JobEvent("status", "", JobStatus(status)))
                last = status
            follower.poll()
            if status in TERMINAL or (interrupted and interrupts.hurried()):
                return info, interrupted
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline and (interrupted or not (cancel.is_set() or interrupts.requested())):
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            delay = min(delay * self.backoff.factor, self.backoff.most)

    def _result(self, job: Job, info: dict, created: float, follower: "LogFollower", secrets: Secrets,
                notes: list[str], interrupted: bool) -> JobResult:
        status = JobStatus(info[f"{job.kind}JobStatus"])
        if status not in TERMINAL:   # a second Ctrl-C: we stopped waiting, the service goes on stopping it
            notes.append(f"{job.name} was still {status} on SageMaker when we stopped waiting for it")
            status = JobStatus.STOPPED
        start, end = info.get(f"{job.kind}StartTime"), info.get(f"{job.kind}EndTime")
        duration = (end - start).total_seconds() if isinstance(start, datetime) and isinstance(end, datetime) \
            else time.time() - created
        if interrupted and status != JobStatus.STOPPED:
            notes.append(f"interrupted, but the job ended {status} before it stopped")
        return JobResult(status=status, describe=secrets.request(results.jsonable(info)),
                         duration_seconds=round(duration, 3), hosts=follower.hosts(job),
                         notes=secrets.data(notes), interrupted=interrupted)


class LogFollower:
    """The job's CloudWatch streams (`<job>/algo-N-<epoch>`) into logs/algo-N.log and log events."""

    def __init__(self, logs, group: str, job_name: str, folder: Path, secrets: Secrets, emit: EventHandler):
        self.logs, self.group, self.job_name, self.folder = logs, group, job_name, folder
        self.secrets, self.emit = secrets, emit
        self.tokens: dict[str, str | None] = {}     # stream -> next forward token
        self.problem = ""
        folder.mkdir(parents=True, exist_ok=True)

    def poll(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            pages = self.logs.get_paginator("describe_log_streams").paginate(
                logGroupName=self.group, logStreamNamePrefix=f"{self.job_name}/")
            for stream in (s["logStreamName"] for page in pages for s in page.get("logStreams", ())):
                self.tokens.setdefault(stream, None)
            for stream in self.tokens:
                self._read(stream)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code != "ResourceNotFoundException":   # no group yet: the job has logged nothing
                self.problem = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"
        except BotoCoreError as exc:
            self.problem = str(exc)

    def _read(self, stream: str) -> None:
        host = host_of(stream, self.job_name)
        with open(self.folder / f"{host}.log", "a") as log:
            while True:
                kwargs = {"nextToken": self.tokens[stream]} if self.tokens[stream] else {"startFromHead": True}
                page = self.logs.get_log_events(logGroupName=self.group, logStreamName=stream, **kwargs)
                for event in page.get("events", ()):
                    for line in event["message"].splitlines() or [""]:
                        line = self.secrets.text(line)
                        log.write(line + "\n")
                        self.emit(JobEvent("log", host, line))
                token = page.get("nextForwardToken")
                if not page.get("events") or token == self.tokens[stream]:
                    self.tokens[stream] = token or self.tokens[stream]
                    return
                self.tokens[stream] = token

    def hosts(self, job: Job) -> list[HostResult]:
        seen = sorted({host_of(s, self.job_name) for s in self.tokens})
        request = job.request
        count = (request.get("ProcessingResources", {}).get("ClusterConfig")
                 or request.get("ResourceConfig") or {}).get("InstanceCount", 1)
        names = seen or [f"algo-{i}" for i in range(1, count + 1)]
        for name in names:
            (self.folder / f"{name}.log").touch()
        return [HostResult(name, log=self.folder / f"{name}.log") for name in names]

    def notes(self) -> list[str]:
        if self.problem:
            return [f"CloudWatch logs of {self.job_name} not read ({self.problem}); "
                    f"see {self.group} in the CloudWatch console"]
        if not self.tokens:
            return [f"no CloudWatch log streams for {self.job_name} in {self.group} (the service "
                    "wrote none, or this endpoint keeps none): the logs/ files are empty"]
        return []


def host_of(stream: str, job_name: str) -> str:
    rest = stream[len(job_name) + 1:]
    match = re.match(r"algo-\d+", rest)
    return match[0] if match else re.sub(r"[^A-Za-z0-9._-]+", "_", rest) or "algo-1"


def content_key(path: Path) -> tuple[str, list[Path], Path]:
    """The key prefix `cursus-local/<tree hash>` a file or folder is uploaded under, its files, and
    the folder their keys are relative to. The tree hash is over each file's relative path and its
    sha256, in order: the same content gets the same key, so it is uploaded once (export-pipeline
    names the same keys without uploading)."""
    files, base = ([path], path.parent) if path.is_file() else \
        (sorted(p for p in path.rglob("*") if p.is_file()), path)
    tree = hashlib.sha256()
    for file in files:
        tree.update(f"{file.relative_to(base).as_posix()}\0{file_digest(file)}\n".encode())
    return f"{PREFIX}/{tree.hexdigest()[:32]}", files, base


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_role(role: str | None) -> None:
    if not role:
        raise UserError("no IAM role for the SageMaker jobs", field="--role",
                        fix="pass --role arn:aws:iam::<account>:role/<name>: the execution role SageMaker "
                            "assumes (it must read and write the bucket)")
    if not ROLE_ARN.match(role):
        raise UserError(f"--role {role!r} is not an IAM role ARN", field="--role",
                        fix="pass the role's ARN: arn:aws:iam::<12-digit account>:role/<name>")


def check_bucket(bucket: str | None) -> str:
    if not bucket:
        raise UserError("no S3 bucket for the SageMaker jobs' code, inputs and outputs", field="--bucket",
                        fix="pass --bucket NAME (a bucket in the job's region that the role can read and write)")
    name = bucket.removeprefix("s3://").strip("/")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name):
        raise UserError(f"--bucket {bucket!r} is not an S3 bucket name", field="--bucket",
                        fix="pass the bucket's name alone, e.g. --bucket my-bucket")
    return name


def aws_error(exc: Exception, what: str, state: str) -> Exception:
    """A botocore error as a UserError naming what failed, what was left behind and the fix."""
    from botocore import exceptions as bx
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError, bx.CredentialRetrievalError)):
        return UserError(f"no usable AWS credentials ({exc}); {state}", file=what, fix=CREDENTIALS_FIX)
    if not isinstance(exc, bx.ClientError):
        if isinstance(exc, bx.BotoCoreError):
            return UserError(f"AWS call failed: {exc}; {state}", file=what,
                             fix="check the network, AWS_ENDPOINT_URL and the region")
        return exc
    error = exc.response.get("Error", {})
    code, status = str(error.get("Code", "")), exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    said = f"{exc.operation_name} answered {code} (HTTP {status}): {error.get('Message', '')}; {state}"
    if code == "ResourceLimitExceeded" or "quota" in said.lower():
        return UserError(f"a SageMaker service quota is reached: {said}", file=what,
                         fix="request more in Service Quotas (SageMaker, '<instance type> for processing/"
                             "training job usage'), or use fewer or smaller instances (--instance-type, "
                             "--instance-count)")
    if code in ("AccessDenied", "AccessDeniedException", "403", "Forbidden") or status == 403:
        return UserError(f"AWS refused access: {said}", file=what,
                         fix="the credentials need s3:PutObject/ListBucket on the bucket and "
                             "sagemaker:Create*/Describe*/Stop* jobs, plus iam:PassRole on --role")
    if code in ("NoSuchBucket", "404") or status == 404:
        return UserError(said, file=what, fix="create the bucket in the job's region, or pass another --bucket")
    return UserError(said, file=what, fix=f"look up the AWS error code {code} for {exc.operation_name}")
