# tests/conftest.py
import pytest
from ruvon.testing.harness import TestHarness
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.implementations.execution.sync import SyncExecutionProvider

@pytest.fixture
async def harness():
    """Create test harness for each test."""
    test_harness = TestHarness()
    yield test_harness
    # Cleanup handled by in-memory database

@pytest.fixture
async def persistence():
    """Create in-memory persistence provider."""
    provider = SQLitePersistenceProvider(db_path=":memory:")
    await provider.initialize()
    yield provider
    await provider.close()

@pytest.fixture
def execution():
    """Create synchronous execution provider."""
    return SyncExecutionProvider()
