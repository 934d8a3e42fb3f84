"""losses/auxiliary.py: entropy, pseudo-labels, auxiliary head, PCGrad against hand-computed cases."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from losses import auxiliary


def test_entropy_of_uniform_and_confident_predictions():
  assert float(auxiliary.entropy(jnp.zeros((3, 4)))) == pytest.approx(math.log(4), rel=1e-6)
  assert float(auxiliary.entropy(jnp.array([[100.0, 0.0, 0.0]]))) == pytest.approx(0.0, abs=1e-6)


def test_pseudo_labels_are_the_argmax_and_carry_no_gradient():
  logits = jnp.array([[2.0, 0.0], [0.0, 1.0]])
  expected = -np.mean([jax.nn.log_softmax(logits[0])[0], jax.nn.log_softmax(logits[1])[1]])
  assert float(auxiliary.pseudo_label_ce(logits)) == pytest.approx(float(expected), rel=1e-6)
  g = jax.grad(auxiliary.pseudo_label_ce)(logits)  # the targets are constants: d/dlogits = softmax − onehot
  np.testing.assert_allclose(np.asarray(g), (np.asarray(jax.nn.softmax(logits)) - np.eye(2)) / 2, atol=1e-6)


def test_aux_head_ce():
  assert float(auxiliary.aux_head_ce(jnp.zeros((2, 3)), jnp.array([0, 2]))) == pytest.approx(math.log(3))


def test_pcgrad_projects_a_conflicting_gradient_by_hand():
  p = {'a': jnp.array([1.0, 0.0]), 'b': jnp.array([0.0])}
  g = {'a': jnp.array([-1.0, 1.0]), 'b': jnp.array([2.0])}
  out, dot = auxiliary.pcgrad(p, g)
  assert float(dot) == -1.0
  # g − (g·p / |p|²) p = (−1, 1, 2) − (−1)(1, 0, 0) = (0, 1, 2)
  np.testing.assert_allclose(np.asarray(out['a']), [0.0, 1.0])
  np.testing.assert_allclose(np.asarray(out['b']), [2.0])
  assert float(sum(jnp.vdot(out[k], p[k]) for k in p)) == 0.0  # orthogonal to the primary


def test_pcgrad_leaves_an_agreeing_gradient_alone():
  p = {'a': jnp.array([1.0, 1.0])}
  g = {'a': jnp.array([0.5, -0.2])}
  out, dot = auxiliary.pcgrad(p, g)
  assert float(dot) == pytest.approx(0.3)
  np.testing.assert_array_equal(np.asarray(out['a']), np.asarray(g['a']))
