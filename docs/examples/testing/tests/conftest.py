import pytest

from ruvon.testing import TestHarness


@pytest.fixture
def harness():
    """A new harness per test: definitions from ./config, a fresh in-memory store, no mocks."""
    return TestHarness()


@pytest.fixture
def order():
    return {"order_id": "A-100", "amount": 25.0}
