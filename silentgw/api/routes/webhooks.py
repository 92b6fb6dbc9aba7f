"""Webhooks: subscriptions to the gateway's events over HTTP(S), and how delivery to each is going.

How requests are sent and signed, retried and parked: ``silentgw/gateway/webhooks.py``. Reads are plain routes on
the request's session; changes go through the :class:`WebhookManager`, which commits first and then starts, stops
or restarts the subscription's sink in the dispatcher, so they are async and run on the gateway's event loop.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Self

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy import Connection

from silentgw.api.auth import allow
from silentgw.api.deps import CatalogDep, CursorDep, LimitDep
from silentgw.api.schemas import AwareInstant, PageOut, Seq
from silentgw.gateway import webhooks
from silentgw.gateway.catalog import InvalidValue, NotFound
from silentgw.gateway.egress import DestinationRefused, Egress
from silentgw.gateway.redaction import masked_text
from silentgw.gateway.store import webhooks as store
from silentgw.gateway.store.models import Role, WebhookState, WebhookSubscription
from silentgw.gateway.store.webhooks import Subscription
from silentgw.gateway.webhooks import WebhookManager

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

TypeFilter = Annotated[
    str,
    StringConstraints(pattern=r"^(\*|[a-z0-9][a-z0-9._-]*\*?)$", max_length=100),
    Field(description="An event type, or a prefix ending in `*`.", examples=["silentgw.item.*"]),
]
Secret = Annotated[
    str,
    StringConstraints(pattern=r"^[!-~]{16,200}$"),
    Field(
        description="A Standard Webhooks secret, `whsec_` and the base64 of 24 to 64 random bytes (the HMAC key); "
        "any other string of 16 to 200 visible ASCII characters is taken as its UTF-8 bytes. Generated if omitted.",
        examples=["whsec_1ig6va9bNUuYG9Bo87BxOM5rbOjmTr3g"],
    ),
]
SubscriptionId = Annotated[str, Path(max_length=36, description="The subscription's id")]


class SubscriptionIn(BaseModel):
    """A new subscription."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="Where events are POSTed (http or https).", examples=["https://erp.example/hook"])
    types: list[TypeFilter] = Field(
        default_factory=list, max_length=50, description="The event types to send; empty: every type."
    )
    secret: Secret | None = None
    description: Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)] = ""

    @field_validator("url")
    @classmethod
    def _plain(cls, url: HttpUrl) -> HttpUrl:
        # The URL is shown by every read; credentials in it would be shown with it.
        if url.username or url.password:
            raise ValueError("a URL without credentials: the signature tells the receiver it is the gateway")
        if len(str(url)) > 2000:
            raise ValueError("a URL of at most 2000 characters")
        return url

    @field_validator("secret")
    @classmethod
    def _standard(cls, secret: str | None) -> str | None:
        if secret is not None and secret.startswith(webhooks.SECRET_PREFIX):
            key = webhooks.standard_key(secret)
            if key is None or not 24 <= len(key) <= 64:
                raise ValueError("a whsec_ secret is whsec_ and the padded base64 of 24 to 64 random bytes")
        return secret

    @field_validator("types")
    @classmethod
    def _unique(cls, types: list[str]) -> list[str]:
        if len(types) != len(set(types)):
            raise ValueError("the same type is listed twice")
        return types


class ReplayIn(BaseModel):
    """Where a replay starts: after an event's sequence number, or at a time; one of the two."""

    model_config = ConfigDict(extra="forbid")

    after_seq: Seq | None = Field(None, description="Deliver again every event after this sequence number.")
    since: AwareInstant | None = Field(None, description="Deliver again from the first event at or after this time.")

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.after_seq is None) == (self.since is None):
            raise ValueError("give either after_seq or since")
        return self


class SubscriptionOut(BaseModel):
    """A subscription and how delivery to it is going (never its secret)."""

    id: str
    url: str = Field(description="Where events are POSTed; a secret in its query string shows as **********")
    types: list[str]
    description: str
    state: WebhookState = Field(description="active, or parked after too many failures in a row")
    failures: int = Field(description="Failed attempts in a row (0 once one succeeds)")
    last_error: str | None
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None = Field(description="The earliest time of the next attempt, while failing")
    created_at: dt.datetime
    cursor: int = Field(description="The sequence number of the last event delivered (or passed over)")
    backlog: int = Field(description="Events of its types after the cursor: still to be delivered")


class CreatedOut(SubscriptionOut):
    """A new subscription, with its signing secret: shown in this answer only."""

    secret: str = Field(
        description="The signing secret of `webhook-signature` (Standard Webhooks). Keep it: it is never shown again."
    )


