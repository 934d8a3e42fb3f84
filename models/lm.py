"""Tiny causal language models and static-shaped sampling (docs/families/distillation.md,
docs/families/noisy_student.md).

Conventions shared by everything here:

- Tokens are int32 arrays of shape (batch, T); logits are float32 (batch, T, vocab).
- ``PAD_ID = 0`` is reserved: ``WindowMLPLM`` left-pads its windows with it, and the samplers fill
  the not-yet-generated part of their buffer with it. Vocabularies must therefore include id 0
  (the task languages in ``exp/tasks/languages.py`` put PAD at 0).
- Position t's logits predict token t + 1 and depend only on tokens 0..t (causal). That is what
  lets the samplers run the whole fixed-length buffer through the model at every step.
- An ``apply_fn`` is ``apply_fn(params, tokens) -> logits`` with the shapes above; build one with
  ``make_apply_fn(model)``. Params are the bare ``'params'`` collection, so they vmap over a leading
  seed axis like any pytree.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

PAD_ID = 0

ApplyFn = Callable[[object, jax.Array], jax.Array]


class Dropout(nn.Module):
  """``flax.linen.Dropout`` with its mask drawn flat: the same output bit for bit (the same key, from
  ``make_rng('dropout')`` under the same auto-name ``Dropout_k``, and jax's partitionable threefry gives a
  flat draw's bits in row-major order), but XLA on CPU compiles a flat Bernoulli draw several times
  faster than a multi-dimensional one (0.3 s vs 0.9 s for a (12, 4, 17, 136) mask). Written by hand
  because flax's Dropout takes no draw shape; ``tests/models/test_lm.py`` compares the two."""

  rate: float

  @nn.compact
  def __call__(self, inputs: jax.Array, deterministic: bool) -> jax.Array:
    if self.rate == 0.0 or deterministic:
      return inputs
    if self.rate == 1.0:
      return jnp.zeros_like(inputs)
    keep_prob = 1.0 - self.rate
    flat = jax.random.bernoulli(self.make_rng('dropout'), p=keep_prob, shape=(inputs.size,))
    return jax.lax.select(flat.reshape(inputs.shape), inputs / keep_prob, jnp.zeros_like(inputs))


class WindowMLPLM(nn.Module):
  """Fixed-window MLP language model.

  Logits at position t are an MLP of the concatenated embeddings of tokens t−window+1..t; positions
  before the start are filled with ``PAD_ID`` (0), whose embedding is an ordinary learned row.

  Attributes:
    vocab: vocabulary size (ids 0..vocab−1, 0 = PAD).
    window: number of tokens seen per position (the current one included).
    hidden: MLP hidden width (one hidden layer, GELU).
    embed: token embedding width.
    dropout_rate: dropout on the concatenated window embedding and on the hidden layer.

  Call: ``(tokens (batch, T) int32, deterministic: bool = True) -> logits (batch, T, vocab)``;
  dropout draws from the ``"dropout"`` rng stream when ``deterministic=False``.
  """

  vocab: int
  window: int
  hidden: int
  embed: int
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, tokens: jax.Array, deterministic: bool = True) -> jax.Array:
    _, seq = tokens.shape
    padded = jnp.pad(tokens, ((0, 0), (self.window - 1, 0)), constant_values=PAD_ID)
    # Column k holds token t − (window − 1) + k; a static loop over the window, not the tokens.
    windows = jnp.stack([padded[:, k : k + seq] for k in range(self.window)], axis=-1)
    x = nn.Embed(self.vocab, self.embed, name='embed')(windows)  # (B, T, W, E)
    x = x.reshape(x.shape[:2] + (self.window * self.embed,))
    x = Dropout(self.dropout_rate)(x, deterministic=deterministic)
    x = nn.gelu(nn.Dense(self.hidden, name='hidden')(x))
    x = Dropout(self.dropout_rate)(x, deterministic=deterministic)
    return nn.Dense(self.vocab, name='out')(x)


class _Block(nn.Module):
  """Pre-LN decoder block: x + Attn(LN(x)), then x + MLP(LN(x))."""

  d_model: int
  heads: int
  mlp_dim: int
  dropout_rate: float

  @nn.compact
  def __call__(self, x, mask, deterministic):
    h = nn.LayerNorm()(x)
    h = nn.MultiHeadDotProductAttention(
      num_heads=self.heads, qkv_features=self.d_model, dropout_rate=self.dropout_rate
    )(h, mask=mask, deterministic=deterministic)
    x = x + Dropout(self.dropout_rate)(h, deterministic=deterministic)
    h = nn.LayerNorm()(x)
    h = nn.Dense(self.d_model)(nn.gelu(nn.Dense(self.mlp_dim)(h)))
    return x + Dropout(self.dropout_rate)(h, deterministic=deterministic)


