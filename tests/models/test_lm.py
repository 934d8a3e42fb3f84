"""Tiny causal LMs, samplers, sequence CE and distillation divergences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from losses import distill, sequence
from models import lm

V, T = 7, 6
WINDOW = lm.WindowMLPLM(vocab=V, window=3, hidden=16, embed=8)
TRANSFORMER = lm.TransformerLM(vocab=V, max_len=8, d_model=16, heads=2, layers=1, mlp_dim=16)
MODELS = {'window': WINDOW, 'transformer': TRANSFORMER}


def _params(name, seed=0):
  """Random params with the model's structure, drawn in numpy: XLA compiles of flax's random
  initializers would dominate this file's runtime, and the tests need structure, not init scale."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(lambda: lm.init_params(MODELS[name], jax.random.key(0), T))
  return jax.tree.map(lambda s: jnp.asarray(rng.normal(0.0, 0.3, s.shape), s.dtype), shapes)


@pytest.fixture(scope='module', params=sorted(MODELS))
def model_and_params(request):
  return MODELS[request.param], _params(request.param)


def test_causal_masking(model_and_params):
  model, params = model_and_params
  apply = jax.jit(lm.make_apply_fn(model))
  x = np.random.default_rng(1).integers(1, V, (2, T)).astype(np.int32)
  base = apply(params, x)
  assert base.shape == (2, T, V)
  for t in (1, 3, T - 1):
    y = x.copy()
    y[:, t] = (x[:, t] % (V - 1)) + 1  # a different non-pad token
    out = apply(params, y)
    np.testing.assert_array_equal(np.asarray(out[:, :t]), np.asarray(base[:, :t]))
    assert not np.allclose(out[:, t], base[:, t])


def test_dropout_needs_rng_and_changes_output():
  model = lm.WindowMLPLM(vocab=V, window=3, hidden=16, embed=8, dropout_rate=0.5)
  params = _params('window')  # dropout adds no parameters
  apply = jax.jit(model.apply, static_argnames='deterministic')
  x = jnp.ones((1, T), jnp.int32)
  det = apply({'params': params}, x)
  drop = apply({'params': params}, x, deterministic=False, rngs={'dropout': jax.random.key(3)})
  assert not np.allclose(det, drop)


def test_flat_dropout_equals_flax_dropout_bit_for_bit(monkeypatch):
  """lm.Dropout (a flat mask draw) gives the window LM (noisy_student's student) exactly the outputs it has
  with flax.linen.Dropout at both dropout sites, vmapped over keys as the runner does. Equal outputs mean
  equal masks, hence equal gradients. (The Transformer's sites take their keys the same way: make_rng under
  flax's auto-name Dropout_k; no family trains it with dropout.)"""
  import flax.linen as nn

  model = WINDOW.clone(dropout_rate=0.3)
  params = _params('window')
  x = jnp.asarray(np.random.default_rng(2).integers(1, V, (3, T)), jnp.int32)
  keys = jax.random.split(jax.random.key(5), 4)

  def outputs():
    def logits(p, k):
      return model.apply({'params': p}, x, deterministic=False, rngs={'dropout': k})

    return np.asarray(jax.jit(jax.vmap(logits, in_axes=(None, 0)))(params, keys))

  ours = outputs()
  monkeypatch.setattr(lm, 'Dropout', nn.Dropout)
  np.testing.assert_array_equal(ours, outputs())
  assert not np.allclose(ours[0], ours[1])  # the keys give different masks


def test_transformer_sample_scores_match():
  params = _params('transformer')
  apply = lm.make_apply_fn(TRANSFORMER)
  prompt = jnp.array([[1, 2], [3, 4]], jnp.int32)
  toks, logp, scored = jax.jit(lambda p, k: _sample_and_score(apply, p, prompt, k))(params, jax.random.key(7))
  assert toks.shape == (2, 6) and logp.shape == (2, 4) and scored.shape == (2, 4, V)
  got = jnp.take_along_axis(scored, toks[:, 2:, None], axis=-1)[..., 0]
  np.testing.assert_allclose(got, logp, rtol=1e-5, atol=1e-5)


def _sample_and_score(apply, params, prompt, key):
  toks, logp = lm.sample(apply, params, prompt, 4, key, 1.0)
  return toks, logp, lm.token_logprobs(apply, params, toks, prompt_len=prompt.shape[1])


