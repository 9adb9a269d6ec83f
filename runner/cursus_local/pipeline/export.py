"""A DAG as a SageMaker Pipeline definition: the JSON `create_pipeline` takes as PipelineDefinition.

Every running node's job is built once by preflight (`plan`), as for a local run; its request,
minus the job name, is the step's `Arguments`, as the SageMaker Python SDK v2 writes them
(`ProcessingStep`, `TrainingStep`). What changes on the way:

- an input an upstream step feeds is a property reference to that step's output:
  `Steps.<up>.ProcessingOutputConfig.Outputs['<out>'].S3Output.S3Uri`, or for a training job's model
  `Steps.<up>.ModelArtifacts.S3ModelArtifacts` (its output data: `<S3OutputPath>/<job>/output/output.tar.gz`);
  the service orders the steps by them. Preflight refuses an edge that carries nothing, so every edge
  is such a reference and no step needs a `DependsOn`;
- an input from outside the DAG (`inputs:`, `--input`, a provided output) is a `ParameterString`
  `<node>_<input>` whose default is its URI, so an execution can point it elsewhere;
- local files (the code, local inputs) are named by content, `s3://<bucket>/cursus-local/<hash>/...`,
  the keys the SageMaker backend uploads them to (`content_uri`): the same bytes give the same key, so
  an upload already made is never repeated (`Export.uploads` lists what must be there before an
  execution starts; `--upsert` uploads it);
- outputs go to `s3://<bucket>/<pipeline>/<execution id>/<node>/<output>` (an `s3://` output the DAG
  names stays as it is), so executions never overwrite each other;
- the image is the real SageMaker image of our stand-in in the region (`jobs.sagemaker_images`), the
  role the one given (else a placeholder, named in the notes).

With `with_checks`, each handoff check becomes a ProcessingStep of its own, `Check-<node>-<output>`
(`Check-Input-<node>-<input>` for an input from outside the DAG): every suite that checks the data
there (`sequencer.handoff_suites`: the producer's output suite, the consumers' input suites, the
edges' `checks:`) is an input (its content-addressed upload) beside the data (the property
reference), and `python -m cursus_local.data.check_job` validates them in `check_image` (the
`cursus-local/runner` image, which carries GX, pushed by the user). It exits non-zero on a critical
failure, so the job fails; the steps that read the data `DependsOn` the check step, so they never
start on data that failed. One step per checked output: a consumer's input suite that fails stops
every consumer of that output (a failed step stops the execution anyway). Outputs of a training job
are not checked there: the service packs them as tar.gz.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends.sagemaker import (
    SageMakerBackend,
    Uploads,
    aws_error,
    check_bucket,
    check_role,
    content_key,
)
from ..errors import UserError
from ..jobs.base import Job
from ..jobs.processing import DEFAULT_ROLE, _s3_input, stage_source
from ..jobs.sagemaker_images import remote_image
from ..jobs.training import TrainingJob
from ..jobs.validation import validate_request
from .dag import Dag
from .preflight import Plan, plan
from .sequencer import handoff_suites

VERSION = "2020-12-01"
EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}
PIPELINE_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$")   # botocore's PipelineName pattern
STEP_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
# The check steps' container: `cursus-local/runner` pushed to the user's registry (--check-image)
CHECK_IMAGE_PLACEHOLDER = "000000000000.dkr.ecr.{region}.amazonaws.com/cursus-local/runner:latest"
CHECK_ENTRY_POINT = ["python3", "-m", "cursus_local.data.check_job"]
CHECK_INPUTS, CHECK_OUTPUT = "/opt/ml/processing/input", "/opt/ml/processing/output/check"
CHECK_RESOURCES = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}}
CHECK_MAX_SECONDS = 3600


@dataclass
class Export:
    name: str
    definition: dict[str, Any]
    uploads: dict[str, Path] = field(default_factory=dict)   # s3:// URI -> the local file or folder
    notes: list[str] = field(default_factory=list)

    def json(self) -> str:
        return json.dumps(self.definition, indent=2)


def export_pipeline(dag: Dag, run_dir: Path, *, bucket: str | None, region: str, name: str | None = None,
                    role: str | None = None, with_checks: bool = False, check_image: str | None = None) -> Export:
    """The pipeline definition of `dag`, with a check step per checked handoff if `with_checks`; bad
    input (bucket, name, role, check image, a node that can't be a step) is a UserError naming the
    field and the fix."""
    bucket = check_bucket(bucket)
    pipeline = name or re.sub(r"[^a-zA-Z0-9]+", "-", dag.name).strip("-") or "cursus-local"
    if not PIPELINE_NAME.match(pipeline):
        raise UserError(f"{pipeline!r} is not a SageMaker pipeline name", field="--name",
                        fix="use letters, digits and single hyphens, starting with a letter or digit")
    if role is not None:
        check_role(role)
    for node in dag.nodes:
        if dag.runs(node) and not STEP_NAME.match(node):
            raise UserError(f"node {node!r} can't be a pipeline step name (letters, digits, - and _, "
                            "at most 64)", file=str(dag.file), field=f"nodes.{node}", fix="rename the node")
    if check_image is not None:
        check_image = _check_image(check_image, region)
    planned = plan(dag, run_dir)
    builder = _Builder(dag, planned, bucket, region, pipeline, role or DEFAULT_ROLE)
    steps = [builder.step(node, job) for node, job in planned.jobs.items()]
    notes = []
    if role is None:
        notes.append(f"RoleArn is the placeholder {DEFAULT_ROLE}: pass --role ARN for a pipeline that runs")
    if with_checks:
        steps += builder.check_steps(steps, check_image or CHECK_IMAGE_PLACEHOLDER.format(region=region))
        notes += builder.notes
        if check_image is None:
            notes.append(f"the check steps run the placeholder image {CHECK_IMAGE_PLACEHOLDER.format(region=region)}:"
                         " push cursus-local/runner to your ECR and pass --check-image URI")
    # No PipelineExperimentConfig: executions make no experiment or trial
    definition = {"Version": VERSION, "Metadata": {}, "Parameters": builder.parameters, "Steps": steps}
    return Export(pipeline, definition, builder.uploads, notes)


def content_uri(bucket: str, path: Path) -> str:
    """Where the SageMaker backend's upload (`SageMakerBackend.upload`) puts `path`, computed without
    uploading: `s3://<bucket>/cursus-local/<tree hash>/<name>` for a file (an S3Prefix input of it lands
    as LocalPath/<name>), the prefix `s3://<bucket>/cursus-local/<tree hash>` for a folder. The tree hash
    is over each file's path (relative to the folder, or the file's name) and its sha256, in order."""
    uri = f"s3://{bucket}/{content_key(path)[0]}"
    return f"{uri}/{path.name}" if path.is_file() else uri


def output_ref(job: Job, node: str, output: str) -> Any:
    """What a downstream input reads of `node`'s output `output`, as a property reference."""
    if isinstance(job, TrainingJob):
        if output == job.model_output:
            return {"Get": f"Steps.{node}.ModelArtifacts.S3ModelArtifacts"}
        return join({"Get": f"Steps.{node}.OutputDataConfig.S3OutputPath"},
                    {"Get": f"Steps.{node}.TrainingJobName"}, "output", "output.tar.gz")
    return {"Get": f"Steps.{node}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"}


