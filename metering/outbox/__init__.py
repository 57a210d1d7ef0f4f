"""Upload to provincial platforms (一端多传): an outbox of each enterprise's indicators.

See docs/outbox.md for the JSON contract, the ack rules and the retry schedule.
"""
