"""Shared pytest fixtures."""

import pytest


@pytest.fixture(scope="session")
def tiny_zimage_dir(tmp_path_factory):
    """A ~4 MB random-weight Z-Image pipeline in the save_pretrained layout, built once per test session."""
    from zimage import build_tiny_zimage  # pytest puts tests/ on sys.path (no __init__.py)

    return build_tiny_zimage(tmp_path_factory.mktemp("tiny-zimage"))
