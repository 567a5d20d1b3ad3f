"""Normalisation options against NumPy and scikit-learn's PCA; training statistics only."""

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits, load_wine
from sklearn.decomposition import PCA

import kzoo.data
from kzoo.data.normalize import decode_matrix, encode_matrix, fit_normalization


@pytest.fixture(scope="module")
def wine():
    x = load_wine().data.astype(np.float32)
    return x[:120], x[120:]


@pytest.fixture(scope="module")
def digit_images():
    return load_digits().images.astype(np.uint8)[..., None]  # (1797, 8, 8, 1), values 0..16


def test_standardize_center_and_none_are_per_channel(digit_images):
    x = digit_images[:500]
    values = x.astype(np.float64)
    std_norm = fit_normalization(x, "standardize")
    np.testing.assert_allclose(std_norm.mean, [values.mean()], rtol=1e-6)
    np.testing.assert_allclose(std_norm.std, [values.std()], rtol=1e-6)
    np.testing.assert_allclose(std_norm.apply_numpy(x[:3]),
                               (values[:3] - values.mean()) / values.std(), atol=1e-5)
    centred = fit_normalization(x, "center").apply_numpy(x[:3])
    np.testing.assert_allclose(centred, values[:3] - values.mean(), atol=1e-5)
    raw = fit_normalization(x, "none")
    np.testing.assert_array_equal(raw.apply_numpy(x[:3]), values[:3].astype(np.float32))
    assert raw.output_shape == std_norm.output_shape == (8, 8, 1) and raw.projection is None


@pytest.mark.parametrize("k", [None, 4])
def test_pca_equals_scikit_learn(wine, k):
    train, test = wine
    norm = fit_normalization(train, "pca", pca_components=k)
    reference = PCA(n_components=k).fit(train.astype(np.float64))
    ours, theirs = norm.apply_numpy(test), reference.transform(test.astype(np.float64))
    assert ours.shape == theirs.shape == (len(test), k or 13) and norm.output_shape == (k or 13,)
    # Same components with the same signs (largest entry positive); float32 arithmetic.
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, atol=2e-6 * scale)
    # scikit-learn's explained variance divides by N - 1, ours (a population covariance) by N.
    n = len(train)
    np.testing.assert_allclose(norm.eigenvalues[: k or 13] * n / (n - 1),
                               reference.explained_variance_, rtol=1e-6)


def test_pca_decorrelates_the_training_data(wine):
    train, _ = wine
    z = fit_normalization(train, "pca").apply_numpy(train).astype(np.float64)
    covariance = np.cov(z, rowvar=False, bias=True)
    off_diagonal = covariance - np.diag(np.diag(covariance))
    assert np.abs(off_diagonal).max() < 1e-5 * np.diag(covariance).max()
    assert np.all(np.diff(np.diag(covariance)) <= 1e-6 * covariance[0, 0])  # largest first


def test_zca_matches_a_numpy_svd_and_whitens(wine):
    train, test = wine
    epsilon = 1e-3
    norm = fit_normalization(train, "zca", zca_epsilon=epsilon)
    x = train.astype(np.float64)
    centred = x - x.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variances = singular**2 / len(x)
    whitening = vt.T @ np.diag(1.0 / np.sqrt(variances + epsilon)) @ vt
    expected = (test - x.mean(axis=0)) @ whitening
    np.testing.assert_allclose(norm.apply_numpy(test), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(norm.projection, norm.projection.T, atol=1e-6)  # symmetric
    assert norm.output_shape == (13,)
    z = norm.apply_numpy(train).astype(np.float64)
    # Covariance = diag(lambda / (lambda + epsilon)) in the eigenbasis: ~ I where lambda >> eps.
    kept = variances / (variances + epsilon)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(np.cov(z, rowvar=False, bias=True))),
                               np.sort(kept), atol=1e-4)


