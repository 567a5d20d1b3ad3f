"""Input normalisation with statistics from the training part only: standardise, centre, PCA, ZCA.

The lecture's preprocessing step (CS231n, seeds 003-004): zero-centre the data, and "in practice
you may also see PCA and whitening". Every method is an affine map of the raw examples,

    z = reshape(flatten((x - mean) / std) @ projection, output_shape)

with `projection` absent for the per-channel methods:

- "standardize": per-channel (per-feature for tables) mean and standard deviation (the default);
- "center": the per-channel mean only;
- "pca": decorrelate -- subtract the per-feature mean of the flattened examples and rotate onto
  the eigenvectors of their covariance, largest variance first, optionally keeping only the first
  `pca_components`; the output is flat, (components,);
- "zca": whiten -- the PCA rotation, each component divided by sqrt(eigenvalue + epsilon), rotated
  back, so the output keeps the input's shape and its covariance is ~ the identity;
- "none": the raw values as float32.

Covariances are population covariances (divided by N) of the training part, in float64.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

METHODS = ("standardize", "center", "pca", "zca", "none")
DEFAULT_ZCA_EPSILON = 1e-5  # the lecture's np.sqrt(S + 1e-5)
# A constant channel or feature is left unscaled instead of divided by ~0.
_MIN_STD = 1e-7
_CHUNK = 4096  # examples per block of the covariance sum (no float64 copy of a large split)


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) standard deviation over every axis but the last, in float64.

    For images and sequences the last axis is the channel, so the statistics pool all examples and
    positions (per-channel normalisation); for tabular data it is the feature axis.
    """
    channels = x.shape[-1]
    if x.dtype == np.uint8:
        # Exact statistics from a 256-bin histogram per channel: no float64 copy of the images
        # (CIFAR's training part would take 1.1 GB).
        values = np.arange(256, dtype=np.float64)
        counts = np.stack(
            [np.bincount(x[..., c].ravel(), minlength=256) for c in range(channels)]
        ).astype(np.float64)
        n = counts.sum(axis=1)
        mean = counts @ values / n
        std = np.sqrt((counts * (values[None, :] - mean[:, None]) ** 2).sum(axis=1) / n)
    else:
        flat = np.asarray(x, dtype=np.float64).reshape(-1, channels)
        mean, std = flat.mean(axis=0), flat.std(axis=0)
    std = np.where(std < _MIN_STD, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def standardize(x, mean: np.ndarray, std: np.ndarray) -> tf.Tensor:
    """(x - mean) / std in float32, broadcast over the last axis."""
    return (tf.cast(x, tf.float32) - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


@dataclass(frozen=True)
class Normalization:
    """A fitted normalisation: z = reshape(flatten((x - mean) / std) @ projection, output_shape).

    `mean` and `std` broadcast against one raw example (`raw_shape`); `projection` is a
    (prod(raw_shape), prod(output_shape)) float32 matrix for "pca" and "zca", else None.
    `eigenvalues` (pca, zca) is the training covariance's spectrum, largest first.

    Example:
        >>> norm = fit_normalization(x_train, "zca", zca_epsilon=1e-2)
        >>> z = norm.apply_numpy(x_test)   # what the model sees; norm.apply_tf(x) in a pipeline
    """

    method: str
    raw_shape: tuple
    output_shape: tuple
    mean: np.ndarray
    std: np.ndarray
    projection: np.ndarray | None = None
    eigenvalues: np.ndarray | None = None
    components: int | None = None
    epsilon: float | None = None

    def apply_numpy(self, x) -> np.ndarray:
        """The NumPy reference of `apply_tf` (float32, batch first)."""
        z = (np.asarray(x).astype(np.float32) - self.mean) / self.std
        if self.projection is None:
            return z
        flat = z.reshape(len(z), -1) @ self.projection
        return flat.reshape((len(z), *self.output_shape))

    def apply_tf(self, x) -> tf.Tensor:
        """Normalise a batch of raw examples inside a `tf.data` pipeline or a graph."""
        z = standardize(x, self.mean, self.std)
        if self.projection is None:
            return z
        flat = tf.reshape(z, (-1, self.projection.shape[0])) @ tf.constant(self.projection)
        return tf.reshape(flat, (-1, *self.output_shape))

    def to_json(self) -> dict:
        """What `normalization.json` records (the projection as exact float32 bytes, base64)."""
        record = {
            "method": self.method,
            "raw_shape": list(self.raw_shape),
            "mean": np.asarray(self.mean, np.float64).tolist(),
            "std": np.asarray(self.std, np.float64).tolist(),
        }
        if self.projection is not None:
            record["projection"] = encode_matrix(self.projection)
            record["eigenvalues"] = np.asarray(self.eigenvalues, np.float64).tolist()
            record["components"] = self.components
            record["epsilon"] = self.epsilon
        return record


def encode_matrix(matrix: np.ndarray) -> dict:
    """A float32 matrix as JSON: shape, sha256 and little-endian bytes in base64."""
    data = np.ascontiguousarray(matrix, dtype="<f4").tobytes()
    return {"dtype": "float32", "shape": list(matrix.shape),
            "sha256": hashlib.sha256(data).hexdigest(), "base64": base64.b64encode(data).decode()}


def decode_matrix(record: dict) -> np.ndarray:
    """The inverse of `encode_matrix`; ValueError if the record is malformed or its hash differs."""
    try:
        shape = tuple(int(d) for d in record["shape"])
        data = base64.b64decode(record["base64"], validate=True)
        digest = record["sha256"]
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"malformed projection record ({type(err).__name__}: {err}).") from err
    if record.get("dtype") != "float32" or len(shape) != 2 or len(data) != 4 * np.prod(shape):
        raise ValueError(f"projection record of shape {shape} holds {len(data)} bytes; expected "
                         "a 2-D float32 matrix.")
    if hashlib.sha256(data).hexdigest() != digest:
        raise ValueError("projection record does not match its sha256.")
    return np.frombuffer(data, dtype="<f4").reshape(shape).astype(np.float32)


def check_method(normalize, pca_components=None, zca_epsilon=None) -> None:
    """ValueError naming the argument unless the options make sense together."""
    if normalize not in METHODS:
        valid = ", ".join(repr(m) for m in METHODS)
        raise ValueError(f"`normalize` must be one of {valid}; received normalize={normalize!r}.")
    if pca_components is not None:
        if normalize != "pca":
            raise ValueError(f"`pca_components` applies to normalize='pca' only; received "
                             f"pca_components={pca_components!r} with normalize={normalize!r}.")
        if isinstance(pca_components, bool) or not isinstance(
            pca_components, (int, np.integer)
        ) or pca_components < 1:
            raise ValueError("`pca_components` must be a positive integer; received "
                             f"pca_components={pca_components!r}.")
    if zca_epsilon is not None:
        if normalize != "zca":
            raise ValueError(f"`zca_epsilon` applies to normalize='zca' only; received "
                             f"zca_epsilon={zca_epsilon!r} with normalize={normalize!r}.")
        if isinstance(zca_epsilon, bool) or not isinstance(
            zca_epsilon, (int, float, np.floating)
        ) or not zca_epsilon > 0:
            raise ValueError("`zca_epsilon` must be a positive number; received "
                             f"zca_epsilon={zca_epsilon!r}.")


def fit_normalization(x, normalize="standardize", *, pca_components=None,
                      zca_epsilon=None) -> Normalization:
    """Fit a normalisation to training examples `x` (batch first).

    Args:
        x: the training part's raw examples.
        normalize: "standardize", "center", "pca", "zca" or "none" (see the module docstring).
        pca_components: "pca" only: keep the first k principal components (default: all).
        zca_epsilon: "zca" only: added to each eigenvalue before the inverse square root, in the
            units of the data's variance (default 1e-5, the lecture's).

    Returns:
        A `Normalization`.

    Example:
        >>> norm = fit_normalization(arrays["x_train"], "pca", pca_components=16)
        >>> norm.output_shape
        (16,)

    Reference:
        CS231n, "Neural Networks Part 2: Setting up the Data", data preprocessing (mean
        subtraction, normalisation, PCA and whitening).
    """
    check_method(normalize, pca_components, zca_epsilon)
    raw_shape = tuple(int(d) for d in x.shape[1:])
    channels = raw_shape[-1]
    if normalize in ("standardize", "center"):
        mean, std = channel_stats(x)
        if normalize == "center":
            std = np.ones_like(std)
        return Normalization(normalize, raw_shape, raw_shape, mean, std)
    if normalize == "none":
        zeros, ones = np.zeros(channels, np.float32), np.ones(channels, np.float32)
        return Normalization("none", raw_shape, raw_shape, zeros, ones)
    features = int(np.prod(raw_shape))
    if pca_components is not None and pca_components > features:
        raise ValueError(f"`pca_components` must be at most the {features} features of an "
                         f"example of shape {raw_shape}; received pca_components={pca_components}.")
    mean, covariance = _mean_and_covariance(x.reshape(len(x), features))
    eigenvalues, vectors = _eigh_descending(covariance)
    std = np.ones(channels, np.float32)
    mean = mean.reshape(raw_shape).astype(np.float32)
    if normalize == "pca":
        k = pca_components or features
        return Normalization("pca", raw_shape, (k,), mean, std, vectors[:, :k].astype(np.float32),
                             eigenvalues, components=k)
    epsilon = DEFAULT_ZCA_EPSILON if zca_epsilon is None else float(zca_epsilon)
    whitening = (vectors / np.sqrt(eigenvalues + epsilon)) @ vectors.T
    return Normalization("zca", raw_shape, raw_shape, mean, std, whitening.astype(np.float32),
                         eigenvalues, epsilon=epsilon)


def _mean_and_covariance(flat) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population covariance of the rows, summed in float64 blocks."""
    n, d = flat.shape
    total = np.zeros(d)
    for start in range(0, n, _CHUNK):
        total += flat[start:start + _CHUNK].sum(axis=0, dtype=np.float64)
    mean = total / n
    covariance = np.zeros((d, d))
    for start in range(0, n, _CHUNK):
        block = flat[start:start + _CHUNK].astype(np.float64) - mean
        covariance += block.T @ block
    return mean, covariance / n


def _eigh_descending(covariance) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (clipped at 0, largest first) and unit eigenvectors as columns, each signed
    so that its largest-magnitude entry is positive (scikit-learn's PCA convention)."""
    values, vectors = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    return values, vectors * np.where(signs == 0, 1.0, signs)
