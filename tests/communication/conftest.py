"""The cohorts programme, for communication tests."""

from tests.cohorts.conftest import Programme, programme  # noqa: F401  (the fixture)

__all__ = ["Programme"]
