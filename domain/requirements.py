"""The booking-requirements pre-check.

Order Management rejects an opportunity when a booking requirement is
missing, and whatever OM misses Billing rejects later, which costs the
approval-accuracy KPI. Running these rules on every submission, before a
specialist looks, turns the Order Management handbook's booking checklist
into findings with standard reason codes that the workflow, `om check`,
`om status` and the API show alike.

Pure: no clock, no I/O. The policy values (entity countries, EU members,
tolerances, the bookings-policy time zone) come in as a `BookingPolicy`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.models import Contact, Opportunity, SalesRoute
from domain.reasons import ReasonCode

Severity = Literal["hard", "acknowledge"]
"""`hard`: a booking requirement is broken, the opportunity cannot be booked
as is. `acknowledge`: a question only a person can answer; the specialist must
confirm it, but it is not by itself a reason to reject."""

PARTNER_ROUTES = frozenset({SalesRoute.RESELLER, SalesRoute.DISTRIBUTOR, SalesRoute.MSP})
MARKETPLACE_ROUTES = frozenset({SalesRoute.AWS_MARKETPLACE, SalesRoute.GCP_MARKETPLACE})

# fmt: off
EU_COUNTRIES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})
# fmt: on
"""The 27 EU member states (ISO 3166-1 alpha-2). GB is deliberately absent:
since Brexit, UK billing is not intra-EU for VAT."""


def _default_entity_countries() -> dict[str, str]:
    return {
        "GitLab Inc.": "US",
        "GitLab B.V.": "NL",
        "GitLab GmbH": "DE",
        "GitLab Ltd": "GB",
        "GitLab Pty Ltd": "AU",
        "GitLab France S.A.S.": "FR",
        "GitLab Ireland Ltd": "IE",
    }


class BookingPolicy(BaseModel):
    """Booking requirement and bookings-policy values: policy is data.

    Defaults are the handbook's. Frozen so a workflow that received a policy
    as input cannot be changed under it; override by building a new one (or
    nesting this model in the settings object).
    """

    model_config = ConfigDict(frozen=True)

    selling_entity_countries: dict[str, str] = Field(
        default_factory=_default_entity_countries,
        description="Country of each GitLab selling entity, keyed by the name on the quote",
    )
    eu_countries: frozenset[str] = Field(
        default=EU_COUNTRIES, description="Countries between which billing needs a VAT ID"
    )
    direct_deal_blocked_countries: frozenset[str] = Field(
        default=frozenset({"IN"}),
        description="Account countries where direct deals are not allowed (partner only)",
    )
    po_amount_tolerance: Decimal = Field(
        default=Decimal("0.005"),
        ge=0,
        description="Largest accepted PO/amount difference, as a fraction of the amount",
    )
    public_sector_po_tolerance: Decimal = Field(
        default=Decimal("1.00"),
        ge=0,
        description="Largest accepted public-sector PO/amount difference, in currency units",
    )
    timezone: str = Field(
        default="America/Los_Angeles",
        description="Zone of bookings-policy dates (quarter-end cutoff is 23:59 Pacific)",
    )
    close_lead_days: int = Field(
        default=15,
        ge=0,
        description="Close no earlier than this many days before the quote start date",
    )
    past_start_confirmation_days: int = Field(
        default=14,
        ge=0,
        description="Add-on/renewal start dates further in the past need confirmed access",
    )
    late_renewal_as_is_days: int = Field(
        default=30, ge=0, description="Renewals this late or less book on the submission date"
    )
    late_renewal_new_subscription_days: int = Field(
        default=180,
        ge=0,
        description="Renewals this late or less become new subscription + closed-lost renewal;"
        " later ones become new business",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # Fail when the policy is loaded, not at the first Billing approval.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from exc
        return value

    @field_validator("eu_countries", "direct_deal_blocked_countries")
    @classmethod
    def _upper_countries(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(country.strip().upper() for country in value)

    @model_validator(mode="after")
    def _renewal_thresholds_ordered(self) -> BookingPolicy:
        if self.late_renewal_as_is_days > self.late_renewal_new_subscription_days:
            raise ValueError(
                "late_renewal_as_is_days must not exceed late_renewal_new_subscription_days"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The bookings-policy time zone as a tzinfo."""
        return ZoneInfo(self.timezone)

    def entity_country(self, selling_entity: str | None) -> str | None:
        """Country of a selling entity; None when unknown, so an unlisted entity
        never produces a VAT finding on a guess. Compared without case or
        spacing differences, as quote and PO text is typed by people."""
        if _blank(selling_entity):
            return None
        wanted = _norm(selling_entity)
        for name, country in self.selling_entity_countries.items():
            if _norm(name) == wanted:
                return country.strip().upper()
        return None


