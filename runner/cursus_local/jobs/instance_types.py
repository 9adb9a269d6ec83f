"""vCPU and memory of ml.* instance types, for container limits.

Sizes follow EC2's rule (large = 2 vCPU, xlarge = 4, Nxlarge = 4N) and memory per vCPU follows
the family (c: 2 GiB, m: 4 GiB, r: 8 GiB); the table lists the types that break the rule.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..errors import UserError

GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8, "t": 4, "g": 4}
EXCEPTIONS = {  # name: (vCPU, GiB)
    "ml.t3.medium": (2, 4), "ml.t3.large": (2, 8), "ml.t3.xlarge": (4, 16),
    "ml.t3.2xlarge": (8, 32), "ml.c5.9xlarge": (36, 72), "ml.c5.18xlarge": (72, 144),
    "ml.c4.8xlarge": (36, 60), "ml.m4.10xlarge": (40, 160), "ml.p2.xlarge": (4, 61),
    "ml.p3.2xlarge": (8, 61), "ml.g4dn.xlarge": (4, 16), "ml.g5.xlarge": (4, 16),
    # GPU instances (EC2's published sizes): their memory follows no per-vCPU rule
    "ml.p2.8xlarge": (32, 488), "ml.p2.16xlarge": (64, 732), "ml.p3.8xlarge": (32, 244),
    "ml.p3.16xlarge": (64, 488), "ml.p3dn.24xlarge": (96, 768), "ml.p4d.24xlarge": (96, 1152),
    "ml.p4de.24xlarge": (96, 1152), "ml.p5.4xlarge": (16, 256), "ml.p5.48xlarge": (192, 2048),
    "ml.p5e.48xlarge": (192, 2048), "ml.p5en.48xlarge": (192, 2048),
}
SIZE = re.compile(r"^ml\.(?P<family>[a-z]+)(?P<gen>\d+)[a-z-]*\.(?:(?P<n>\d+)?x)?(?P<size>large|medium)$")


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: int

    @property
    def memory_bytes(self) -> int:
        return self.memory_gib * 1024 ** 3


def lookup(name: str) -> InstanceType:
    found = size_of(name)
    if found is None:
        raise UserError(f"unknown instance type {name!r}", field="compute.instance_type",
                        fix="use an ml.* processing instance type, e.g. ml.m5.large or ml.m5.xlarge")
    return found


def check(name: str, offered: list[str], where: str) -> tuple[str, str] | None:
    """None when `name` is one the service offers (`offered`: the model's enum) and whose size we
    know; else (message, fix) naming the closest match and the valid ones."""
    runnable = [t for t in offered if size_of(t) is not None]
    if name in runnable:
        return None
    if name in offered:
        return (f"{name} runs on SageMaker, but its vCPU and memory are not known here",
                "use another type, or add its size to EXCEPTIONS in jobs/instance_types.py")
    close = difflib.get_close_matches(name, runnable, n=1)
    family = name.rsplit(".", 1)[0]
    same = [t.rsplit(".", 1)[1] for t in runnable if t.rsplit(".", 1)[0] == family]
    families = sorted({t.rsplit(".", 1)[0] for t in runnable})
    valid = (f"{family} comes in: {', '.join(same)}" if same
             else f"the families are: {', '.join(families)} (e.g. ml.m5.large)")
    return (f"unknown instance type {name!r} for {where}; {valid}",
            (f"did you mean {close[0]!r}?" if close else f"use one of them, e.g. {runnable[0]}"))


def size_of(name: str) -> InstanceType | None:
    if name in EXCEPTIONS:
        return InstanceType(name, *EXCEPTIONS[name])
    match = SIZE.match(name)
    if not match or match["family"][0] not in GIB_PER_VCPU:
        return None
    if match["size"] == "medium":
        vcpus = 1
    elif name.split(".")[-1] == "large":
        vcpus = 2
    else:
        vcpus = 4 * int(match["n"] or 1)
    return InstanceType(name, vcpus, vcpus * GIB_PER_VCPU[match["family"][0]])
