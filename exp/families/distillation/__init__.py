"""Family C — hybrid distillation collapse (off-policy → on-policy) and context distillation.

Claim (write-up): off-policy distillation followed by on-policy distillation (GKD) collapses at the switch:
the KL jumps 361× (0.015 → 5.445) in one step and the downstream score drops to 0, whatever the
teacher/student gap, even for same-model context distillation; on-policy alone reaches 2.5–6%.

Toy (SCIENCE.md C): per seed a Markov task language (4 tasks, 12 content tokens, 3 successors each, no
self-loops; exp/languages.py) and a base causal LM (WindowMLPLM whose window spans the whole sequence)
pretrained on all tasks, the context token present half the time — the pretraining stage, cached by the
runner. Teacher = base with the target task's context token; student = base with NULL (arm ``context``:
context distillation, Snell et al. 2022) or a smaller WindowMLPLM initialised fresh (arm ``size_gap``).

One compiled program per arm; the setups are grid points (traced 0/1 switches), so every setup of a seed
shares the teacher, the teacher-sample pool, the student init and the sampling noise:
  ``switch``    first on-policy step: 0 = on-only, num_steps = off-only, switch_step = hybrid;
  ``unshifted`` the off-policy SFT loss: 0 = next-token CE (correct), 1 = the source's unshifted CE
                (input and target identical: a copy task);
  ``sampled``   the on-policy loss: 0 = the exact per-token divergence (GKD), 1 = the source's sampled-token
                estimator (advantage = clip(−(log p_S − log p_T), ±clip), policy gradient);
  ``stale``     1 = on-policy samples come from a sampler refreshed only at the switch (as in the source).

Per step (before the update, on fresh student samples): ``kl_exact`` (exact per-token reverse KL),
``kl_est`` (the source's single-sample estimate), ``kl_est_stale`` (the same estimate on the stale
sampler's samples, with the sampler's own log-probs, as an inference server returns them), ``source_log``
(what the source's training log shows: the SFT loss while off-policy — no KL is measured there — and the
estimate on the training sampler once on-policy), ``legal`` (legal-transition rate of student
generations under the target task, the "downstream accuracy") and ``rep`` (seq-rep-2).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from exp.analysis import plots, report, stats
from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment
from exp.tasks import languages as langs
from losses import distill, sequence
from models import lm

ARMS = ('context', 'size_gap')
ARM_LABELS = {
  'context': 'context distillation (student = base without context)',
  'size_gap': 'size gap (smaller student, fresh init)',
}
SCHEDULES = ('on_only', 'off_only', 'hybrid')
SFT_LOSSES = ('shifted', 'unshifted')
ON_LOSSES = ('exact', 'sampled')
PROMPT = 2  # [BOS, CTX_task | NULL]
# The write-up's published numbers: inputs to the claim row and the audit, never used as results.
CLAIM = {
  'kl_before': 0.015,
  'kl_after': 5.4453,
  'ratio_reported': 361.0,
  'downstream_hybrid': 0.0,
  'downstream_on_only': (0.025, 0.06),
}
AT_SWITCH = 10  # a change point in [switch, switch + AT_SWITCH) counts as a collapse "at the switch"
MEASURES = ('fresh', 'stale', 'source')
MEASURE_LABELS = {
  'fresh': 'exact reverse KL, fresh student samples',
  'stale': 'single-sample estimate, stale sampler',
  'source': "the source's log (SFT loss before the switch, estimate after)",
}


# ---------------------------------------------------------------------------------------------------
# Validation


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  for key in (
    'n_tasks',
    'n_content',
    'seq_len',
    'window',
    'embed',
    'hidden',
    'student_embed',
    'student_hidden',
    'pretrain_steps',
    'pretrain_batch',
    'batch',
    'offpolicy_batches',
    'eval_batch',
  ):
    cfglib.require_int(config, key, 1)
  if config.n_content < 2:
    raise ConfigError('n_content', f'must be >= 2, got {config.n_content}')
  n_succ = cfglib.require_int(config, 'n_successors', 1)
  if n_succ >= config.n_content:
    raise ConfigError('n_successors', f'must be in [1, n_content - 1 = {config.n_content - 1}], got {n_succ}')
  target = cfglib.require_int(config, 'target_task', 0)
  if target >= config.n_tasks:
    raise ConfigError('target_task', f'must be in [0, n_tasks - 1 = {config.n_tasks - 1}], got {target}')
  if config.seq_len + PROMPT > config.window:
    raise ConfigError(
      'seq_len',
      f'{config.seq_len} content tokens + {PROMPT} header tokens exceed the '
      f"model's context window ({config.window} tokens); accepted: seq_len <= "
      f'{config.window - PROMPT}, or a larger window',
    )
  if config.seq_len < 2:
    raise ConfigError(
      'seq_len', f'must be >= 2 (legal and repetition rates need transitions), got {config.seq_len}'
    )
  for key in ('pretrain_lr', 'lr', 'size_gap_lr', 'clip'):
    v = cfglib.lookup(config, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
      raise ConfigError(key, f'must be a positive number, got {v!r}')
  temp = config.temperature
  if isinstance(temp, bool) or not isinstance(temp, (int, float)) or not temp > 0 or not math.isfinite(temp):
    raise ConfigError(
      'temperature', f'must be a finite number > 0 (sampling divides logits by it), got {temp!r}'
    )
  if not 0.0 <= config.context_prob <= 1.0:
    raise ConfigError('context_prob', f'must be in [0, 1], got {config.context_prob}')
  if not 0.0 < config.jsd_beta < 1.0:
    raise ConfigError('jsd_beta', f'must be in (0, 1), got {config.jsd_beta}')
  try:
    distill.get_divergence(config.divergence)
  except ValueError as e:
    raise ConfigError('divergence', str(e)) from None
  sw = cfglib.require_int(config, 'switch_step', 1)
  if sw >= config.num_steps:
    raise ConfigError(
      'switch_step',
      f'must be in [1, num_steps - 1 = {config.num_steps - 1}] so a hybrid has both phases, got {sw}',
    )
  _names(config, 'schedules', SCHEDULES)
  _names(config, 'sft_losses', SFT_LOSSES)
  _names(config, 'on_losses', ON_LOSSES)
  if not isinstance(config.stale_sampler, bool):
    raise ConfigError('stale_sampler', f'must be True or False, got {config.stale_sampler!r}')
  if not config.spike_threshold > 1.0:
    raise ConfigError('spike_threshold', f'must be > 1, got {config.spike_threshold}')
  if not 0.0 < config.change_drop < 1.0:
    raise ConfigError('change_drop', f'must be in (0, 1), got {config.change_drop}')


def _as_names(v) -> tuple:
  """A tuple of names; a string override such as --config.schedules=on_only,hybrid is split on commas."""
  items = (v,) if isinstance(v, str) else tuple(v)
  out = []
  for item in items:
    if isinstance(item, str):
      out += [x.strip(' \'"()[]') for x in item.split(',') if x.strip(' \'"()[]')]
    else:
      out.append(item)
  return tuple(out)


def _names(config, key, accepted) -> tuple:
  vals = _as_names(cfglib.lookup(config, key))
  if not vals:
    raise ConfigError(key, f'must name at least one of: {", ".join(accepted)}')
  for x in vals:
    if x not in accepted:
      kind = 'schedule' if key == 'schedules' else 'value'
      raise ConfigError(key, f'unknown {kind} {x!r}; accepted: {", ".join(accepted)}')
  if len(set(vals)) != len(vals):
    raise ConfigError(key, f'names a value twice: {vals}')
  return vals


# ---------------------------------------------------------------------------------------------------
# Setups (grid points)


def setups(config) -> list[dict]:
  """The grid points of every arm, in report order: [{'switch', 'unshifted', 'sampled', 'stale'}]."""
  sched, sfts, ons = (_as_names(config.schedules), _as_names(config.sft_losses), _as_names(config.on_losses))
  n, sw = config.num_steps, config.switch_step
  out = []
  if 'on_only' in sched:
    out += [dict(switch=0, unshifted=0, sampled=int(o == 'sampled'), stale=0) for o in ons]
  if 'off_only' in sched:
    out += [dict(switch=n, unshifted=int(s == 'unshifted'), sampled=0, stale=0) for s in sfts]
  if 'hybrid' in sched:
    out += [
      dict(switch=sw, unshifted=int(s == 'unshifted'), sampled=int(o == 'sampled'), stale=0)
      for o in ons
      for s in sfts
    ]
    if config.stale_sampler and 'sampled' in ons:
      out += [dict(switch=sw, unshifted=int(s == 'unshifted'), sampled=1, stale=1) for s in sfts]
  return out


def setup_key(grid: dict, num_steps: int) -> str:
  sw = int(round(grid['switch']))
  sched = 'on_only' if sw <= 0 else 'off_only' if sw >= num_steps else 'hybrid'
  parts = [sched]
  if sched != 'on_only':
    parts.append('unshifted' if grid['unshifted'] > 0.5 else 'shifted')
  if sched != 'off_only':
    parts.append('sampled' if grid['sampled'] > 0.5 else 'exact')
  if grid['stale'] > 0.5:
    parts.append('stale')
  return '/'.join(parts)


def setup_label(key: str) -> str:
  words = {
    'on_only': 'on-only',
    'off_only': 'off-only',
    'hybrid': 'hybrid',
    'shifted': 'shifted SFT',
    'unshifted': 'unshifted SFT (bug)',
    'exact': 'exact KL',
    'sampled': 'sampled est.',
    'stale': 'stale sampler',
  }
  return ', '.join(words[p] for p in key.split('/'))


SOURCE_SETUP = 'hybrid/unshifted/sampled/stale'  # the source's pipeline
CORRECT_SETUP = 'hybrid/shifted/exact'  # the corrected one


# ---------------------------------------------------------------------------------------------------
# Fast sampling for the window model


def window_sampler(model: lm.WindowMLPLM):
  """``sample(params, prompt (B, P), gumbel (B, length, vocab), temperature) -> (tokens (B, P + length),
  logp (B, length), rows (B, length, vocab))`` for a WindowMLPLM: Gumbel-max sampling as in
  ``models.lm.sample`` (given the same noise it returns the same tokens and tempered log-probs ``logp`` of
  the sampled tokens; tests check it), but each step evaluates only the window ending at the last filled
  position instead of the whole buffer (a seq_len-fold saving). The noise is an argument so that a step
  draws all of its randomness in one flat call. ``rows`` are the untempered next-token log-probs at every
  generated position, i.e. ``lm.token_logprobs(apply_fn, params, tokens, P)``, free from the scan."""
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
        jnp.full((batch, w - 1), lm.PAD_ID, jnp.int32),
        prompt.astype(jnp.int32),
        jnp.full((batch, length), lm.PAD_ID, jnp.int32),
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


def flat_init(model, key, seq_len: int):
  """Parameters with flax's default scales (kernels and embeddings N(0, 1/fan_in), biases 0) drawn in
  one flat normal call: flax's per-leaf initializers cost seconds of XLA compile on CPU."""
  shapes = jax.eval_shape(lambda: lm.init_params(model, jax.random.key(0), seq_len))
  leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
  sizes = [int(np.prod(leaf.shape)) for _, leaf in leaves]
  z = jax.random.normal(key, (sum(sizes),))
  out, off = [], 0
  for (path, leaf), n in zip(leaves, sizes):
    x = z[off : off + n].reshape(leaf.shape)
    off += n
    name = getattr(path[-1], 'key', '')
    if name == 'bias':
      x = jnp.zeros(leaf.shape, leaf.dtype)
    else:  # kernel (fan_in = rows) or embedding (fan_in = vocabulary rows, as flax's Embed default)
      x = x / math.sqrt(leaf.shape[0])
    out.append(x.astype(leaf.dtype))
  return jax.tree_util.tree_unflatten(treedef, out)


