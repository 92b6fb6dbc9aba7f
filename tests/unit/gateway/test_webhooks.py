"""The webhook signature (Standard Webhooks) as receivers check it, with our code and the project's library; the
retry schedule; policies that cannot work."""

from __future__ import annotations

import base64
import datetime as dt
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from silentgw.gateway.webhooks import (
    DeliveryPolicy,
    message_id,
    new_secret,
    signature,
    signing_key,
    standard_key,
    verify,
)

# The test vector of the Standard Webhooks libraries (also checked outside Python:
# printf 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
#   openssl dgst -sha256 -mac HMAC -macopt hexkey:$(echo -n MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | base64 -d | xxd -p) \
#   -binary | base64
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
BODY = b'{"test": 2432232314}'
NOW = 1614265330
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
LEGACY = "test-secret-0123456789abcdef"
LEGACY_EXPECTED = "v1,yEhS0TQGJIHw9Jb7QfhKleNBoJI3sZwmjMTjm3Awx94="  # openssl ... -macopt key:test-secret-0123...


def _headers(secret: str = SECRET, body: bytes = BODY, msg_id: str = MSG_ID, at: int = NOW) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(at),
            "webhook-signature": signature(secret, body, msg_id=msg_id, timestamp=at)}  # fmt: skip


def test_the_signature_is_standard_webhooks_v1_over_id_timestamp_and_body() -> None:
    assert signature(SECRET, BODY, msg_id=MSG_ID, timestamp=NOW) == EXPECTED
    assert signature(LEGACY, BODY, msg_id=MSG_ID, timestamp=NOW) == LEGACY_EXPECTED


def test_the_standard_webhooks_library_signs_alike_and_verifies_what_is_signed_and_only_that() -> None:
    at = dt.datetime.fromtimestamp(NOW, dt.UTC)
    assert Webhook(SECRET).sign(MSG_ID, at, BODY) == EXPECTED
    assert Webhook(LEGACY.encode()).sign(MSG_ID, at, BODY) == LEGACY_EXPECTED
    now = int(time.time())  # the library checks the timestamp against the wall clock
    assert Webhook(SECRET).verify(BODY, _headers(at=now), json_parse=False) is None
    assert Webhook(LEGACY.encode()).verify(BODY, _headers(LEGACY, at=now), json_parse=False) is None
    for tampered in (BODY + b" ", b'{"test": 2432232315}'):
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(tampered, _headers(at=now), json_parse=False)


@pytest.mark.parametrize(
    ("secret", "key"),
    [
        (SECRET, base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
        (LEGACY, LEGACY.encode()),  # another form: its UTF-8 bytes, as silentgw 0.1 signed with
        # silentgw 0.1's generated secrets (whsec_ and 43 URL-safe characters) keep the key they had: the whole string
        ("whsec_q-tPKQB0QY2oLqXV9Ky_KAMS0mSw2ZqMm3cKtJc1c6I", b"whsec_q-tPKQB0QY2oLqXV9Ky_KAMS0mSw2ZqMm3cKtJc1c6I"),
        ("whsec_AqtPKQB0QY2oLqXV9KyzKAMS0mSw2ZqMm3cKtJc1c6I", b"whsec_AqtPKQB0QY2oLqXV9KyzKAMS0mSw2ZqMm3cKtJc1c6I"),
    ],
)
def test_the_key_is_the_base64_of_a_whsec_secret_else_the_secret_as_it_is(secret: str, key: bytes) -> None:
    assert signing_key(secret) == key


def test_new_secrets_are_whsec_and_the_base64_of_256_random_bits() -> None:
    made = {new_secret() for _ in range(100)}
    assert len(made) == 100
    assert all(len(standard_key(secret) or b"") == 32 for secret in made)


def test_a_request_of_one_event_has_the_events_id_and_of_several_one_of_them_all() -> None:
    ids = ["0b5c6f6e-5d71-5a44-9d3f-6f8e2c8a1b01", "7d2f0c1e-3a8b-5f44-8c1d-2e9b7a6c5d02"]
    assert message_id(ids[:1]) == ids[0]
    assert message_id(ids) == message_id(list(ids))  # the same request, the same id, every attempt
    assert len({message_id(ids), message_id(ids[::-1]), message_id([*ids, ids[0]])}) == 3
    assert "." not in message_id(ids)  # the signed content is dot-separated


@pytest.mark.parametrize(
    ("secret", "body", "headers", "now", "holds"),
    [
        (SECRET, BODY, _headers(), NOW, True),
        (SECRET, BODY, _headers(), NOW + 300, True),  # five minutes late: still taken
        (SECRET, BODY, _headers(), NOW + 301, False),  # later: a replayed request
        (SECRET, BODY, _headers(), NOW - 301, False),  # from the future
        ("whsec_" + base64.b64encode(b"another key of 24 bytes!").decode(), BODY, _headers(), NOW, False),
        (SECRET, BODY + b" ", _headers(), NOW, False),  # the body as parsed and re-encoded
        (SECRET, BODY, {**_headers(), "webhook-timestamp": str(NOW + 1)}, NOW, False),
        (SECRET, BODY, {**_headers(), "webhook-id": "msg_other"}, NOW, False),
        (SECRET, BODY, {**_headers(), "webhook-signature": "v1,AAAA " + EXPECTED}, NOW, True),  # rotation
        (SECRET, BODY, {k.upper(): v for k, v in _headers().items()}, NOW, True),  # names in any case
        (SECRET, BODY, {**_headers(), "webhook-signature": EXPECTED.removeprefix("v1,")}, NOW, False),
        (SECRET, BODY, {k: v for k, v in _headers().items() if k != "webhook-id"}, NOW, False),
        (SECRET, BODY, {**_headers(), "webhook-timestamp": "١٦١٤٢٦٥٣٣٠"}, NOW, False),  # digits of another script
        (SECRET, BODY, {**_headers(), "webhook-timestamp": "9" * 5000}, NOW, False),  # past int()'s digit limit
        (SECRET, BODY, {**_headers(), "webhook-signature": "v1,é"}, NOW, False),
        (SECRET, BODY, {}, NOW, False),
    ],
)
def test_verify_takes_only_a_fresh_signature_of_that_body_with_that_secret(
    secret: str, body: bytes, headers: dict[str, str], now: int, holds: bool
) -> None:
    assert verify(secret, body, headers, now=now) is holds


@given(body=st.binary(max_size=2000), timestamp=st.integers(min_value=0, max_value=2**40))
def test_what_is_signed_verifies(body: bytes, timestamp: int) -> None:
    secret = new_secret()
    headers = _headers(secret, body, at=timestamp)
    assert verify(secret, body, headers, now=timestamp)
    assert not verify(new_secret(), body, headers, now=timestamp)


def test_retries_wait_twice_as_long_each_time_up_to_the_cap() -> None:
    policy = DeliveryPolicy(first_delay=1.0, max_delay=600.0)
    assert [policy.delay(n) for n in (1, 2, 3, 10, 11, 1000)] == [1.0, 2.0, 4.0, 512.0, 600.0, 600.0]


@pytest.mark.parametrize(
    "options", [{"batch": 0}, {"park_after": 0}, {"first_delay": 0.0}, {"first_delay": 5.0, "max_delay": 1.0}]
)
def test_a_policy_that_cannot_work_is_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="delivery policy"):
        DeliveryPolicy(**options)  # type: ignore[arg-type]
