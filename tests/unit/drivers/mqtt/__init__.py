"""Unit tests of the MQTT dialects: payloads in, observations out, no broker."""
