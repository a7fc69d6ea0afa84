"""Repository-wide pytest settings (the chapters under book/ included)."""

import pytest


def pytest_collection_modifyitems(items):
    """Mark every cell of a chapter ``notebook`` (``make test-fast``
    deselects them), and give every nbval cell 120 s, not nbval's
    hard-coded 5 s, for the kernel's messages that follow a cell's reply.
    On a busy 2-core CI machine the messages after a 690-s cell took
    longer than 5 s and nbval failed the chapter ("Timeout of 5 seconds
    exceeded waiting for output", computationalmodelling/nbval#136, #231);
    the cell's own time limit (``--nbval-cell-timeout``) is unaffected."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
        if hasattr(item, "output_timeout"):
            item.output_timeout = 120