def test_sampling_reproducible_and_row_independent():
  # The decoding logic is model-agnostic: checked in full on the cheap-to-compile window LM.
  params = _params('window')
  apply = lm.make_apply_fn(WINDOW)
  prompt = jnp.array([[1, 2], [3, 4], [5, 6]], jnp.int32)

  @jax.jit
  def run(p, key):
    toks, logp, scored = _sample_and_score(apply, p, prompt, key)
    sub, sub_lp = lm.sample(apply, p, prompt[:2], 4, key, 1.0)  # a smaller batch
    g = lm.greedy(apply, p, prompt, 3)
    g_scored = lm.token_logprobs(apply, p, g, prompt_len=2)
    return toks, logp, scored, sub, sub_lp, g, g_scored

  key = jax.random.key(7)
  toks, logp, scored, sub, sub_lp, g, g_scored = run(params, key)
  assert toks.shape == (3, 6) and logp.shape == (3, 4) and scored.shape == (3, 4, V)
  np.testing.assert_array_equal(run(params, key)[0], toks)  # reproducible from the key
  assert not np.array_equal(run(params, jax.random.key(8))[0], toks)
  np.testing.assert_array_equal(toks[:, :2], prompt)
  assert np.all(np.asarray(logp) <= 0)
  # Rows 0..1 do not depend on the batch size.
  np.testing.assert_array_equal(sub, toks[:2])
  np.testing.assert_allclose(sub_lp, logp[:2], rtol=1e-5, atol=1e-6)
  # Sampler log-probs at temperature 1 agree with teacher scoring of the sample.
  got = jnp.take_along_axis(scored, toks[:, 2:, None], axis=-1)[..., 0]
  np.testing.assert_allclose(got, logp, rtol=1e-5, atol=1e-5)
  # Greedy continues with the argmax of the scored distribution.
  np.testing.assert_array_equal(np.argmax(g_scored, -1), g[:, 2:])


def test_window_sampler_equals_sample():
  """The fast window sampler gives lm.sample's tokens and tempered log-probs for the same Gumbel noise,
  and token_logprobs' untempered rows."""
  model = lm.WindowMLPLM(vocab=11, window=6, hidden=16, embed=4)
  rng = np.random.default_rng(0)
  shapes = jax.eval_shape(lambda: lm.init_params(model, jax.random.key(0), 6))
  params = jax.tree.map(lambda s: jnp.asarray(rng.normal(0.0, 0.8, s.shape), s.dtype), shapes)
  prompt = jnp.array([[1, 2], [1, 3], [1, 2]], jnp.int32)
  key = jax.random.key(7)
  temp = 0.7
  apply_fn = lm.make_apply_fn(model)
  ref_tok, ref_lp = lm.sample(apply_fn, params, prompt, 4, key, temp)
  # lm.sample's noise: row r draws Gumbel(fold_in(key, r), (length, vocab)) (drawn flat: the same values).
  noise = jax.vmap(lambda r: jax.random.gumbel(jax.random.fold_in(key, r), (44,)))(jnp.arange(3)).reshape(
    3, 4, 11
  )
  tok, lp, rows = jax.jit(lm.window_sampler(model))(params, prompt, noise, temp)
  np.testing.assert_array_equal(np.asarray(tok), np.asarray(ref_tok))
  np.testing.assert_allclose(np.asarray(lp), np.asarray(ref_lp), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
    np.asarray(rows), np.asarray(lm.token_logprobs(apply_fn, params, tok, 2)), rtol=1e-5, atol=1e-5
  )


def test_traced_temperature_and_vmap_over_seeds():
  apply = lm.make_apply_fn(WINDOW)
  prompt = jnp.ones((2, 1), jnp.int32)
  keys = jax.random.split(jax.random.key(0), 3)
  params = jax.tree.map(lambda *x: jnp.stack(x), *[_params('window', s) for s in range(3)])  # seed axis

  @jax.jit
  @jax.vmap
  def run(p, k, temp):
    logits = apply(p, jnp.ones((2, T), jnp.int32))
    toks, logp = lm.sample(apply, p, prompt, 3, k, temp)
    return logits, toks, logp

  logits, toks, logp = run(params, keys, jnp.array([0.5, 1.0, 2.0]))
  assert logits.shape == (3, 2, T, V) and toks.shape == (3, 2, 4) and logp.shape == (3, 2, 3)
  assert np.all(np.asarray(logp) <= 0)


# --- sequence CE --------------------------------------------------------------------------------
# Each test jits one function of all its values: one compile is cheaper than op-by-op dispatch.


def test_next_token_ce_shift_vs_unshifted():
  tokens = jnp.array([[1, 2, 3, 4]])
  logits = np.random.default_rng(0).normal(size=(1, 4, 5)).astype(np.float32)

  @jax.jit
  def values(tokens, logits):
    copy_logits = 20.0 * jax.nn.one_hot(tokens, 5)  # predicts the current token
    next_logits = 20.0 * jax.nn.one_hot(jnp.roll(tokens, -1, axis=1), 5)
    mask = jnp.array([[0, 0, 0, 1]])  # only token 3 is a target
    return (
      sequence.next_token_ce(copy_logits, tokens, shift=False),
      sequence.unshifted_copy_ce_buggy(copy_logits, tokens),
      sequence.next_token_ce(copy_logits, tokens),
      sequence.next_token_ce(next_logits, tokens),
      sequence.next_token_ce(logits, tokens, mask),
      -jax.nn.log_softmax(logits[0, 2])[4],
    )

  buggy, buggy2, shifted_on_copy, shifted_on_next, masked, want = values(tokens, logits)
  assert float(buggy) < 1e-6  # copying minimises the buggy loss
  assert float(buggy2) == float(buggy)
  assert float(shifted_on_copy) > 10.0
  assert float(shifted_on_next) < 1e-6
  np.testing.assert_allclose(masked, want, rtol=1e-6)