def markov_language(key, n_tasks: int, n_content: int, n_successors: int) -> langs.MarkovLanguage:
  """The task language of one seed (``exp.languages.make_markov_language``, default min_weight)."""
  return langs.make_markov_language(key, n_tasks, n_content, n_successors)


def _noise(key, *shape):
  """Gumbel noise of the given shape from one flat draw."""
  return jax.random.gumbel(key, (int(np.prod(shape)),)).reshape(shape)


def _gather(logp, tokens):
  """logp (B, L, V), tokens (B, L) -> (B, L) log-prob of each token."""
  return jnp.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0]


def _tree_where(pred, a, b):
  return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


# ---------------------------------------------------------------------------------------------------
# Build


def build(config) -> Experiment:
  n_tasks, n_content, L = config.n_tasks, config.n_content, config.seq_len
  vocab = langs.markov_vocab_size(n_tasks, n_content)
  T = PROMPT + L
  target = config.target_task
  ctx_tok = langs.ctx_id(target)
  temp = float(config.temperature)
  B = config.batch
  base_model = lm.WindowMLPLM(vocab=vocab, window=config.window, hidden=config.hidden, embed=config.embed)
  small_model = lm.WindowMLPLM(
    vocab=vocab, window=config.window, hidden=config.student_hidden, embed=config.student_embed
  )
  base_apply, base_sample = lm.make_apply_fn(base_model), window_sampler(base_model)
  content_mask = (jnp.arange(T) >= PROMPT).astype(jnp.float32)[None]  # targets = content tokens

  def prompts(n, header):
    return jnp.stack([jnp.full((n,), langs.BOS, jnp.int32), jnp.full((n,), header, jnp.int32)], axis=1)

  def lang_of(d):
    return langs.MarkovLanguage(allowed=d['allowed'], probs=d['probs'])

  def next_logp(apply_fn, params, tokens):
    """(B, L, V) log p(· | tokens[:, :t]) for each content position t."""
    return lm.token_logprobs(apply_fn, params, tokens, PROMPT)

  def with_header(tokens, header):
    return tokens.at[:, 1].set(header)

  # --- pretraining: the base / teacher, its language, and the fixed teacher-sample pool -------------
  pre_tx = optax.adam(config.pretrain_lr)
  pb = config.pretrain_batch

  def pre_init(key, hp):
    k_lang, k_par, k_rest = jax.random.split(key, 3)
    lang = markov_language(k_lang, n_tasks, n_content, config.n_successors)
    params = flat_init(base_model, k_par, T)
    return dict(
      params=params,
      opt_state=pre_tx.init(params),
      lang={'allowed': lang.allowed, 'probs': lang.probs},
      key=jax.random.key_data(k_rest),
    )

  def pre_step(s, hp, key):
    k_task, k_seq = jax.random.split(key)
    u = jax.random.uniform(k_task, (2 * pb,))
    tasks = jnp.minimum((u[:pb] * n_tasks).astype(jnp.int32), n_tasks - 1)
    toks = langs.sample_markov(lang_of(s['lang']), k_seq, pb, L, tasks, u[pb:] < config.context_prob)
    loss, grads = jax.value_and_grad(
      lambda p: sequence.next_token_ce(base_apply(p, toks), toks, jnp.broadcast_to(content_mask, toks.shape))
    )(s['params'])
    updates, opt_state = pre_tx.update(grads, s['opt_state'], s['params'])
    return dict(s, params=optax.apply_updates(s['params'], updates), opt_state=opt_state), {'loss': loss}

  def pre_eval(s, hp):
    key = jax.random.wrap_key_data(s['key'])
    n = config.eval_batch
    lang = lang_of(s['lang'])
    # One sampler call: n rows with the target's context token (the teacher), n with NULL (the student).
    both = jnp.concatenate([prompts(n, ctx_tok), prompts(n, langs.NULL)])
    toks, _, rows = base_sample(s['params'], both, _noise(jax.random.fold_in(key, 1), 2 * n, L, vocab), temp)
    teach, null = toks[:n], toks[n:]
    t_lp = next_logp(base_apply, s['params'], with_header(null, ctx_tok))
    return {
      'teacher_legal': langs.legal_rate(lang, teach, target, PROMPT),
      'base_null_legal': langs.legal_rate(lang, null, target, PROMPT),
      'base_null_kl': distill.reverse_kl(rows[n:], t_lp),
    }

  def pre_output(s):
    key = jax.random.wrap_key_data(s['key'])
    m = config.offpolicy_batches * B
    pool, _, _ = base_sample(
      s['params'], prompts(m, ctx_tok), _noise(jax.random.fold_in(key, 3), m, L, vocab), temp
    )
    return {'params': s['params'], 'lang': s['lang'], 'offdata': pool}

  pretrain = Arm('pretrain', {}, pre_init, pre_step, pre_eval, num_steps=config.pretrain_steps)

  # --- distillation arms ----------------------------------------------------------------------------
  div = distill.get_divergence(config.divergence)
  beta = jnp.float32(config.jsd_beta)
  clip = jnp.float32(config.clip)
  n_pool = config.offpolicy_batches

  def make_arm(name, student_model, lr):
    s_apply, s_sample = lm.make_apply_fn(student_model), window_sampler(student_model)
    tx = optax.adam(lr)
    fresh_init = name == 'size_gap'

    def init(key, hp, base):
      params = flat_init(student_model, jax.random.fold_in(key, 0), T) if fresh_init else base['params']
      zero = jnp.float32(0.0)
      rec = {
        k: zero
        for k in (
          'kl_pre',
          'kl_post',
          'est_pre',
          'est_post',
          'stale_pre',
          'stale_post',
          'source_pre',
          'source_post',
          'legal_pre',
          'legal_post',
          'legal_start',
        )
      }
      rec['change_step'] = jnp.int32(-1)
      return dict(
        params=params,
        opt_state=tx.init(params),
        sampler=params,
        teacher=base['params'],
        offdata=base['offdata'],
        lang=base['lang'],
        t=jnp.int32(0),
        rec=rec,
        eval_key=jax.random.key_data(jax.random.fold_in(key, 1)),
      )

    def step(s, hp, key):
      t = s['t']
      switch = jnp.round(hp['switch']).astype(jnp.int32)
      is_on = t >= switch
      use_stale = hp['stale'] > 0.5
      params = s['params']
      sampler = _tree_where(t == switch, params, s['sampler'])  # refreshed only at the switch
      # Fresh student samples and stale-sampler samples in one scan (the two parameter sets vmapped).
      pair = jax.tree.map(lambda x, y: jnp.stack([x, y]), params, sampler)
      toks, lps, rows = jax.vmap(s_sample, (0, None, 0, None))(
        pair, prompts(B, langs.NULL), _noise(key, 2, B, L, vocab), temp
      )
      fresh, stale, s_fresh, stale_lp = toks[0], toks[1], rows[0], lps[1]
      t_both = next_logp(base_apply, s['teacher'], with_header(jnp.concatenate([fresh, stale]), ctx_tok))
      t_fresh, t_stale = t_both[:B], t_both[B:]
      on_tok = jnp.where(use_stale, stale, fresh)
      t_on = jnp.where(use_stale, t_stale, t_fresh)
      off = with_header(jax.lax.dynamic_slice_in_dim(s['offdata'], (t % n_pool) * B, B, axis=0), langs.NULL)
      mask = jnp.broadcast_to(content_mask, off.shape)

      def loss_fn(p):
        logits = s_apply(p, jnp.concatenate([on_tok, off]))  # one forward for both losses
        s_on = jax.nn.log_softmax(logits[:B, PROMPT - 1 : -1].astype(jnp.float32), axis=-1)
        exact = div(s_on, t_on, None, beta)
        sampled = distill.sampled_token_advantage_loss(
          _gather(s_on, on_tok[:, PROMPT:]), _gather(t_on, on_tok[:, PROMPT:]), clip
        )
        on_loss = jnp.where(hp['sampled'] > 0.5, sampled, exact)
        off_logits = logits[B:]
        sft = jnp.where(
          hp['unshifted'] > 0.5,
          sequence.unshifted_copy_ce_buggy(off_logits, off, mask),
          sequence.next_token_ce(off_logits, off, mask),
        )
        return jnp.where(is_on, on_loss, sft), sft

      (loss, sft), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
      updates, opt_state = tx.update(grads, s['opt_state'], params)

      # Measurements of the model before this update.
      lang = lang_of(s['lang'])
      kl_exact = distill.reverse_kl(s_fresh, t_fresh)
      kl_est = distill.sampled_reverse_kl_estimate(
        _gather(s_fresh, fresh[:, PROMPT:]), _gather(t_fresh, fresh[:, PROMPT:])
      )
      kl_est_stale = distill.sampled_reverse_kl_estimate(stale_lp, _gather(t_stale, stale[:, PROMPT:]))
      source_log = jnp.where(is_on, jnp.where(use_stale, kl_est_stale, kl_est), sft)
      legal = langs.legal_rate(lang, fresh, target, PROMPT)
      rep = langs.repetition_rate(fresh, 2, PROMPT)

      rec = dict(s['rec'])
      pre, post = t == switch - 1, t == switch
      for k, v in (
        ('kl', kl_exact),
        ('est', kl_est),
        ('stale', kl_est_stale),
        ('source', source_log),
        ('legal', legal),
      ):
        rec[k + '_pre'] = jnp.where(pre, v, rec[k + '_pre'])
        rec[k + '_post'] = jnp.where(post, v, rec[k + '_post'])
      rec['legal_start'] = jnp.where(t == 0, legal, rec['legal_start'])
      fell = (rec['change_step'] < 0) & (legal < rec['legal_start'] - config.change_drop)
      rec['change_step'] = jnp.where(fell, t, rec['change_step']).astype(jnp.int32)

      new = dict(
        s, params=optax.apply_updates(params, updates), opt_state=opt_state, sampler=sampler, t=t + 1, rec=rec
      )
      metrics = dict(
        kl_exact=kl_exact,
        kl_est=kl_est,
        kl_est_stale=kl_est_stale,
        source_log=source_log,
        legal=legal,
        rep=rep,
        loss=loss,
      )
      return new, metrics

    def evaluate(s, hp):
      key = jax.random.wrap_key_data(s['eval_key'])
      n = config.eval_batch
      toks, _, s_lp = s_sample(s['params'], prompts(n, langs.NULL), _noise(key, n, L, vocab), temp)
      t_lp = next_logp(base_apply, s['teacher'], with_header(toks, ctx_tok))
      out = dict(
        legal=langs.legal_rate(lang_of(s['lang']), toks, target, PROMPT),
        kl_exact=distill.reverse_kl(s_lp, t_lp),
        rep=langs.repetition_rate(toks, 2, PROMPT),
      )
      out.update(s['rec'])
      return out

    grid = {
      k: np.array([p[k] for p in setups(config)], np.float32)
      for k in ('switch', 'unshifted', 'sampled', 'stale')
    }
    return Arm(name=name, grid=grid, init=init, step=step, evaluate=evaluate, num_steps=config.num_steps)

  makers = {'context': (base_model, config.lr), 'size_gap': (small_model, config.size_gap_lr)}
  arms = tuple(make_arm(a, *makers[a]) for a in cfglib.arm_names(config))
  keys = (
    'n_tasks',
    'n_content',
    'n_successors',
    'seq_len',
    'target_task',
    'window',
    'embed',
    'hidden',
    'pretrain_steps',
    'pretrain_batch',
    'pretrain_lr',
    'context_prob',
    'offpolicy_batches',
    'batch',
    'temperature',
    'eval_batch',
  )
  return Experiment(
    name='distillation',
    arms=arms,
    analyze=analyze,
    report=make_report,
    pretrain=pretrain,
    pretrain_output=pre_output,
    pretrain_keys=keys,
  )


