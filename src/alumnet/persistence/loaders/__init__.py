"""Batch loaders: one SQL statement for many keys, used by the per-request dataloaders."""
