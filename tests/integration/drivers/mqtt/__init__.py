"""The MQTT drivers end to end through a real Mosquitto."""