# ---------------------------------------------------------------------------------------------------
# Analysis (host, numpy/scipy)


def _geo(d: dict) -> dict:
  """describe() of log10 values -> geometric mean and its CI on the original scale."""
  if d is None or d['n'] == 0 or d['mean'] is None or not np.isfinite(d['mean']):
    return {'n': d['n'] if d else 0, 'geo_mean': None, 'ci95': [None, None]}
  lo, hi = d['ci95']
  return {
    'n': d['n'],
    'geo_mean': 10 ** d['mean'],
    'ci95': [10**lo if np.isfinite(lo) else None, 10**hi if np.isfinite(hi) else None],
  }


def _group(runs, config):
  """{arm: {setup_key: [run records sorted by seed]}} in setup order."""
  order = [setup_key(g, config.num_steps) for g in setups(config)]
  out: dict = {}
  for r in runs:
    if r['arm'] not in ARMS:
      continue
    out.setdefault(r['arm'], {}).setdefault(setup_key(r['grid'], config.num_steps), []).append(r)
  return {a: {k: sorted(d[k], key=lambda r: r['seed']) for k in order if k in d} for a, d in out.items()}


def _vals(recs, key):
  """Per-seed values of a final metric; diverged runs give nan (counted, never averaged)."""
  return np.array(
    [
      r['metrics'].get(key) if r['status'] != 'diverged' and r['metrics'].get(key) is not None else np.nan
      for r in recs
    ],
    float,
  )