def test_zca_keeps_image_shape_and_tf_matches_numpy(digit_images):
    x = digit_images[:300]
    norm = fit_normalization(x, "zca", zca_epsilon=0.1)
    assert norm.output_shape == (8, 8, 1) and norm.projection.shape == (64, 64)
    np.testing.assert_allclose(norm.apply_tf(tf.constant(x[:5])), norm.apply_numpy(x[:5]),
                               atol=1e-5)
    pca = fit_normalization(x, "pca", pca_components=10)
    np.testing.assert_allclose(pca.apply_tf(tf.constant(x[:5])), pca.apply_numpy(x[:5]),
                               atol=1e-4)


def test_load_fits_on_the_training_part_only(data_dir):
    arrays = kzoo.data.load_arrays("wine", data_dir=data_dir)
    bundle = kzoo.data.load("wine", data_dir=data_dir, normalize="pca", pca_components=5,
                            validation_split=0.2, batch_size=500)
    info = bundle.info
    assert info.input_shape == (5,) and info.raw_shape == (13,) and info.normalize == "pca"
    fitted = fit_normalization(arrays["x_train"][bundle.train_indices], "pca", pca_components=5)
    np.testing.assert_allclose(info.normalization.projection, fitted.projection, atol=1e-6)
    everything = fit_normalization(arrays["x_train"], "pca", pca_components=5)
    assert not np.allclose(info.mean, everything.mean)  # the held-out part is not in the mean
    x_test, _ = next(iter(bundle.test))
    np.testing.assert_allclose(x_test, fitted.apply_numpy(arrays["x_test"]), atol=1e-3)
    x_train, _ = next(iter(bundle.train_epochs(0, 1)))
    assert x_train.shape == (len(bundle.train_indices), 5)


def test_load_zca_on_digits_keeps_the_image_shape(data_dir):
    zca = kzoo.data.load("digits", data_dir=data_dir, normalize="zca", zca_epsilon=0.1)
    assert zca.info.input_shape == (8, 8, 1) and zca.info.normalization.epsilon == 0.1
    assert zca.info.mean.shape == (8, 8, 1)  # a mean image: per pixel
    images, _ = next(iter(zca.validation))
    assert images.shape[1:] == (8, 8, 1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"normalize": "whiten"}, "`normalize` must be one of 'standardize', 'center', 'pca'"),
        ({"normalize": "zca", "pca_components": 3}, "`pca_components` applies to normalize='pca'"),
        ({"normalize": "pca", "pca_components": 0}, "`pca_components` must be a positive integer"),
        ({"normalize": "pca", "pca_components": 14}, "at most the 13 features"),
        ({"normalize": "zca", "zca_epsilon": 0.0}, "`zca_epsilon` must be a positive number"),
        ({"normalize": "pca", "zca_epsilon": 1.0}, "`zca_epsilon` applies to normalize='zca'"),
    ],
)
def test_bad_options_name_the_argument(data_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        kzoo.data.load("wine", data_dir=data_dir, **kwargs)


def test_whole_example_transforms_refuse_pad_and_crop_augmentation(data_dir):
    with pytest.raises(ValueError, match="pass augment=False"):
        kzoo.data.load("digits", data_dir=data_dir, normalize="zca", augment=True)
    centred = kzoo.data.load("digits", data_dir=data_dir, normalize="center", augment=True)
    assert centred.info.augment


def test_projection_records_round_trip_exactly_and_detect_tampering(rng):
    matrix = rng.normal(size=(6, 3)).astype(np.float32)
    record = encode_matrix(matrix)
    np.testing.assert_array_equal(decode_matrix(record), matrix)
    tampered = dict(record, base64=encode_matrix(matrix + 1)["base64"])
    with pytest.raises(ValueError, match="sha256"):
        decode_matrix(tampered)
    with pytest.raises(ValueError, match="malformed"):
        decode_matrix({"shape": [6, 3]})
