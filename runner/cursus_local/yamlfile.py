"""Reading YAML the way our files mean it.

Two differences from `yaml.safe_load`, both so that a file says what it looks like it says:
- only `true` and `false` are booleans (YAML 1.2): a key `on:` (as in `checks: {on: producer}`)
  or a value `yes`/`no`/`off` stays a string;
- a key written twice in one mapping is an error naming the key and its line, not last-wins.
"""

from __future__ import annotations

import re

import yaml

from .errors import UserError


class _Loader(yaml.SafeLoader):
    pass


# SafeLoader's implicit resolvers, less its YAML 1.1 booleans (yes/no/on/off), plus 1.2's true/false
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark,
                f"found the key {key!r} twice (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load(text: str, *, file: str = ""):
    """The document in `text`; a syntax error or a duplicate key is a UserError naming `file` and
    the line (the field), its message pointing into the file rather than "<unicode string>"."""
    import io
    stream = io.StringIO(text)
    stream.name = file or "<text>"   # PyYAML names its marks after the stream
    try:
        return yaml.load(stream, Loader=_Loader)   # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"not valid YAML: {exc}", file=file or None,
                        field=f"line {mark.line + 1}" if mark else "(file)",
                        fix="fix the YAML: each key once per mapping, quoted text where in doubt") from exc
