"""Booking-requirement rules and reason codes: one test per rule, both sides.

Payloads start from the contract's example opportunity (the `example_payload`
fixture reads tests/fixtures/opportunity.example.json) and change only what a
test is about, so every other rule stays satisfied.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from domain.models import Opportunity
from domain.reasons import (
    REASON_MESSAGES,
    ReasonCode,
    UnknownReasonCode,
    parse_reason_codes,
)
from domain.requirements import BookingPolicy, Finding, check_booking_requirements

Payload = dict[str, Any]


def findings(payload: Payload, policy: BookingPolicy | None = None) -> list[Finding]:
    return check_booking_requirements(Opportunity.model_validate(payload), policy)


def codes(payload: Payload, policy: BookingPolicy | None = None) -> list[str]:
    return [f.code for f in findings(payload, policy)]


def matching_po(payload: Payload, **changes: Any) -> dict[str, Any]:
    """A PO that agrees with the payload's quote in every compared field."""
    po = {
        "number": "PO-7781",
        "amount": payload["amount"],
        "currency": payload["currency"],
        "selling_entity": payload["quote"]["selling_entity"],
        "quote_number": payload["quote"]["number"],
        "payment_terms": payload["quote"]["payment_terms"],
    }
    po.update(changes)
    return po


def partner_deal(payload: Payload, route: str = "reseller") -> Payload:
    """A bookable partner deal: partner-signed order form, EULA accepted."""
    payload["sales_route"] = route
    payload["order_form"]["partner_signed"] = True
    payload["eula_accepted"] = True
    return payload


# --- the contract ---------------------------------------------------------


def test_example_payload_is_bookable(example_payload: Payload) -> None:
    assert findings(example_payload) == []


def extra_fields(model: BaseModel, where: str = "") -> list[str]:
    """Dotted names of the fields `model` (and the models inside it) kept as
    extras: sent, but matching no declared field."""
    found = [f"{where}{name}" for name in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found += extra_fields(value, f"{where}{name}.")
    return found


def test_every_field_of_the_contract_example_is_modelled(example_payload: Payload) -> None:
    """The models keep unknown fields as extras rather than refusing them, so a
    renamed model field would silently stop reading the contract's field: the
    example, with a PO, must land in declared fields only."""
    example_payload["po"] = matching_po(example_payload)
    assert extra_fields(Opportunity.model_validate(example_payload)) == []


def test_a_field_the_models_do_not_know_is_kept_as_an_extra(example_payload: Payload) -> None:
    example_payload["quote"]["sold_to"]["nickname"] = "Sammy"
    assert extra_fields(Opportunity.model_validate(example_payload)) == ["quote.sold_to.nickname"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("sales_route",), "carrier_pigeon"),
        (("quote", "start_date"), "next tuesday"),
        (("account", "region"), "MARS"),
    ],
)
def test_invalid_payload_raises_validation_error_naming_the_field(
    example_payload: Payload, path: tuple[str, ...], value: str
) -> None:
    target = example_payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError) as excinfo:
        Opportunity.model_validate(example_payload)
    assert path in [error["loc"] for error in excinfo.value.errors()]
    assert ".".join(path) in str(excinfo.value)


def test_missing_required_field_is_named(example_payload: Payload) -> None:
    del example_payload["quote"]["number"]
    with pytest.raises(ValidationError, match=r"quote\.number"):
        Opportunity.model_validate(example_payload)


# --- null or missing nested objects ---------------------------------------
# docs/architecture.md, "The data contract": null and a missing key mean the
# same, either "absent" (the rules give their finding) or "required".

ABSENT = ["null", "missing"]


def make_absent(target: Payload, key: str, how: str) -> None:
    if how == "null":
        target[key] = None
    else:
        del target[key]


