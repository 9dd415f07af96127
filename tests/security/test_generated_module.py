"""The node imports exactly one file of a generated workflow: the module its template renders.

The attack (found while reviewing the sandbox work): `spec_generate` writes the tenant's stage
scripts into the workflow's directory before generating; a spec that validates but cannot be
generated (an ``agent`` stage) leaves the scripts there and no template module. A script that
carries the generated-module marker was then the directory's only "module", and
`register_workflow_definition` imported it in the node's own process, outside the sandbox.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.mcp_nodes.test_tools import call, error_of
from tests.security.test_sandbox import NS, attack_spec, running_node, tenant
from workflows.spec.generate import MARKER


async def test_a_script_posing_as_the_generated_module_is_never_imported(tmp_path: Path) -> None:
    pwned = Path("/tmp") / f"pwned-{uuid.uuid4().hex}"
    module = f"# {MARKER} from SPEC.md evil-wf.\nopen({str(pwned)!r}, 'w').write('ran in the node')\n"
    # validates, but generation refuses the agent stage: nothing of the template is written
    spec = attack_spec("evil-wf", "python3 evil.py").replace("| attack | task |", "| attack | agent |")
    async with running_node(tmp_path / "state") as node, tenant(node) as client:
        refusal = await error_of(client, "spec_generate", spec_text=spec, namespace=NS, dry_run=False,
                                 scripts={"evil.py": module})
        assert "scripts" in refusal and "marker" in refusal
        assert not any((tmp_path / "state").rglob("evil.py"))  # refused before anything was written

        # the same script without the marker is written; generation fails; nothing is importable
        report = await call(client, "spec_generate", spec_text=spec, namespace=NS, dry_run=False,
                            scripts={"evil.py": module.replace(MARKER, "not the marker")})
        assert report["ok"] is False
        await error_of(client, "register_workflow_definition", name="evil_wf", namespace=NS)
    assert not pwned.exists()
