"""Virtual readers, sensors and shoppers that speak the real wire formats."""
