"""vCPU and memory of ml.* instance types, for container limits.

Sizes follow EC2's rule (large = 2 vCPU, xlarge = 4, Nxlarge = 4N) and memory per vCPU follows
the family (c: 2 GiB, m: 4 GiB, r: 8 GiB); the table lists the types that break the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UserError

GIB_PER_VCPU = {"c": 2, "m": 4, "r": 8, "t": 4, "g": 4}
EXCEPTIONS = {  # name: (vCPU, GiB)
    "ml.t3.medium": (2, 4), "ml.t3.large": (2, 8), "ml.t3.xlarge": (4, 16),
    "ml.t3.2xlarge": (8, 32), "ml.c5.9xlarge": (36, 72), "ml.c5.18xlarge": (72, 144),
    "ml.c4.8xlarge": (36, 60), "ml.m4.10xlarge": (40, 160), "ml.p2.xlarge": (4, 61),
    "ml.p3.2xlarge": (8, 61), "ml.g4dn.xlarge": (4, 16), "ml.g5.xlarge": (4, 16),
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
    if name in EXCEPTIONS:
        return InstanceType(name, *EXCEPTIONS[name])
    match = SIZE.match(name)
    if not match or match["family"][0] not in GIB_PER_VCPU:
        raise UserError(f"unknown instance type {name!r}", field="compute.instance_type",
                        fix="use an ml.* processing instance type, e.g. ml.m5.large or ml.m5.xlarge")
    if match["size"] == "medium":
        vcpus = 1
    elif name.split(".")[-1] == "large":
        vcpus = 2
    else:
        vcpus = 4 * int(match["n"] or 1)
    return InstanceType(name, vcpus, vcpus * GIB_PER_VCPU[match["family"][0]])