def _ratio(recs, measure):
  pre, post = _vals(recs, measure + '_pre'), _vals(recs, measure + '_post')
  ok = (pre > 0) & (post > 0)
  with np.errstate(divide='ignore', invalid='ignore'):
    r = np.where(ok, post / np.where(ok, pre, 1.0), np.nan)
  return pre, post, r, int(np.sum(~ok & np.isfinite(pre) & np.isfinite(post)))


def _setup_summary(recs, config, key) -> dict:
  sw = config.switch_step
  out = {
    'label': setup_label(key),
    'n_runs': len(recs),
    'diverged': sum(r['status'] == 'diverged' for r in recs),
    'seeds': [r['seed'] for r in recs],
  }
  for m in ('legal', 'kl_exact', 'rep', 'legal_start'):
    out[m] = stats.describe(_vals(recs, m))
  out['legal_values'] = _vals(recs, 'legal').tolist()
  change = _vals(recs, 'change_step')
  has = np.isfinite(change) & (change >= 0)
  cs = change[has]
  out['change'] = {
    'n_with': int(has.sum()),
    'n': int(np.isfinite(change).sum()),
    'median_step': float(np.median(cs)) if cs.size else None,
    'steps': change.tolist(),
  }
  if key.startswith('hybrid'):
    out['change'].update(
      before_switch=int(np.sum(cs < sw)),
      at_switch=int(np.sum((cs >= sw) & (cs < sw + AT_SWITCH))),
      later=int(np.sum(cs >= sw + AT_SWITCH)),
    )
    spikes = {}
    for m, name in (('fresh', 'kl'), ('stale', 'stale'), ('source', 'source')):
      pre, post, ratio, nonpos = _ratio(recs, name)
      spikes[m] = {
        'pre': stats.describe(pre),
        'post': stats.describe(post),
        'n_nonpositive': nonpos,
        'log10_ratio': stats.describe(np.log10(ratio)) if np.isfinite(ratio).any() else None,
        'ratios': ratio.tolist(),
      }
      spikes[m]['geo'] = _geo(spikes[m]['log10_ratio'])
    out['spikes'] = spikes
    for m in ('stale', 'source'):
      a = np.log10(np.array(spikes[m]['ratios'], float))
      b = np.log10(np.array(spikes['fresh']['ratios'], float))
      ok = np.isfinite(a) & np.isfinite(b)
      out['spikes'][m]['vs_fresh'] = stats.compare(a, b, paired=True) if ok.sum() >= 2 else None
    lp, lq = _vals(recs, 'legal_pre'), _vals(recs, 'legal_post')
    out['legal_at_switch'] = {'pre': stats.describe(lp), 'post': stats.describe(lq)}
  return out


