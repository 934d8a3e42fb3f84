"""losses/dpo.py: the DPO loss with the chosen-NLL term against hand-computed values, its gradient signs,
the frozen reference and the response mask."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from losses import dpo

ONE = jnp.ones((1, 2))
LOSS = jax.jit(dpo.dpo_loss)  # one compile per shape instead of one per eager op


def _hand_case():
  # log π(y_w) = −3, log π_ref(y_w) = −3.5, log π(y_l) = −2, log π_ref(y_l) = −1.5, β = 0.5
  return dict(
    policy_w=jnp.array([[-1.0, -2.0]]),
    policy_l=jnp.array([[-1.0, -1.0]]),
    ref_w=jnp.array([[-1.5, -2.0]]),
    ref_l=jnp.array([[-0.5, -1.0]]),
    mask_w=ONE,
    mask_l=ONE,
    beta=0.5,
  )


def test_hand_computed_value_and_metrics():
  loss, m = LOSS(**_hand_case(), nll_coef=0.1)
  # r_w = 0.5 (−3 + 3.5) = 0.25, r_l = 0.5 (−2 + 1.5) = −0.25; −log σ(0.5) = log(1 + e^−0.5) = 0.474077
  # NLL(y_w) token-averaged = 3 / 2 = 1.5; loss = 0.474077 + 0.1 · 1.5
  assert float(m['dpo']) == pytest.approx(math.log1p(math.exp(-0.5)), rel=1e-6)
  assert float(m['nll']) == pytest.approx(1.5)
  assert float(loss) == pytest.approx(0.4740770 + 0.15, rel=1e-6)
  assert float(m['margin']) == pytest.approx(0.5)
  assert float(m['reward_w']) == pytest.approx(0.25) and float(m['reward_l']) == pytest.approx(-0.25)
  assert float(m['reward_acc']) == 1.0


def test_reward_accuracy_counts_pairs():
  case = _hand_case()
  case['policy_w'] = jnp.array([[-1.0, -2.0], [-5.0, -5.0]])
  case['policy_l'] = jnp.array([[-1.0, -1.0], [-1.0, -1.0]])
  for k in ('ref_w', 'ref_l'):
    case[k] = jnp.concatenate([case[k], jnp.array([[-1.0, -1.0]])])
  case['mask_w'] = case['mask_l'] = jnp.ones((2, 2))
  _, m = LOSS(**case)
  assert float(m['reward_acc']) == 0.5  # the second pair prefers y_l (r_w = −4, r_l = 0)


def test_only_response_tokens_count():
  case = _hand_case()
  case['policy_w'] = jnp.array([[-1.0, -2.0, -50.0]])
  case['ref_w'] = jnp.array([[-1.5, -2.0, 7.0]])
  case['policy_l'] = jnp.array([[-1.0, -1.0, -9.0]])
  case['ref_l'] = jnp.array([[-0.5, -1.0, 3.0]])
  case['mask_w'] = case['mask_l'] = jnp.array([[1.0, 1.0, 0.0]])
  loss, _ = LOSS(**case, nll_coef=0.1)
  assert float(loss) == pytest.approx(0.4740770 + 0.15, rel=1e-6)


def test_gradient_raises_chosen_lowers_rejected_and_skips_the_reference():
  case = _hand_case()
  names = ('policy_w', 'policy_l', 'ref_w', 'ref_l')
  for coef in (0.0, 0.1):
    grads = jax.jit(
      jax.grad(
        lambda *a: dpo.dpo_loss(*a, case['mask_w'], case['mask_l'], 0.5, coef)[0], argnums=(0, 1, 2, 3)
      )
    )(*(case[k] for k in names))
    g = dict(zip(names, grads))
    assert np.all(np.asarray(g['policy_w']) < 0)  # descent raises log π(y_w)
    assert np.all(np.asarray(g['policy_l']) > 0)  # and lowers log π(y_l)
    assert np.all(np.asarray(g['ref_w']) == 0) and np.all(np.asarray(g['ref_l']) == 0)  # frozen
  # pure DPO: ∂L/∂log π(y_w) = −β σ(−margin) per token
  want = -0.5 / (1 + math.exp(0.5))
  g = jax.jit(
    jax.grad(lambda w: dpo.dpo_loss(w, case['policy_l'], case['ref_w'], case['ref_l'], ONE, ONE, 0.5, 0.0)[0])
  )(case['policy_w'])
  np.testing.assert_allclose(np.asarray(g), [[want, want]], rtol=1e-6)


def test_reference_from_the_same_parameters_gets_no_gradient():
  """Context distillation: the reference is the policy's own parameters at the phase start; computing it
  from the same parameters inside the loss must give the gradient of a constant reference."""
  logits = jax.random.normal(jax.random.key(0), (2, 5, 7))
  toks = jnp.array([[1, 2, 3, 4, 5], [1, 2, 6, 0, 3]])
  rej = jnp.array([[1, 2, 5, 5, 5], [1, 2, 0, 1, 2]])
  mask = jnp.ones((2, 3))

  def loss(p, ref_p):
    lw, ll = dpo.response_logprobs(p, toks, 2), dpo.response_logprobs(p, rej, 2)
    rw, rl = dpo.response_logprobs(ref_p, toks, 2), dpo.response_logprobs(ref_p, rej, 2)
    return dpo.dpo_loss(lw, ll, rw, rl, mask, mask, 0.1)[0]

  g_same = jax.jit(jax.grad(lambda p: loss(p, p)))(logits)
  g_const = jax.jit(jax.grad(lambda p: loss(p, logits)))(logits)
  np.testing.assert_allclose(np.asarray(g_same), np.asarray(g_const), rtol=1e-6, atol=1e-7)
  stepped = logits - 1.0 * g_same  # one descent step raises the chosen/rejected log-ratio
  ratio = jax.jit(lambda p: jnp.sum(dpo.response_logprobs(p, toks, 2) - dpo.response_logprobs(p, rej, 2)))
  assert float(ratio(stepped)) > float(ratio(logits))


def test_response_logprobs_by_hand():
  logits = jnp.log(jnp.array([[[0.5, 0.5, 1e-9], [0.1, 0.2, 0.7], [1 / 3, 1 / 3, 1 / 3]]]))
  toks = jnp.array([[0, 1, 2]])
  # prompt_len 1: token 1 predicted by position 0 (p = 0.5), token 2 by position 1 (p = 0.7)
  np.testing.assert_allclose(
    np.asarray(dpo.response_logprobs(logits, toks, 1)), np.log([[0.5, 0.7]]), rtol=1e-5
  )
