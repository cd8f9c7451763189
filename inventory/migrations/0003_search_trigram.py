"""Search across accounts (issue 3): a trigram index on PostgreSQL, nothing on SQLite.

The index covers exactly the document `inventory.search` matches with LIKE
(name, id, ARN, tags and configuration as upper-cased text), so a substring
search over 100,000 resources is an index scan. pg_trgm is a trusted extension
(PostgreSQL 13+): the database owner may create it without superuser rights.
SQLite has no such index; search there scans, with the same results.
"""

from django.db import migrations

INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS resource_search_trgm ON inventory_resource USING gin "
    "((UPPER(name || ' ' || resource_id || ' ' || arn || ' ' || (tags)::text "
    "|| ' ' || (config)::text)) gin_trgm_ops)"
)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(INDEX_SQL)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS resource_search_trgm")


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0002_account_access_keys"),
    ]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
