"""Demo: the Modbus/MQTT meter simulator and the demo enterprise's registry and readings."""
