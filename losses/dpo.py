"""Direct preference optimization (Rafailov et al., NeurIPS 2023) with the NLL term on the chosen response
that Open Character Training adds (docs/families/persona_dpo.md).

L = −log σ(β[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))]) + nll_coef · NLL(y_w),
with log π(y) the log-probability of a response summed over its response tokens only (the mask), the
reference frozen (its log-probs pass through ``stop_gradient`` here, so a caller may compute them with
the same parameters or a copy) and NLL(y_w) the chosen response's token-averaged negative log-likelihood
under the policy.

Shapes: per-token log-probs (batch, length) of the response tokens; masks (batch, length), 1 where a
token counts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def response_logprobs(logits: jax.Array, tokens: jax.Array, prompt_len: int) -> jax.Array:
  """(batch, T − prompt_len) log-prob of each response token: logits (batch, T, vocab) of a causal LM
  (position t − 1 predicts token t), tokens (batch, T) = a prompt of ``prompt_len`` tokens + response."""
  logp = jax.nn.log_softmax(logits[:, prompt_len - 1 : -1].astype(jnp.float32), axis=-1)
  return jnp.take_along_axis(logp, tokens[:, prompt_len:, None].astype(jnp.int32), axis=-1)[..., 0]


def dpo_loss(
  policy_w: jax.Array,
  policy_l: jax.Array,
  ref_w: jax.Array,
  ref_l: jax.Array,
  mask_w: jax.Array,
  mask_l: jax.Array,
  beta,
  nll_coef=0.1,
) -> tuple[jax.Array, dict]:
  """DPO loss with the chosen-NLL term.

  Args:
    policy_w, policy_l: (batch, length) per-token log-probs of the chosen / rejected responses under the
      policy.
    ref_w, ref_l: the same under the frozen reference (gradients are stopped here).
    mask_w, mask_l: (batch, length) response-token masks.
    beta: the DPO temperature (> 0); nll_coef: weight of the chosen response's token-averaged NLL.

  Returns:
    (loss, metrics): the scalar loss and {"dpo": the preference term, "nll": the chosen NLL,
    "reward_acc": mean 1[r_w > r_l], "margin": mean r_w − r_l, "reward_w", "reward_l": mean rewards},
    with r = β (log π − log π_ref) of each response.
  """
  mask_w, mask_l = mask_w.astype(jnp.float32), mask_l.astype(jnp.float32)
  lp_w, lp_l = jnp.sum(policy_w * mask_w, -1), jnp.sum(policy_l * mask_l, -1)
  rf_w = jax.lax.stop_gradient(jnp.sum(ref_w * mask_w, -1))
  rf_l = jax.lax.stop_gradient(jnp.sum(ref_l * mask_l, -1))
  r_w, r_l = beta * (lp_w - rf_w), beta * (lp_l - rf_l)
  pref = -jnp.mean(jax.nn.log_sigmoid(r_w - r_l))
  nll = -jnp.sum(policy_w * mask_w) / jnp.maximum(jnp.sum(mask_w), 1.0)
  metrics = {
    'dpo': pref,
    'nll': nll,
    'reward_acc': jnp.mean((r_w > r_l).astype(jnp.float32)),
    'margin': jnp.mean(r_w - r_l),
    'reward_w': jnp.mean(r_w),
    'reward_l': jnp.mean(r_l),
  }
  return pref + nll_coef * nll, metrics