class TransformerLM(nn.Module):
  """Decoder-only pre-LN Transformer with learned positions and a causal mask.

  Attributes:
    vocab: vocabulary size.
    max_len: largest T accepted (size of the learned position table).
    d_model, heads, layers, mlp_dim: the usual sizes (d_model divisible by heads).
    dropout_rate: on embeddings, attention weights and residual branches.

  Call: ``(tokens (batch, T) int32 with T <= max_len, deterministic: bool = True)
  -> logits (batch, T, vocab)``; dropout uses the ``"dropout"`` rng stream.
  """

  vocab: int
  max_len: int
  d_model: int
  heads: int
  layers: int
  mlp_dim: int
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, tokens: jax.Array, deterministic: bool = True) -> jax.Array:
    _, seq = tokens.shape
    if seq > self.max_len:
      raise ValueError(f'sequence length {seq} exceeds max_len {self.max_len}')
    pos = self.param('pos_embed', nn.initializers.normal(0.02), (self.max_len, self.d_model))
    x = nn.Embed(self.vocab, self.d_model, name='embed')(tokens) + pos[None, :seq]
    x = Dropout(self.dropout_rate)(x, deterministic=deterministic)
    mask = nn.make_causal_mask(tokens)  # (B, 1, T, T)
    for i in range(self.layers):
      x = _Block(self.d_model, self.heads, self.mlp_dim, self.dropout_rate, name=f'block_{i}')(
        x, mask, deterministic
      )
    x = nn.LayerNorm(name='final_ln')(x)
    return nn.Dense(self.vocab, name='out')(x)


def make_apply_fn(model: nn.Module, deterministic: bool = True) -> ApplyFn:
  """``apply_fn(params, tokens (batch, T)) -> logits (batch, T, vocab)`` for the samplers.

  With ``deterministic=False`` the caller must use ``model.apply`` directly to pass a dropout rng;
  this helper is for evaluation and sampling, so it only builds the deterministic form by default.
  """

  def apply_fn(params, tokens):
    return model.apply({'params': params}, tokens, deterministic=deterministic)

  return apply_fn


def init_params(model: nn.Module, key: jax.Array, seq_len: int):
  """The ``'params'`` collection of ``model`` for inputs of shape (1, seq_len)."""
  return model.init(key, jnp.zeros((1, seq_len), jnp.int32))['params']


def _decode(apply_fn, params, prompt, length, choose):
  """Shared scan: fill a (batch, P + length) buffer left to right with ``choose``.

  ``choose(step, logits (batch, vocab)) -> (tokens (batch,), per-token value (batch,))``.
  Unfilled slots hold PAD_ID; causality means they never affect the logits that are read.
  """
  batch, plen = prompt.shape
  if plen < 1:
    raise ValueError('prompt must hold at least one token (e.g. BOS)')
  prompt = prompt.astype(jnp.int32)
  buf = jnp.concatenate([prompt, jnp.full((batch, length), PAD_ID, jnp.int32)], axis=1)

  def step(buf, i):
    pos = plen + i
    logits = apply_fn(params, buf)
    last = jax.lax.dynamic_index_in_dim(logits, pos - 1, axis=1, keepdims=False)
    tok, val = choose(i, last.astype(jnp.float32))
    buf = jax.lax.dynamic_update_index_in_dim(buf, tok.astype(jnp.int32), pos, axis=1)
    return buf, val

  buf, vals = jax.lax.scan(step, buf, jnp.arange(length))
  return buf, vals.T


def sample(apply_fn: ApplyFn, params, prompt: jax.Array, length: int, key: jax.Array, temperature=1.0):
  """Autoregressive sampling with a static-shaped ``lax.scan`` (full forward per step).

  Args:
    apply_fn: ``(params, tokens (batch, T)) -> logits (batch, T, vocab)``, causal.
    params: model parameters.
    prompt: (batch, P) int32, P >= 1.
    length: number of tokens to generate (static).
    key: PRNG key. Row r's noise is drawn from ``fold_in(key, r)`` (Gumbel-max sampling, all
      (length, vocab) Gumbels drawn before the scan), so row r's sample does not depend on the
      batch size or on the other rows.
    temperature: scalar, may be traced; must be > 0 (use ``greedy`` for the argmax limit).

  Returns:
    tokens: (batch, P + length) int32, the prompt followed by the sample.
    logp: (batch, length) float32, log-prob of each sampled token under the sampling
      distribution ``softmax(logits / temperature)`` (the model's own log-prob when
      temperature == 1; use ``token_logprobs`` for untempered scores).
  """
  batch, _ = prompt.shape
  vocab = jax.eval_shape(apply_fn, params, prompt).shape[-1]
  # Gumbel-max with all noise drawn up front, one PRNG call per row, none inside the scan.
  row_keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(batch))
  gumbel = jax.vmap(lambda k: jax.random.gumbel(k, (length, vocab)))(row_keys)  # (B, L, V)

  def choose(i, logits):
    logp = jax.nn.log_softmax(logits / temperature, axis=-1)
    g = jax.lax.dynamic_index_in_dim(gumbel, i, axis=1, keepdims=False)
    tok = jnp.argmax(logp + g, axis=-1)
    return tok, jnp.take_along_axis(logp, tok[:, None], axis=-1)[:, 0]

  return _decode(apply_fn, params, prompt, length, choose)


