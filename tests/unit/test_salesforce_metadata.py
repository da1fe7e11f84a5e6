"""The shipped Salesforce metadata (`salesforce/`), the doctor's list of
required fields and the sandbox's schema say the same thing: none of the
three can change without the others (the sandbox reads the metadata, these
tests hold the rest)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from api.intake import sign
from om.salesforce_doctor import MAPPED_REQUIREMENTS, PERMISSION_SET_FILE, REQUIREMENTS
from sandbox.metadata import (
    METADATA_DIR,
    MetadataError,
    custom_fields,
    custom_objects,
)
from sandbox.schema import CALCULATED, PACKAGED, PACKAGED_FIELDS, SOBJECTS

ROOT = METADATA_DIR.parent
EVERY_REQUIREMENT = REQUIREMENTS + MAPPED_REQUIREMENTS
"""What any source and ready mapping reads or writes."""
EXTENSION_PERMISSION_SETS = {
    f"salesforce/{package}/default": (
        f"salesforce/{package}/default/permissionsets/{name}.permissionset-meta.xml"
    )
    for package, name in (("cpq", "OM_Integration_CPQ"), ("zuora", "OM_Integration_Zuora"))
}
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}


def test_every_required_custom_field_is_shipped_with_a_fitting_type():
    shipped = {(f.sobject, f.name): f for f in custom_fields()}
    for req in EVERY_REQUIREMENT:
        if not req.custom:
            continue
        field = shipped.get((req.sobject, req.field))
        assert field is not None, f"{req.sobject}.{req.field} has no metadata file"
        assert field.relative_path == req.metadata_file
        assert field.describe_type in req.types, (req, field.describe_type)


def test_every_shipped_custom_field_is_required_by_the_project():
    """No field is deployed that nothing reads or writes."""
    required = {(r.sobject, r.field) for r in EVERY_REQUIREMENT if r.custom}
    assert {(f.sobject, f.name) for f in custom_fields()} == required


def test_the_sandbox_schema_is_derived_from_the_metadata():
    for field in custom_fields():
        assert SOBJECTS[field.sobject][field.name] == field.describe_type
        assert (field.name in CALCULATED[field.sobject]) == field.calculated
    sandbox_custom = {
        (obj, name)
        for obj, fields in SOBJECTS.items()
        for name in fields
        if name.endswith("__c") and (obj, name) not in PACKAGED_FIELDS
    }
    assert sandbox_custom == {(f.sobject, f.name) for f in custom_fields()}
    assert set(custom_objects()) == {o for o in SOBJECTS if o.endswith("__c") and o not in PACKAGED}


def test_the_permission_set_grants_exactly_what_the_project_uses():
    root = ET.parse(ROOT / PERMISSION_SET_FILE).getroot()
    granted = {
        p.findtext("md:field", namespaces=NS): p.findtext("md:editable", namespaces=NS)
        for p in root.findall("md:fieldPermissions", NS)
    }
    expected = {
        f"{r.sobject}.{r.field}": str(r.edit).lower()
        for r in EVERY_REQUIREMENT
        if r.custom and r.field != "Name" and r.root not in EXTENSION_PERMISSION_SETS
    }
    assert granted == expected
    calculated = {f"{f.sobject}.{f.name}" for f in custom_fields() if f.calculated}
    assert all(granted[name] == "false" for name in calculated)
    objects = {
        p.findtext("md:object", namespaces=NS): p.findtext("md:allowEdit", namespaces=NS)
        for p in root.findall("md:objectPermissions", NS)
    }
    assert objects["Opportunity"] == "true"
    assert set(objects) >= {r.sobject for r in REQUIREMENTS if r.custom}


@pytest.mark.parametrize("root", sorted(EXTENSION_PERMISSION_SETS))
def test_each_quoting_package_extension_grants_its_own_fields(root: str):
    """Fields added to a managed package's object ship with their own
    permission set, so `main` deploys to orgs without that package."""
    tree = ET.parse(ROOT / EXTENSION_PERMISSION_SETS[root]).getroot()
    granted = {
        p.findtext("md:field", namespaces=NS): p.findtext("md:editable", namespaces=NS)
        for p in tree.findall("md:fieldPermissions", NS)
    }
    expected = {
        f"{r.sobject}.{r.field}": "false"
        for r in MAPPED_REQUIREMENTS
        if r.custom and r.root == root
    }
    assert expected and granted == expected


def test_every_metadata_file_is_well_formed_and_the_project_file_points_at_it():
    files = [p for p in METADATA_DIR.rglob("*") if p.name.endswith("-meta.xml")]
    assert len(files) > 20
    for path in files:
        ET.parse(path)  # raises on malformed XML
    project = json.loads((ROOT / "sfdx-project.json").read_text())
    assert {"path": "salesforce", "default": True} in project["packageDirectories"]


def test_the_apex_callout_signs_like_the_api():
    """The Apex test's HMAC vector is what `api.intake.sign` computes, so
    the callout and the API agree on the signature."""
    apex = (METADATA_DIR / "main/default/classes/OmIntakeCalloutTest.cls").read_text()
    found = re.search(r"'([0-9a-f]{64})',\s*OmIntakeCallout\.signature\('(.*?)', '(.*?)'\)", apex)
    assert found is not None
    digest, body, secret = found.groups()
    assert sign(body.encode(), secret) == digest
    callout = (METADATA_DIR / "main/default/classes/OmIntakeCallout.cls").read_text()
    assert "'X-OM-Signature'" in callout and "callout:OM_Intake/intake/salesforce" in callout


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("Other__c", "<fullName>Mine__c</fullName><type>Text</type>", "does not match"),
        ("Mine__c", "<fullName>Mine__c</fullName><type>Hologram</type>", "Hologram"),
        ("Mine__c", "<fullName>Mine__c</fullName>", "fullName and type are required"),
    ],
)
def test_a_bad_field_file_is_refused_by_name(tmp_path: Path, name: str, content: str, reason: str):
    folder = tmp_path / "Opportunity" / "fields"
    folder.mkdir(parents=True)
    path = folder / f"{name}.field-meta.xml"
    path.write_text(
        f'<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">{content}</CustomField>'
    )
    with pytest.raises(MetadataError, match=reason) as raised:
        custom_fields(tmp_path)
    assert str(path) in str(raised.value)
