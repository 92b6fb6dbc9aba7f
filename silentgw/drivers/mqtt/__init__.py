"""MQTT drivers: one module per payload dialect (Zebra IoT Connector, Impinj IoT device interface, generic JSON)."""
