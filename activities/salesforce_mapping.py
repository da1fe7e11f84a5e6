"""Where an org keeps the facts of an opportunity: the mapping the `objects`
source reads through (`OM_SALESFORCE__SOURCE=objects`).

A sales-ops team already keeps the quote, its contacts and the signed order
form in Salesforce objects: the standard Quote, Salesforce CPQ's
`SBQQ__Quote__c` or Zuora Quotes' `zqu__Quote__c`, Contacts, and Files. The
mapping names those objects and fields so the adapter can read them with
one SOQL query (child-to-parent dot paths, parent-to-child subqueries) plus
one for the Files' versions, whatever the org's quoting tool. Three ready
mappings (`READY`) are chosen by name; a settings file may give a whole
mapping instead.

Field names here are configuration, not guesses: a field a mapping names
that the org lacks is reported by `om salesforce doctor`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class FileMatch(BaseModel):
    """How a File attached to the opportunity is recognised: its title matches
    the glob `title` (case-insensitive), or its `field` holds `value`."""

    title: str | None = None
    field: str | None = None
    value: str | None = None


class QuoteObject(BaseModel):
    """The primary quote: which object, how the opportunity reaches it, and
    where its facts are. Contact roles name lookup relationships to Contact
    (`Contact`, `SBQQ__PrimaryContact__r`), read with dot notation."""

    sobject: str
    relationship: str = Field(description="The Opportunity's child relationship to the quote")
    primary: str = Field(description="SOQL condition that selects the primary quote")
    number: str
    start_date: str
    end_date: str | None = Field(
        default=None, description="Unset: the end is the start plus the term, less a day"
    )
    term_months: str | None = None
    payment_terms: str | None = None
    selling_entity: str | None = None
    sold_to: str
    bill_to: str
    invoice_owner: str | None = Field(
        default=None, description="Unset: the invoice owner is the bill-to contact"
    )

    def lookup_field(self, relationship: str) -> str:
        """The lookup field behind a relationship name (`Contact` -> `ContactId`,
        `X__r` -> `X__c`), as Salesforce names them."""
        if relationship.endswith("__r"):
            return relationship[:-3] + "__c"
        return relationship + "Id"


class ContactFields(BaseModel):
    name: str = "Name"
    email: str = "Email"
    street: str = "MailingStreet"
    city: str = "MailingCity"
    postal_code: str = "MailingPostalCode"
    country: str = "MailingCountry"


class AccountFields(BaseModel):
    country: str = "BillingCountry"
    region: str = "OM_Region__c"
    vat_id: str | None = "OM_VAT_Id__c"


class OpportunityFields(BaseModel):
    """Booking facts kept on the Opportunity itself."""

    sales_route: str = "OM_Sales_Route__c"
    deployment: str = "Deployment__c"
    eula_accepted: str | None = "OM_EULA_Accepted__c"
    private_offer_accepted: str | None = "OM_Private_Offer_Accepted__c"
    msa_in_place: str | None = "OM_MSA_In_Place__c"
    po_required: str | None = "OM_PO_Required__c"
    tax_removed: str | None = "OM_Tax_Removed__c"
    partner_signed: str | None = "OM_Partner_Signed__c"


class PurchaseOrderFields(BaseModel):
    """What the PO File's latest ContentVersion says (keyed in from the
    document when it is uploaded), compared with the quote by the rules."""

    number: str | None = "OM_PO_Number__c"
    amount: str | None = "OM_PO_Amount__c"
    currency: str | None = "OM_PO_Currency__c"
    quote_number: str | None = "OM_PO_Quote_Number__c"
    payment_terms: str | None = "OM_PO_Payment_Terms__c"
    selling_entity: str | None = "OM_PO_Selling_Entity__c"


class OrderFormFields(BaseModel):
    """What the signed order form File's latest ContentVersion says about its
    signature (stamped by the e-signature tool or keyed in on upload)."""

    signer_name: str | None = "OM_Signer_Name__c"
    signer_title: str | None = "OM_Signer_Title__c"
    signer_company: str | None = "OM_Signer_Company__c"
    signed_date: str | None = "OM_Signed_Date__c"


class Files(BaseModel):
    """The Files (ContentDocumentLink -> ContentVersion) that stand for documents."""

    order_form: FileMatch = Field(default_factory=lambda: FileMatch(title="*order form*"))
    po: FileMatch = Field(default_factory=lambda: FileMatch(title="po-*"))
    po_waiver: FileMatch = Field(default_factory=lambda: FileMatch(title="*po waiver*"))
    tax_exempt_certificate: FileMatch = Field(
        default_factory=lambda: FileMatch(title="*tax exempt*")
    )


class ObjectsMapping(BaseModel):
    name: str = "custom"
    quote: QuoteObject
    contact: ContactFields = Field(default_factory=ContactFields)
    account: AccountFields = Field(default_factory=AccountFields)
    opportunity: OpportunityFields = Field(default_factory=OpportunityFields)
    po: PurchaseOrderFields = Field(default_factory=PurchaseOrderFields)
    order_form: OrderFormFields = Field(default_factory=OrderFormFields)
    files: Files = Field(default_factory=Files)

    def contact_roles(self) -> dict[str, str]:
        """Contract contact role -> the quote's lookup relationship to Contact."""
        q = self.quote
        return {
            "sold_to": q.sold_to,
            "bill_to": q.bill_to,
            "invoice_owner": q.invoice_owner or q.bill_to,
        }


