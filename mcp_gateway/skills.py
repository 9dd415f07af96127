"""The Claude Code plugin's skills served over MCP, so clients other than Claude Code get them too.

Each skill becomes a prompt (its SKILL.md body, with an optional ``request`` argument that is
appended as the user's ask) and every file of the plugin a resource (``skill://controlroom/...``).
"""

from __future__ import annotations

from fastmcp import FastMCP
from fastmcp.prompts.function_prompt import FunctionPrompt
from fastmcp.resources.types import TextResource

from skills.catalog import Skill, list_skills, skill_resources


def _prompt(skill: Skill) -> FunctionPrompt:
    def render(request: str = "") -> str:
        ask = f"\n\n## The user's request\n\n{request}" if request else ""
        return f"{skill.body}{ask}"

    return FunctionPrompt.from_function(render, name=skill.name, description=skill.description)


def add_skills(mcp: FastMCP) -> int:
    """Register every skill as a prompt and every plugin file as a resource; returns how many skills."""
    skills = list_skills()
    for skill in skills:
        mcp.add_prompt(_prompt(skill))
    for resource in skill_resources():
        mcp.add_resource(TextResource(uri=resource.uri, name=resource.name, mime_type=resource.mime, text=resource.text))
    return len(skills)
