"""losses/classification.py against numpy references."""

import numpy as np

from losses import classification

RNG = np.random.default_rng(1)


def _ce(logits, y):
  z = logits - logits.max(-1, keepdims=True)
  logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
  return -np.take_along_axis(logp, y[..., None], -1)[..., 0]


def test_mean_and_per_candidate_cross_entropy():
  logits = RNG.standard_normal((3, 7, 5)).astype(np.float32)
  y = RNG.integers(0, 5, (3, 7))
  per = _ce(logits.astype(np.float64), y)
  np.testing.assert_allclose(classification.cross_entropy(logits, y), per.mean(), rtol=1e-5)
  got = classification.cross_entropy_per_candidate(logits, y)
  assert got.shape == (3,)
  np.testing.assert_allclose(got, per.mean(-1), rtol=1e-5)


def test_accuracy():
  logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]], np.float32)
  assert float(classification.accuracy(logits, np.array([0, 1, 0, 0]))) == 0.75
