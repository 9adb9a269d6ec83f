"""What every job kind shares: the very request SageMaker's Create*Job takes, and the local
files and folders that stand behind its S3 URIs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass
class Job:
    request: dict[str, Any]
    local_inputs: dict[str, Path]     # input (channel) name -> host file or folder
    local_outputs: dict[str, Path]    # output name -> host folder the results land in
    step_name: str = ""
    step_file: str = ""
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