@pytest.mark.parametrize("how", ABSENT)
def test_absent_order_form_on_a_direct_deal_is_order_form_missing(
    example_payload: Payload, how: str
) -> None:
    make_absent(example_payload, "order_form", how)
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == ("ORDER_FORM_MISSING", "order_form.attached")


@pytest.mark.parametrize("how", ABSENT)
def test_absent_order_form_with_an_msa_in_place_is_bookable(
    example_payload: Payload, how: str
) -> None:
    make_absent(example_payload, "order_form", how)
    example_payload["msa_in_place"] = True
    assert findings(example_payload) == []


@pytest.mark.parametrize("how", ABSENT)
def test_absent_order_form_on_a_partner_deal_means_no_partner_signature(
    example_payload: Payload, how: str
) -> None:
    partner_deal(example_payload)
    make_absent(example_payload, "order_form", how)
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == ("PO_MISSING", "po")


@pytest.mark.parametrize("how", ABSENT)
@pytest.mark.parametrize("contact", ["sold_to", "bill_to", "invoice_owner"])
def test_absent_contact_is_contact_address_incomplete(
    example_payload: Payload, contact: str, how: str
) -> None:
    make_absent(example_payload["quote"], contact, how)
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == (
        "CONTACT_ADDRESS_INCOMPLETE",
        f"quote.{contact}.address",
    )
    assert "street, city, postal code and country" in finding.message


@pytest.mark.parametrize("how", ABSENT)
@pytest.mark.parametrize("contact", ["sold_to", "bill_to", "invoice_owner"])
def test_absent_contact_address_is_contact_address_incomplete(
    example_payload: Payload, contact: str, how: str
) -> None:
    make_absent(example_payload["quote"][contact], "address", how)
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == (
        "CONTACT_ADDRESS_INCOMPLETE",
        f"quote.{contact}.address",
    )


@pytest.mark.parametrize("how", ABSENT)
def test_absent_po_is_po_missing_only_when_one_is_required(
    example_payload: Payload, how: str
) -> None:
    example_payload["po"] = None
    make_absent(example_payload, "po", how)
    assert findings(example_payload) == []
    example_payload["po_required"] = True
    assert codes(example_payload) == ["PO_MISSING"]


@pytest.mark.parametrize("field", ["account", "owner", "quote"])
def test_null_required_object_is_refused_naming_the_field(
    example_payload: Payload, field: str
) -> None:
    example_payload[field] = None
    with pytest.raises(ValidationError) as excinfo:
        Opportunity.model_validate(example_payload)
    [error] = excinfo.value.errors()
    assert error["loc"] == (field,)
    assert error["msg"] == "is required; null is not accepted"


@pytest.mark.parametrize("field", ["account", "owner", "quote"])
def test_missing_required_object_is_refused_naming_the_field(
    example_payload: Payload, field: str
) -> None:
    del example_payload[field]
    with pytest.raises(ValidationError) as excinfo:
        Opportunity.model_validate(example_payload)
    [error] = excinfo.value.errors()
    assert (error["loc"], error["type"]) == ((field,), "missing")


def test_a_null_object_is_carried_on_as_its_empty_form(example_payload: Payload) -> None:
    """What the workflow receives always carries the object, as the recorded
    histories' payloads do, and reads back to the same opportunity."""
    example_payload["order_form"] = None
    example_payload["quote"]["bill_to"] = None
    opp = Opportunity.model_validate(example_payload)
    dumped = opp.model_dump(mode="json")
    assert dumped["order_form"]["attached"] is False
    assert dumped["quote"]["bill_to"]["address"] == {
        "street": None,
        "city": None,
        "postal_code": None,
        "country": None,
    }
    assert Opportunity.model_validate(dumped) == opp


def test_findings_are_frozen_hard_findings(example_payload: Payload) -> None:
    example_payload["tax_removed"] = True
    [finding] = findings(example_payload)
    assert finding.severity == "hard"
    with pytest.raises(ValidationError):
        finding.code = "OTHER"  # type: ignore[misc]


