"""Serial drivers, one module per wire protocol, all reading through :mod:`silentgw.drivers.serial.port`."""
