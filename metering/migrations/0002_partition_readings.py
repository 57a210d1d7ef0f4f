"""On PostgreSQL, make metering_reading a table partitioned by month on ts.

The table is empty when this runs (it was created by 0001), so it is dropped and recreated
as a partitioned table with the same columns. A DEFAULT partition catches readings outside
every monthly partition (very old back-dated data, clocks far off), so nothing is ever
rejected for lack of a partition; `metering.storage.partitions.ensure_partitions` creates the months
ahead and moves any rows of a new month out of the default partition.
"""

from django.db import migrations

READINGS_COLUMNS = """
    meter_id bigint NOT NULL,
    ts timestamp with time zone NOT NULL,
    value double precision NOT NULL,
    quality smallint NOT NULL CHECK (quality >= 0),
    source varchar(8) NOT NULL,
    received_at timestamp with time zone NOT NULL,
    PRIMARY KEY (meter_id, ts)
"""

PARTITIONED_SQL = f"""
DROP TABLE metering_reading;
CREATE TABLE metering_reading ({READINGS_COLUMNS}) PARTITION BY RANGE (ts);
CREATE TABLE metering_reading_default PARTITION OF metering_reading DEFAULT;
CREATE INDEX metering_reading_ts_brin ON metering_reading USING brin (ts);
"""

PLAIN_SQL = f"""
DROP TABLE metering_reading;
CREATE TABLE metering_reading ({READINGS_COLUMNS});
"""


def partition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PARTITIONED_SQL)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PLAIN_SQL)


class Migration(migrations.Migration):
    dependencies = [("metering", "0001_initial")]

    operations = [migrations.RunPython(partition, unpartition)]
