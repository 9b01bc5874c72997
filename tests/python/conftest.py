import os
import pathlib

import pytest


def _env_path(name: str) -> pathlib.Path:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run these tests through ctest (scripts/test)", returncode=2)
    return pathlib.Path(value)


@pytest.fixture(scope="session")
def source_dir() -> pathlib.Path:
    return _env_path("GENIE_SOURCE_DIR")


@pytest.fixture(scope="session")
def test_out() -> pathlib.Path:
    return _env_path("GENIE_TEST_OUT")


@pytest.fixture(scope="session")
def safetensors_tool() -> pathlib.Path:
    return _env_path("GENIE_SAFETENSORS_TOOL")


@pytest.fixture(scope="session")
def graph_tool() -> pathlib.Path:
    return _env_path("GENIE_GRAPH_TOOL")
