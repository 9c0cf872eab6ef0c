"""The reply templates: a catalog (`templates/catalog.yaml`) and one Jinja2 file per template.

Templates render in a sandbox with `StrictUndefined`: an unknown variable or attribute raises
instead of printing nothing. `TemplateSet.render` names the file and line of any error.
The first line a template renders is the title; the rest is the body.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, ValidationError

from triage.replies.errors import TemplateError

CATALOG = "catalog.yaml"


class TemplateInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    needs_authority: bool = False


def bundled_dir() -> Path:
    return Path(str(resources.files("triage.replies").joinpath("templates")))


def _line_of(exc: BaseException, filename: str) -> int | None:
    """The template line an exception was raised at (Jinja keeps template line numbers)."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(filename):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class TemplateSet:
    """The catalog and Jinja2 environment of one template directory (bundled by default)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or bundled_dir()
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(self.directory)),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self.catalog = self._load_catalog()

    def _load_catalog(self) -> dict[str, TemplateInfo]:
        path = self.directory / CATALOG
        try:
            data = yaml.safe_load(path.read_text("utf-8")) or {}
        except OSError as exc:
            raise TemplateError([f"{path}: cannot read: {exc}"]) from None
        except yaml.YAMLError as exc:
            raise TemplateError([f"{path}: not valid YAML: {exc}"]) from None
        if not isinstance(data, dict):
            raise TemplateError([f"{path}: must map template names to their label"])
        catalog: dict[str, TemplateInfo] = {}
        problems = []
        for name, raw in data.items():
            try:
                catalog[str(name)] = TemplateInfo.model_validate(raw)
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ".".join(map(str, err["loc"]))
                    problems.append(f"{path}: template '{name}': field '{loc}': {err['msg']}")
        if problems:
            raise TemplateError(problems)
        return catalog

    def names(self) -> list[str]:
        return sorted(self.catalog)

    def info(self, name: str) -> TemplateInfo:
        try:
            return self.catalog[name]
        except KeyError:
            raise TemplateError(
                [f"unknown reply template {name!r}; known: {', '.join(self.names()) or 'none'}"]
            ) from None

    def file(self, name: str) -> str:
        return f"{name}.j2"

    def source(self, name: str) -> str:
        """The template's source text (TemplateError if the file is missing)."""
        self.info(name)
        path = self.directory / self.file(name)
        try:
            return path.read_text("utf-8")
        except OSError:
            raise TemplateError(
                [f"reply template {name!r}: no file {path} (the catalog lists it)"]
            ) from None

    def load(self, name: str) -> jinja2.Template:
        self.source(name)
        try:
            return self.env.get_template(self.file(name))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                [f"{self.directory / self.file(name)} line {exc.lineno}: {exc.message}"]
            ) from None

    def render(self, name: str, context: dict[str, Any]) -> str:
        template = self.load(name)
        try:
            return template.render(context)
        except jinja2.TemplateError as exc:
            line = _line_of(exc, self.file(name))
            where = f" line {line}" if line else ""
            raise TemplateError([f"{self.directory / self.file(name)}{where}: {exc}"]) from None


@cache
def bundled_templates() -> TemplateSet:
    return TemplateSet()