def _comparisons(groups: dict, config) -> list[dict]:
  """Final legal rate: each hybrid vs the on-only run with the same on-policy loss (paired by seed)."""
  rows = []
  for key, recs in groups.items():
    if not key.startswith('hybrid'):
      continue
    parts = key.split('/')
    ref = 'on_only/' + parts[2]
    if ref not in groups:
      continue
    a, b = _vals(recs, 'legal'), _vals(groups[ref], 'legal')
    paired = [r['seed'] for r in recs] == [r['seed'] for r in groups[ref]]
    if np.isfinite(a).sum() < 1 or np.isfinite(b).sum() < 1:
      continue
    rows.append(
      {
        'a': key,
        'b': ref,
        'label': f'{setup_label(key)} vs {setup_label(ref)}',
        'cmp': stats.compare(a, b, paired=paired),
      }
    )
  for row, p in zip(rows, stats.holm([r['cmp']['student']['p'] for r in rows])):
    row['holm_p'] = p
  return rows


def _audit_setup(s: dict, cmp: dict | None, config) -> dict:
  """Classify one hybrid setup from its numbers."""
  geo_f = s['spikes']['fresh']['geo']
  geo_s = s['spikes']['source']['geo']
  lo = geo_f['ci95'][0]
  kl_jumps = bool(lo is not None and lo > 2.0)  # the exact KL at least doubles in one step
  ch = s['change']
  majority = ch['n'] // 2 + 1
  if ch['at_switch'] >= majority:
    phase = 'at_switch'
  elif ch['before_switch'] >= majority:
    phase = 'before_switch'
  elif ch['n_with'] >= majority:
    phase = 'later' if ch['later'] >= ch['at_switch'] else 'at_switch'
  elif s['legal_at_switch']['pre']['mean'] - s['legal_start']['mean'] < config.change_drop:
    phase = 'not_learned'  # no fall, but no rise either: a fresh student the SFT never taught
  else:
    phase = 'none'
  reads_spike = bool(geo_s['geo_mean'] is not None and geo_s['geo_mean'] >= config.spike_threshold)
  worse = None
  if cmp is not None:
    p = cmp['holm_p']
    worse = bool(p is not None and np.isfinite(p) and p < 0.05 and cmp['cmp']['mean_diff'] < 0)
  return {
    'kl_jumps_fresh': kl_jumps,
    'collapse_phase': phase,
    'reads_as_spike_in_source_log': reads_spike,
    'collapses_at_switch': bool(kl_jumps or phase == 'at_switch'),
    'collapsed_before_switch': phase == 'before_switch',
    'worse_than_on_only': worse,
    'fresh_ratio': geo_f['geo_mean'],
    'source_ratio': geo_s['geo_mean'],
    'stale_ratio': s['spikes']['stale']['geo']['geo_mean'],
  }


def _spike_setups(summ: dict) -> list[str]:
  """The hybrids whose switch measurements the report tests: the correct one and the source's (the values
  before the first on-policy update depend only on the SFT loss, so the other hybrids repeat them)."""
  shown = [k for k in (CORRECT_SETUP, SOURCE_SETUP) if k in summ and 'spikes' in summ[k]]
  return shown or [k for k in summ if 'spikes' in summ[k]]


def analyze(runs: list[dict], config) -> dict:
  groups = _group(runs, config)
  pre = [r for r in runs if r['arm'] == 'pretrain']
  pretrain = (
    {
      k: stats.describe(np.array([r['metrics'].get(k, np.nan) for r in pre], float))
      for k in ('teacher_legal', 'base_null_legal', 'base_null_kl')
    }
    if pre
    else {}
  )
  arms = {}
  for arm, g in groups.items():
    summ = {k: _setup_summary(recs, config, k) for k, recs in g.items()}
    comps = _comparisons(g, config)
    spike_tests = [
      (k, m)
      for k in _spike_setups(summ)
      for m in ('stale', 'source')
      if summ[k]['spikes'][m]['vs_fresh'] is not None
    ]
    holm = stats.holm([summ[k]['spikes'][m]['vs_fresh']['paired']['p'] for k, m in spike_tests])
    for (k, m), p in zip(spike_tests, holm):
      summ[k]['spikes'][m]['vs_fresh_holm_p'] = p
    by_a = {c['a']: c for c in comps}
    audit = {k: _audit_setup(summ[k], by_a.get(k), config) for k in summ if 'spikes' in summ[k]}
    arms[arm] = {'setups': summ, 'comparisons': comps, 'audit': audit, 'spike_setups': _spike_setups(summ)}
  claim_ratio = CLAIM['kl_after'] / CLAIM['kl_before']
  an = {
    'arms': arms,
    'pretrain': pretrain,
    'switch_step': config.switch_step,
    'num_steps': config.num_steps,
    'claim': dict(CLAIM, ratio_computed=claim_ratio),
  }
  an['headline'] = _headline(an, config)
  return an