def _out(subscription: Subscription, cursor: int, backlog: int) -> SubscriptionOut:
    return SubscriptionOut(
        id=subscription.id,
        url=masked_text(subscription.url),  # a token in the query string is a secret: write-only
        types=list(subscription.types),
        description=subscription.description,
        state=subscription.state,
        failures=subscription.failures,
        last_error=subscription.last_error,
        last_attempt_at=subscription.last_attempt_at,
        next_attempt_at=subscription.next_attempt_at,
        created_at=subscription.created_at,
        cursor=cursor,
        backlog=backlog,
    )


def _manager(request: Request) -> WebhookManager:
    # The gateway's manager when it runs in this process; otherwise one that only writes the table (the gateway
    # loads active subscriptions when it starts).
    running: WebhookManager | None = getattr(request.app.state, "webhooks", None)
    if running is not None:
        return running
    egress = Egress(allow=request.app.state.settings.webhooks.allow_networks)
    return WebhookManager(request.app.state.engine, egress=egress)


ManagerDep = Annotated[WebhookManager, Depends(_manager)]


async def _answer(manager: WebhookManager, subscription: Subscription) -> SubscriptionOut:
    return _out(subscription, *await manager.progress(subscription))


def _not_found(subscription_id: str) -> NotFound:
    return NotFound(f"webhook {subscription_id!r} not found")


@router.post("", status_code=status.HTTP_201_CREATED, summary="Subscribe to events")
@allow(Role.INTEGRATOR)
async def create_webhook(body: SubscriptionIn, manager: ManagerDep, request: Request, response: Response) -> CreatedOut:
    """Send events of ``types`` from now on to ``url``, signed with ``secret`` (generated when omitted; the answer
    shows it, nothing later does). A URL whose host is, or resolves to, an address that is not public (loopback,
    private, link-local, ...) is refused unless the settings allow its network (``webhooks.allow_networks``)."""
    secret = body.secret or webhooks.new_secret()
    try:
        subscription = await manager.create(url=str(body.url), types=body.types, secret=secret,
                                            description=body.description)  # fmt: skip
    except DestinationRefused as exc:
        raise InvalidValue(str(exc), field="url") from exc
    response.headers["Location"] = str(request.url_for("get_webhook", subscription_id=subscription.id))
    shown = await _answer(manager, subscription)
    return CreatedOut(**shown.model_dump(), secret=secret)


@router.get("", summary="List webhook subscriptions")
@allow(Role.INTEGRATOR)
def list_webhooks(
    catalog: CatalogDep,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    state: Annotated[WebhookState | None, Query(description="Only the subscriptions in this state")] = None,
) -> PageOut[SubscriptionOut]:
    """Subscriptions in the order they were created, a page at a time."""
    where = [] if state is None else [WebhookSubscription.state == state]
    page = catalog.page(WebhookSubscription, where=where, cursor=cursor, limit=limit)
    conn = catalog.session.connection()
    items = [_read(conn, Subscription.of(row)) for row in page.items]
    return PageOut(items=items, next_cursor=page.next_cursor)


def _read(conn: Connection, subscription: Subscription) -> SubscriptionOut:
    return _out(subscription, *store.progress(conn, subscription))


@router.get("/{subscription_id}", summary="Get a webhook subscription")
@allow(Role.INTEGRATOR)
def get_webhook(subscription_id: SubscriptionId, catalog: CatalogDep) -> SubscriptionOut:
    """A subscription, its delivery state and backlog."""
    conn = catalog.session.connection()
    subscription = store.get(conn, subscription_id)
    if subscription is None:
        raise _not_found(subscription_id)
    return _read(conn, subscription)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a webhook subscription")
@allow(Role.INTEGRATOR)
async def delete_webhook(subscription_id: SubscriptionId, manager: ManagerDep) -> None:
    """Stop sending to a subscription and forget it."""
    if not await manager.delete(subscription_id):
        raise _not_found(subscription_id)


@router.post("/{subscription_id}/resume", summary="Resume a parked webhook subscription")
@allow(Role.INTEGRATOR)
async def resume_webhook(subscription_id: SubscriptionId, manager: ManagerDep) -> SubscriptionOut:
    """Send again, from where it stopped, to a subscription that was parked after too many failures."""
    subscription = await manager.resume(subscription_id)
    if subscription is None:
        raise _not_found(subscription_id)
    return await _answer(manager, subscription)


@router.post("/{subscription_id}/replay", summary="Deliver events again")
@allow(Role.INTEGRATOR)
async def replay_webhook(subscription_id: SubscriptionId, body: ReplayIn, manager: ManagerDep) -> SubscriptionOut:
    """Deliver again every event after ``after_seq``, or from the first at or after ``since``, and resume.

    A point later than where the subscription is changes nothing: a replay never skips events. The answer's
    ``cursor`` is the point it goes on from.
    """
    found = await manager.replay(subscription_id, after_seq=body.after_seq, since=body.since)
    if found is None:
        raise _not_found(subscription_id)
    return await _answer(manager, found[0])
