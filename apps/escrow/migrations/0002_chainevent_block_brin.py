"""Range reads of contract logs by block: a BRIN index on PostgreSQL in place of the B-tree.

Logs are stored in block order, so a BRIN index of a few pages serves the rewinds after a fork, while a B-tree
had to be updated for every one of the thousands of logs the indexer copies in per page. Other databases (the
embedded SQLite) keep a B-tree."""

from django.db import migrations

BRIN = "chain_event_block_brin"
BTREE = "chain_event_block"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {BRIN} ON escrow_chainevent USING brin (block_number)")
    else:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {BTREE} ON escrow_chainevent (chain_id, contract_address, block_number)"
        )


def drop_index(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {BRIN if schema_editor.connection.vendor == 'postgresql' else BTREE}")


class Migration(migrations.Migration):
    dependencies = [("escrow", "0001_initial")]

    operations = [
        migrations.RemoveIndex(model_name="chainevent", name="chain_event_block"),
        migrations.RunPython(create_index, drop_index),
    ]
