"""The webhook signature as receivers check it, the retry schedule, and the filter the sinks apply."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silentgw.gateway.webhooks import DeliveryPolicy, new_secret, signature, verify

SECRET = "whsec_test"
BODY = b'[{"id":"a"}]'
NOW = 1732441200


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # The vector was computed outside Python: printf '1732441200.[{"id":"a"}]' | openssl dgst -sha256 -hmac whsec_test
    expected = "44356c118dba2dd07bbe177bcdf34a0097224bb92499e2bc6b5f264a5167f415"
    assert signature(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


@pytest.mark.parametrize(
    ("secret", "body", "header", "now", "holds"),
    [
        (SECRET, BODY, signature(SECRET, BODY, NOW), NOW, True),
        (SECRET, BODY, signature(SECRET, BODY, NOW), NOW + 300, True),  # five minutes late: still taken
        (SECRET, BODY, signature(SECRET, BODY, NOW), NOW + 301, False),  # later: a replayed request
        (SECRET, BODY, signature(SECRET, BODY, NOW), NOW - 301, False),  # from the future
        ("whsec_other", BODY, signature(SECRET, BODY, NOW), NOW, False),
        (SECRET, BODY + b" ", signature(SECRET, BODY, NOW), NOW, False),  # the body as parsed and re-encoded
        (SECRET, BODY, signature(SECRET, BODY, NOW).replace(f"t={NOW}", f"t={NOW + 1}"), NOW, False),
        (SECRET, BODY, f"t={NOW},v1=0000,{signature(SECRET, BODY, NOW).split(',')[1]}", NOW, True),  # rotation
        (SECRET, BODY, f"v1={signature(SECRET, BODY, NOW).split('v1=')[1]}", NOW, False),  # no timestamp
        (SECRET, BODY, f"t={NOW}", NOW, False),  # no signature
        (SECRET, BODY, f"t=١٧٣٢٤٤١٢٠٠,v1={'0' * 64}", NOW, False),  # digits of another script
        (SECRET, BODY, "t=1,v1=é", NOW, False),
        (SECRET, BODY, "", NOW, False),
    ],
)
def test_verify_takes_only_a_fresh_signature_of_that_body_with_that_secret(
    secret: str, body: bytes, header: str, now: int, holds: bool
) -> None:
    assert verify(secret, body, header, now=now) is holds


@given(body=st.binary(max_size=2000), timestamp=st.integers(min_value=0, max_value=2**40))
def test_what_is_signed_verifies(body: bytes, timestamp: int) -> None:
    secret = new_secret()
    assert verify(secret, body, signature(secret, body, timestamp), now=timestamp)
    assert not verify(new_secret(), body, signature(secret, body, timestamp), now=timestamp)


def test_secrets_are_new_every_time() -> None:
    assert len({new_secret() for _ in range(100)}) == 100


def test_retries_wait_twice_as_long_each_time_up_to_the_cap() -> None:
    policy = DeliveryPolicy(first_delay=1.0, max_delay=600.0)
    assert [policy.delay(n) for n in (1, 2, 3, 10, 11, 1000)] == [1.0, 2.0, 4.0, 512.0, 600.0, 600.0]


@pytest.mark.parametrize(
    "options", [{"batch": 0}, {"park_after": 0}, {"first_delay": 0.0}, {"first_delay": 5.0, "max_delay": 1.0}]
)
def test_a_policy_that_cannot_work_is_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="delivery policy"):
        DeliveryPolicy(**options)  # type: ignore[arg-type]