def join(*values: Any) -> dict:
    return {"Std:Join": {"On": "/", "Values": list(values)}}


def _check_image(image: str, region: str) -> str:
    try:
        return remote_image(image, region)   # refuses an image only this machine's engine has
    except UserError as exc:
        raise UserError(exc.message, field="--check-image", fix="push cursus-local/runner to an ECR "
                        "repository of yours (`docker tag` + `docker push`) and pass the pushed URI") from None


def check_step_name(*parts: str) -> str:
    """`Check-<parts>`, shortened with a hash of the whole when longer than a step name may be."""
    name = "-".join(("Check", *parts))
    if STEP_NAME.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9\-_]", "_", name)[:64 - 9] + "-" + digest


def parameter_name(node: str, input_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{node}_{input_name}")


class _Builder:
    """One step per job; collects the parameters and the uploads the steps need."""

    def __init__(self, dag: Dag, planned: Plan, bucket: str, region: str, pipeline: str, role: str):
        self.dag, self.plan, self.bucket, self.region = dag, planned, bucket, region
        self.pipeline, self.role = pipeline, role
        self.parameters: list[dict] = []
        self.uploads: dict[str, Path] = {}
        self.sources: dict[tuple[str, str], Any] = {}   # (node, input) -> what the step's input reads
        self.notes: list[str] = []

    def step(self, node: str, job: Job) -> dict:
        args = copy.deepcopy(job.request)
        args.pop(f"{job.kind}JobName")
        args["RoleArn"] = self.role
        image = self._image(node, job.image)
        if isinstance(job, TrainingJob):
            self._training(node, job, args, image)
            kind = "Training"
        else:
            self._processing(node, job, args, image)
            kind = "Processing"
        return {"Name": node, "Type": kind, "Arguments": args}

    def _image(self, node: str, image: str) -> str:
        try:
            return remote_image(image, self.region)
        except UserError as exc:
            raise UserError(f"node {node}: {exc.message}", file=str(self.dag.file), field=exc.field,
                            fix=exc.fix) from None

    def _source(self, node: str, job: Job, input_name: str) -> Any:
        """The URI a job's input reads: an upstream step's output, else a parameter whose default is
        the given URI (a local path: its content-addressed upload)."""
        feed = self.plan.report.feeds(node).get(input_name)
        if feed is not None and feed.upstream in self.plan.jobs:
            source = output_ref(self.plan.jobs[feed.upstream], feed.upstream, feed.output)
        else:
            local = job.local_inputs.get(input_name)
            uri = self._upload(local) if local is not None else job.input_uris()[input_name]
            name = parameter_name(node, input_name)
            self.parameters.append({"Name": name, "Type": "String", "DefaultValue": uri})
            source = {"Get": f"Parameters.{name}"}
        self.sources[node, input_name] = source
        return source

    def _upload(self, path: Path) -> str:
        uri = content_uri(self.bucket, path)
        self.uploads[uri] = path
        return uri

    def _output(self, node: str, *parts: str) -> dict:
        return join("s3:/", self.bucket, self.pipeline, EXECUTION_ID, node, *parts)

    def _processing(self, node: str, job: Job, args: dict, image: str) -> None:
        args["AppSpecification"]["ImageUri"] = image
        step = self.dag.nodes[node].step
        for item in args["ProcessingInputs"]:
            name = item["InputName"]
            if name in step.inputs:
                item["S3Input"]["S3Uri"] = self._source(node, job, name)
            else:   # the code (and FrameworkProcessor's runproc.sh): files of this machine
                item["S3Input"]["S3Uri"] = self._upload(job.local_inputs[name])
        for item in args["ProcessingOutputConfig"]["Outputs"]:
            name = item["OutputName"]
            if name not in job.s3_outputs:
                item["S3Output"]["S3Uri"] = self._output(node, name)

    def _training(self, node: str, job: TrainingJob, args: dict, image: str) -> None:
        args["AlgorithmSpecification"]["TrainingImage"] = image
        step = self.dag.nodes[node].step
        fed = [name for rel, name in job.code_files.items() if name not in job.local_inputs]
        if fed:
            raise UserError(f"node {node}: input {fed[0]} is a file inside the source dir that an upstream "
                            "step makes; a pipeline step's source dir is packed before the pipeline runs",
                            file=str(self.dag.file), field=f"nodes.{node}.inputs.{fed[0]}",
                            fix=f"bind {fed[0]} to a local file (`inputs:` under nodes.{node})")
        tarball, _ = stage_source(job.local_inputs["code"], step.entry_point, True,
                                  {rel: job.local_inputs[name] for rel, name in job.code_files.items()})
        hyper = args["HyperParameters"]
        hyper["sagemaker_submit_directory"] = json.dumps(self._upload(tarball))
        hyper["sagemaker_region"] = json.dumps(self.region)
        hyper["sagemaker_job_name"] = json.dumps(node)
        sources: dict[str, Any] = {}
        for channel in args.get("InputDataConfig", []):
            input_name, sub = job.channels[channel["ChannelName"]]
            if input_name not in sources:
                sources[input_name] = self._source(node, job, input_name)
            uri = sources[input_name]
            channel["DataSource"]["S3DataSource"]["S3Uri"] = join(uri, sub) if sub else uri
        args["OutputDataConfig"]["S3OutputPath"] = self._output(node)


    # --- handoff checks as steps -------------------------------------------------------------------
    def check_steps(self, steps: list[dict], image: str) -> list[dict]:
        """A check step per checked data: each running node's outputs, each input from outside the
        DAG; the steps reading that data get `DependsOn` it."""
        by_name = {s["Name"]: s for s in steps}
        report = self.plan.report
        checks = []
        for node, job in self.plan.jobs.items():
            spec = self.dag.nodes[node]
            for output in spec.step.outputs:
                readers = [c for c in report.connections if c.upstream == node and c.output == output
                           and (c.downstream, c.input) in self.sources]
                suites = handoff_suites(self.dag, report, spec, output, "producer")
                for c in readers:
                    suites += handoff_suites(self.dag, report, self.dag.nodes[c.downstream], c.input, "consumer")
                if not suites:
                    continue
                if isinstance(job, TrainingJob):
                    self.notes.append(f"{node}.{output} is not checked by a step: a training job's "
                                      "outputs reach S3 as tar.gz")
                    continue
                checks.append((check_step_name(node, output), output_ref(job, node, output), suites,
                               [c.downstream for c in readers]))
            for input_name in spec.step.inputs:
                feed = report.feeds(node).get(input_name)
                if (node, input_name) not in self.sources or (feed is not None and feed.upstream in self.plan.jobs):
                    continue   # not read, or checked with its producer's output
                suites = handoff_suites(self.dag, report, spec, input_name, "consumer")
                if suites:
                    checks.append((check_step_name("Input", node, input_name), self.sources[node, input_name],
                                   suites, [node]))
        made = []
        for name, data, suites, readers in checks:
            if name in by_name:
                raise UserError(f"node {name!r} has the name of the check step of its data", file=str(self.dag.file),
                                field=f"nodes.{name}", fix="rename the node, or export without --with-checks")
            made.append(self._check_step(name, data, list(dict.fromkeys(s for _, s, _ in suites)), image))
            for reader in readers:
                depends = by_name[reader].setdefault("DependsOn", [])
                if name not in depends:
                    depends.append(name)
        return made

    def _check_step(self, name: str, data: Any, suites: list[Path], image: str) -> dict:
        inputs = [_s3_input("data", "s3://placeholder/data", f"{CHECK_INPUTS}/data")]
        arguments = ["--data", f"{CHECK_INPUTS}/data"]
        for i, suite in enumerate(suites, 1):
            folder = f"{CHECK_INPUTS}/suite-{i}"   # an input each: two suites may share a file name
            inputs.append(_s3_input(f"suite-{i}", self._upload(suite), folder))
            arguments += ["--suite", f"{folder}/{suite.name}"]
        arguments += ["--out", CHECK_OUTPUT, "--message", "/opt/ml/output/message"]
        request = {
            "ProcessingJobName": "check",   # the pipeline names the job
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": {"Outputs": [{
                "OutputName": "check", "AppManaged": False,
                "S3Output": {"S3Uri": "s3://placeholder/check", "LocalPath": CHECK_OUTPUT,
                             "S3UploadMode": "EndOfJob"}}]},
            "ProcessingResources": copy.deepcopy(CHECK_RESOURCES),
            "StoppingCondition": {"MaxRuntimeInSeconds": CHECK_MAX_SECONDS},
            "AppSpecification": {"ImageUri": image, "ContainerEntrypoint": list(CHECK_ENTRY_POINT),
                                 "ContainerArguments": arguments},
            "RoleArn": self.role,
        }
        validate_request(request)   # with literal URIs: the service's constraints, before the references
        request.pop("ProcessingJobName")
        inputs[0]["S3Input"]["S3Uri"] = data
        request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = self._output(name, "check")
        return {"Name": name, "Type": "Processing", "Arguments": request}


