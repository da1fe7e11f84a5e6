"""The handbook's vocabulary as pydantic models.

These are the shapes that cross every boundary: the intake payload
(example: tests/fixtures/opportunity.example.json), workflow inputs and the
status the `om` command and the API print. Field names follow the contract
exactly; new fields may be added, existing ones are never renamed, because
recorded histories carry these payloads and must keep replaying
(docs/architecture.md, "The data contract").
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from domain.regions import Region as Region


class DealType(StrEnum):
    NEW_BUSINESS = "new_business"
    ADD_ON = "add_on"
    RENEWAL = "renewal"


class SalesRoute(StrEnum):
    DIRECT = "direct"
    RESELLER = "reseller"
    DISTRIBUTOR = "distributor"
    MSP = "msp"
    AWS_MARKETPLACE = "aws_marketplace"
    GCP_MARKETPLACE = "gcp_marketplace"
    PUBLIC_SECTOR = "public_sector"


class Deployment(StrEnum):
    SELF_MANAGED = "self_managed"
    SAAS = "saas"


class _Model(BaseModel):
    """Base for contract models: unknown extra fields are kept, not refused,
    so a CRM that sends more than we know does not break intake."""

    model_config = ConfigDict(extra="allow", frozen=False)


def _null_is_absent(value: Any) -> Any:
    """Read an explicit null as the object being absent (its empty form).

    A CRM sends `null` for a document or contact it does not have, and the
    booking rules already give the finding for an empty one (no order form,
    incomplete address). Coercing here, instead of making the field
    Optional, keeps the field's type, so no reader meets None and a payload
    the workflow receives always carries the object, as recorded ones do.
    """
    return {} if value is None else value


def _null_is_refused(value: Any) -> Any:
    """Refuse an explicit null for an object the booking rules cannot do
    without, with a reason saying so instead of "not a valid dictionary"."""
    if value is None:
        raise PydanticCustomError("required_not_null", "is required; null is not accepted")
    return value


def _absent_when_null(model: type[BaseModel]) -> BeforeValidator:
    """The validator of an object field where null means absent; its input
    schema says null is accepted."""
    return BeforeValidator(_null_is_absent, json_schema_input_type=model | None)


_RequiredNotNull = BeforeValidator(_null_is_refused)


class Address(_Model):
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Contact(_Model):
    name: str | None = None
    email: str | None = None
    address: Annotated[Address, _absent_when_null(Address)] = Field(default_factory=Address)


class Account(_Model):
    id: str = Field(min_length=1)
    name: str
    country: str = Field(min_length=2, description="ISO 3166-1 alpha-2 country code")
    region: Region


class Owner(_Model):
    """The opportunity owner: the sales rep who submits for approval."""

    id: str = Field(min_length=1)
    name: str
    email: str = Field(min_length=3)


class Quote(_Model):
    number: str
    start_date: date
    end_date: date
    payment_terms: str | None = None
    selling_entity: str | None = None
    sold_to: Annotated[Contact, _absent_when_null(Contact)] = Field(default_factory=Contact)
    bill_to: Annotated[Contact, _absent_when_null(Contact)] = Field(default_factory=Contact)
    invoice_owner: Annotated[Contact, _absent_when_null(Contact)] = Field(default_factory=Contact)


class OrderForm(_Model):
    attached: bool = False
    signer_name: str | None = None
    signer_title: str | None = None
    signer_company: str | None = None
    signed_date: date | None = None
    partner_signed: bool = False


class PurchaseOrder(_Model):
    number: str | None = None
    amount: float | None = None
    currency: str | None = None
    selling_entity: str | None = None
    quote_number: str | None = None
    payment_terms: str | None = None


class Opportunity(_Model):
    """One sales opportunity as intake carries it (the contract shape)."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9]+$")
    name: str
    account: Annotated[Account, _RequiredNotNull]
    owner: Annotated[Owner, _RequiredNotNull]
    type: DealType
    sales_route: SalesRoute
    deployment: Deployment
    amount: float = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    quote: Annotated[Quote, _RequiredNotNull]
    order_form: Annotated[OrderForm, _absent_when_null(OrderForm)] = Field(
        default_factory=OrderForm
    )
    msa_in_place: bool = False
    po_required: bool = False
    po_waiver_attached: bool = False
    po: PurchaseOrder | None = None
    eula_accepted: bool | None = None
    private_offer_accepted: bool | None = None
    tax_removed: bool = False
    tax_exempt_certificate_attached: bool = False
    vat_id: str | None = None
    urgent: bool = False
    submitted_at: AwareDatetime | None = None

    @property
    def region(self) -> Region:
        return self.account.region


class Stage(StrEnum):
    """Where an opportunity's approval workflow stands (`om status` stage)."""

    SUBMITTED = "submitted"
    OM_REVIEW = "om_review"
    REJECTED = "rejected"
    RECALLED = "recalled"
    FINANCE_REVIEW = "finance_review"
    CLOSED_WON = "closed_won"
    LICENSE_CHECK = "license_check"
    LICENSE_TICKET = "license_ticket"
    COMPLETED = "completed"
    CLOSED_LOST = "closed_lost"


TERMINAL_STAGES = frozenset({Stage.COMPLETED, Stage.CLOSED_LOST})


class HistoryEntry(BaseModel):
    """One transition of the workflow: who did what, when, in which round."""

    at: datetime
    actor: str
    action: str
    detail: str = ""
    round: int = 0


DecisionStage = Literal["om", "finance"]
DecisionAction = Literal["approve", "reject"]
