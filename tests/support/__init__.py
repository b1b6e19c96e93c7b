"""Helpers shared by the test folders: import them from here, never from another folder's conftest.

live.py        a real server process (LiveServer), the CLI, read-only store looks, waiting
fixtures.py    the pytest fixtures over it (made available everywhere by tests/conftest.py)
typecheck.py   mypy --strict held to mypy-baseline.json (run by `make lint`)
"""
