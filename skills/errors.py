"""Errors of the skills catalog.

The hierarchy::

    SkillError              anything wrong with the packaged skills
    ├── UnknownSkillError   no skill has the requested name
    └── SkillFormatError    a SKILL.md whose frontmatter cannot be read
"""

from __future__ import annotations


class SkillError(Exception):
    """Base class of the skills catalog's errors."""


class UnknownSkillError(SkillError, LookupError):
    """No packaged skill has this name; the message lists the names that exist."""


class SkillFormatError(SkillError, ValueError):
    """A packaged SKILL.md is malformed (a packaging bug, caught by the tests)."""
