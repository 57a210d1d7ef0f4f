"""The Modbus collector: register decoding, request planning, the client and the poll services."""
