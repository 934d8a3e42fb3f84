"""LoRA adapters for a frozen Flax Linen base, with the rank as a traced grid axis.

Used by the LoRA mode-collapse family (docs/families/lora_collapse.md).

LoRA (Hu et al. 2021): every adapted kernel W gets W + s·ΔW with ΔW = B·A of rank r, B = 0 at init, so the
adapted model equals the base exactly at step 0. Scale s = α/r, or s = α/√r with ``rslora=True``
(rank-stabilised LoRA, Kalajdzievski 2023).

Layout. Flax Dense kernels are (fan_in, fan_out) and compute ``x @ W``, so the adapter is stored transposed
relative to the paper: per adapted layer ``{'a': (fan_in, max_rank), 'b': (max_rank, fan_out)}`` and
``x @ (W + s·a·b)``; ``a`` is the paper's Aᵀ, ``b`` is Bᵀ. The LoRA pytree mirrors the base params: the
adapter of the Dense layer whose params live at ``base['Dense_0']`` lives at ``lora['Dense_0']``. Every
``nn.Dense`` kernel (2-D leaf named ``kernel``) is adapted; embeddings, biases and anything else stay frozen.

Rank as a traced axis. ``a`` and ``b`` are allocated with a static ``max_rank``; rank columns
``j >= rank`` are multiplied by a 0/1 mask built from ``rank`` (a Python or traced int/float), so
ranks 8 and 32 can share one compiled program (``vmap`` over ``rank``). The masked columns get exactly zero
gradient, so with Adam/SGD they never move. The scale uses the *actual* rank, not ``max_rank``. ``a`` of
layer i is one flat draw ``normal(fold_in(key, i), (max_rank·fan_in,))`` with rank column j = elements
[j·fan_in, (j+1)·fan_in); with jax's default partitionable threefry (``jax_threefry_partitionable=True``,
the pinned default) element k depends only on (key, k), so the first r columns of a max-rank-R init equal a
max-rank-r init: a rank-8 run inside a shared rank-32 program starts from the same adapter as a rank-8 run
alone (tests/models/test_lora.py checks this).

Frozen base. ``apply_lora`` and ``merge`` take the base params as an argument and wrap them in
``stop_gradient``; differentiate with respect to ``lora_params`` only::

    loss = lambda lp: xent(apply_lora(base, lp, x, rank, alpha), y)
    grads = jax.grad(loss)(lora)            # same structure as `lora`; base gets no gradient

The unmerged forward (``apply_lora``) intercepts every ``nn.Dense.__call__`` of the model (Flax
``nn.intercept_methods``) and adds ``s·((x @ a_masked) @ b)``; it works for any Linen model built from
``nn.Dense``, not only ``LookupMLP``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

Params = Any


class LookupMLP(nn.Module):
  """Base classifier of the LoRA toy (docs/families/lora_collapse.md).

  Exact shape with the defaults: tokens (..., 4) int → Embed(vocab=8, 16) each → concat (..., 64)
  → Dense 128, ReLU → Dense 128, ReLU → Dense 32 = logits (..., 32). Adapted Dense layers (LoRA):
  (64→128), (128→128), (128→32), parameter names ``Dense_0``, ``Dense_1``, ``Dense_2``; the embedding is
  ``Embed_0``.

  With ``out_positions = k > 0`` the last Dense has width k·num_outputs and the logits are reshaped to
  (..., k, num_outputs): the sequence variant (answer = k digit tokens, decoded in parallel by argmax per
  position, not autoregressively). Default k = 0 gives the plain (..., num_outputs) classifier.
  """

  vocab: int = 8
  num_inputs: int = 4
  embed_dim: int = 16
  hidden: Sequence[int] = (128, 128)
  num_outputs: int = 32
  out_positions: int = 0

  @nn.compact
  def __call__(self, tokens, return_hidden: bool = False):
    """tokens: (..., num_inputs) int. Returns logits (..., num_outputs) or (..., out_positions,
    num_outputs); with ``return_hidden`` also the tuple of post-ReLU activations (..., hidden[i])."""
    if tokens.shape[-1] != self.num_inputs:
      raise ValueError(f'LookupMLP expects (..., {self.num_inputs}) tokens, got shape {tokens.shape}')
    h = nn.Embed(self.vocab, self.embed_dim)(tokens)
    h = h.reshape(tokens.shape[:-1] + (self.num_inputs * self.embed_dim,))
    hiddens = []
    for width in self.hidden:
      h = nn.relu(nn.Dense(width)(h))
      hiddens.append(h)
    k = self.out_positions
    logits = nn.Dense(self.num_outputs * max(k, 1))(h)
    if k > 0:
      logits = logits.reshape(logits.shape[:-1] + (k, self.num_outputs))
    return (logits, tuple(hiddens)) if return_hidden else logits


# ------------------------------------------------------------------------------------------------
# Helpers on the params pytree


def _kernel_paths(base_params) -> list[tuple[str, ...]]:
  """Paths (parent module path) of every 2-D leaf named 'kernel', in sorted order."""
  flat = traverse_util.flatten_dict(base_params)
  return sorted(p[:-1] for p, v in flat.items() if p[-1] == 'kernel' and np.ndim(v) == 2)


def lora_layer_dims(base_params) -> tuple[tuple[int, int], ...]:
  """(fan_in, fan_out) of every adapted layer, in the order of ``init_lora``'s keys."""
  flat = traverse_util.flatten_dict(base_params)
  return tuple(tuple(int(d) for d in jnp.shape(flat[p + ('kernel',)])) for p in _kernel_paths(base_params))


