"""Webhook deliveries as a subscriber sees them, from a real gateway to a real receiver, on SQLite and PostgreSQL:
every event at least once, signed, in order per subject; retried through a receiver's outage; parked after too many
failures and resumed; replayed from a point; filtered by type; and picked up again after a restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections import Counter

import pytest
from sqlalchemy import Engine

from silentgw.gateway import events
from silentgw.gateway.store import outbox
from silentgw.gateway.webhooks import BATCH_MEDIA_TYPE, DeliveryPolicy
from tests.integration.webhooks.harness import (
    QUICK,
    SECRET,
    SOURCE,
    T0,
    Gateway,
    Receiver,
    assert_in_order_per_subject,
    first_arrivals,
    library_verifies,
    mixed,
    running,
    spec_verifies,
    until,
)

pytestmark = pytest.mark.anyio


def _latest(engine: Engine) -> int:
    with engine.connect() as conn:
        return outbox.latest(conn)


def _seqs(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {e.id: e.seq for e in outbox.read(conn, 0, limit=10_000)}


async def test_every_event_arrives_signed_once_deduplicated_and_in_order_per_subject(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    receiver.secrets["/hook"] = SECRET
    sent = mixed(250)
    async with running(engine, database_url) as gateway:
        hook = await gateway.create(receiver.url("/hook"))
        for start in range(0, len(sent), 25):  # ten commits, as micro-batches come
            gateway.append(sent[start : start + 25])
        await until(lambda: receiver.ids("/hook") == {e.id for e in sent})
        await until(lambda: _shown_done(gateway, hook["id"], _latest(engine)))
        shown = await gateway.get(hook["id"])

    taken = receiver.taken("/hook")
    assert len(first_arrivals(taken)) == len(sent) == 250
    assert_in_order_per_subject(taken, sent)
    requests = [r for r in receiver.requests if r.path == "/hook"]
    assert all(r.status == 200 for r in requests)  # every request verified (library and spec): none refused with 401
    assert len({r.headers["webhook-id"] for r in requests}) == len(requests)
    tampered = requests[0].body.replace(b'"specversion"', b'"specversion" ')
    assert library_verifies(SECRET, requests[0].body, requests[0].headers)
    assert not library_verifies(SECRET, tampered, requests[0].headers)
    assert not spec_verifies(SECRET, tampered, requests[0].headers)
    assert not library_verifies(SECRET.replace("whsec_A", "whsec_B"), requests[0].body, requests[0].headers)
    assert all(r.content_type == BATCH_MEDIA_TYPE and 1 <= len(r.events) <= QUICK.batch for r in requests)
    assert len({r.port for r in requests}) < len(requests)  # connections were kept alive and used again
    first = next(e for e in taken if e["id"] == sent[0].id)
    assert first["specversion"] == "1.0"
    assert (first["source"], first["type"], first["subject"]) == (SOURCE, sent[0].type, sent[0].subject)
    assert first["data"] == dict(sent[0].data)
    assert (shown["state"], shown["failures"], shown["backlog"]) == ("active", 0, 0)
    assert shown["last_attempt_at"] is not None
    assert shown["next_attempt_at"] is None


async def _shown_done(gateway: Gateway, subscription_id: str, latest: int) -> bool:
    """Whether the API shows the subscription caught up with the outbox."""
    shown = await gateway.get(subscription_id)
    return bool(shown["cursor"] == latest and shown["backlog"] == 0)


async def test_a_receiver_failing_for_a_while_gets_everything_once_it_recovers(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    receiver.secrets["/hook"] = SECRET
    receiver.failing.add("/hook")
    sent = mixed(60)
    async with running(engine, database_url) as gateway:
        hook = await gateway.create(receiver.url("/hook"))
        gateway.append(sent)

        async def failing_a_while() -> bool:
            return bool((await gateway.get(hook["id"]))["failures"] >= 3)

        await until(failing_a_while)
        during = await gateway.get(hook["id"])
        receiver.failing.clear()
        await until(lambda: receiver.ids("/hook") == {e.id for e in sent})
        await until(lambda: _shown_done(gateway, hook["id"], _latest(engine)))
        after = await gateway.get(hook["id"])

    assert during["state"] == "active"
    assert during["last_error"] == "HTTP 500"  # the status, never what the receiver said
    assert dt.datetime.fromisoformat(during["next_attempt_at"]) > dt.datetime.fromisoformat(during["last_attempt_at"])
    assert during["backlog"] == 60
    assert receiver.answered("/hook", 500) >= 3
    assert len(first_arrivals(receiver.taken("/hook"))) == 60
    assert_in_order_per_subject(receiver.taken("/hook"), sent)
    assert (after["state"], after["failures"], after["next_attempt_at"]) == ("active", 0, None)
    assert after["last_error"] == "HTTP 500"  # kept for the record


async def test_a_request_failing_in_the_middle_of_a_batch_resends_only_what_was_not_taken(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    receiver.secrets["/hook"] = SECRET
    receiver.fail_once["/hook"] = 3  # of the five requests a batch of 200 takes, the third fails once
    sent = mixed(200)
    async with running(engine, database_url) as gateway:
        await gateway.create(receiver.url("/hook"))
        gateway.append(sent)  # one commit: the dispatcher hands the sink all 200 at once
        await until(lambda: receiver.ids("/hook") == {e.id for e in sent})

    assert [r.status for r in receiver.requests] == [200, 200, 500, 200, 200, 200]
    assert [e["id"] for e in receiver.taken("/hook")] == [e.id for e in sent]  # each once, in order
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids[2] == ids[3]  # the failed request sent again as it was: the same webhook-id
    assert len(set(ids)) == 5


async def test_too_many_failures_park_the_subscription_and_resume_delivers_the_rest(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    receiver.secrets["/hook"] = SECRET
    receiver.failing.add("/hook")
    sent = mixed(40)
    policy = DeliveryPolicy(batch=40, park_after=3, first_delay=0.02, max_delay=0.05, record_every=0.0)
    async with running(engine, database_url, policy=policy) as gateway:
        hook = await gateway.create(receiver.url("/hook"))
        gateway.append(sent[:30])

        async def parked() -> bool:
            return bool((await gateway.get(hook["id"]))["state"] == "parked")

        await until(parked)
        gateway.append(sent[30:])  # while parked: kept for later, not sent
        await asyncio.sleep(0.5)
        shown = await gateway.get(hook["id"])
        listed = (await gateway.api.get("/webhooks", params={"state": "parked"})).json()
        tries = receiver.answered("/hook", 500)

        receiver.failing.clear()
        resumed = (await gateway.api.post(f"/webhooks/{hook['id']}/resume")).json()
        await until(lambda: receiver.ids("/hook") == {e.id for e in sent})
        await until(lambda: _shown_done(gateway, hook["id"], _latest(engine)))

    assert tries == 3  # three failed requests, then nothing more while parked
    assert (shown["state"], shown["failures"], shown["next_attempt_at"]) == ("parked", 3, None)
    assert shown["last_error"].startswith("HTTP 500")
    assert shown["backlog"] == 40
    assert [s["id"] for s in listed["items"]] == [hook["id"]]
    assert (resumed["state"], resumed["failures"]) == ("active", 0)
    assert len(first_arrivals(receiver.taken("/hook"))) == 40
    assert_in_order_per_subject(receiver.taken("/hook"), sent)


async def test_replay_delivers_again_from_the_point_given(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    receiver.secrets["/hook"] = SECRET
    sent = mixed(20)
    async with running(engine, database_url) as gateway:
        hook = await gateway.create(receiver.url("/hook"))
        gateway.append(sent)
        await until(lambda: len(receiver.taken("/hook")) == 20)
        await until(lambda: _shown_done(gateway, hook["id"], _latest(engine)))
        seq = _seqs(engine)

        after_tenth = await gateway.api.post(f"/webhooks/{hook['id']}/replay", json={"after_seq": seq[sent[9].id]})
        await until(lambda: len(receiver.taken("/hook")) == 30)
        await until(lambda: _shown_done(gateway, hook["id"], _latest(engine)))
        since_fifth = await gateway.api.post(f"/webhooks/{hook['id']}/replay", json={"since": sent[4].time.isoformat()})
        await until(lambda: len(receiver.taken("/hook")) == 46)
        await until(lambda: _shown_done(gateway, hook["id"], _latest(engine)))
        ahead = await gateway.api.post(f"/webhooks/{hook['id']}/replay", json={"after_seq": 10**9})
        await asyncio.sleep(0.3)

    assert after_tenth.status_code == since_fifth.status_code == ahead.status_code == 200
    assert after_tenth.json()["cursor"] == seq[sent[9].id]
    assert since_fifth.json()["cursor"] == seq[sent[4].id] - 1
    assert ahead.json()["cursor"] == seq[sent[-1].id]  # a point past the cursor skips nothing
    taken = [e["id"] for e in receiver.taken("/hook")]
    assert len(taken) == 46
    assert taken[20:30] == [e.id for e in sent[10:]]
    assert taken[30:] == [e.id for e in sent[4:]]
    assert Counter(taken) == Counter({e.id: 1 for e in sent[:4]} | {e.id: 2 for e in sent[4:10]} |
                                     {e.id: 3 for e in sent[10:]})  # fmt: skip


async def test_type_filters_choose_what_each_subscriber_gets(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    filters = {
        "/items": ["silentgw.item.*"],
        "/downs": ["silentgw.device.down"],
        "/alarms-and-stock": ["silentgw.alarm.unpaid_exit", "silentgw.stock.*"],
        "/everything": [],
    }
    sent = [*mixed(30), events.unpaid_exit("3034257BF7194E4000001A85", "exit-1", T0)]
    for path in filters:
        receiver.secrets[path] = SECRET
        receiver.failing.add(path)
    async with running(engine, database_url) as gateway:
        hooks = {path: await gateway.create(receiver.url(path), types=types) for path, types in filters.items()}
        gateway.append(sent)
        backlogs = {path: (await gateway.get(hook["id"]))["backlog"] for path, hook in hooks.items()}
        receiver.failing.clear()
        for hook in hooks.values():
            await until(functools.partial(_shown_done, gateway, hook["id"], _latest(engine)))

    wanted = {path: {e.id for e in sent if events.matches(e.type, types)} for path, types in filters.items()}
    assert {path: len(ids) for path, ids in wanted.items()} == {
        "/items": 10, "/downs": 10, "/alarms-and-stock": 11, "/everything": 31,
    }  # fmt: skip
    assert backlogs == {path: len(ids) for path, ids in wanted.items()}
    for path in filters:
        assert receiver.ids(path) == wanted[path], path


async def test_a_restart_delivers_to_active_subscriptions_and_leaves_parked_ones_parked(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    receiver.secrets.update({"/a": SECRET, "/b": SECRET})
    sent = mixed(15)
    # Subscribed through an API running without the gateway: only stored.
    async with running(engine, database_url, deliver=False) as api_only:
        a = await api_only.create(receiver.url("/a"))
        b = await api_only.create(receiver.url("/b"))
        api_only.append(sent[:10])
    assert receiver.requests == []

    receiver.failing.add("/b")
    policy = DeliveryPolicy(batch=40, park_after=1, first_delay=0.02, max_delay=0.05, record_every=0.0)
    async with running(engine, database_url, policy=policy) as gateway:  # the gateway starts: both are loaded
        await until(lambda: receiver.ids("/a") == {e.id for e in sent[:10]})
        await until(lambda: _state_is(gateway, b["id"], "parked"))

    receiver.failing.clear()
    gateway.append(sent[10:])
    async with running(engine, database_url) as gateway:  # again: only the active one is loaded
        await until(lambda: receiver.ids("/a") == {e.id for e in sent})
        await asyncio.sleep(0.3)
        parked = await gateway.get(b["id"])
        assert receiver.taken("/b") == []
        await gateway.api.post(f"/webhooks/{b['id']}/resume")
        await until(lambda: receiver.ids("/b") == {e.id for e in sent})
        await until(lambda: _shown_done(gateway, a["id"], _latest(engine)))

    assert (parked["state"], parked["backlog"]) == ("parked", 15)
    assert len(first_arrivals(receiver.taken("/a"))) == 15
    assert_in_order_per_subject(receiver.taken("/b"), sent)


async def _state_is(gateway: Gateway, subscription_id: str, state: str) -> bool:
    return bool((await gateway.get(subscription_id))["state"] == state)


async def test_a_deleted_subscription_gets_nothing_more(engine: Engine, database_url: str, receiver: Receiver) -> None:
    receiver.secrets.update({"/kept": SECRET, "/gone": SECRET})
    sent = mixed(10)
    async with running(engine, database_url) as gateway:
        kept = await gateway.create(receiver.url("/kept"))
        gone = await gateway.create(receiver.url("/gone"))
        gateway.append(sent[:5])
        await until(lambda: len(receiver.ids("/gone")) == len(receiver.ids("/kept")) == 5)
        deleted = await gateway.api.delete(f"/webhooks/{gone['id']}")
        gateway.append(sent[5:])
        await until(lambda: len(receiver.ids("/kept")) == 10)
        await until(lambda: _shown_done(gateway, kept["id"], _latest(engine)))
        after = await gateway.api.get(f"/webhooks/{gone['id']}")

    assert deleted.status_code == 204
    assert after.status_code == 404
    assert receiver.ids("/gone") == {e.id for e in sent[:5]}