# --- ORDER_FORM_MISSING ---------------------------------------------------


def test_direct_deal_without_order_form_or_msa_is_flagged(example_payload: Payload) -> None:
    example_payload["order_form"] = {"attached": False}
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == ("ORDER_FORM_MISSING", "order_form.attached")


def test_direct_deal_with_msa_needs_no_order_form(example_payload: Payload) -> None:
    example_payload["order_form"] = {"attached": False}
    example_payload["msa_in_place"] = True
    assert findings(example_payload) == []


def test_partner_deal_needs_no_customer_order_form(example_payload: Payload) -> None:
    partner_deal(example_payload)
    example_payload["order_form"]["attached"] = False
    assert findings(example_payload) == []


# --- ORDER_FORM_SIGNATURE_INCOMPLETE --------------------------------------


@pytest.mark.parametrize("part", ["signer_name", "signer_title", "signer_company", "signed_date"])
def test_order_form_signature_missing_a_part_is_flagged(
    example_payload: Payload, part: str
) -> None:
    example_payload["order_form"][part] = None
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == (
        "ORDER_FORM_SIGNATURE_INCOMPLETE",
        f"order_form.{part}",
    )


def test_blank_signer_name_counts_as_missing(example_payload: Payload) -> None:
    example_payload["order_form"]["signer_name"] = "   "
    assert codes(example_payload) == ["ORDER_FORM_SIGNATURE_INCOMPLETE"]


def test_signature_missing_several_parts_is_one_finding_on_the_order_form(
    example_payload: Payload,
) -> None:
    example_payload["order_form"].update(signer_title=None, signed_date=None)
    [finding] = findings(example_payload)
    assert finding.field == "order_form"
    assert "title" in finding.message and "date" in finding.message


def test_signature_is_not_checked_without_an_attached_order_form(example_payload: Payload) -> None:
    example_payload["order_form"] = {"attached": False, "signer_name": None}
    example_payload["msa_in_place"] = True
    assert findings(example_payload) == []


# --- PO_MISSING -----------------------------------------------------------


def test_po_required_without_po_is_flagged(example_payload: Payload) -> None:
    example_payload["po_required"] = True
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == ("PO_MISSING", "po")


def test_po_required_with_matching_po_passes(example_payload: Payload) -> None:
    example_payload["po_required"] = True
    example_payload["po"] = matching_po(example_payload)
    assert findings(example_payload) == []


def test_po_waiver_email_replaces_the_po(example_payload: Payload) -> None:
    example_payload["po_required"] = True
    example_payload["po_waiver_attached"] = True
    assert findings(example_payload) == []


@pytest.mark.parametrize("route", ["reseller", "distributor", "msp"])
def test_partner_deal_without_partner_signed_order_form_needs_a_po(
    example_payload: Payload, route: str
) -> None:
    partner_deal(example_payload, route)
    example_payload["order_form"] = {"attached": False}
    assert codes(example_payload) == ["PO_MISSING"]


@pytest.mark.parametrize("route", ["reseller", "distributor", "msp"])
def test_partner_signed_order_form_replaces_the_po(example_payload: Payload, route: str) -> None:
    partner_deal(example_payload, route)
    assert findings(example_payload) == []


def test_partner_deal_po_waiver_replaces_the_po(example_payload: Payload) -> None:
    partner_deal(example_payload)
    example_payload["order_form"]["partner_signed"] = False
    example_payload["po_waiver_attached"] = True
    assert findings(example_payload) == []


def test_direct_deal_without_po_flag_needs_no_po(example_payload: Payload) -> None:
    assert example_payload["po"] is None and not example_payload["po_required"]
    assert "PO_MISSING" not in codes(example_payload)


