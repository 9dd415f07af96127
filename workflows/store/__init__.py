"""The testbed store: SQLAlchemy 2 async models and repositories (SQLite | PostgreSQL)."""
