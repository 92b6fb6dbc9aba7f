"""Redaction: every secret masked the one way, whatever it is written in (settings, URLs, messages quoting them)."""

from __future__ import annotations

import pytest

from silentgw.gateway.redaction import MASK, masked, masked_text, written


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://user:pass@host:8086", f"http://user:{MASK}@host:8086"),
        ("https://user:p%40ss@host/path?x=1", f"https://user:{MASK}@host/path?x=1"),
        ("postgresql://gw:s3cret@db:5432/silentgw", f"postgresql://gw:{MASK}@db:5432/silentgw"),
        ("postgresql+psycopg://gw:@db/silentgw", f"postgresql+psycopg://gw:{MASK}@db/silentgw"),
        ("mqtt://reader:pw@broker:1883", f"mqtt://reader:{MASK}@broker:1883"),
        (
            "postgresql://db/x?user=gw&password=pw&sslmode=require",
            f"postgresql://db/x?user=gw&password={MASK}&sslmode=require",
        ),
        ("http://host:8428/write?token=t&db=x&API_KEY=k", f"http://host:8428/write?token={MASK}&db=x&API_KEY={MASK}"),
        ("https://blob/c?sv=1&sig=abc%2B", f"https://blob/c?sv=1&sig={MASK}"),
        ("unreachable: http://u:p@h:1 (refused); retrying", f"unreachable: http://u:{MASK}@h:1 (refused); retrying"),
        # nothing secret: left as it is
        ("postgresql://gw@db/silentgw", "postgresql://gw@db/silentgw"),
        ("http://host:8086", "http://host:8086"),
        ("sqlite:///var/lib/silentgw.db", "sqlite:///var/lib/silentgw.db"),
        ("socket://192.168.1.40:4001", "socket://192.168.1.40:4001"),
        ("http://host:8086/x?org=a&bucket=b", "http://host:8086/x?org=a&bucket=b"),
        ("a@b http://host:80/ c", "a@b http://host:80/ c"),
    ],
)
def test_masked_text_hides_url_passwords_and_secret_parameters(text: str, shown: str) -> None:
    assert masked_text(text) == shown


def test_masked_hides_secret_names_at_any_depth_and_secrets_in_any_string() -> None:
    data = {
        "password": "p",
        "client_secret": "s",
        "tls": {"key_file": "/etc/k.pem", "keys": ["a"]},
        "brokers": [{"url": "mqtt://u:p2@b", "token": 5}],
        "token": None,
    }
    assert masked(data) == {
        "password": MASK,
        "client_secret": MASK,
        "tls": {"key_file": "/etc/k.pem", "keys": ["a"]},  # a key's file is a path, not a secret
        "brokers": [{"url": f"mqtt://u:{MASK}@b", "token": MASK}],
        "token": None,  # nothing set, and no pretence there is
    }


def test_written_keeps_secrets_a_write_leaves_out() -> None:
    stored = {"kind": "k", "host": "a", "password": MASK}
    assert written({"kind": "k", "host": "b"}, stored) == {"kind": "k", "host": "b", "password": MASK}
    assert written({"kind": "k", "password": "new"}, stored) == {"kind": "k", "password": MASK}
    assert written({"kind": "k", "password": None, "tls": None}, stored) == {"kind": "k", "tls": None}
