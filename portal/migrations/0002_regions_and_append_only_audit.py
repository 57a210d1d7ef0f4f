from django.db import migrations

from portal.regions import load_regions

# On PostgreSQL the database itself refuses UPDATE and DELETE on the audit table, so even a
# bug or a raw query in the application cannot rewrite history.
APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION portal_auditentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'portal_auditentry is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER portal_auditentry_no_update_delete
    BEFORE UPDATE OR DELETE ON portal_auditentry
    FOR EACH ROW EXECUTE FUNCTION portal_auditentry_append_only();
"""
SQLITE_SQL = (
    "CREATE TRIGGER portal_auditentry_no_update BEFORE UPDATE ON portal_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'portal_auditentry is append-only'); END;",
    "CREATE TRIGGER portal_auditentry_no_delete BEFORE DELETE ON portal_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'portal_auditentry is append-only'); END;",
)
DROP_SQL = """
DROP TRIGGER IF EXISTS portal_auditentry_no_update_delete ON portal_auditentry;
DROP FUNCTION IF EXISTS portal_auditentry_append_only();
"""


def forwards(apps, schema_editor):
    load_regions(apps.get_model("portal", "Region"))


def append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_SQL)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_SQL:
            schema_editor.execute(statement)


def drop_append_only(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS portal_auditentry_no_update")
        schema_editor.execute("DROP TRIGGER IF EXISTS portal_auditentry_no_delete")


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RunPython(append_only, drop_append_only),
    ]