def greedy(apply_fn: ApplyFn, params, prompt: jax.Array, length: int) -> jax.Array:
  """Greedy (argmax) decoding; same shapes as ``sample``; returns tokens (batch, P + length)."""

  def choose(i, logits):
    return jnp.argmax(logits, axis=-1), jnp.zeros(logits.shape[0], jnp.float32)

  tokens, _ = _decode(apply_fn, params, prompt, length, choose)
  return tokens


def token_logprobs(apply_fn: ApplyFn, params, tokens: jax.Array, prompt_len: int) -> jax.Array:
  """Teacher scoring: next-token log-probs at every continuation position.

  Args:
    tokens: (batch, T) int32, a prompt of ``prompt_len`` (static, >= 1) tokens plus a continuation.

  Returns:
    (batch, T − prompt_len, vocab) float32: entry [:, j] is log p(· | tokens[:, :prompt_len + j]),
    i.e. the model's distribution for token ``prompt_len + j`` (logits at position t − 1 predict
    token t). Gather ``tokens[:, prompt_len:]`` from it for the sampled tokens' log-probs.
  """
  if prompt_len < 1:
    raise ValueError('prompt_len must be >= 1')
  logits = apply_fn(params, tokens)
  return jax.nn.log_softmax(logits[:, prompt_len - 1 : -1].astype(jnp.float32), axis=-1)


def window_sampler(model: WindowMLPLM):
  """Fast Gumbel-max sampling for a ``WindowMLPLM``.

  Returns ``sample(params, prompt (B, P), gumbel (B, length, vocab), temperature) -> (tokens (B, P + length),
  logp (B, length), rows (B, length, vocab))``. Given the same noise it returns the same tokens as ``sample``
  and the tempered log-probs ``logp`` of the sampled tokens (tests check it), but each step evaluates only
  the window ending at the last filled position instead of the whole buffer (a seq_len-fold saving). The
  noise is an argument so that a caller can draw all of its randomness in one flat call. ``rows`` are the
  untempered next-token log-probs at every generated position, i.e. ``token_logprobs(apply_fn, params,
  tokens, P)``, free from the scan.
  """
  w, e = model.window, model.embed

  def last_logits(params, win):  # win (B, w): tokens t−w+1..t -> logits predicting token t+1
    x = params['embed']['embedding'][win].reshape(win.shape[0], w * e)
    h = nn.gelu(x @ params['hidden']['kernel'] + params['hidden']['bias'])
    return h @ params['out']['kernel'] + params['out']['bias']

  def sample(params, prompt, gumbel, temperature=1.0):
    batch, plen = prompt.shape
    length = gumbel.shape[1]
    buf = jnp.concatenate(
      [
        jnp.full((batch, w - 1), PAD_ID, jnp.int32),
        prompt.astype(jnp.int32),
        jnp.full((batch, length), PAD_ID, jnp.int32),
      ],
      axis=1,
    )

    def step(buf, i):
      win = jax.lax.dynamic_slice_in_dim(buf, plen - 1 + i, w, axis=1)
      logits = last_logits(params, win).astype(jnp.float32)
      logp = jax.nn.log_softmax(logits / temperature, axis=-1)
      g = jax.lax.dynamic_index_in_dim(gumbel, i, axis=1, keepdims=False)
      tok = jnp.argmax(logp + g, axis=-1)
      buf = jax.lax.dynamic_update_index_in_dim(buf, tok.astype(jnp.int32), w - 1 + plen + i, axis=1)
      return buf, (
        jnp.take_along_axis(logp, tok[:, None], axis=-1)[:, 0],
        jax.nn.log_softmax(logits, axis=-1),
      )

    buf, (logp, rows) = jax.lax.scan(step, buf, jnp.arange(length))
    return buf[:, w - 1 :], logp.T, jnp.swapaxes(rows, 0, 1)

  return sample
