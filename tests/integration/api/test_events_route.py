"""The events API on SQLite and PostgreSQL: stored events queried by type, subject and time, page by page, and the
live stream resumed after the last event a client got (Last-Event-ID), as browsers do on reconnecting."""

from __future__ import annotations

import datetime as dt

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.gateway import events
from silentgw.gateway.events import Event
from silentgw.gateway.store import outbox

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def written(engine: Engine) -> list[Event]:
    found = [events.device_status("reader-1", "down", T0, "port lost"), events.device_status("reader-1", "up", T0, "")]
    found += [events.unpaid_exit(f"EPC{i}", "exit", T0 + dt.timedelta(minutes=i)) for i in range(5)]
    with engine.begin() as conn:
        outbox.append(conn, found)
    return found


def stream(client: TestClient, want: int, **kwargs: object) -> list[tuple[int, dict[str, object]]]:
    """The first ``want`` messages of the live stream: (SSE id, CloudEvent)."""
    got: list[tuple[int, dict[str, object]]] = []
    with client.stream("GET", "/api/v1/events/stream", **kwargs) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        current = 0
        for line in response.iter_lines():
            if line.startswith("id: "):
                current = int(line[4:])
            elif line.startswith("data: "):
                got.append((current, orjson.loads(line[6:])))
                if len(got) == want:
                    break
    return got


def test_events_are_queried_by_type_subject_and_time_page_by_page(client: TestClient, engine: Engine) -> None:
    made = written(engine)
    alarms = client.get("/api/v1/events", params={"type": "silentgw.alarm.*", "limit": 3}).json()
    assert [e["id"] for e in alarms["items"]] == [e.id for e in made[2:5]]
    rest = client.get("/api/v1/events", params={"type": "silentgw.alarm.*", "cursor": alarms["next_cursor"]}).json()
    assert [e["id"] for e in rest["items"]] == [e.id for e in made[5:]]
    assert rest["next_cursor"] is None
    first = alarms["items"][0]
    assert (first["specversion"], first["type"], first["subject"]) == ("1.0", "silentgw.alarm.unpaid_exit", "EPC0")
    by_subject = client.get("/api/v1/events", params={"subject": "reader-1", "type": "silentgw.device.down"}).json()
    assert [e["data"]["detail"] for e in by_subject["items"]] == ["port lost"]
    window = {"since": "2026-11-24T09:01:00Z", "until": "2026-11-24T09:03:00+00:00"}
    assert [e["subject"] for e in client.get("/api/v1/events", params=window).json()["items"]] == ["EPC1", "EPC2"]
    naive = client.get("/api/v1/events", params={"since": "2026-11-24T09:01:00"})
    assert naive.status_code == 422
    assert naive.headers["content-type"] == "application/problem+json"


def test_the_live_stream_resumes_after_the_last_event_id(client: TestClient, engine: Engine) -> None:
    made = written(engine)
    everything = stream(client, 7, params={"since_seq": 0})
    assert [e["id"] for _, e in everything] == [e.id for e in made]
    seqs = [seq for seq, _ in everything]
    assert seqs == sorted(seqs)
    resumed = stream(client, 4, headers={"Last-Event-ID": str(seqs[2])})
    assert [e["id"] for _, e in resumed] == [e.id for e in made[3:]]
    only_alarms = stream(client, 2, params={"since_seq": seqs[3], "type": "silentgw.alarm.*"})
    assert [e["subject"] for _, e in only_alarms] == ["EPC2", "EPC3"]
    bad = client.get("/api/v1/events/stream", headers={"Last-Event-ID": "yesterday"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
