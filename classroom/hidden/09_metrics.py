"""Hidden tests of chapter 9 (09_metrics); the format is described in 02_foundations.py."""
import math

import numpy as np
import torch

from minigen import metrics


def _features(n, d, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d))
    return rng.normal(size=(n, d)) @ mix * scale


def fd_other_dimension(fn):
    """5-dimensional features, 300 against 200 points, against metrics.frechet_distance"""
    a, b = _features(300, 5, seed=1), _features(200, 5, seed=2) + 0.3
    yours = float(fn(a, b))
    assert math.isclose(yours, metrics.frechet_distance(torch.from_numpy(a), torch.from_numpy(b)),
                        rel_tol=1e-6), yours


def fd_shift(fn):
    """shifting one sample by a vector c adds |c|^2 exactly (the covariances are unchanged)"""
    a = _features(400, 4, seed=3)
    c = np.array([1.0, -2.0, 0.5, 3.0])
    yours = float(fn(a, a + c))
    assert math.isclose(yours, float(c @ c), rel_tol=1e-6), (yours, float(c @ c))


def fd_scale(fn):
    """two centred samples whose covariances differ by a factor 4 (one scaled by 2)"""
    a = _features(500, 3, seed=4)
    a = a - a.mean(0)
    expected = np.trace(np.cov(a, rowvar=False)) * (1 + 4 - 2 * 2)
    yours = float(fn(a, 2 * a))
    assert math.isclose(yours, expected, rel_tol=1e-6), (yours, expected)


QUESTIONS = {
    "my_frechet_distance": {
        "points": 2, "forbidden": ["minigen.metrics.frechet_distance"],
        "task": "Return the Frechet distance of eq. (met-fd) between two arrays of features (N, d), "
                "with NumPy and scipy.linalg.sqrtm.",
        "checks": [fd_other_dimension, fd_shift, fd_scale]},
}
