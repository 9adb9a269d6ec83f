"""Keep credentials out of every file we write and every line we print.

A value is secret by its name or by its form:
- by name: an environment variable, a job argument (its flag, or its name in the step's contract:
  `--db` fed from `password`) or a hyperparameter whose name has a secret-looking word (`DB_PASS`,
  `apiToken`, `--api-token`, `AWS_SECRET_ACCESS_KEY`, `MYSQL_PWD`), or a name the user marks
  (`--secret-env NAME`);
- by form: the user:password part of any URL (`postgres://u:pw@db/x`, a proxy's, an index's).
Such values are masked wherever they appear: in the request echoed to files, in logs, messages,
errors and results. What the container is given stays the real value (the script needs it).

Which names: words, not substrings (`MAX_TOKENS`, `TOKENIZER`, `BYPASS`, `PASSENGER_COUNT` are not
secrets). A bare KEY is not either (`PARTITION_KEY`, `S3_KEY`, `ID_KEY` name columns and objects):
only a qualified one is (`API_KEY`, `ACCESS_KEY`, `PRIVATE_KEY`, `SECRET_KEY`, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

URL_USERINFO = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://(?P<userinfo>[^/@\s]+)@")
_SECRET_WORD = (r"PASS|PASSWORD|PASSWD|PASSPHRASE|PASSCODE"
                r"|[A-Z0-9]*(?:PASSWORD|PASSWD|SECRETS?|CREDENTIALS?|CREDS|TOKEN)"
                r"|(?:API|ACCESS|PRIVATE|SECRET|SIGNING|ENCRYPTION|CLIENT|MASTER|AUTH|SSH)_?KEY")
# `*_PWD` (MYSQL_PWD, APP_PWD) is a password; PWD alone is the working directory
SECRET_NAME = re.compile(rf"(?:^|_)(?:{_SECRET_WORD})(?:_|$)|._PWD(?:_|$)")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
MASK = "***"
MIN_MASKED_LENGTH = 4   # a shorter value is masked where it stands under its name, not in free text


def words(name: str) -> str:
    """`name` as upper-case words joined by `_`: apiToken, --api-token and API_TOKEN alike."""
    return "_".join(w for w in re.split(r"[^A-Za-z0-9]+", _CAMEL.sub("_", name)) if w).upper()


def is_secret_name(name: str, marked: Iterable[str] = ()) -> bool:
    return bool(SECRET_NAME.search(words(name))) or words(name) in {words(m) for m in marked}


@dataclass(frozen=True)
class Secrets:
    """What to mask for one job: the names marked secret, and the secret values (longest first)."""
    marked: frozenset[str] = frozenset()
    values: tuple[str, ...] = ()

    @classmethod
    def of_request(cls, request: dict, local_env: dict | None = None, marked: Iterable[str] = ()) -> "Secrets":
        """From a Create*Job request: its Environment (and the job's local_env), its container
        arguments or hyperparameters, and the credentials of every URL among their values."""
        marked = frozenset(words(m) for m in marked)
        named: dict[str, Any] = {**(request.get("Environment") or {}), **(local_env or {}),
                                 **(request.get("HyperParameters") or {})}
        arguments = (request.get("AppSpecification") or {}).get("ContainerArguments") or []
        named.update(_argument_pairs(arguments))
        found = [str(v) for k, v in named.items() if is_secret_name(k, marked) and v not in (None, "")]
        found += [_json_unquoted(v) for v in found]   # a hyperparameter is JSON-encoded: '"value"'
        found += url_secrets([*map(str, named.values()), *map(str, arguments)])
        found += [line for v in found for line in _lines(v)]
        values = {v for v in found if len(v) >= MIN_MASKED_LENGTH}
        return cls(marked, tuple(sorted(values, key=len, reverse=True)))   # longer first: no partial masks

    @classmethod
    def of_job(cls, job) -> "Secrets":
        return cls.of_request(job.request, getattr(job, "local_env", None), getattr(job, "secret_names", ()))

    def text(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, MASK)
        return redact_urls(text)

    def env(self, env: dict) -> dict:
        """Entries under a secret name masked whole; the rest masked by value."""
        return {k: MASK if is_secret_name(k, self.marked) and v not in (None, "") else self.data(v)
                for k, v in env.items()}

    def arguments(self, arguments: list) -> list:
        """`--api-token X` and `--api-token=X`: X masked; the rest masked by value."""
        out, after_secret_flag = [], False
        for arg in arguments:
            flag, eq, _ = str(arg).partition("=")
            if after_secret_flag:
                out.append(MASK)
            elif eq and flag.startswith("-") and is_secret_name(flag, self.marked):
                out.append(f"{flag}={MASK}")
            else:
                out.append(self.text(arg) if isinstance(arg, str) else arg)
            after_secret_flag = not after_secret_flag and isinstance(arg, str) and arg.startswith("-") \
                and not eq and is_secret_name(arg, self.marked)
        return out

    def request(self, request: dict) -> dict:
        """A Create*Job request or a Describe*Job response, as it may be written."""
        out = self.data({k: v for k, v in request.items()
                         if k not in ("Environment", "HyperParameters", "AppSpecification")})
        for key in ("Environment", "HyperParameters"):
            if key in request:
                out[key] = self.env(request[key] or {})
        if "AppSpecification" in request:
            app = self.data(dict(request["AppSpecification"]))
            if "ContainerArguments" in app:
                app["ContainerArguments"] = self.arguments(request["AppSpecification"]["ContainerArguments"])
            out["AppSpecification"] = app
        return out

    def data(self, value: Any) -> Any:
        """Every string in a JSON-like value masked by value."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value


def _argument_pairs(arguments: list) -> dict[str, str]:
    """flag -> value of `--flag value` and `--flag=value` arguments."""
    pairs = {}
    for i, arg in enumerate(arguments):
        arg = str(arg)
        flag, eq, value = arg.partition("=")
        if eq and flag.startswith("-"):
            pairs[flag] = value
        elif arg.startswith("-") and i + 1 < len(arguments) and not str(arguments[i + 1]).startswith("--"):
            pairs[arg] = str(arguments[i + 1])
    return pairs


def _lines(value: str) -> list[str]:
    """The lines of a multi-line value (a PEM key), stripped: logs are masked one line at a time,
    where the whole value never matches."""
    return [line.strip() for line in re.split(r"[\r\n]+", value)] if re.search(r"[\r\n]", value) else []


def _json_unquoted(value: str) -> str:
    import json
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


def redact_env(env: dict[str, str]) -> dict[str, str]:
    """Secret-looking entries masked whole; credentials inside URLs (a proxy's) masked in any."""
    return Secrets().env(env)


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
            out += [s for s in (userinfo, password) if len(s) >= MIN_MASKED_LENGTH]
    return sorted(set(out), key=len, reverse=True)   # the longer first: no partial masks


def redact_urls(text: str) -> str:
    """`text` with the user:password part of every URL in it masked."""
    return URL_USERINFO.sub(lambda m: m[0].replace(m["userinfo"], MASK), text)