def lora_scale(rank, alpha, rslora: bool = False):
  """s = α/r (LoRA) or α/√r (rsLoRA); ``rank`` and ``alpha`` may be traced. float32 scalar."""
  r = jnp.asarray(rank, jnp.float32)
  a = jnp.asarray(alpha, jnp.float32)
  return a / (jnp.sqrt(r) if rslora else r)


def rank_mask(rank, max_rank: int, dtype=jnp.float32):
  """(max_rank,) 0/1 mask, 1 for rank columns j < rank; ``rank`` may be a traced int or float."""
  return (jnp.arange(max_rank) < jnp.asarray(rank)).astype(dtype)


def check_lora_args(rank, alpha, layer_dims) -> None:
  """Raise ValueError (one line) unless 1 <= rank <= min(fan_in, fan_out) of every layer and alpha > 0.

  rank, alpha: Python/numpy scalars or sequences (a grid); every entry is checked.
  layer_dims: sequence of (fan_in, fan_out), e.g. ``lora_layer_dims(base_params)``.
  Call this in Python before building the traced grid; it cannot run on traced values.
  """
  ranks = np.atleast_1d(np.asarray(rank)).ravel()
  alphas = np.atleast_1d(np.asarray(alpha, dtype=float)).ravel()
  for r in ranks:
    if r != np.floor(r):
      raise ValueError(f'LoRA rank must be an integer, got {r}')
    if r < 1:
      raise ValueError(f'LoRA rank must be >= 1, got {r}')
    for fan_in, fan_out in layer_dims:
      if r > min(fan_in, fan_out):
        raise ValueError(
          f'LoRA rank {int(r)} exceeds min(fan_in, fan_out) = {min(fan_in, fan_out)} '
          f'of the adapted layer {fan_in}->{fan_out}'
        )
  for a in alphas:
    if not a > 0:
      raise ValueError(f'LoRA alpha must be > 0, got {a}')


# ------------------------------------------------------------------------------------------------
# Init / apply / merge


