"""Config loading: include order, deep merge, overrides, validation errors, hashing."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflows.config import (
    DEFAULT_WORKFLOWS_DIR,
    ExpandedConfig,
    config_names,
    expand_config,
    load_testbed,
)
from workflows.errors import (
    ConfigError,
    ConfigNotFoundError,
    ConfigPathError,
    ConfigStructureError,
    ConfigSyntaxError,
    IncludeCycleError,
    ParameterValueError,
    UnknownParameterError,
)
from workflows.params import DaqParameters, FastProcessingParameters, parameter_json_schema


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_includes_load_in_order_later_wins_and_the_includer_has_the_final_say(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "base.toml": "[daq_state_machine]\nstf_interval = 1.0\nstandby_duration = 7\nbeam_ready_delay = 3\n",
            "first.toml": "[workflow]\nincludes = ['base']\n[daq_state_machine]\nstf_interval = 1.5\nbroadcast_delay = 0.5\n",
            "second.toml": "[daq_state_machine]\nstf_interval = 2.5\nbeam_not_ready_delay = 4\n",
            "main.toml": (
                "[workflow]\nname = 'stf_datataking'\nincludes = ['first', 'second.toml']\n"
                "[daq_state_machine]\nbeam_not_ready_delay = 9\n"
            ),
        },
    )
    cfg = expand_config("main", workflows_dir=tmp_path, testbed=None)
    p = cfg.parameters
    assert p.stf_interval == 2.5  # second include overrides first (and base, recursively)
    assert p.broadcast_delay == 0.5  # only first sets it: deep merge keeps it
    assert p.standby_duration == 7 and p.beam_ready_delay == 3  # from base, two levels down
    assert p.beam_not_ready_delay == 9  # the main file has the final say
    assert cfg.files == ["base.toml", "first.toml", "second.toml", "main.toml"]
    assert "includes" not in cfg.merged["workflow"]
    assert cfg.workflow_name == "stf_datataking"


def test_workflow_section_overrides_daq_section_and_nested_tables_deep_merge(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "daq.toml": "[workflow]\nname = 'x'\ndescription = 'base'\nversion = '1'\n[daq_state_machine]\nstf_count = 0\n",
            "fast.toml": "[workflow]\nversion = '2'\nincludes = ['daq']\n[fast_processing]\nstf_count = 4\n",
        },
    )
    cfg = expand_config("fast.toml", workflows_dir=tmp_path, testbed=None)
    assert isinstance(cfg.parameters, FastProcessingParameters)
    assert cfg.parameters.stf_count == 4
    assert cfg.merged["workflow"] == {"name": "x", "description": "base", "version": "2"}
    assert cfg.workflow_version == "2"


def test_testbed_then_its_parameters_then_caller_override(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "fast.toml": "[fast_processing]\nstf_count = 10\nslices_per_sample = 15\ntarget_worker_count = 30\n",
            "testbed.toml": (
                "[testbed]\nnamespace = 'alice'\n"
                "[fast_processing]\nstf_count = 5\nslices_per_sample = 3\n"
                "[stf_processing]\nstf_count = 99\n"  # another flavour: does not apply here
                "[parameters]\nstf_count = 6\n"
                "[agents.data]\nenabled = false\n"
            ),
        },
    )
    cfg = expand_config("fast", workflows_dir=tmp_path, parameters={"stf_count": 7, "slice_processing_time": None})
    assert cfg.namespace == "alice"
    assert cfg.parameters.stf_count == 7  # caller > [parameters] > testbed section > config
    assert cfg.parameters.slices_per_sample == 3  # testbed section > config
    assert cfg.parameters.target_worker_count == 30
    assert cfg.parameters.slice_processing_time == 30.0  # None = no override, model default
    assert cfg.overrides == {"stf_count": 7}
    assert cfg.merged["fast_processing"]["stf_count"] == 7
    assert "stf_processing" not in cfg.merged
    assert cfg.files[-1] == "testbed.toml"
    assert load_testbed(tmp_path).agents == {"data": {"enabled": False}}
    assert expand_config("fast", workflows_dir=tmp_path, namespace="bob").namespace == "bob"


def test_shipped_configs_have_the_reference_defaults() -> None:
    assert {"daq_state_machine", "fast_processing_default", "stf_processing_default"} <= set(config_names())
    fast = expand_config("fast_processing_default", testbed=None).parameters
    assert isinstance(fast, FastProcessingParameters)
    assert (fast.stf_count, fast.physics_period_count, fast.target_worker_count) == (10, 1, 30)
    assert (fast.stf_sampling_rate, fast.slices_per_sample, fast.slice_processing_time) == (0.05, 15, 30)
    assert (fast.worker_rampup_time, fast.worker_rampdown_time, fast.slice_max_retries) == (300, 60, 3)
    std = expand_config("stf_processing_default.toml").parameters
    assert (std.no_beam_not_ready_delay, std.beam_not_ready_delay, std.beam_ready_delay) == (5, 5, 2)
    assert (std.beam_not_ready_end_delay, std.broadcast_delay, std.stf_interval) == (5, 1, 2.0)
    assert (std.stf_generation_time, std.physics_period_duration, std.physics_period_count) == (0.1, 10, 2)
    assert std.standby_duration == 2 and std.stf_count == 0
    testbed = load_testbed(DEFAULT_WORKFLOWS_DIR)
    assert testbed.workflow.config in config_names()


def test_config_hash_is_stable_and_sensitive(tmp_path: Path) -> None:
    write(tmp_path, {"a.toml": "[daq_state_machine]\nstf_interval = 1.0\nbeam_ready_delay = 3\n"})
    first = expand_config("a", workflows_dir=tmp_path, testbed=None)
    again = expand_config("a.toml", workflows_dir=tmp_path, testbed=None)
    assert first.config_hash == again.config_hash and len(first.config_hash) == 64
    write(tmp_path, {"a.toml": "[daq_state_machine]\nbeam_ready_delay = 3\nstf_interval = 1.0\n"})
    assert expand_config("a", workflows_dir=tmp_path, testbed=None).config_hash == first.config_hash
    changed = expand_config("a", workflows_dir=tmp_path, testbed=None, parameters={"stf_count": 2})
    assert changed.config_hash != first.config_hash


def test_expanded_config_round_trips_through_json() -> None:
    cfg = expand_config("fast_processing_default", parameters={"stf_count": 3})
    back = ExpandedConfig.model_validate_json(cfg.model_dump_json())
    assert back == cfg
    assert isinstance(back.parameters, FastProcessingParameters)


def test_missing_config_lists_what_exists(tmp_path: Path) -> None:
    write(tmp_path, {"real.toml": ""})
    with pytest.raises(ConfigNotFoundError, match=r"'nope.toml' not found; available configs: real") as raised:
        expand_config("nope", workflows_dir=tmp_path, testbed=None)
    assert str(tmp_path) not in str(raised.value)  # the node's paths never reach a client's text


def test_missing_include_names_the_includer(tmp_path: Path) -> None:
    write(tmp_path, {"main.toml": "[workflow]\nincludes = ['gone']\n"})
    with pytest.raises(ConfigNotFoundError, match=r"'gone.toml' \(included from main.toml\) not found"):
        expand_config("main", workflows_dir=tmp_path, testbed=None)


def test_include_cycle_is_named(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.toml": "[workflow]\nincludes = ['b']\n",
            "b.toml": "[workflow]\nincludes = ['sub/c']\n",
            "sub/c.toml": "[workflow]\nincludes = ['b']\n",
        },
    )
    with pytest.raises(IncludeCycleError, match=r"b.toml -> sub/c.toml -> b.toml") as info:
        expand_config("a", workflows_dir=tmp_path, testbed=None)
    assert info.value.cycle == ["b.toml", "sub/c.toml", "b.toml"]


def test_diamond_includes_are_not_a_cycle(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "d.toml": "[daq_state_machine]\nstandby_duration = 1\n",
            "b.toml": "[workflow]\nincludes = ['d']\n",
            "c.toml": "[workflow]\nincludes = ['d']\n",
            "a.toml": "[workflow]\nincludes = ['b', 'c']\n",
        },
    )
    cfg = expand_config("a", workflows_dir=tmp_path, testbed=None)
    assert cfg.parameters.standby_duration == 1
    assert cfg.files == ["d.toml", "b.toml", "c.toml", "a.toml"]


def test_bad_toml_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"main.toml": "[workflow]\nincludes = ['bad']\n", "bad.toml": "[daq_state_machine]\nstf_interval = = 2\n"})
    with pytest.raises(ConfigSyntaxError, match=r"^bad.toml:2: invalid TOML") as info:
        expand_config("main", workflows_dir=tmp_path, testbed=None)
    assert (info.value.file, info.value.line) == ("bad.toml", 2)


@pytest.mark.parametrize("name", ["../outside", "/etc/passwd", "sub/../../outside"])
def test_paths_escaping_the_workflows_directory_are_refused(tmp_path: Path, name: str) -> None:
    root = write(tmp_path / "wf", {"main.toml": f"[workflow]\nincludes = ['{name}']\n"})
    write(tmp_path, {"outside.toml": ""})
    with pytest.raises(ConfigPathError, match="outside the workflows directory"):
        expand_config("main", workflows_dir=root, testbed=None)
    with pytest.raises(ConfigPathError):
        expand_config(name, workflows_dir=root, testbed=None)


def test_symlink_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    root = write(tmp_path / "wf", {"main.toml": "[workflow]\nincludes = ['link']\n"})
    write(tmp_path, {"outside.toml": ""})
    (root / "link.toml").symlink_to(tmp_path / "outside.toml")
    with pytest.raises(ConfigPathError, match="'link'"):
        expand_config("main", workflows_dir=root, testbed=None)


def test_unknown_parameter_in_a_file_names_it_its_file_and_the_valid_ones(tmp_path: Path) -> None:
    write(tmp_path, {"base.toml": "[daq_state_machine]\nstf_intervall = 2\n", "main.toml": "[workflow]\nincludes = ['base']\n"})
    with pytest.raises(UnknownParameterError, match=r"'daq_state_machine.stf_intervall' \(set in base.toml\)") as info:
        expand_config("main", workflows_dir=tmp_path, testbed=None)
    assert "stf_interval" in info.value.valid
    assert "stf_interval" in str(info.value)


def test_unknown_caller_parameter_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownParameterError, match=r"'target_workers' \(set in caller parameters\); valid parameters: .*target_worker_count"):
        expand_config("fast_processing_default", parameters={"target_workers": 3})
    # a fast-processing parameter is unknown to the standard flavour
    with pytest.raises(UnknownParameterError, match="'target_worker_count'"):
        expand_config("stf_processing_default", parameters={"target_worker_count": 3})


@pytest.mark.parametrize(
    ("parameters", "field", "allowed"),
    [
        ({"stf_count": -1}, "stf_count", "integer >= 0"),
        ({"stf_count": 2.5}, "stf_count", "integer >= 0"),
        ({"stf_count": "5"}, "stf_count", "integer >= 0"),
        ({"stf_interval": 0}, "stf_interval", "number > 0"),
        ({"stf_interval": True}, "stf_interval", "number > 0"),
        ({"stf_sampling_rate": 1.5}, "stf_sampling_rate", "number > 0 and <= 1"),
    ],
)
def test_wrong_type_or_range_names_field_and_allowed_range(parameters: dict[str, object], field: str, allowed: str) -> None:
    with pytest.raises(ParameterValueError) as info:
        expand_config("fast_processing_default", parameters=parameters)
    assert info.value.field == field
    assert f"parameter '{field}' (set in caller parameters)" in str(info.value)
    assert f"allowed: {allowed}" in str(info.value)


def test_bad_value_in_a_file_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, {"a.toml": "[daq_state_machine]\nbeam_ready_delay = -2\n"})
    with pytest.raises(ParameterValueError, match=r"'beam_ready_delay' \(set in a.toml \[daq_state_machine\]\).*allowed: number >= 0"):
        expand_config("a", workflows_dir=tmp_path, testbed=None)


def test_cross_field_rules_name_both_fields() -> None:
    with pytest.raises(ParameterValueError, match="stf_generation_time .* must be less than stf_interval"):
        expand_config("stf_processing_default", parameters={"stf_generation_time": 3.0})
    with pytest.raises(ParameterValueError, match="stf_interval .* must not exceed physics_period_duration"):
        expand_config("stf_processing_default", parameters={"stf_interval": 20.0})
    with pytest.raises(ParameterValueError, match="worker_count_min <= target_worker_count <= max_worker_count"):
        expand_config("fast_processing_default", parameters={"target_worker_count": 100})


def test_structure_errors(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "two.toml": "[fast_processing]\n[stf_processing]\n",
            "unknown.toml": "[fastprocessing]\nstf_count = 1\n",
            "clash_base.toml": "[daq_state_machine]\nstf_interval = 2\n",
            "clash.toml": "[workflow]\nincludes = ['clash_base']\n[daq_state_machine.stf_interval]\nx = 1\n",
            "badinc.toml": "[workflow]\nincludes = 'daq'\n",
            "badkey.toml": "[workflow]\nnmae = 'x'\n",
        },
    )
    with pytest.raises(ConfigStructureError, match=r"only one workflow section, found \[stf_processing\] in two.toml, \[fast_processing\] in two.toml"):
        expand_config("two", workflows_dir=tmp_path, testbed=None)
    with pytest.raises(ConfigStructureError, match=r"unknown.toml: unknown table \[fastprocessing\]; known tables: .*fast_processing"):
        expand_config("unknown", workflows_dir=tmp_path, testbed=None)
    with pytest.raises(ConfigStructureError, match=r"clash.toml: 'daq_state_machine.stf_interval' is a table here but a value in clash_base.toml"):
        expand_config("clash", workflows_dir=tmp_path, testbed=None)
    with pytest.raises(ConfigStructureError, match="includes must be a list"):
        expand_config("badinc", workflows_dir=tmp_path, testbed=None)
    with pytest.raises(UnknownParameterError, match=r"'workflow.nmae' \(set in badkey.toml\)"):
        expand_config("badkey", workflows_dir=tmp_path, testbed=None)


def test_testbed_errors(tmp_path: Path) -> None:
    write(tmp_path, {"a.toml": "", "testbed.toml": "[testbed]\nnamespace = 'Bad Name'\n"})
    with pytest.raises(ParameterValueError, match=r"'testbed.namespace' \(set in testbed.toml\).*allowed: 1-63 characters"):
        expand_config("a", workflows_dir=tmp_path)
    write(tmp_path, {"testbed.toml": "[testbed]\nnamspace = 'x'\n"})
    with pytest.raises(UnknownParameterError, match=r"'testbed.namspace'.*valid parameters: namespace"):
        expand_config("a", workflows_dir=tmp_path)
    write(tmp_path, {"testbed.toml": "[parameters]\nstf_cnt = 1\n"})
    with pytest.raises(UnknownParameterError, match=r"'stf_cnt' \(set in testbed.toml \[parameters\]\)"):
        expand_config("a", workflows_dir=tmp_path)
    with pytest.raises(ConfigNotFoundError, match="'other.toml' not found"):
        expand_config("a", workflows_dir=tmp_path, testbed="other")
    with pytest.raises(ParameterValueError, match="testbed.namespace"):
        expand_config("a", workflows_dir=tmp_path, testbed=None, namespace="")


def test_every_config_error_is_a_config_error() -> None:
    for cls in (ConfigNotFoundError, ConfigPathError, ConfigSyntaxError, IncludeCycleError, ConfigStructureError, UnknownParameterError, ParameterValueError):
        assert issubclass(cls, ConfigError)


def test_parameter_schema_is_exportable_with_descriptions_and_bounds() -> None:
    schema = parameter_json_schema("fast_processing")
    props = schema["properties"]
    assert props["stf_sampling_rate"]["exclusiveMinimum"] == 0 and props["stf_sampling_rate"]["maximum"] == 1
    assert props["stf_count"]["minimum"] == 0
    assert all(prop.get("description") for prop in props.values())
    assert set(DaqParameters.model_fields) < set(props)
    assert schema["additionalProperties"] is False