# --- PO_MISMATCH ----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quote_number", "Q-99999"),
        ("currency", "EUR"),
        ("payment_terms", "Net 60"),
        ("selling_entity", "GitLab B.V."),
        ("quote_number", None),
    ],
)
def test_po_differing_from_the_quote_is_flagged(
    example_payload: Payload, field: str, value: str | None
) -> None:
    example_payload["po"] = matching_po(example_payload, **{field: value})
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == ("PO_MISMATCH", f"po.{field}")


def test_po_text_compares_without_case_or_spacing(example_payload: Payload) -> None:
    example_payload["po"] = matching_po(
        example_payload, currency="usd", payment_terms=" net  30 ", selling_entity="GITLAB INC."
    )
    assert findings(example_payload) == []


@pytest.mark.parametrize(
    ("po_amount", "flagged"),
    [
        (125_625.00, False),  # exactly +0.5%
        (124_375.00, False),  # exactly -0.5%
        (125_625.01, True),
        (124_374.99, True),
    ],
)
def test_po_amount_tolerance_is_half_a_percent_inclusive(
    example_payload: Payload, po_amount: float, flagged: bool
) -> None:
    assert example_payload["amount"] == 125_000.0
    example_payload["po"] = matching_po(example_payload, amount=po_amount)
    assert codes(example_payload) == (["PO_MISMATCH"] if flagged else [])


def test_po_without_amount_is_a_mismatch(example_payload: Payload) -> None:
    example_payload["po"] = matching_po(example_payload, amount=None)
    assert [(f.code, f.field) for f in findings(example_payload)] == [("PO_MISMATCH", "po.amount")]


def test_po_mismatches_are_reported_per_field_in_field_order(example_payload: Payload) -> None:
    example_payload["po"] = matching_po(
        example_payload, selling_entity="GitLab GmbH", currency="EUR", amount=1.0
    )
    assert [f.field for f in findings(example_payload)] == [
        "po.amount",
        "po.currency",
        "po.selling_entity",
    ]


# --- EULA_MISSING ---------------------------------------------------------


@pytest.mark.parametrize("route", ["reseller", "distributor", "msp"])
@pytest.mark.parametrize("accepted", [None, False])
def test_partner_deal_without_eula_acceptance_is_flagged(
    example_payload: Payload, route: str, accepted: bool | None
) -> None:
    partner_deal(example_payload, route)
    example_payload["eula_accepted"] = accepted
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == ("EULA_MISSING", "eula_accepted")


def test_direct_deal_needs_no_eula(example_payload: Payload) -> None:
    assert example_payload["eula_accepted"] is None
    assert findings(example_payload) == []


# --- PRIVATE_OFFER_NOT_ACCEPTED -------------------------------------------


@pytest.mark.parametrize("route", ["aws_marketplace", "gcp_marketplace"])
@pytest.mark.parametrize("accepted", [None, False])
def test_marketplace_deal_without_accepted_offer_is_flagged(
    example_payload: Payload, route: str, accepted: bool | None
) -> None:
    example_payload["sales_route"] = route
    example_payload["private_offer_accepted"] = accepted
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == ("PRIVATE_OFFER_NOT_ACCEPTED", "private_offer_accepted")


@pytest.mark.parametrize("route", ["aws_marketplace", "gcp_marketplace"])
def test_marketplace_deal_with_accepted_offer_passes(example_payload: Payload, route: str) -> None:
    example_payload["sales_route"] = route
    example_payload["private_offer_accepted"] = True
    assert findings(example_payload) == []


# --- PUBLIC_SECTOR_PO_AMOUNT ----------------------------------------------


@pytest.mark.parametrize(
    ("amount", "po_amount", "flagged"),
    [
        (125_000.00, 125_001.00, False),  # exactly $1.00 over
        (125_000.00, 124_999.00, False),  # exactly $1.00 under
        (125_000.00, 125_001.01, True),
        (125_000.00, 124_998.99, True),
        (125_000.37, 125_001.37, False),  # $1.00 with cents: no float drift
        (125_000.37, 125_001.38, True),
    ],
)
def test_public_sector_po_total_within_one_dollar(
    example_payload: Payload, amount: float, po_amount: float, flagged: bool
) -> None:
    example_payload["sales_route"] = "public_sector"
    example_payload["amount"] = amount
    example_payload["po"] = matching_po(example_payload, amount=po_amount)
    assert codes(example_payload) == (["PUBLIC_SECTOR_PO_AMOUNT"] if flagged else [])


