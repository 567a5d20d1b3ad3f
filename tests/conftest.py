import gc
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_collection_finish(session):
    # `clear_session` below runs a full garbage collection after every test; with TensorFlow,
    # Keras and every test module imported that walks ~400k objects (~0.5 s a test, most of the
    # fast suite's time). Frozen, the objects alive after collection are left out of every later
    # collection; what the tests create is still collected.
    gc.collect()
    gc.freeze()


_REFROZEN = {"module": False}


@pytest.fixture(autouse=True)
def _seed_and_clear():
    keras.utils.set_random_seed(1234)
    yield
    start = time.perf_counter()
    keras.backend.clear_session()  # collects what the test left behind
    if time.perf_counter() - start > 0.05:
        # Many objects survive (a lazily imported part of TensorFlow, a fixture's model): freeze
        # them too, so the next tests' collections skip them; released at the module's end.
        gc.freeze()
        _REFROZEN["module"] = True


@pytest.fixture(autouse=True, scope="module")
def _release_what_tests_froze():
    yield
    if _REFROZEN["module"]:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        _REFROZEN["module"] = False


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def mixed_bfloat16():
    """The global dtype policy is mixed_bfloat16 inside the test, float32 again after it."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def digits_split():
    """UCI digits as 8x8x1 float32 images in [0, 1], split 75/25, stratified, once per session."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