# --- on the service: uploads, create_pipeline / update_pipeline -------------------------------------

@dataclass
class Upserted:
    action: str              # "created" | "updated"
    arn: str
    uploads: Uploads


def pipeline_region(given: str | None) -> str:
    """--region, else boto3's own (AWS_REGION, AWS_DEFAULT_REGION, the profile's): the image URIs
    and the service call depend on it, so it is never guessed."""
    import boto3
    region = given or boto3.session.Session().region_name
    if not region:
        raise UserError("no AWS region: the images and the pipeline are regional", field="--region",
                        fix="pass --region REGION (or set AWS_REGION)")
    return region


def upsert_pipeline(export: Export, role: str, bucket: str, region: str) -> Upserted:
    """The local files to their content-addressed keys first, through the SageMaker backend's upload
    (what is there already is not sent; a pipeline whose code is missing would fail at its first
    step), then update_pipeline when the pipeline exists, else create_pipeline."""
    from botocore.exceptions import ClientError
    backend = SageMakerBackend(role, bucket, region)
    uploads = Uploads()
    for uri, path in export.uploads.items():
        sent_to = backend.upload(path, uploads)
        if sent_to != uri:   # the definition names `uri`: the two ways of computing it must agree
            raise RuntimeError(f"{path} was uploaded to {sent_to}, but the definition names {uri}")
    sm = backend.client("sagemaker")
    fields = {"PipelineName": export.name, "PipelineDefinition": json.dumps(export.definition), "RoleArn": role}
    what = f"pipeline {export.name}"
    try:
        try:
            sm.describe_pipeline(PipelineName=export.name)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            # The service says ResourceNotFound; moto a ValidationException "Could not find pipeline"
            if error.get("Code") != "ResourceNotFound" and "could not find" not in str(error.get("Message")).lower():
                raise
            return Upserted("created", sm.create_pipeline(**fields)["PipelineArn"], uploads)
        return Upserted("updated", sm.update_pipeline(**fields)["PipelineArn"], uploads)
    except Exception as exc:
        raise aws_error(exc, what, f"the code and inputs were uploaded ({uploads.files} files); the "
                                   "pipeline was not changed") from None