def test_public_sector_without_po_is_flagged(example_payload: Payload) -> None:
    example_payload["sales_route"] = "public_sector"
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == ("PUBLIC_SECTOR_PO_AMOUNT", "po")


def test_public_sector_po_without_amount_is_flagged(example_payload: Payload) -> None:
    example_payload["sales_route"] = "public_sector"
    example_payload["po"] = matching_po(example_payload, amount=None)
    assert ("PUBLIC_SECTOR_PO_AMOUNT", "po.amount") in [
        (f.code, f.field) for f in findings(example_payload)
    ]


def test_one_dollar_rule_applies_to_public_sector_only(example_payload: Payload) -> None:
    example_payload["po"] = matching_po(example_payload, amount=125_100.00)
    assert findings(example_payload) == []


# --- CONTACT_ADDRESS_INCOMPLETE -------------------------------------------


@pytest.mark.parametrize("contact", ["sold_to", "bill_to", "invoice_owner"])
@pytest.mark.parametrize("part", ["street", "city", "postal_code", "country"])
def test_contact_address_missing_a_part_is_flagged(
    example_payload: Payload, contact: str, part: str
) -> None:
    example_payload["quote"][contact]["address"][part] = None
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == (
        "CONTACT_ADDRESS_INCOMPLETE",
        f"quote.{contact}.address.{part}",
    )


def test_contact_without_address_is_one_finding_for_the_contact(example_payload: Payload) -> None:
    del example_payload["quote"]["invoice_owner"]["address"]
    [finding] = findings(example_payload)
    assert finding.field == "quote.invoice_owner.address"
    assert "Invoice Owner" in finding.message


def test_each_incomplete_contact_is_reported_in_field_order(example_payload: Payload) -> None:
    example_payload["quote"]["sold_to"]["address"]["city"] = ""
    example_payload["quote"]["bill_to"]["address"]["street"] = None
    assert [f.field for f in findings(example_payload)] == [
        "quote.bill_to.address.street",
        "quote.sold_to.address.city",
    ]


# --- TAX_EXEMPT_CERTIFICATE_MISSING ---------------------------------------


def test_tax_removed_without_certificate_is_flagged(example_payload: Payload) -> None:
    example_payload["tax_removed"] = True
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == (
        "TAX_EXEMPT_CERTIFICATE_MISSING",
        "tax_exempt_certificate_attached",
    )


def test_tax_removed_with_certificate_passes(example_payload: Payload) -> None:
    example_payload["tax_removed"] = True
    example_payload["tax_exempt_certificate_attached"] = True
    assert findings(example_payload) == []


# --- VAT_ID_MISSING -------------------------------------------------------


def eu_deal(payload: Payload, entity: str, bill_to_country: str) -> Payload:
    payload["quote"]["selling_entity"] = entity
    payload["quote"]["bill_to"]["address"]["country"] = bill_to_country
    return payload


def test_cross_border_eu_billing_without_vat_id_is_flagged(example_payload: Payload) -> None:
    eu_deal(example_payload, "GitLab B.V.", "DE")
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == ("VAT_ID_MISSING", "vat_id")


def test_cross_border_eu_billing_with_vat_id_passes(example_payload: Payload) -> None:
    eu_deal(example_payload, "GitLab B.V.", "DE")
    example_payload["vat_id"] = "DE123456789"
    assert findings(example_payload) == []


