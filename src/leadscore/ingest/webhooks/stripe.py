"""`stripe`: Stripe events about payments and customers.

Signature: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`, each `v1`
an HMAC-SHA256 of `"{t}.{raw body}"` keyed with the whole `whsec_…` secret.
Any matching `v1` passes (Stripe signs with every active secret while one
rolls), `v0` is ignored, and a `t` more than 300 s old is rejected (only old
ones: Stripe's own libraries accept a `t` ahead of the clock).

| Stripe event | canonical event |
|---|---|
| `checkout.session.completed` (paid, one-off) | `purchase`: amount, currency, order_id = the session id |
| `checkout.session.async_payment_succeeded` | `purchase` (a delayed method such as SEPA debit has now paid) |
| `invoice.paid` (non-zero) | `purchase`: order_id = the invoice id |
| `customer.created` | `identify` with the customer's name and country |
| anything else | none |

A completed checkout session that is not paid yet (`payment_status: unpaid`)
waits for `async_payment_succeeded`; one in `subscription` mode is left to its
first `invoice.paid`, which carries the same money (counting both would score
a repeat purchase that never happened); a `setup` session buys nothing. An
object without a usable email gives no event (Stripe retries a 4xx for days,
and an anonymous customer is not an error).

Amounts arrive in minor units and become major units, honouring Stripe's
zero-decimal (JPY, KRW, …) and three-decimal (BHD, KWD, …) currencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from pydantic import Field, ValidationError
from scoring_core import Event

from ...edge import BadRequest
from ...signing import TOLERANCE_S, verify_timestamped
from .base import Delivery
from .payloads import SenderModel, build_event, describe, parse, usable_email

HEADER = "Stripe-Signature"

#: Currencies Stripe counts in whole units (https://docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
#: Currencies Stripe counts in thousandths.
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())


def major_units(amount: int, currency: str) -> float:
    """`amount` in Stripe's minor units as a number of whole currency units."""
    code = currency.upper()
    exponent = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return float(Decimal(amount).scaleb(-exponent))


class Address(SenderModel):
    country: str | None = None


class CustomerDetails(SenderModel):
    email: str | None = None
    name: str | None = None
    address: Address | None = None


class CheckoutSession(SenderModel):
    id: str
    mode: str | None = None
    payment_status: str | None = None
    amount_total: int | None = None
    currency: str | None = None
    customer: str | None = None
    customer_email: str | None = None
    customer_details: CustomerDetails | None = None


class Invoice(SenderModel):
    id: str
    number: str | None = None
    amount_paid: int
    currency: str
    customer: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    customer_address: Address | None = None


class Customer(SenderModel):
    id: str
    email: str | None = None
    name: str | None = None
    address: Address | None = None


class EventData(SenderModel):
    object: dict[str, Any]


class StripeEvent(SenderModel):
    id: str = Field(min_length=1, max_length=256)
    type: str
    created: int = Field(ge=0, le=10**11)  # unix seconds
    data: EventData


_PAID_CHECKOUT = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


def _traits(name: str | None, address: Address | None) -> dict[str, Any]:
    traits: dict[str, Any] = {}
    if name and name.strip():
        traits["name"] = name.strip()
    if address and address.country:
        traits["country"] = address.country.upper()
    return traits


class StripeSource:
    name = "stripe"

    def verify(self, delivery: Delivery, secret: str) -> None:
        verify_timestamped(
            delivery.body, delivery.header(HEADER), secret,
            now=delivery.received_at, tolerance_s=TOLERANCE_S,
        )

    def to_events(self, delivery: Delivery, field_map: Mapping[str, str]) -> list[Event]:
        event = parse(StripeEvent, delivery.body)
        try:
            if event.type in _PAID_CHECKOUT:
                return self._checkout(event, CheckoutSession.model_validate(event.data.object), delivery)
            if event.type == "invoice.paid":
                return self._invoice(event, Invoice.model_validate(event.data.object), delivery)
            if event.type == "customer.created":
                return self._customer(event, Customer.model_validate(event.data.object), delivery)
        except ValidationError as error:
            raise BadRequest(describe(error, "data.object")) from None
        return []

    def _checkout(self, event: StripeEvent, session: CheckoutSession, delivery: Delivery) -> list[Event]:
        if session.mode in ("subscription", "setup"):
            return []
        if event.type == "checkout.session.completed" and session.payment_status == "unpaid":
            return []
        if session.amount_total is None or not session.currency:
            raise BadRequest("data.object.amount_total: a paid session needs amount_total and currency")
        details = session.customer_details or CustomerDetails()
        email = usable_email(details.email) or usable_email(session.customer_email)
        properties = {
            "amount": major_units(session.amount_total, session.currency),
            "currency": session.currency.upper(),
            "order_id": session.id,
        }
        if session.customer:
            properties["customer_id"] = session.customer
        return self._event(event, delivery, "purchase", email, properties, _traits(details.name, details.address))

    def _invoice(self, event: StripeEvent, invoice: Invoice, delivery: Delivery) -> list[Event]:
        if invoice.amount_paid <= 0:
            return []  # a trial's or fully credited invoice: nothing was bought
        properties = {
            "amount": major_units(invoice.amount_paid, invoice.currency),
            "currency": invoice.currency.upper(),
            "order_id": invoice.id,
        }
        if invoice.number:
            properties["invoice_number"] = invoice.number
        if invoice.customer:
            properties["customer_id"] = invoice.customer
        traits = _traits(invoice.customer_name, invoice.customer_address)
        return self._event(event, delivery, "purchase", usable_email(invoice.customer_email), properties, traits)

    def _customer(self, event: StripeEvent, customer: Customer, delivery: Delivery) -> list[Event]:
        properties = {"customer_id": customer.id}
        traits = _traits(customer.name, customer.address)
        return self._event(event, delivery, "identify", usable_email(customer.email), properties, traits)

    def _event(
        self, event: StripeEvent, delivery: Delivery, kind: str, email: str | None,
        properties: dict[str, Any], traits: dict[str, Any],
    ) -> list[Event]:
        if email is None:
            return []
        return [
            build_event(
                source=self.name,
                event_id=event.id,
                type=kind,
                occurred_at=datetime.fromtimestamp(event.created, tz=timezone.utc),
                received_at=delivery.received_at,
                email=email,
                properties=properties,
                traits=traits,
                where="data.object",
            )
        ]