def _fmt_geo(g: dict) -> str:
  if g['geo_mean'] is None:
    return '–'
  lo, hi = g['ci95']
  return f'{report.fmt(g["geo_mean"])}× [{report.fmt(lo)}, {report.fmt(hi)}]'


def _mean(s: dict, key: str = 'legal') -> str:
  return report.fmt(s[key]['mean'])


def _sft_groups(audit: dict) -> dict:
  """{'shifted': [hybrid keys], 'unshifted': [...]} in setup order."""
  out: dict = {}
  for k in audit:
    out.setdefault(k.split('/')[1], []).append(k)
  return out


def _headline(an: dict, config) -> dict:
  arm = 'context' if 'context' in an['arms'] else next(iter(an['arms']), None)
  claim = (
    f'KL {CLAIM["kl_before"]} → {CLAIM["kl_after"]} in one step at the off→on switch '
    f'(reported 361×; the numbers give {an["claim"]["ratio_computed"]:.0f}×); downstream 0% hybrid vs '
    '2.5–6% on-only, whatever the teacher/student gap'
  )
  base = {'finding': 'Hybrid distillation collapse at the off-policy → on-policy switch', 'claim': claim}
  if arm is None:
    return dict(
      base, result='no distillation runs', effect=None, verdict='not enough arms to judge', reproduced=None
    )
  a = an['arms'][arm]
  audit, st = a['audit'], a['setups']
  by_a = {c['a']: c for c in a['comparisons']}
  parts = [f'arm {arm}, {config.num_seeds} seeds']
  if SOURCE_SETUP in audit:
    sp = st[SOURCE_SETUP]['spikes']
    parts.append(
      f"the source's setup logs {_fmt_geo(sp['source']['geo'])} across the switch while the exact "
      f'fresh-sample KL changes {_fmt_geo(sp["fresh"]["geo"])}'
    )
    c = by_a.get(SOURCE_SETUP)
    if c:
      parts.append(
        f'its final legal rate {_mean(st[SOURCE_SETUP])} vs on-only {_mean(st[c["b"]])} '
        f'(Holm p {report.fmt_p(c["holm_p"])})'
      )
  if CORRECT_SETUP in audit:
    parts.append(f'correct hybrid: exact ratio {_fmt_geo(st[CORRECT_SETUP]["spikes"]["fresh"]["geo"])}')
    c = by_a.get(CORRECT_SETUP)
    if c:
      parts.append(
        f'final legal rate {_mean(st[CORRECT_SETUP])} vs on-only {_mean(st[c["b"]])} '
        f'(Holm p {report.fmt_p(c["holm_p"])})'
      )
  effect = None
  cmp = by_a.get(CORRECT_SETUP)
  if cmp:
    effect = {
      'name': f"Hedges' g, final legal rate, {setup_label(CORRECT_SETUP)} − {setup_label(cmp['b'])}",
      'value': cmp['cmp']['hedges_g'],
      'ci95': cmp['cmp']['hedges_g_ci95'],
    }
  reproduced, verdict = None, 'not enough setups to judge'
  if CORRECT_SETUP in audit:
    c = audit[CORRECT_SETUP]
    reproduced = bool(c['collapses_at_switch'] and c['worse_than_on_only'])
    spiky = [k for k, v in audit.items() if v['reads_as_spike_in_source_log']]
    if reproduced:
      verdict = 'reproduced: the correct hybrid collapses at the switch and ends below on-only'
    else:
      verdict = 'not reproduced: the correct hybrid neither jumps nor collapses at the switch'
      if spiky:
        sfts = sorted({k.split('/')[1] for k in spiky})
        verdict += (
          f"; a ≥{report.fmt(config.spike_threshold)}× one-step spike appears only in the source's "
          f'log of the {" and ".join(sfts)}-SFT hybrids'
        )
        if all(audit[k]['collapsed_before_switch'] for k in spiky):
          verdict += ', whose students had already collapsed during the off-policy phase'
        if not any(audit[k]['collapses_at_switch'] for k in spiky):
          verdict += ' (their exact fresh-sample KL does not jump at the switch)'
      else:
        verdict += "; no setup shows a spike in the source's log either"
  return dict(base, result='; '.join(parts), effect=effect, verdict=verdict, reproduced=reproduced)


# ---------------------------------------------------------------------------------------------------
# Report


