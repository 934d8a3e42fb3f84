"""Width-masked GRU language model: many model sizes in one compiled program (capacity cliff,
docs/families/capacity_cliff.md).

One max-width GRU whose hidden units ``j >= width`` are held at exactly zero: their gate pre-activations are
computed but the new state is multiplied by a 0/1 unit mask every step, so the zero units never feed the
active ones (their recurrent weights multiply zeros) nor the output head. The result equals a genuine
width-``width`` GRU whose params are the corresponding slice (``slice_params``), and the masked params get
exactly zero gradient. ``width`` is a call argument that may be traced, so
``jax.jit(jax.vmap(train, in_axes=(0, 0)))(keys, widths)`` runs all sizes × seeds in one program.

Architecture (one layer, one-hot inputs, no separate embedding; PyTorch/Flax GRU convention), H = max_hidden,
V = vocab, gates g ∈ (r, z, n) stacked on axis 1:
    xi_t = w_i[token_t] + b_i                      w_i (V, 3, H), b_i (3, H)
    hh   = h_{t-1} @ w_h                           w_h (H, 3, H)
    r = σ(xi_r + hh_r); z = σ(xi_z + hh_z); n = tanh(xi_n + r ⊙ (hh_n + b_hn))     b_hn (H,)
    h_t = mask ⊙ ((1 − z) ⊙ n + z ⊙ h_{t−1}),  h_0 = 0
    logits_t = h_t @ w_o + b_o                     w_o (H, V), b_o (V,)
Causal: logits_t depends on tokens 0..t only and predicts token t+1.
Active parameter count: 3w² + 4Vw + 4w + V (``active_params``); with V = 7 (Dyck-2 with SEP): w = 1 → 42,
w = 2 → 83, w = 8 → 455, w = 60 → 12 727, w = 64 → 14 343.

Init, width-aware (width is available at init because params are created inside ``__call__``): w_i ~
N(0, 1/V), w_h and w_o ~ N(0, 1/width) (fan-in of the *active* model), biases 0, inactive entries exactly 0.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from models import init as initializers


def unit_mask(width, max_hidden: int, dtype=jnp.float32):
  """(max_hidden,) 0/1 mask, 1 for units j < width; ``width`` may be traced."""
  return (jnp.arange(max_hidden) < jnp.asarray(width)).astype(dtype)


def active_params(width, vocab: int):
  """True parameter count of a width-``width`` MaskedGRULM: 3w² + 4·vocab·w + 4w + vocab.

  width: int or integer numpy array (any shape; broadcast). Pure Python/numpy (for plot axes).
  """
  w = np.asarray(width, dtype=np.int64)
  n = 3 * w * w + 4 * vocab * w + 4 * w + vocab
  return int(n) if n.ndim == 0 else n


class MaskedGRULM(nn.Module):
  """Causal next-token GRU LM of ``max_hidden`` units with ``width`` active (see module docstring).

  __call__(tokens, width=None): tokens (batch, T) int in [0, vocab); width int/traced scalar in
  [1, max_hidden] (None → max_hidden). Returns logits (batch, T, vocab), float32.
  """

  vocab: int
  max_hidden: int

  @nn.compact
  def __call__(self, tokens, width=None):
    H, V = self.max_hidden, self.vocab
    width = H if width is None else width
    m = unit_mask(width, H)
    w_f = jnp.maximum(jnp.asarray(width, jnp.float32), 1.0)  # width < 1 is invalid; avoid inf * 0

    def normal(std, mask):  # closes over traced width: the init depends on the active size
      # a flat draw reshaped (models/init.py): the same values as a 3-D draw, much faster to compile
      return lambda key, shape: initializers.normal(key, shape, std) * mask

    inv_sqrt_w = jax.lax.rsqrt(w_f)
    w_i = self.param('w_i', normal(1 / np.sqrt(V), m[None, None, :]), (V, 3, H))
    b_i = self.param('b_i', nn.initializers.zeros, (3, H))
    w_h = self.param('w_h', normal(inv_sqrt_w, m[:, None, None] * m[None, None, :]), (H, 3, H))
    b_hn = self.param('b_hn', nn.initializers.zeros, (H,))
    w_o = self.param('w_o', normal(inv_sqrt_w, m[:, None]), (H, V))
    b_o = self.param('b_o', nn.initializers.zeros, (V,))

    xi = w_i[tokens] + b_i  # (B, T, 3, H)

    def step(h, xi_t):
      hh = jnp.einsum('bh,hgk->bgk', h, w_h)  # (B, 3, H)
      r = jax.nn.sigmoid(xi_t[:, 0] + hh[:, 0])
      z = jax.nn.sigmoid(xi_t[:, 1] + hh[:, 1])
      n = jnp.tanh(xi_t[:, 2] + r * (hh[:, 2] + b_hn))
      h = m * ((1.0 - z) * n + z * h)
      return h, h

    h0 = jnp.zeros((tokens.shape[0], H), jnp.float32)
    _, hs = jax.lax.scan(step, h0, jnp.swapaxes(xi, 0, 1))  # (T, B, H)
    return jnp.swapaxes(hs, 0, 1) @ w_o + b_o


def slice_params(params, width: int):
  """Params of a genuine ``MaskedGRULM(vocab, max_hidden=width)`` cut from max-width params (static width)."""
  w = int(width)
  return dict(
    w_i=params['w_i'][:, :, :w],
    b_i=params['b_i'][:, :w],
    w_h=params['w_h'][:w, :, :w],
    b_hn=params['b_hn'][:w],
    w_o=params['w_o'][:w],
    b_o=params['b_o'],
  )