class Finding(BaseModel):
    """One broken booking requirement (or one question for the specialist).

    `field` is the dotted path, in the contract's names, of what is wrong, so a
    UI can point at it; `message` is a sentence a rep can act on.
    """

    model_config = ConfigDict(frozen=True)

    code: str
    field: str
    message: str
    severity: Severity = "hard"


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def _norm(value: str | None) -> str:
    """Text as compared between quote and PO: case and spacing ignored."""
    return " ".join((value or "").split()).casefold()


def _money(value: float) -> Decimal:
    # Through str: the shortest repr of the float, so 125000.37 - 125001.37
    # is exactly 1.00 and the $1.00 boundary holds.
    return Decimal(str(value))


def _words(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _missing_parts_finding(
    code: ReasonCode, base: str, missing: list[tuple[str, str]], what: str
) -> Finding:
    """One finding for one document or contact: the field is the missing part
    itself when only one is missing, else the part's parent."""
    field = f"{base}.{missing[0][0]}" if len(missing) == 1 else base
    labels = _words([label for _, label in missing])
    return Finding(code=code, field=field, message=f"{what} lacks {labels}.")


def _order_form_missing(opp: Opportunity, policy: BookingPolicy) -> list[Finding]:
    if opp.sales_route != SalesRoute.DIRECT or opp.order_form.attached or opp.msa_in_place:
        return []
    return [
        Finding(
            code=ReasonCode.ORDER_FORM_MISSING,
            field="order_form.attached",
            message="This direct deal has no signed Order Form attached and no signed MSA "
            "in place; attach the full signed Order Form PDF.",
        )
    ]


def _order_form_signature(opp: Opportunity, policy: BookingPolicy) -> list[Finding]:
    form = opp.order_form
    if not form.attached:
        return []
    missing = [
        (name, label)
        for name, label, value in (
            ("signer_name", "the signer's full name", form.signer_name),
            ("signer_title", "the signer's title", form.signer_title),
            ("signer_company", "the signer's company", form.signer_company),
        )
        if _blank(value)
    ]
    if form.signed_date is None:
        missing.append(("signed_date", "the signature date"))
    if not missing:
        return []
    return [
        _missing_parts_finding(
            ReasonCode.ORDER_FORM_SIGNATURE_INCOMPLETE,
            "order_form",
            missing,
            "The Order Form signature",
        )
    ]


def _po_missing(opp: Opportunity, policy: BookingPolicy) -> list[Finding]:
    partner_needs_po = opp.sales_route in PARTNER_ROUTES and not opp.order_form.partner_signed
    if not (opp.po_required or partner_needs_po) or opp.po is not None or opp.po_waiver_attached:
        return []
    why = (
        "the billing account requires a PO"
        if opp.po_required
        else "the partner did not sign the Order Form"
    )
    return [
        Finding(
            code=ReasonCode.PO_MISSING,
            field="po",
            message=f"A purchase order is needed because {why}; attach it, or the customer's "
            "email accepting invoices without a PO.",
        )
    ]


def _po_mismatch(opp: Opportunity, policy: BookingPolicy) -> list[Finding]:
    po = opp.po
    if po is None:
        return []
    findings: list[Finding] = []
    for name, label, po_value, expected in (
        ("quote_number", "quote number", po.quote_number, opp.quote.number),
        ("currency", "currency", po.currency, opp.currency),
        ("payment_terms", "payment terms", po.payment_terms, opp.quote.payment_terms),
        ("selling_entity", "selling entity", po.selling_entity, opp.quote.selling_entity),
    ):
        if _norm(po_value) != _norm(expected):
            shown = "nothing" if _blank(po_value) else repr(po_value)
            findings.append(
                Finding(
                    code=ReasonCode.PO_MISMATCH,
                    field=f"po.{name}",
                    message=f"The PO shows {shown} as {label} but the quote has {expected!r}.",
                )
            )
    if po.amount is None:
        findings.append(
            Finding(
                code=ReasonCode.PO_MISMATCH,
                field="po.amount",
                message="The PO does not show an amount to compare with the opportunity.",
            )
        )
    else:
        amount = _money(opp.amount)
        if abs(_money(po.amount) - amount) > amount * policy.po_amount_tolerance:
            findings.append(
                Finding(
                    code=ReasonCode.PO_MISMATCH,
                    field="po.amount",
                    message=f"The PO amount {po.amount:,.2f} differs from the opportunity amount "
                    f"{opp.amount:,.2f} {opp.currency} by more than "
                    f"{policy.po_amount_tolerance * 100:g}%.",
                )
            )
    return findings


def _eula(opp: Opportunity, policy: BookingPolicy) -> list[Finding]:
    if opp.sales_route not in PARTNER_ROUTES or opp.eula_accepted is True:
        return []
    return [
        Finding(
            code=ReasonCode.EULA_MISSING,
            field="eula_accepted",
            message="The end user has not accepted the click-through EULA; attach the "
            "confirmation or reference the earlier acceptance by token and date.",
        )
    ]


def _private_offer(opp: Opportunity, policy: BookingPolicy) -> list[Finding]:
    if opp.sales_route not in MARKETPLACE_ROUTES or opp.private_offer_accepted is True:
        return []
    return [
        Finding(
            code=ReasonCode.PRIVATE_OFFER_NOT_ACCEPTED,
            field="private_offer_accepted",
            message="The marketplace private offer has not been accepted; attach the "
            "acceptance email for an offer matching the quote.",
        )
    ]


def _public_sector_po_amount(opp: Opportunity, policy: BookingPolicy) -> list[Finding]:
    if opp.sales_route != SalesRoute.PUBLIC_SECTOR:
        return []
    tolerance = policy.public_sector_po_tolerance
    if opp.po is None or opp.po.amount is None:
        return [
            Finding(
                code=ReasonCode.PUBLIC_SECTOR_PO_AMOUNT,
                field="po" if opp.po is None else "po.amount",
                message="A public sector deal needs the signed distributor PO with a total "
                f"within {tolerance:.2f} {opp.currency} of the quote.",
            )
        ]
    if abs(_money(opp.po.amount) - _money(opp.amount)) <= tolerance:
        return []
    return [
        Finding(
            code=ReasonCode.PUBLIC_SECTOR_PO_AMOUNT,
            field="po.amount",
            message=f"The distributor PO total {opp.po.amount:,.2f} differs from the amount "
            f"{opp.amount:,.2f} {opp.currency} by more than {tolerance:.2f}.",
        )
    ]


_CONTACTS = (("sold_to", "Sold To"), ("bill_to", "Bill To"), ("invoice_owner", "Invoice Owner"))
_ADDRESS_PARTS = (
    ("street", "street"),
    ("city", "city"),
    ("postal_code", "postal code"),
    ("country", "country"),
)


def _contact_addresses(opp: Opportunity, policy: BookingPolicy) -> list[Finding]:
    findings = []
    for name, label in _CONTACTS:
        contact: Contact = getattr(opp.quote, name)
        missing = [
            (part, part_label)
            for part, part_label in _ADDRESS_PARTS
            if _blank(getattr(contact.address, part))
        ]
        if missing:
            findings.append(
                _missing_parts_finding(
                    ReasonCode.CONTACT_ADDRESS_INCOMPLETE,
                    f"quote.{name}.address",
                    missing,
                    f"The {label} contact's address",
                )
            )
    return findings


def _tax_exempt(opp: Opportunity, policy: BookingPolicy) -> list[Finding]:
    if not opp.tax_removed or opp.tax_exempt_certificate_attached:
        return []
    return [
        Finding(
            code=ReasonCode.TAX_EXEMPT_CERTIFICATE_MISSING,
            field="tax_exempt_certificate_attached",
            message="Tax was removed from the quote but no tax-exempt certificate is attached.",
        )
    ]


def _vat_id(opp: Opportunity, policy: BookingPolicy) -> list[Finding]:
    if not _blank(opp.vat_id):
        return []
    entity_country = policy.entity_country(opp.quote.selling_entity)
    bill_to_country = (opp.quote.bill_to.address.country or "").strip().upper()
    eu = policy.eu_countries
    if entity_country not in eu or bill_to_country not in eu or entity_country == bill_to_country:
        return []
    return [
        Finding(
            code=ReasonCode.VAT_ID_MISSING,
            field="vat_id",
            message=f"{opp.quote.selling_entity} ({entity_country}) bills a customer in "
            f"{bill_to_country}: cross-border EU billing needs the customer's VAT ID.",
        )
    ]


def _direct_deal_country(opp: Opportunity, policy: BookingPolicy) -> list[Finding]:
    country = opp.account.country.strip().upper()
    if opp.sales_route != SalesRoute.DIRECT or country not in policy.direct_deal_blocked_countries:
        return []
    return [
        Finding(
            code=ReasonCode.DIRECT_DEAL_NOT_ALLOWED,
            field="account.country",
            message=f"Direct deals with customers based in {country} are not allowed; "
            "the deal must go through a partner.",
        )
    ]


_Rule = Callable[[Opportunity, BookingPolicy], list[Finding]]

RULES: tuple[_Rule, ...] = (
    _order_form_missing,
    _order_form_signature,
    _po_missing,
    _po_mismatch,
    _eula,
    _private_offer,
    _public_sector_po_amount,
    _contact_addresses,
    _tax_exempt,
    _vat_id,
    _direct_deal_country,
)
"""Every booking-requirement rule, in the order findings are reported."""


def check_booking_requirements(
    opportunity: Opportunity, policy: BookingPolicy | None = None
) -> list[Finding]:
    """Every broken booking requirement of `opportunity`, as hard findings.

    Returns an empty list when the opportunity is bookable. The order is
    deterministic (rule order, then field path) so repeated checks of the same
    payload, e.g. on workflow replay or in two review rounds, compare equal.
    Payload validation is not done here: `Opportunity.model_validate` raises
    pydantic's ValidationError, naming the field, before a check can run.
    """
    policy = policy or BookingPolicy()
    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(sorted(rule(opportunity, policy), key=lambda f: f.field))
    return findings
