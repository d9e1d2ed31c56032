"""Alembic migrations of the cloud store; run by kdfm_cloud.store.migrate, never by hand."""
