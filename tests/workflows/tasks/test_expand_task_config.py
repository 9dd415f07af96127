"""expand_config on a generated task workflow's config: its own parameter model, stored and read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflows.config import ExpandedConfig, expand_config
from workflows.errors import ConfigStructureError, ParameterValueError, UnknownParameterError
from workflows.spec.generate import load_generated

GENERATED = Path(__file__).resolve().parents[3] / "skills" / "examples" / "fl-workflow" / "generated"


def test_task_config_validates_against_the_workflow_model_and_reads_back() -> None:
    model = load_generated(GENERATED).workflow.parameters
    cfg = expand_config("fl_workflow", workflows_dir=GENERATED, parameters={"K": 2, "lr": 1}, namespace="bob",
                        parameter_model=model)
    assert cfg.kind == "task" and cfg.directory == str(GENERATED.resolve()) and cfg.files == ["agents.toml", "fl_workflow.toml"]
    assert cfg.parameters.K == 2 and cfg.parameters.T == 3 and cfg.merged["parameters"]["K"] == 2
    back = ExpandedConfig.model_validate(cfg.model_dump(mode="json"))
    assert back.parameters.model_dump() == cfg.parameters.model_dump() and back.config_hash == cfg.config_hash
    with pytest.raises(ParameterValueError, match="'K'.*>= 1"):
        expand_config("fl_workflow", workflows_dir=GENERATED, parameters={"K": 0}, parameter_model=model)
    with pytest.raises(ParameterValueError, match="'T'"):
        expand_config("fl_workflow", workflows_dir=GENERATED, parameters={"T": "3"}, parameter_model=model)
    with pytest.raises(UnknownParameterError, match="stf_count.*samples_per_client"):
        expand_config("fl_workflow", workflows_dir=GENERATED, parameters={"stf_count": 1}, parameter_model=model)


def test_task_config_refuses_unknown_tables_and_bad_policy(tmp_path: Path) -> None:
    model = load_generated(GENERATED).workflow.parameters
    (tmp_path / "w.toml").write_text('[workflow]\nname = "w"\n[fast_processing]\nstf_count = 1\n')
    with pytest.raises(ConfigStructureError, match=r"unknown table \[fast_processing\]"):
        expand_config("w", workflows_dir=tmp_path, parameter_model=model)
    (tmp_path / "w.toml").write_text('[workflow]\nname = "w"\n[tasks]\nretries = -1\n')
    with pytest.raises(ParameterValueError, match="tasks.retries"):
        expand_config("w", workflows_dir=tmp_path, parameter_model=model)
