"""Shared fixtures; the plain helpers they use live in tests/support.py."""

from __future__ import annotations

import pytest

from tests.support import PROJECT


@pytest.fixture
def project_path():
    """The project's root folder (for commands that run inside the project)."""
    return PROJECT


@pytest.fixture
def in_project(monkeypatch):
    """Run the test with the project root as the working directory."""
    monkeypatch.chdir(PROJECT)
    return PROJECT