# --- distillation -------------------------------------------------------------------------------


def _np_kl(p_logits, q_logits):
  p = np.exp(p_logits - np.log(np.exp(p_logits).sum(-1, keepdims=True)))
  q = np.exp(q_logits - np.log(np.exp(q_logits).sum(-1, keepdims=True)))
  return (p * (np.log(p) - np.log(q))).sum(-1)


def test_kls_zero_positive_and_hand_checked():
  s = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, -1.0]], np.float32)
  t = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
  mask = np.array([0.0, 1.0], np.float32)

  @jax.jit
  def values(s, t, mask):
    f, r = distill.forward_kl, distill.reverse_kl
    return f(s, s), r(s, s), f(s, t), r(s, t), r(s, t, mask)

  ff, rr, fwd, rev, rev_masked = values(s, t, mask)
  assert abs(float(ff)) < 1e-6 and abs(float(rr)) < 1e-6
  assert float(fwd) > 0 and float(rev) > 0
  np.testing.assert_allclose(fwd, _np_kl(t, s).mean(), rtol=1e-5)
  np.testing.assert_allclose(rev, _np_kl(s, t).mean(), rtol=1e-5)
  np.testing.assert_allclose(rev_masked, _np_kl(s, t)[1], rtol=1e-5)


def test_jsd_bounds_and_limits():
  rng = np.random.default_rng(0)
  s, t = (5.0 * rng.normal(size=(2, 4, 6))).astype(np.float32)
  eps = 1e-3

  @jax.jit
  def values(s, t):
    jsd = distill.generalized_jsd
    sharp_s = 50.0 * jax.nn.one_hot(jnp.arange(4), 6)
    sharp_t = 50.0 * jax.nn.one_hot(jnp.arange(4) + 1, 6)
    ms, mt = s / 5.0, t / 5.0  # mild logits so the O(beta) remainder of the limits is small
    return (
      jsd(sharp_s, sharp_t, 0.5),
      jsd(s, t, 0.5),
      jsd(s, s, 0.3),
      jsd(ms, mt, eps) / eps,
      distill.forward_kl(ms, mt),
      jsd(ms, mt, 1 - eps) / eps,
      distill.reverse_kl(ms, mt),
    )

  sharp, half, same, lim0, fwd, lim1, rev = values(s, t)
  assert 0 < float(sharp) <= np.log(2) + 1e-6 and float(half) <= np.log(2)
  assert abs(float(same)) < 1e-6
  np.testing.assert_allclose(lim0, fwd, rtol=2e-2)  # JSD/beta -> KL(T||S) as beta -> 0
  np.testing.assert_allclose(lim1, rev, rtol=2e-2)  # JSD/(1-beta) -> KL(S||T) as beta -> 1


def test_advantage_loss_gradient_direction():
  # Teacher prefers token 0 more than the student does, token 1 less.
  student_logits = jnp.zeros((2, 3))
  sampled = jnp.array([0, 1])
  teacher_lp = jnp.log(jnp.array([0.9, 0.05]))

  def loss(logits):
    lp = jnp.take_along_axis(jax.nn.log_softmax(logits), sampled[:, None], -1)[:, 0]
    return distill.sampled_token_advantage_loss(lp, teacher_lp)

  @jax.jit
  def values(logits):
    new = logits - 0.1 * jax.grad(loss)(logits)
    clipped = distill.sampled_token_advantage_loss(jnp.array([-1.0]), jnp.array([-100.0]), clip=5.0)
    return jax.nn.log_softmax(logits), jax.nn.log_softmax(new), clipped

  old_lp, new_lp, clipped = values(student_logits)
  assert new_lp[0, 0] > old_lp[0, 0]  # raised where the teacher prefers the token
  assert new_lp[1, 1] < old_lp[1, 1]  # lowered where it does not
  np.testing.assert_allclose(clipped, -5.0, rtol=1e-6)  # advantage clipped to +5


def test_registry_and_error():
  s, t = jnp.zeros((2, 3)), jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
  vals = jax.jit(
    lambda s, t: [distill.get_divergence(n)(s, t, None, beta=0.5) for n in sorted(distill.DIVERGENCES)]
  )(s, t)
  assert all(float(v) > 0 for v in vals)
  with pytest.raises(ValueError) as e:
    distill.get_divergence('x')
  assert str(e.value) == "unknown divergence 'x'; accepted: forward_kl, jsd, reverse_kl"