def init_lora(key, base_params, max_rank: int) -> Params:
  """LoRA params for every Dense kernel of ``base_params``.

  key: PRNG key. max_rank: static int >= 1 (allocation size; the rank used is given at apply time).
  Returns ``{path: {'a': (fan_in, max_rank), 'b': (max_rank, fan_out)}}`` nested like the base params;
  a ~ N(0, 1/fan_in) (slice-consistent in max_rank, see module docstring), b = 0.
  """
  if int(max_rank) < 1:
    raise ValueError(f'max_rank must be >= 1, got {max_rank}')
  flat = traverse_util.flatten_dict(base_params)
  out = {}
  for i, path in enumerate(_kernel_paths(base_params)):
    kernel = flat[path + ('kernel',)]
    fan_in, fan_out = kernel.shape
    # one flat draw, row j = rank column j (flat draws compile much faster than 2-D ones)
    cols = jax.random.normal(jax.random.fold_in(key, i), (max_rank * fan_in,), kernel.dtype)
    cols = cols.reshape(max_rank, fan_in)
    out[path + ('a',)] = cols.T / jnp.sqrt(jnp.asarray(fan_in, kernel.dtype))
    out[path + ('b',)] = jnp.zeros((max_rank, fan_out), kernel.dtype)
  return traverse_util.unflatten_dict(out)


def _delta(ab, rank, alpha, rslora):
  a, b = ab['a'], ab['b']
  a = a * rank_mask(rank, a.shape[-1], a.dtype)
  return a, b, lora_scale(rank, alpha, rslora).astype(a.dtype)


def merge(base_params, lora_params, rank, alpha, rslora: bool = False) -> Params:
  """Base-shaped params with every adapted kernel replaced by W + s·(a·mask)·b. Pure; rank/alpha traceable."""
  base_params = jax.lax.stop_gradient(base_params)
  flat = dict(traverse_util.flatten_dict(base_params))
  for path, ab in traverse_util.flatten_dict(lora_params, is_leaf=lambda _, v: 'a' in v).items():
    a, b, s = _delta(ab, rank, alpha, rslora)
    flat[path + ('kernel',)] = flat[path + ('kernel',)] + s * (a @ b)
  return traverse_util.unflatten_dict(flat)


def apply_lora(
  base_params,
  lora_params,
  x,
  rank,
  alpha,
  rslora: bool = False,
  *,
  model: nn.Module = LookupMLP(),  # noqa: B008 - a Linen module is an immutable dataclass
  **apply_kwargs,
):
  """Unmerged LoRA forward: ``model.apply({'params': base}, x)`` with each Dense output y += s·((x@a_m)@b).

  base_params: the frozen base params (wrapped in stop_gradient). lora_params: from ``init_lora``.
  x: model input, e.g. (batch, 4) int tokens for ``LookupMLP``. rank: int/float, possibly traced, in
  [1, max_rank]. alpha: scalar, possibly traced. model: the Linen module the base params belong to
  (default ``LookupMLP()``; a mismatched module fails on param shapes). apply_kwargs go to the module
  (e.g. ``return_hidden=True``). Returns what the module returns.
  """
  base_params = jax.lax.stop_gradient(base_params)
  adapters = traverse_util.flatten_dict(lora_params, is_leaf=lambda _, v: 'a' in v)
  used = set()

  def interceptor(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    mod = context.module
    if isinstance(mod, nn.Dense) and context.method_name == '__call__' and tuple(mod.path) in adapters:
      path = tuple(mod.path)
      used.add(path)
      a, b, s = _delta(adapters[path], rank, alpha, rslora)
      inp = jnp.asarray(args[0] if args else kwargs['inputs'])
      out = out + s * ((inp @ a) @ b)
    return out

  with nn.intercept_methods(interceptor):
    result = model.apply({'params': base_params}, x, **apply_kwargs)
  if missing := set(adapters) - used:  # adapters on non-Dense kernels would be silently ignored otherwise
    raise ValueError(f'LoRA adapters never applied (not nn.Dense calls): {sorted(missing)}')
  return result
