"""Device drivers: RFID readers and sensors over serial and MQTT, turned into observations."""
