"""Test-run defaults: real PostgreSQL, Redis and Mosquitto on loopback (what `make test` uses)."""

import os

os.environ.setdefault("NENGTAN_ENV", "test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nengtan")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("MQTT_URL", "mqtt://127.0.0.1:1883")
