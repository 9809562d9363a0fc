"""Database engine, table base, group-commit writer and migrations."""
