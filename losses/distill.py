"""Per-token distillation divergences between student and teacher next-token distributions (GKD).

Shapes: student_logits and teacher_logits (..., vocab), typically (batch, T, vocab), over the same
positions; mask (...) selects the counted positions. Every function returns the masked mean over
positions, sum(d · mask) / max(sum(mask), 1) (plain mean when mask is None).

The teacher is a constant: its logits pass through ``stop_gradient`` here, which matters for context
distillation, where teacher and student are the same parameters (Snell et al. 2022).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _masked_mean(values, mask):
  if mask is None:
    return jnp.mean(values)
  mask = mask.astype(values.dtype)
  return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def kl_per_token(p_logp: jax.Array, q_logp: jax.Array) -> jax.Array:
  """KL(P‖Q) per position from log-probs (..., vocab) -> (...); terms with P = 0 count as 0."""
  p = jnp.exp(p_logp)
  return jnp.sum(jnp.where(p > 0, p * (p_logp - q_logp), 0.0), axis=-1)


def _logps(student_logits, teacher_logits):
  s = jax.nn.log_softmax(student_logits.astype(jnp.float32), axis=-1)
  t = jax.nn.log_softmax(jax.lax.stop_gradient(teacher_logits).astype(jnp.float32), axis=-1)
  return s, t


def forward_kl(student_logits, teacher_logits, mask=None):
  """Forward KL(T‖S) = Σ p_T (log p_T − log p_S), masked mean over positions (mode-covering)."""
  s, t = _logps(student_logits, teacher_logits)
  return _masked_mean(kl_per_token(t, s), mask)


def reverse_kl(student_logits, teacher_logits, mask=None):
  """Reverse KL(S‖T) = Σ p_S (log p_S − log p_T), masked mean over positions (mode-seeking)."""
  s, t = _logps(student_logits, teacher_logits)
  return _masked_mean(kl_per_token(s, t), mask)


def generalized_jsd(student_logits, teacher_logits, beta=0.5, mask=None):
  """Generalized Jensen–Shannon divergence of GKD (Agarwal et al., ICLR 2024; TRL's convention).

  JSD(β) = β·KL(T‖M) + (1−β)·KL(S‖M),  M = β·p_T + (1−β)·p_S,  β in [0, 1] (may be traced).

  β = 0.5 is the symmetric JSD, bounded by ln 2. At β = 0 or 1 exactly it is 0 (M equals one of
  the two distributions and its weight vanishes); the limits recover the KLs up to scaling:
  JSD(β)/β → KL(T‖S) (forward) as β → 0 and JSD(β)/(1−β) → KL(S‖T) (reverse) as β → 1.
  """
  s, t = _logps(student_logits, teacher_logits)
  beta = jnp.asarray(beta, jnp.float32)
  log_m = jnp.logaddexp(jnp.log(beta) + t, jnp.log1p(-beta) + s)
  d = beta * kl_per_token(t, log_m) + (1.0 - beta) * kl_per_token(s, log_m)
  return _masked_mean(d, mask)


def sampled_token_advantage_loss(student_logp_sampled, teacher_logp_sampled, clip=5.0, mask=None):
  """The source's single-sample on-policy estimator (a policy-gradient surrogate).

  Args:
    student_logp_sampled: (...) log p_S of each sampled token, differentiable w.r.t. the student.
    teacher_logp_sampled: (...) log p_T of the same tokens.
    clip: advantage clip (may be traced).

  advantage = stop_gradient(clip(−(log p_S − log p_T), −clip, clip)); loss = −mean(advantage ·
  log p_S). Descending it raises log p_S where the teacher gives the token more mass than the
  student (advantage > 0) and lowers it otherwise. Its expected gradient is that of KL(S‖T) only
  for fresh on-policy samples.
  """
  adv = -(student_logp_sampled - teacher_logp_sampled)
  adv = jax.lax.stop_gradient(jnp.clip(adv, -clip, clip))
  return -_masked_mean(adv * student_logp_sampled, mask)


def sampled_reverse_kl_estimate(student_logp_sampled, teacher_logp_sampled, mask=None):
  """The source's logged KL: mean of log p_S − log p_T over sampled tokens (unbiased only on-policy)."""
  return _masked_mean(student_logp_sampled - teacher_logp_sampled, mask)


def _fwd(student_logits, teacher_logits, mask=None, beta=0.5):
  return forward_kl(student_logits, teacher_logits, mask)


def _rev(student_logits, teacher_logits, mask=None, beta=0.5):
  return reverse_kl(student_logits, teacher_logits, mask)


def _jsd(student_logits, teacher_logits, mask=None, beta=0.5):
  return generalized_jsd(student_logits, teacher_logits, beta, mask)


# One signature for all: fn(student_logits, teacher_logits, mask=None, beta=0.5); the KLs ignore beta.
DIVERGENCES = {'forward_kl': _fwd, 'reverse_kl': _rev, 'jsd': _jsd}


def get_divergence(name: str):
  """Divergence by name; ``fn(student_logits, teacher_logits, mask=None, beta=0.5) -> scalar``."""
  try:
    return DIVERGENCES[name]
  except KeyError:
    raise ValueError(f'unknown divergence {name!r}; accepted: {", ".join(sorted(DIVERGENCES))}') from None
