"""The packaged skills: frontmatter, tool names, referenced files, and the catalog the gateway serves."""

from __future__ import annotations

import asyncio
import re
from pathlib import PurePosixPath

import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from skills.catalog import get_skill, list_skills, skill_resources
from skills.errors import UnknownSkillError
from tests.support.up import start_up, stop_up
from workflows.spec.layout import SECTION_ORDER
from workflows.spec.validate import validate_text

EXPECTED = {"debug-failure", "provenance-query", "testbed-operate", "workflow-generate", "workflow-review",
            "workflow-spec"}
CLAUDE_TOOLS = {"Read", "Write", "Edit", "Glob", "Grep"}
STEPS = ["Read the references", "Gather the requirements", "Select an example", None, "Validate", "Report"]


@pytest.fixture(scope="module")
def gateway_tools(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The tool names the real gateway serves (`controlroom up`: gateway + local node), as listed
    to its admin token; a skill must not name a tool that does not exist there."""
    process, details = start_up(tmp_path_factory.mktemp("up") / "state")
    try:
        async def names() -> set[str]:
            transport = StreamableHttpTransport(details["url"], headers={"Authorization": f"Bearer {details['token']}"})
            async with Client(transport) as client:
                return {tool.name for tool in await client.list_tools()}

        return asyncio.run(names())
    finally:
        stop_up(process)


def test_the_catalog_lists_the_six_skills() -> None:
    assert {skill.name for skill in list_skills()} == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_tool_a_skill_names_is_served_by_the_gateway(name: str, gateway_tools: set[str]) -> None:
    named = set(get_skill(name).mcp_tools)  # allowed-tools entries mcp__controlroom__<tool>
    assert named, "a skill drives the gateway"
    assert named - gateway_tools == set(), f"{name} allows tools the gateway does not serve"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_skill_is_well_formed(name: str) -> None:
    skill = get_skill(name)
    assert "Use when" in skill.description and len(skill.description) < 1024
    for tool in skill.allowed_tools:
        if not tool.startswith("mcp__controlroom__"):
            assert tool in CLAUDE_TOOLS or re.fullmatch(r"Bash\(controlroom spec \w+:\*\)", tool), tool
    assert skill.mcp_tools, "a skill drives the gateway"
    numbered = re.findall(r"^(\d)\. \*\*(.+?)\.\*\*", skill.body, flags=re.MULTILINE)
    assert [int(n) for n, _ in numbered] == [1, 2, 3, 4, 5, 6]
    for (_, title), expected in zip(numbered, STEPS, strict=True):
        if expected is not None:
            assert title.startswith(expected), title


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_file_a_skill_mentions_is_shipped(name: str) -> None:
    skill = get_skill(name)
    uris = {resource.uri for resource in skill_resources()}
    base = PurePosixPath("skills", name)
    mentioned = re.findall(r"`((?:\.\./)+[\w./-]+\.md|references/[\w./-]+\.md)`", skill.body)
    assert mentioned
    for path in mentioned:
        parts: list[str] = list(base.parts)
        for part in PurePosixPath(path).parts:
            if part == "..":
                parts.pop()
            else:
                parts.append(part)
        assert "skill://controlroom/" + "/".join(parts) in uris, path


def test_testbed_operate_waits_instead_of_sleeping() -> None:
    skill = get_skill("testbed-operate")
    assert "wait_for_execution" in skill.mcp_tools
    assert "Never sleep" in skill.body


def test_unknown_skill_names_the_known_ones() -> None:
    with pytest.raises(UnknownSkillError, match="workflow-spec"):
        get_skill("workflow-spek")


def test_resources_cover_skills_references_and_examples() -> None:
    resources = {resource.uri: resource for resource in skill_resources()}
    assert "skill://controlroom/skills/workflow-spec/SKILL.md" in resources
    assert "skill://controlroom/examples/fl-workflow/SPEC.md" in resources
    assert all(resource.text for resource in resources.values())
    assert all(resource.mime == "text/markdown" for uri, resource in resources.items() if uri.endswith(".md"))
    skill_files = [uri for uri in resources if uri.startswith("skill://controlroom/skills/")]
    assert len(skill_files) == len(EXPECTED) + sum(len(s.files) for s in list_skills())
    example_specs = [uri for uri in resources if uri.startswith("skill://controlroom/examples/") and uri.endswith("/SPEC.md")]
    assert len(example_specs) == 2


@pytest.mark.parametrize("uri", ["skill://controlroom/examples/fl-workflow/SPEC.md",
                                 "skill://controlroom/examples/epic-fast-processing/SPEC.md"])
def test_served_example_specs_validate(uri: str) -> None:
    (resource,) = [r for r in skill_resources() if r.uri == uri]
    assert validate_text(resource.text) == []


def test_the_format_reference_and_template_follow_the_schema() -> None:
    files = {f.path: f.text for f in get_skill("workflow-spec").files}
    for heading in SECTION_ORDER:
        assert f"| {heading} |" in files["references/spec-format.md"]
    # the template has placeholders in its cells, but its sections and table headers are right
    codes = {problem.code for problem in validate_text(files["references/SPEC.template.md"])}
    assert codes <= {"bad-cell"}
