"""The registry: meters, the site tree, Modbus devices and register maps, MQTT mappings and
gateway tokens; their services, forms, import, rights and pages."""
