"""A BRIN index on the raw samples' timestamps (PostgreSQL only; other databases do without).

Samples arrive roughly in time order, so a BRIN index of a few pages serves retention deletes and time-range scans
where a B-tree would grow with every row."""

from django.db import migrations

INDEX = "compute_sample_ts_brin"


def create_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON compute_sample USING brin (ts)")


def drop_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("compute", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_brin, drop_brin),
    ]