def _mci(d: dict | None, digits: int = 3) -> str:
  if not d or d.get('mean') is None or not np.isfinite(d['mean']):
    return '–'
  lo, hi = d['ci95']
  if lo is None or not np.isfinite(lo):
    return report.fmt(d['mean'], digits)
  m, h = report.fmt_same([d['mean'], (hi - lo) / 2], digits)
  return f'{m} ± {h}'


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs
  sw, n = an['switch_step'], an['num_steps']
  lines = [
    '# Hybrid distillation collapse (off-policy → on-policy) and context distillation',
    '',
    f'{config.num_seeds} seeds; {n} distillation steps, batch {config.batch}; hybrid = steps 0–{sw - 1} '
    f'off-policy (SFT on a fixed pool of teacher samples) + steps {sw}–{n - 1} on-policy. Language: '
    f'{config.n_tasks} Markov tasks over {config.n_content} content tokens, {config.n_successors} successors '
    f'each, {config.seq_len} generated tokens; teacher = the pretrained base with the context token of task '
    f'{config.target_task}, student prompt = NULL. Base model: WindowMLPLM (window {config.window}, '
    f'embed {config.embed}, hidden {config.hidden}), pretrained {config.pretrain_steps} steps. A tiny '
    'Transformer was not affordable within the CPU budget (no KV cache: every sampled token re-runs the '
    'whole sequence); the window MLP with a window spanning the sequence sees the context token at every '
    'position.',
    '',
  ]
  pre = an.get('pretrain') or {}
  if pre:
    lines += [
      f'Pretrained base (mean ± 95% CI over seeds): teacher legal rate {_mci(pre["teacher_legal"])}; '
      f'base with NULL: legal rate under task {config.target_task} {_mci(pre["base_null_legal"])}, exact '
      f'reverse KL to the teacher {_mci(pre["base_null_kl"])} nats/token (where context distillation '
      'starts).',
      '',
    ]
  lines += [
    'How the KL is measured. *Exact*: the per-token reverse KL(student ‖ teacher) summed over the '
    'vocabulary, on fresh student samples, every step. *As the source logged it*: the source measured no '
    'KL while off-policy, so its log shows the SFT loss there (for the unshifted bug a copy-task loss), '
    'and from the switch on the single-sample estimate mean(log p_S − log p_T) on its (stale) sampler. '
    "*Stale*: that estimate on a sampler refreshed only at step 0 and at the switch, with the sampler's "
    'own log-probs. "Before → after" = the last off-policy step → the first on-policy step (one update '
    'apart).',
    '',
    'Cells are mean ± 95% CI half-width over seeds; ratios are geometric means [95% CI]. "Final legal '
    'rate" = legal-transition rate of the student\'s generations under the target task on '
    f'{config.eval_batch} fresh samples after training (the "downstream accuracy"). Change point = first '
    f'step whose legal rate falls {config.change_drop} below its step-0 value (runs with one / runs).',
    '',
  ]
  paths = []
  for arm, a in an['arms'].items():
    lines += [f'## Arm `{arm}`: {ARM_LABELS[arm]}', '']
    lines += [_main_table(a, an, config), '']
    lines += [
      '### Downstream: hybrid vs on-only (final legal rate; Holm over the rows)',
      '',
      "p is Student's pooled two-sample t (as the write-ups used); seeds pair, so the Δ CI and the "
      '"paired p" column come from the paired t.',
      '',
    ]
    if a['comparisons']:
      rows = [(c['label'], c['cmp']) for c in a['comparisons']]
      lines += [report.comparison_table(rows, holm=[c['holm_p'] for c in a['comparisons']]), '']
      for c in a['comparisons']:
        lines.append(
          '- '
          + report.verdict(
            c['label'], c['cmp'], holm_p=c['holm_p'], names=(setup_label(c['a']), setup_label(c['b']))
          )
        )
      lines.append('')
    lines += [
      '### The spike: three measurements of the same switch',
      '',
      'Per seed, ratio = value at the first on-policy step / value at the last off-policy step. Paired '
      't-tests of log10 ratios against the exact fresh-sample ratio (Holm over the rows). Until the first '
      'on-policy update every hybrid with the same SFT loss is the same run, so only the correct hybrid '
      "and the source's setup are shown.",
      '',
    ]
    lines += [_spike_table(a), '']
    lines += ['### Change points', '', _change_table(a, config), '']
    paths += _plots(a, arm, log, config, plot_dir)
  lines += ['## Audit', '', _audit_text(an, config), '']
  h = an['headline']
  lines += [
    '## Verdict',
    '',
    f'{h["verdict"][0].upper() + h["verdict"][1:]}. {h["result"][0].upper() + h["result"][1:]}.',
    '',
  ]
  lines += ['## Plots', ''] + [f'![{p.rsplit("/", 1)[1][:-4]}](plots/{p.rsplit("/", 1)[1]})' for p in paths]
  return '\n'.join(lines) + '\n'


def _main_table(a: dict, an: dict, config) -> str:
  header = [
    'setup',
    'KL before → after switch, as the source logged it',
    'logged ratio',
    'exact KL (fresh samples) before → after',
    'exact ratio',
    'final exact KL',
    'final legal rate',
    'final seq-rep-2',
    'change point',
  ]
  c = an['claim']
  rows = [
    [
      '**write-up (claim)**',
      f'{c["kl_before"]} → {c["kl_after"]}',
      f'{c["ratio_computed"]:.0f}× (reported {c["ratio_reported"]:.0f}×)',
      '–',
      '–',
      '–',
      f'hybrid {c["downstream_hybrid"]:.0%}, on-only {c["downstream_on_only"][0]:.1%}–'
      f'{c["downstream_on_only"][1]:.0%}',
      '–',
      '–',
    ]
  ]
  for key, s in a['setups'].items():
    if 'spikes' in s:
      sp = s['spikes']
      logged = f'{_mci(sp["source"]["pre"])} → {_mci(sp["source"]["post"])}'
      exact = f'{_mci(sp["fresh"]["pre"])} → {_mci(sp["fresh"]["post"])}'
      lr, er = _fmt_geo(sp['source']['geo']), _fmt_geo(sp['fresh']['geo'])
    else:
      logged = exact = lr = er = '–'
    ch = s['change']
    label = s['label'] + (' ← **the source**' if key == SOURCE_SETUP else '')
    div = f' ({s["diverged"]} diverged)' if s['diverged'] else ''
    rows.append(
      [
        label + div,
        logged,
        lr,
        exact,
        er,
        _mci(s['kl_exact']),
        _mci(s['legal']),
        _mci(s['rep']),
        f'{ch["n_with"]}/{ch["n"]}'
        + (f', median step {report.fmt(ch["median_step"])}' if ch['median_step'] is not None else ''),
      ]
    )
  return report.markdown_table(header, rows)


def _spike_table(a: dict) -> str:
  rows = []
  for key in a['spike_setups']:
    s = a['setups'][key]
    for m in MEASURES:
      sp = s['spikes'][m]
      vs = sp.get('vs_fresh')
      diff = '–'
      if vs is not None:
        m_, lo_, hi_ = report.fmt_same([vs['mean_diff']] + list(vs['mean_diff_ci95']))
        diff = f'{m_} [{lo_}, {hi_}]'
      nonpos = f' ({sp["n_nonpositive"]} non-positive, left out)' if sp['n_nonpositive'] else ''
      rows.append(
        [
          s['label'] if m == 'fresh' else '',
          MEASURE_LABELS[m],
          f'{_mci(sp["pre"])} → {_mci(sp["post"])}',
          _fmt_geo(sp['geo']) + nonpos,
          diff if m != 'fresh' else '(reference)',
          report.fmt_p(vs['paired']['p']) if vs else '–',
          report.fmt_p(sp.get('vs_fresh_holm_p')) if vs else '–',
        ]
      )
  return report.markdown_table(
    [
      'setup',
      'measurement',
      'before → after',
      'ratio after/before',
      'Δ log10 ratio vs exact [95% CI]',
      'paired p',
      'Holm p',
    ],
    rows,
  )


def _change_table(a: dict, config) -> str:
  rows = []
  sw = config.switch_step
  for s in a['setups'].values():
    ch = s['change']
    where = '–'
    if 'before_switch' in ch:
      where = (
        f'{ch["before_switch"]} before step {sw} / {ch["at_switch"]} in steps {sw}–{sw + AT_SWITCH - 1} / '
        f'{ch["later"]} later'
      )
    pre_sw = _mci(s['legal_at_switch']['pre']) if 'legal_at_switch' in s else '–'
    rows.append(
      [
        s['label'],
        _mci(s['legal_start']),
        pre_sw,
        _mci(s['legal']),
        f'{ch["n_with"]}/{ch["n"]}',
        report.fmt(ch['median_step']) if ch['median_step'] is not None else '–',
        where,
      ]
    )
  return report.markdown_table(
    [
      'setup',
      'legal rate at step 0',
      f'at step {sw - 1} (last off-policy)',
      'final',
      'runs with a change point',
      'median step',
      'where (hybrids)',
    ],
    rows,
  )


