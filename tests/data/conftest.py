import pytest


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """One TFDS data directory per test session: each offline dataset is generated once."""
    return tmp_path_factory.mktemp("tensorflow_datasets")
