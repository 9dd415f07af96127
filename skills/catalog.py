"""The packaged skills, read from package data, for the gateway to serve as MCP prompts and resources.

Each skill is ``skills/skills/<name>/SKILL.md`` (YAML frontmatter ``name``, ``description``,
``allowed-tools``; a markdown body of numbered steps) plus the files beside it (references,
templates). The example specs under ``skills/examples/`` are served as resources too. Paths in a
skill body are relative to its SKILL.md, as Claude Code reads them; a resource's ``uri`` ends with
the same relative path, so ``../../examples/fl-workflow/SPEC.md`` from a skill is
``skill://controlroom/examples/fl-workflow/SPEC.md`` (resolved against
``skill://controlroom/skills/<name>/SKILL.md``).

Example::

    >>> from skills.catalog import get_skill, list_skills, skill_resources
    >>> "workflow-spec" in [skill.name for skill in list_skills()]
    True
    >>> get_skill("workflow-spec").allowed_tools[0]
    'mcp__controlroom__spec_validate'
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable

from pydantic import BaseModel, ConfigDict

from skills.errors import SkillFormatError, UnknownSkillError

URI_PREFIX = "skill://controlroom/"
_MIME = {".md": "text/markdown", ".json": "application/json", ".toml": "application/toml"}


class SkillFile(BaseModel):
    """A file that ships with a skill; ``path`` is relative to the skill's directory."""

    model_config = ConfigDict(frozen=True)

    path: str
    text: str


class Skill(BaseModel):
    """One skill: its frontmatter, its body (the steps) and its reference files."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    allowed_tools: tuple[str, ...]
    body: str
    files: tuple[SkillFile, ...]

    @property
    def mcp_tools(self) -> tuple[str, ...]:
        """The gateway tools this skill may call, without the ``mcp__controlroom__`` prefix."""
        prefix = "mcp__controlroom__"
        return tuple(tool[len(prefix):] for tool in self.allowed_tools if tool.startswith(prefix))


class SkillResource(BaseModel):
    """A text file of the plugin as an MCP resource."""

    model_config = ConfigDict(frozen=True)

    uri: str
    name: str
    mime: str
    text: str


def _root() -> Traversable:
    return files("skills")


def _walk(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith((".", "__")):
            continue
        relative = f"{prefix}{entry.name}"
        if entry.is_dir():
            found += _walk(entry, relative + "/")
        elif entry.name.endswith(tuple(_MIME)):
            found.append((relative, entry))
    return found


def _frontmatter(text: str, where: str) -> tuple[dict[str, str], str]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise SkillFormatError(f"{where}: a SKILL.md starts with a '---' line opening its frontmatter")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise SkillFormatError(f"{where}: the frontmatter is not closed by a '---' line") from None
    fields: dict[str, str] = {}
    for number, line in enumerate(lines[1:end], start=2):
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise SkillFormatError(f"{where}:{number}: expected 'key: value' in the frontmatter")
        fields[key.strip()] = value.strip()
    return fields, "\n".join(lines[end + 1 :]).strip() + "\n"


def _load(directory: Traversable) -> Skill:
    where = f"skills/skills/{directory.name}/SKILL.md"
    fields, body = _frontmatter(directory.joinpath("SKILL.md").read_text(encoding="utf-8"), where)
    for key in ("name", "description", "allowed-tools"):
        if not fields.get(key):
            raise SkillFormatError(f"{where}: the frontmatter needs '{key}'")
    if fields["name"] != directory.name:
        raise SkillFormatError(f"{where}: name {fields['name']!r} differs from its folder {directory.name!r}")
    tools = tuple(tool.strip() for tool in fields["allowed-tools"].split(",") if tool.strip())
    extra = tuple(
        SkillFile(path=path, text=entry.read_text(encoding="utf-8"))
        for path, entry in _walk(directory)
        if path != "SKILL.md"
    )
    return Skill(name=fields["name"], description=fields["description"], allowed_tools=tools, body=body, files=extra)


@lru_cache(maxsize=1)
def _skills() -> tuple[Skill, ...]:
    folder = _root().joinpath("skills")
    return tuple(_load(entry) for entry in sorted(folder.iterdir(), key=lambda e: e.name)
                 if entry.is_dir() and entry.joinpath("SKILL.md").is_file())


def list_skills() -> list[Skill]:
    """Every packaged skill, sorted by name."""
    return list(_skills())


def get_skill(name: str) -> Skill:
    """The skill called ``name``; :class:`UnknownSkillError` lists the known names otherwise."""
    for skill in _skills():
        if skill.name == name:
            return skill
    known = ", ".join(skill.name for skill in _skills())
    raise UnknownSkillError(f"no skill named {name!r}; the skills are: {known}")


@lru_cache(maxsize=1)
def _resources() -> tuple[SkillResource, ...]:
    found: list[SkillResource] = []
    for path, entry in _walk(_root().joinpath("skills")):
        found.append(_resource(f"skills/{path}", entry))
    for path, entry in _walk(_root().joinpath("examples")):
        found.append(_resource(f"examples/{path}", entry))
    return tuple(found)


def _resource(path: str, entry: Traversable) -> SkillResource:
    suffix = "." + entry.name.rpartition(".")[2]
    return SkillResource(uri=URI_PREFIX + path, name=path, mime=_MIME[suffix], text=entry.read_text(encoding="utf-8"))


def skill_resources() -> list[SkillResource]:
    """Every SKILL.md, reference and example spec as MCP resources.

    URIs mirror the plugin's layout: ``skill://controlroom/skills/<name>/SKILL.md``,
    ``skill://controlroom/skills/<name>/references/<file>``, ``skill://controlroom/examples/<name>/SPEC.md``.
    """
    return list(_resources())
