"""What every job kind shares: the very request SageMaker's Create*Job takes, and the local
files and folders that stand behind its S3 URIs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass
class Job:
    request: dict[str, Any]
    local_inputs: dict[str, Path]     # input (channel) name -> host file or folder
    local_outputs: dict[str, Path]    # output name -> host folder the results land in
    step_name: str = ""
    step_file: str = ""
    # What a local run adds that the request does not carry (it would be wrong on the service), for
    # every container of the job: environment entries (the host's package-index settings, a
    # wheelhouse's PIP_FIND_LINKS; the request's Environment wins over them) and read-only bind
    # mounts, container path -> host path (the wheelhouse, the CA bundle). Never written to a file.
    local_env: dict[str, str] = field(default_factory=dict)
    local_mounts: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)     # what preflight should tell the user
    secret_names: tuple[str, ...] = ()                 # --secret-env: more names to mask (redact)
    # Output name -> the s3:// URI (its ProcessingOutput S3Uri) the folder is uploaded to once the job
    # has completed, as the service's EndOfJob upload does; outputs with a placeholder URI stay local.
    s3_outputs: dict[str, str] = field(default_factory=dict)
    kind: ClassVar[str] = ""          # "Processing", "Training": names the request's fields

    @property
    def name(self) -> str:
        return self.request[f"{self.kind}JobName"]

    @property
    def image(self) -> str:
        raise NotImplementedError

    def input_uris(self) -> dict[str, str]:
        """Input (channel) name -> the S3 URI the request names for it."""
        raise NotImplementedError