STANDARD_QUOTE = ObjectsMapping(
    name="standard_quote",
    quote=QuoteObject(
        sobject="Quote",
        relationship="Quotes",
        primary="IsSyncing = true",
        number="QuoteNumber",
        start_date="OM_Start_Date__c",
        end_date="OM_End_Date__c",
        term_months="OM_Term_Months__c",
        payment_terms="OM_Payment_Terms__c",
        selling_entity="OM_Selling_Entity__c",
        sold_to="Contact",
        bill_to="OM_Bill_To_Contact__r",
        invoice_owner="OM_Invoice_Owner_Contact__r",
    ),
)
"""The standard Quote: the synced quote is the primary one; its Contact is
the sold-to. Start, term, terms, selling entity, bill-to and invoice owner are
custom fields the metadata adds (`salesforce/main/default/objects/Quote`)."""

SALESFORCE_CPQ = ObjectsMapping(
    name="salesforce_cpq",
    quote=QuoteObject(
        sobject="SBQQ__Quote__c",
        relationship="SBQQ__Quotes2__r",
        primary="SBQQ__Primary__c = true",
        number="Name",
        start_date="SBQQ__StartDate__c",
        end_date="SBQQ__EndDate__c",
        term_months="SBQQ__SubscriptionTerm__c",
        payment_terms="SBQQ__PaymentTerms__c",
        selling_entity="OM_Selling_Entity__c",
        sold_to="SBQQ__PrimaryContact__r",
        bill_to="OM_Bill_To_Contact__r",
        invoice_owner="OM_Invoice_Owner_Contact__r",
    ),
)
"""Salesforce CPQ: the primary quote of the opportunity (`SBQQ__Primary__c`).
CPQ keeps no selling entity, bill-to or invoice-owner contact: those are
custom fields the CPQ metadata adds (`salesforce/cpq`)."""

ZUORA_QUOTES = ObjectsMapping(
    name="zuora_quotes",
    quote=QuoteObject(
        sobject="zqu__Quote__c",
        relationship="zqu__Quotes__r",
        primary="zqu__Primary__c = true",
        number="zqu__Number__c",
        start_date="zqu__StartDate__c",
        end_date="zqu__SubscriptionTermEndDate__c",
        term_months="zqu__InitialTerm__c",
        payment_terms="zqu__PaymentTerm__c",
        selling_entity="OM_Selling_Entity__c",
        sold_to="zqu__SoldToContact__r",
        bill_to="zqu__BillToContact__r",
        invoice_owner="OM_Invoice_Owner_Contact__r",
    ),
)
"""Zuora Quotes: the primary quote (`zqu__Primary__c`) with its sold-to and
bill-to contacts. The selling entity and the invoice owner's contact (Zuora
keeps the invoice owner as a billing account id) are custom fields the
Zuora metadata adds (`salesforce/zuora`)."""

READY: dict[str, ObjectsMapping] = {
    m.name: m for m in (STANDARD_QUOTE, SALESFORCE_CPQ, ZUORA_QUOTES)
}


def resolve_mapping(mapping: ObjectsMapping | str) -> ObjectsMapping:
    """A ready mapping by name, or the given one (ValueError naming the choices)."""
    if isinstance(mapping, ObjectsMapping):
        return mapping
    try:
        return READY[mapping]
    except KeyError:
        raise ValueError(
            f"salesforce.mapping: {mapping!r} is not a ready mapping; choose one of "
            f"{', '.join(READY)} or give the whole mapping in the settings file"
        ) from None
