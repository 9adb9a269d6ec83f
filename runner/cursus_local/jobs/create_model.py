"""CreateModel: the step that turns a model artifact into a SageMaker Model (the SDK's Model step).

On the service the step runs no container: it registers the image and the artifact's S3 URI under
a model name. Locally it is the same: the exact CreateModel request, validated against botocore's
model, and an output folder that hands both on — the artifact (`model.tar.gz`, hard-linked) and
`model.json` (the request: its image and its ModelDataUrl) — to whatever comes next.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from . import contracts
from .base import Job
from .bindings import environment, local_input
from .contracts import Step
from .processing import PLACEHOLDER_BUCKET, RunOptions, _merge_local_defaults, job_name_for
from .validation import validate_request

ARTIFACT = "model.tar.gz"


@dataclass
class ModelJob(Job):
    input_name: str = ""             # the interface input bound to the model artifact
    kind: ClassVar[str] = "Model"

    @property
    def name(self) -> str:
        return self.request["ModelName"]

    @property
    def image(self) -> str:
        return self.request["PrimaryContainer"]["Image"]

    def input_uris(self) -> dict[str, str]:
        return {self.input_name: self.request["PrimaryContainer"]["ModelDataUrl"].rsplit("/", 1)[0]}


def is_model_step(step: Step) -> bool:
    return step.sagemaker_step_type == "CreateModel" or step.kind == "model"


def build_model_job(step: Step, options: RunOptions, output_root: Path) -> ModelJob:
    """The CreateModel request for `step`: its one input is the model artifact (a folder holding
    model.tar.gz, as a Training job's model output is, or the file itself)."""
    from ..fields import Fields
    f, merged = Fields(step.file), _merge_local_defaults(step, options)
    if len(step.inputs) != 1:
        f.fail("contract.inputs", f"a CreateModel step takes one input, the model artifact; this one "
               f"declares {len(step.inputs)}", "declare one input, e.g. `model_data: {path: model}`")
    (input_name,) = step.inputs
    if input_name not in merged.inputs:
        f.fail(f"contract.inputs.{input_name}", "the model artifact is not bound",
               f"feed it from a Training step's model output, or --input {input_name}=PATH")
    source = merged.inputs[input_name]
    local_inputs = {}
    if "://" in source:
        data_url = source if source.endswith(".tar.gz") else f"{source.rstrip('/')}/{ARTIFACT}"
    else:
        local_inputs[input_name] = local_input(step, input_name, source, merged.produced_inputs)
        name = options.job_name or job_name_for(step.name)
        data_url = f"s3://{PLACEHOLDER_BUCKET}/{name}/input/{input_name}/{ARTIFACT}"
    name = options.job_name or job_name_for(step.name)
    image = merged.image or contracts.image_for(step, merged.framework_version, purpose="training")
    request = {
        "ModelName": name,
        "PrimaryContainer": {"Image": image, "ModelDataUrl": data_url,
                             "Environment": environment(step, merged.env)},
        "ExecutionRoleArn": merged.role_arn,
    }
    validate_request(request, "CreateModel")
    outputs = {n: Path(merged.outputs.get(n) or output_root / n).resolve() for n in step.outputs}
    return ModelJob(request, local_inputs, outputs, step.name, str(step.file), input_name=input_name)
