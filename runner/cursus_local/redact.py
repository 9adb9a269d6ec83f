"""Keep credentials out of every file we write (job configs, results, logs)."""

from __future__ import annotations

import re
from typing import Iterable

URL_USERINFO = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://(?P<userinfo>[^/@\s]+)@")
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY|API_KEY",
                         re.IGNORECASE)
MASK = "***"


def secret_values(env: dict[str, str]) -> list[str]:
    return [v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= 4]


def redact_env(env: dict[str, str]) -> dict[str, str]:
    """Secret-looking entries masked whole; credentials inside URLs (a proxy's) masked in any."""
    return {k: MASK if SECRET_NAME.search(k) and v else redact_urls(v) if isinstance(v, str) else v
            for k, v in env.items()}


def redact_text(text: str, secrets: list[str]) -> str:
    for value in secrets:
        text = text.replace(value, MASK)
    return text


def url_secrets(values: Iterable[str]) -> list[str]:
    """The credentials inside URLs (`http://user:pass@proxy:3128`, an index URL with a token): the
    whole user:password part and the password alone, to be masked wherever values are written."""
    out: list[str] = []
    for value in values:
        for match in URL_USERINFO.finditer(str(value)):
            userinfo = match["userinfo"]
            password = userinfo.partition(":")[2]
            out += [s for s in (userinfo, password) if len(s) >= 4]
    return sorted(set(out), key=len, reverse=True)   # the longer first: no partial masks


def redact_urls(text: str) -> str:
    """`text` with the user:password part of every URL in it masked."""
    return URL_USERINFO.sub(lambda m: m[0].replace(m["userinfo"], MASK), text)
