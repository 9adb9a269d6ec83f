"""Keep credentials out of every file we write (job configs, results, logs)."""

from __future__ import annotations

import re

SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|API_KEY",
                         re.IGNORECASE)
MASK = "***"


def secret_values(env: dict[str, str]) -> list[str]:
    return [v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= 4]


def redact_env(env: dict[str, str]) -> dict[str, str]:
    return {k: MASK if SECRET_NAME.search(k) and v else v for k, v in env.items()}


def redact_text(text: str, secrets: list[str]) -> str:
    for value in secrets:
        text = text.replace(value, MASK)
    return text
