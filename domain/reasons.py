"""Standard rejection reason codes for booking requirements.

A rejection always carries one or more of these codes plus a free-text
comment (the Order Management handbook's rule). Fixed codes, rather than prose
alone, let the pre-check, `om reject --reason`, the Chatter post and the
accuracy KPI all speak about the same failure in the same words.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class ReasonCode(StrEnum):
    """Why an opportunity cannot be booked as submitted.

    Values equal names so a code reads the same in JSON, in Chatter and on
    the command line.
    """

    ORDER_FORM_MISSING = "ORDER_FORM_MISSING"
    ORDER_FORM_SIGNATURE_INCOMPLETE = "ORDER_FORM_SIGNATURE_INCOMPLETE"
    PO_MISSING = "PO_MISSING"
    PO_MISMATCH = "PO_MISMATCH"
    EULA_MISSING = "EULA_MISSING"
    PRIVATE_OFFER_NOT_ACCEPTED = "PRIVATE_OFFER_NOT_ACCEPTED"
    PUBLIC_SECTOR_PO_AMOUNT = "PUBLIC_SECTOR_PO_AMOUNT"
    CONTACT_ADDRESS_INCOMPLETE = "CONTACT_ADDRESS_INCOMPLETE"
    TAX_EXEMPT_CERTIFICATE_MISSING = "TAX_EXEMPT_CERTIFICATE_MISSING"
    VAT_ID_MISSING = "VAT_ID_MISSING"
    DIRECT_DEAL_NOT_ALLOWED = "DIRECT_DEAL_NOT_ALLOWED"
    OTHER = "OTHER"

    @property
    def message(self) -> str:
        """The sentence a rep reads for this code (see `REASON_MESSAGES`)."""
        return REASON_MESSAGES[self]


REASON_MESSAGES: dict[ReasonCode, str] = {
    ReasonCode.ORDER_FORM_MISSING: (
        "Attach the signed Order Form as a full PDF; a direct deal needs one unless "
        "a signed MSA is in place."
    ),
    ReasonCode.ORDER_FORM_SIGNATURE_INCOMPLETE: (
        "The Order Form signature must show the signer's full name, title, company and date."
    ),
    ReasonCode.PO_MISSING: (
        "Attach the customer's or partner's purchase order, or the email in which the "
        "customer accepts invoices without a PO."
    ),
    ReasonCode.PO_MISMATCH: (
        "The purchase order must match the quote: quote number, currency, payment terms, "
        "selling entity and amount."
    ),
    ReasonCode.EULA_MISSING: (
        "Attach the end user's acceptance of the click-through EULA, or reference an "
        "earlier acceptance by token and date."
    ),
    ReasonCode.PRIVATE_OFFER_NOT_ACCEPTED: (
        "Attach the email showing the customer accepted the marketplace private offer "
        "matching the quote."
    ),
    ReasonCode.PUBLIC_SECTOR_PO_AMOUNT: (
        "Attach the signed distributor PO; its total must be within $1.00 of the quote."
    ),
    ReasonCode.CONTACT_ADDRESS_INCOMPLETE: (
        "The Sold To, Bill To and Invoice Owner contacts need a complete address: street, "
        "city, postal code and country."
    ),
    ReasonCode.TAX_EXEMPT_CERTIFICATE_MISSING: (
        "Tax was removed from the quote, so attach the customer's tax-exempt certificate."
    ),
    ReasonCode.VAT_ID_MISSING: (
        "Billing across EU borders needs the customer's VAT ID on the quote."
    ),
    ReasonCode.DIRECT_DEAL_NOT_ALLOWED: (
        "We cannot sell directly to customers based in India; route the deal through a partner."
    ),
    ReasonCode.OTHER: "See the reviewer's comment for what needs to change.",
}


class UnknownReasonCode(ValueError):
    """One or more given reason codes are not in `ReasonCode`.

    A ValueError so Temporal update validators and CLI/API edges that already
    turn ValueError into a clear refusal need no special case. `codes` holds
    the offending inputs as given, for callers that want to highlight them.
    """

    def __init__(self, codes: Iterable[str]) -> None:
        self.codes: tuple[str, ...] = tuple(codes)
        valid = ", ".join(code.value for code in ReasonCode)
        bad = ", ".join(repr(code) for code in self.codes)
        super().__init__(f"Unknown reason code(s): {bad}. Valid codes: {valid}.")


def parse_reason_codes(values: list[str]) -> list[ReasonCode]:
    """Turn user-typed reason codes into `ReasonCode`s.

    Case and surrounding whitespace are ignored (people type `po_missing`);
    repeated codes are kept once, in first-seen order, so a doubled flag does
    not produce a doubled Chatter line. Every unknown code is reported at
    once, so the user fixes the command in one go.

    Raises:
        UnknownReasonCode: when any value is not a known code.
    """
    parsed: list[ReasonCode] = []
    unknown: list[str] = []
    for value in values:
        try:
            code = ReasonCode(value.strip().upper())
        except ValueError:
            unknown.append(value)
            continue
        if code not in parsed:
            parsed.append(code)
    if unknown:
        raise UnknownReasonCode(unknown)
    return parsed
