from __future__ import annotations

import pytest

from prov_agent import ids
from prov_agent.errors import InvalidProvInput
from prov_agent.model import CLASSES, RELATIONS, AIAgent, Decision, DomainData, Element, Person, RecordBody, Relation


def test_ids_are_stable_and_prov_n_safe() -> None:
    assert ids.execution_id("stf_datataking-alice-0001") == "controlroom:execution/stf_datataking-alice-0001"
    assert ids.stf_id("swf.100010.000001.stf") == "controlroom:stf/swf.100010.000001.stf"
    assert ids.run_id(100010) == "controlroom:run/100010"
    assert ids.person_id("Alice Smith/x") == "controlroom:person/Alice%20Smith%2Fx"
    assert ids.person_id("Alice Smith/x") == ids.person_id("Alice Smith/x")


def test_every_class_maps_to_a_prov_kind_and_typed_builders_use_them() -> None:
    assert {kind for kind, _ in CLASSES.values()} == {"entity", "activity", "agent"}
    assert AIAgent(name="debugger").to_element().kind == "agent"
    assert "prov:SoftwareAgent" in CLASSES["AIAgent"][1]
    assert Person(user="alice").to_element().attrs == {"user": "alice"}
    d = Decision(uid="u1", chosen="raise memory", rationale="OOM", alternatives=["retry", "stop"]).to_element()
    assert d.kind == "activity" and d.attrs["alternatives"] == '["retry", "stop"]'
    assert DomainData(data_kind="stf", name="swf.100010.000001.stf").to_element().id == ids.stf_id("swf.100010.000001.stf")


def test_relation_between_wrong_kinds_is_refused_and_names_the_field() -> None:
    file = Element(id="controlroom:stf/a", cls="DomainData")
    run = Element(id="controlroom:run/1", cls="Task")
    RecordBody(elements=[file, run], relations=[Relation(rel="wasGeneratedBy", src=file.id, dst=run.id)])
    with pytest.raises(InvalidProvInput, match=r"relations\[0\]\.src"):
        RecordBody(elements=[file, run], relations=[Relation(rel="wasGeneratedBy", src=run.id, dst=file.id)])
    assert set(RELATIONS) >= {"used", "wasGeneratedBy", "wasInformedBy", "wasAssociatedWith", "wasAttributedTo",
                              "actedOnBehalfOf", "hadMember"}


def test_bad_ids_and_attribute_names_are_refused() -> None:
    with pytest.raises(InvalidProvInput, match="qualified name"):
        Element(id="no prefix", cls="Entity")
    with pytest.raises(InvalidProvInput, match=r"attrs\.bad key"):
        Element(id="controlroom:x/1", cls="Entity", attrs={"bad key": 1})