@pytest.mark.parametrize(
    ("entity", "country"),
    [
        ("GitLab B.V.", "NL"),  # same country
        ("GitLab Ltd", "DE"),  # GB is not in the EU
        ("GitLab Inc.", "FR"),  # US entity
        ("GitLab GmbH", "US"),  # customer outside the EU
        ("Someone Else GmbH", "FR"),  # unknown entity: no guess
    ],
)
def test_vat_id_not_needed_outside_cross_border_eu_billing(
    example_payload: Payload, entity: str, country: str
) -> None:
    eu_deal(example_payload, entity, country)
    assert findings(example_payload) == []


def test_selling_entity_matches_without_case(example_payload: Payload) -> None:
    eu_deal(example_payload, "gitlab ireland ltd", "fr")
    assert codes(example_payload) == ["VAT_ID_MISSING"]


def test_entity_countries_are_policy(example_payload: Payload) -> None:
    eu_deal(example_payload, "GitLab Inc.", "DE")
    policy = BookingPolicy(selling_entity_countries={"GitLab Inc.": "FR"})
    assert codes(example_payload, policy) == ["VAT_ID_MISSING"]


# --- DIRECT_DEAL_NOT_ALLOWED ----------------------------------------------


@pytest.mark.parametrize("country", ["IN", "in"])
def test_direct_deal_in_india_is_flagged(example_payload: Payload, country: str) -> None:
    example_payload["account"]["country"] = country
    [finding] = findings(example_payload)
    assert (finding.code, finding.field) == ("DIRECT_DEAL_NOT_ALLOWED", "account.country")


def test_partner_deal_in_india_passes(example_payload: Payload) -> None:
    partner_deal(example_payload)
    example_payload["account"]["country"] = "IN"
    assert findings(example_payload) == []


# --- order ----------------------------------------------------------------


def test_findings_come_in_rule_order(example_payload: Payload) -> None:
    example_payload["account"]["country"] = "IN"
    example_payload["tax_removed"] = True
    example_payload["quote"]["sold_to"]["address"]["city"] = None
    example_payload["order_form"] = {"attached": False}
    example_payload["po_required"] = True
    assert codes(example_payload) == [
        "ORDER_FORM_MISSING",
        "PO_MISSING",
        "CONTACT_ADDRESS_INCOMPLETE",
        "TAX_EXEMPT_CERTIFICATE_MISSING",
        "DIRECT_DEAL_NOT_ALLOWED",
    ]


def test_every_finding_code_is_a_reason_code(example_payload: Payload) -> None:
    example_payload.update(
        sales_route="public_sector", tax_removed=True, vat_id=None, po_required=True
    )
    eu_deal(example_payload, "GitLab GmbH", "FR")
    for finding in findings(example_payload):
        assert ReasonCode(finding.code).message


# --- policy ---------------------------------------------------------------


def test_policy_rejects_an_unknown_time_zone() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        BookingPolicy(timezone="Pacific/Nowhere")


# --- reason codes ---------------------------------------------------------


def test_every_reason_code_has_a_message() -> None:
    assert set(REASON_MESSAGES) == set(ReasonCode)
    assert all(code.message.endswith(".") for code in ReasonCode)


def test_parse_reason_codes_ignores_case_spacing_and_repeats() -> None:
    assert parse_reason_codes([" po_missing", "PO_MISSING", "Other"]) == [
        ReasonCode.PO_MISSING,
        ReasonCode.OTHER,
    ]


def test_parse_reason_codes_names_every_unknown_code_and_the_valid_ones() -> None:
    with pytest.raises(UnknownReasonCode) as excinfo:
        parse_reason_codes(["PO_MISSING", "NO_PO", "LATE"])
    message = str(excinfo.value)
    assert "'NO_PO'" in message and "'LATE'" in message
    assert "ORDER_FORM_MISSING" in message and "OTHER" in message
    assert excinfo.value.codes == ("NO_PO", "LATE")
    assert isinstance(excinfo.value, ValueError)
