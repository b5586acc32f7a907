"""Storage: SQLAlchemy models per context, the engine, units of work and batch loaders."""
