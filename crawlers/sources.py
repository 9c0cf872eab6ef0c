"""The source list as data: `sources.yaml` schema and loader.

A sources file has optional `vars` (substituted as `${name}` in any string value; callers can
override them, e.g. the demo points `${fixture}` at its local site), optional `defaults` merged
into every source, and a list of `sources`. Each source has a name, a type (`feed`, `html`,
`json_api`, or the platform adapters `weibo` and `tieba`), a schedule (interval or cron),
politeness limits and type-specific fields. Any error names the file, the source and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from crawlers.errors import SourceConfigError, UnknownSource
from crawlers.source_types import (
    SOURCE_TYPES,
    AuthCheck,
    CursorPagination,
    FeedSource,
    Fields,
    HtmlSource,
    JsonApiSource,
    JsonFields,
    ListSpec,
    PagePagination,
    Politeness,
    Schedule,
    Source,
    SourceBase,
    TiebaSource,
    WeiboSource,
)

__all__ = [
    "SOURCE_TYPES",
    "AuthCheck",
    "CursorPagination",
    "FeedSource",
    "Fields",
    "HtmlSource",
    "JsonApiSource",
    "JsonFields",
    "ListSpec",
    "PagePagination",
    "Politeness",
    "Schedule",
    "Source",
    "SourceBase",
    "SourceSet",
    "TiebaSource",
    "WeiboSource",
    "load_sources",
    "parse_sources",
]

_VAR = re.compile(r"\$\{(\w+)\}")
_source_adapter: TypeAdapter[Any] = TypeAdapter(Source)


class SourceSet:
    """The validated sources of one file, by name (file order kept)."""

    def __init__(self, path: Path, sources: list[SourceBase]) -> None:
        self.path = path
        self.by_name = {s.name: s for s in sources}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    def get(self, name: str) -> SourceBase:
        try:
            return self.by_name[name]
        except KeyError:
            raise UnknownSource(name, list(self.by_name)) from None

    def enabled(self) -> list[SourceBase]:
        return [s for s in self.by_name.values() if s.enabled]


def _substitute(value: Any, variables: dict[str, str], where: list[str]) -> Any:
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                raise KeyError(name)
            return variables[name]

        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute(v, variables, [*where, str(k)]) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables, [*where, str(i)]) for i, v in enumerate(value)]
    return value


def _merge(defaults: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    out = dict(defaults)
    for key, value in item.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _field_of(err: Any) -> str:
    loc = [str(p) for p in err["loc"]]
    # drop the discriminator tag pydantic puts first ("feed", "html", ...)
    if loc and loc[0] in SOURCE_TYPES:
        loc = loc[1:]
    return ".".join(loc)


def parse_sources(
    data: Any, path: Path | str = "<sources>", variables: dict[str, str] | None = None
) -> SourceSet:
    """Validate an already-parsed sources document."""
    where = str(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SourceConfigError(where, "must be a mapping with a 'sources' list")
    unknown = set(data) - {"version", "vars", "defaults", "sources"}
    if unknown:
        raise SourceConfigError(where, f"unknown top-level keys {sorted(unknown)}")
    file_vars = data.get("vars") or {}
    if not isinstance(file_vars, dict):
        raise SourceConfigError(where, "'vars' must be a mapping", field="vars")
    merged_vars = {str(k): str(v) for k, v in file_vars.items()}
    merged_vars.update(variables or {})
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SourceConfigError(where, "'defaults' must be a mapping", field="defaults")
    items = data.get("sources") or []
    if not isinstance(items, list):
        raise SourceConfigError(where, "'sources' must be a list", field="sources")
    sources: list[SourceBase] = []
    for index, item in enumerate(items):
        label = f"#{index + 1}"
        if not isinstance(item, dict):
            raise SourceConfigError(where, "each source must be a mapping", source=label)
        name = str(item.get("name") or label)
        try:
            resolved = _substitute(_merge(defaults, item), merged_vars, [])
        except KeyError as exc:
            raise SourceConfigError(
                where, f"unknown variable ${{{exc.args[0]}}} (define it under 'vars')", source=name
            ) from None
        if "type" not in resolved:
            raise SourceConfigError(
                where, f"missing; one of {', '.join(SOURCE_TYPES)}", source=name, field="type"
            )
        if resolved["type"] not in SOURCE_TYPES:
            raise SourceConfigError(
                where,
                f"unknown type {resolved['type']!r}; one of {', '.join(SOURCE_TYPES)}",
                source=name,
                field="type",
            )
        try:
            source = _source_adapter.validate_python(resolved)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise SourceConfigError(where, err["msg"], source=name, field=_field_of(err)) from None
        if source.name in {s.name for s in sources}:
            raise SourceConfigError(where, "duplicate source name", source=name, field="name")
        sources.append(source)
    return SourceSet(Path(where), sources)


def load_sources(path: Path, variables: dict[str, str] | None = None) -> SourceSet:
    """Read and validate a sources file; SourceConfigError names file, source and field."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise SourceConfigError(str(path), f"cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise SourceConfigError(str(path), f"not valid YAML{line}") from None
    return parse_sources(data, path, variables)