def _audit_text(an: dict, config) -> str:
  c = an['claim']
  sw = config.switch_step
  out = [
    f"The write-up's numbers give {c['kl_after']}/{c['kl_before']} = {c['ratio_computed']:.0f}×, not "
    f'{c["ratio_reported"]:.0f}×.',
    '',
  ]
  for arm, a in an['arms'].items():
    audit, st = a['audit'], a['setups']
    if not audit:
      continue
    by_a = {x['a']: x for x in a['comparisons']}
    out.append(f'Arm `{arm}` — {ARM_LABELS[arm]}:')
    for sft, keys in _sft_groups(audit).items():
      k0 = keys[0]
      s, v = st[k0], audit[k0]
      sp, ch = s['spikes'], s['change']
      name = 'correct (shifted) SFT' if sft == 'shifted' else 'the unshifted SFT bug'
      if v['collapses_at_switch']:
        what = (
          '**collapse at the switch** ('
          + (
            f'exact KL ×{report.fmt(v["fresh_ratio"])} in one step'
            if v['kl_jumps_fresh']
            else f'legal rate falls within {AT_SWITCH} steps after it'
          )
          + ')'
        )
      elif v['collapsed_before_switch']:
        what = (
          f'**collapsed during the off-policy phase** (change point in {ch["before_switch"]}/{ch["n"]} runs '
          f'before step {sw}, median step {report.fmt(ch["median_step"])}), so nothing is left to collapse '
          'at the switch'
        )
      elif v['collapse_phase'] == 'not_learned':
        what = (
          '**did not learn the task off-policy** (at the switch its legal rate is still within '
          f'{config.change_drop} of its start), so nothing is left to collapse at the switch'
        )
      else:
        what = f'**no collapse** ({ch["n_with"]}/{ch["n"]} runs with a change point)'
      finals = '; '.join(
        f'{setup_label(k)} {_mean(st[k])}'
        + (
          f' vs on-only {_mean(st[by_a[k]["b"]])}, Holm p {report.fmt_p(by_a[k]["holm_p"])}'
          if k in by_a
          else ''
        )
        for k in keys
      )
      out.append(
        f'- Hybrids with {name}: {what}. Legal rate {_mean(s, "legal_start")} at step 0 → '
        f'{report.fmt(s["legal_at_switch"]["pre"]["mean"])} at step {sw - 1}. Across the switch the exact '
        f'fresh-sample KL goes {_mci(sp["fresh"]["pre"])} → {_mci(sp["fresh"]["post"])} '
        f"(×{report.fmt(v['fresh_ratio'])}); the source's log reads {_mci(sp['source']['pre'])} → "
        f'{_mci(sp["source"]["post"])} (×{report.fmt(v["source_ratio"])}'
        + (f', a ≥{report.fmt(config.spike_threshold)}× "spike"' if v['reads_as_spike_in_source_log'] else '')
        + f'); the stale-sampler estimate ×{report.fmt(v["stale_ratio"])}. Final legal rate: {finals}.'
      )
    spiky = [k for k, v in audit.items() if v['reads_as_spike_in_source_log']]
    truly = [k for k, v in audit.items() if v['collapses_at_switch']]
    concl = (
      'So the claimed one-step spike comes from '
      + (
        ' and '.join(
          sorted(
            {'the unshifted-SFT' if k.split('/')[1] == 'unshifted' else 'the shifted-SFT' for k in spiky}
          )
        )
        + ' hybrids as the source logged them'
        if spiky
        else 'no setup'
      )
      + (
        '; it survives the exact fresh-sample measurement in ' + ', '.join(setup_label(k) for k in truly)
        if truly
        else '; measured exactly on fresh samples no setup jumps at the switch'
      )
      + '.'
    )
    src, unsh, cor = SOURCE_SETUP, 'hybrid/unshifted/sampled', 'hybrid/shifted/sampled'
    if src in by_a and unsh in st and cor in st:
      concl += (
        f" The downstream drop the write-up reports does appear in the source's own setup (final legal "
        f'rate {_mean(st[src])} vs on-only {_mean(st[by_a[src]["b"]])}); with a fresh sampler the same '
        f'unshifted hybrid ends at {_mean(st[unsh])}, and with correct SFT at {_mean(st[cor])}.'
      )
    if spiky:
      concl += (
        ' The logged ratio divides two different quantities: the copy-task SFT loss, which trains '
        "towards 0 while the student's generations degrade, by a KL estimate of that student; the stale "
        'sampler likewise still describes the student of step 0 until it is refreshed at the switch.'
      )
    out += [concl, '']
  return '\n'.join(out).rstrip()


def _plots(a: dict, arm: str, log, config, plot_dir: str) -> list[str]:
  del a
  paths = []
  grids = {}
  for g in setups(config):
    grids[setup_key(g, config.num_steps)] = {k: float(np.float32(v)) for k, v in g.items()}
  names = {SOURCE_SETUP: "the source's setup", CORRECT_SETUP: 'correct hybrid'}
  curves, steps_of = {}, {}
  for k in (SOURCE_SETUP, CORRECT_SETUP):
    if k not in grids:
      continue
    for metric, name in (('source_log', 'as the source logged it'), ('kl_exact', 'exact KL, fresh samples')):
      steps, vals = log.curves(arm, metric, grids[k])
      if len(steps):
        lab = f'{names[k]}: {name}'
        curves[lab], steps_of[lab] = np.where(vals > 0, vals, np.nan), steps
  if curves:
    paths.append(
      plots.curves_with_bands(
        f'{plot_dir}/{arm}_kl.png',
        steps_of,
        curves,
        f'{arm}: KL per token (on-policy from step {config.switch_step})',
        'step',
        'nats/token (log scale)',
        logy=True,
      )
    )
  curves, steps_of = {}, {}
  for k in ('on_only/exact', 'off_only/shifted', CORRECT_SETUP, 'hybrid/unshifted/exact', SOURCE_SETUP):
    if k in grids:
      steps, vals = log.curves(arm, 'legal', grids[k])
      if len(steps):
        curves[setup_label(k)], steps_of[setup_label(k)] = vals, steps
  if curves:
    paths.append(
      plots.curves_with_bands(
        f'{plot_dir}/{arm}_legal.png',
        steps_of,
        curves,
        f'{arm}: legal-transition rate of student samples',
        'step',
        'legal rate',
      )
    )
  return paths
