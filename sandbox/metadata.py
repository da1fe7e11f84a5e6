"""The custom fields of the shipped Salesforce metadata (`salesforce/`, SFDX
source format), read so the sandbox's schema is derived from the very files
an admin deploys: a field added to the metadata exists in the sandbox, and a
field the sandbox needs cannot be missing from the metadata.

Only what the sandbox stores is read: each field's API name, its type
(mapped to the REST describe type the adapters see) and whether it is
calculated (a formula, read-only). Custom metadata types (`__mdt`) are
configuration, not records, and are skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

METADATA_DIR = Path(__file__).resolve().parent.parent / "salesforce"
OBJECTS_DIR = METADATA_DIR / "main" / "default" / "objects"
EXTENSION_DIRS = ("cpq", "zuora")
"""Package directories beside `main` that add fields to a quoting package's
objects (deployed only where that package is installed)."""


def _objects_dirs(objects_dir: Path | None) -> list[Path]:
    if objects_dir is not None:
        return [objects_dir]
    return [OBJECTS_DIR] + [METADATA_DIR / d / "default" / "objects" for d in EXTENSION_DIRS]


_NS = {"md": "http://soap.sforce.com/2006/04/metadata"}

DESCRIBE_TYPES = {
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "LongTextArea": "textarea",
    "TextArea": "textarea",
    "Lookup": "reference",
    "MasterDetail": "reference",
    "Number": "double",
    "Percent": "double",
    "Picklist": "picklist",
    "Text": "string",
    "Email": "string",
}
"""Metadata field type -> the REST describe `type` (Currency fields would be
"currency"; the shipped fields use Number so the sandbox stores doubles)."""


@dataclass(frozen=True)
class CustomField:
    sobject: str
    name: str
    metadata_type: str
    describe_type: str
    calculated: bool
    path: Path
    reference_to: str | None = None

    @property
    def relative_path(self) -> str:
        """The path inside the repository, as the doctor names it."""
        return self.path.relative_to(METADATA_DIR.parent).as_posix()


class MetadataError(ValueError):
    """A field file the sandbox cannot use (named, with the reason)."""


def _text(root: ET.Element, tag: str) -> str | None:
    node = root.find(f"md:{tag}", _NS)
    return node.text.strip() if node is not None and node.text else None


@cache
def custom_fields(objects_dir: Path | None = None) -> tuple[CustomField, ...]:
    """Every `<Object>/fields/<Field>.field-meta.xml` (of `main` and the
    quoting packages' directories unless `objects_dir` is given), sorted by
    directory, object and field."""
    found: list[CustomField] = []
    paths = [
        p for d in _objects_dirs(objects_dir) for p in sorted(d.glob("*/fields/*.field-meta.xml"))
    ]
    for path in paths:
        sobject = path.parent.parent.name
        if sobject.endswith("__mdt"):
            continue
        root = ET.parse(path).getroot()
        name = _text(root, "fullName")
        kind = _text(root, "type")
        if name is None or kind is None:
            raise MetadataError(f"{path}: fullName and type are required")
        if path.name != f"{name}.field-meta.xml":
            raise MetadataError(f"{path}: fullName {name} does not match the file name")
        if kind not in DESCRIBE_TYPES:
            raise MetadataError(f"{path}: field type {kind} is not known to the sandbox")
        found.append(
            CustomField(
                sobject=sobject,
                name=name,
                metadata_type=kind,
                describe_type=DESCRIBE_TYPES[kind],
                calculated=_text(root, "formula") is not None,
                path=path,
                reference_to=_text(root, "referenceTo"),
            )
        )
    return tuple(found)


def custom_objects(objects_dir: Path | None = None) -> tuple[str, ...]:
    """The custom objects the metadata creates (`<Name>__c/<Name>__c.object-meta.xml`)."""
    return tuple(
        sorted(
            p.parent.name
            for d in _objects_dirs(objects_dir)
            for p in d.glob("*__c/*.object-meta.xml")
            if p.name == f"{p.parent.name}.object-meta.xml"
        )
    )
