"""Browser fixtures (browser, page, shot) live in tests/conftest.py, shared with tests/security."""
