"""The pure JAX functions of the degeneration family (traced by the runner; no jit/vmap of runs here).

- Pretraining stage (``make_pretrain``): per seed, the generator (a WindowMLPLM whose window covers the
  whole joke) and the judge (a WindowMLPLM with a short window, ``judge_window``) trained by maximum
  likelihood on fresh template jokes (exp/tasks/jokes.py); output ``{'gen', 'judge'}``.
- Arms (``make_arm``): ``mle`` keeps training the generator by maximum likelihood (the control);
  ``blind`` / ``aware`` train it by REINFORCE against an order-blind / order-aware discriminator
  (models/discriminator.py) trained alongside on real vs generated jokes (SeqGAN without rollouts:
  one reward at the end of the sequence, an EMA baseline). The judge stays frozen.

Sampling is Gumbel-max through ``lm.window_sampler`` (a ``lax.scan``), noise from one flat draw; tokens
after the first EOS are replaced by PAD and masked out of every loss and metric.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from exp.metrics import degeneration as dm
from exp.tasks import jokes
from losses import rl, sequence
from models import discriminator as disc
from models import init as initlib
from models import lm

EVAL_STREAM = 0xE7A1  # fold_in(run_key, EVAL_STREAM): the evaluation draws, the same in every arm of a seed


class Dims(NamedTuple):
  V: int  # vocabulary
  T: int  # buffer length: BOS + generated tokens
  L: int  # generated tokens (T − 1)
  B: int  # batch of generated (and real) jokes per step


def rep_ns(config) -> tuple[int, ...]:
  v = config.rep_ns
  return (v,) if isinstance(v, int) else tuple(int(n) for n in v)


def dims(config) -> Dims:
  return Dims(V=jokes.vocab_size(), T=config.seq_len, L=config.seq_len - 1, B=config.batch)


def models_of(config):
  """The generator, judge and the two discriminators (Linen modules)."""
  V, L = jokes.vocab_size(), config.seq_len - 1
  gen = lm.WindowMLPLM(vocab=V, window=config.window, hidden=config.hidden, embed=config.embed)
  judge = lm.WindowMLPLM(vocab=V, window=config.judge_window, hidden=config.hidden, embed=config.embed)
  blind = disc.MeanEmbedDiscriminator(vocab=V, embed=config.disc_embed, hidden=config.disc_hidden)
  aware = disc.PositionalDiscriminator(vocab=V, embed=config.disc_embed, hidden=config.disc_hidden, max_len=L)
  return {'gen': gen, 'judge': judge, 'blind': blind, 'aware': aware}


def init_lm(model, key, T: int):
  """flax's default scales from one flat normal draw (per-leaf initializers cost seconds of compile)."""
  return initlib.fan_in_normal(jax.eval_shape(lambda: lm.init_params(model, jax.random.key(0), T)), key)


def init_disc(model, key, L: int):
  z = jnp.zeros((1, L), jnp.int32)
  return initlib.fan_in_normal(jax.eval_shape(lambda: model.init(jax.random.key(0), z, z)['params']), key)


def counted(gen: jax.Array) -> tuple[jax.Array, jax.Array]:
  """gen (B, L) -> (lengths (B,): tokens before the first EOS, mask (B, L): the tokens up to and
  including that EOS)."""
  lengths = dm.length_until(gen, jokes.EOS)
  mask = jnp.arange(gen.shape[1])[None, :] <= lengths[:, None]
  return lengths, mask


def generate(sampler, params, key, n: int, d: Dims, temperature) -> jax.Array:
  """(n, T) buffers [BOS, generated ...] with every token after the first EOS set to PAD."""
  noise = jax.random.gumbel(key, (n * d.L * d.V,)).reshape(n, d.L, d.V)
  buf, _, _ = sampler(params, jnp.full((n, 1), jokes.BOS, jnp.int32), noise, temperature)
  _, mask = counted(buf[:, 1:])
  return buf.at[:, 1:].set(jnp.where(mask, buf[:, 1:], jokes.PAD))


def mle_loss(apply_fn, params, buf):
  """Next-token cross-entropy over the tokens after BOS up to and including EOS (PAD never a target)."""
  return sequence.next_token_ce(apply_fn(params, buf), buf, buf != jokes.PAD)


def seq_logprob(apply_fn, params, buf):
  """(B,) log-probability of each buffer's generated tokens up to and including EOS."""
  lp = lm.token_logprobs(apply_fn, params, buf, 1)
  tok = jnp.take_along_axis(lp, buf[:, 1:, None], axis=-1)[..., 0]
  _, mask = counted(buf[:, 1:])
  return jnp.sum(tok * mask, axis=1), jnp.sum(mask, axis=1)


def sample_metrics(buf, config) -> dict:
  """Per-sequence degeneration metrics of buffers (B, T): seq-rep-n, rep/l, longest repeat and period,
  loop flag, length, whether EOS was emitted, whether it is a well-formed joke."""
  gen = buf[:, 1:]
  lengths, _ = counted(gen)
  lrs, period = dm.longest_repeat(gen, lengths)
  out = {f'rep{n}': dm.seq_rep_n(gen, lengths, n, jokes.vocab_size()) for n in rep_ns(config)}
  out.update(
    repl=dm.rep_l(gen, lengths, config.rep_window),
    lrs=lrs,
    period=period,
    loop=dm.loop_flag(gen, lengths, config.loop_max_period, config.loop_repeats, config.loop_min_span),
    length=lengths,
    ended=lengths < gen.shape[1],
    joke=jokes.is_joke(buf),
  )
  return out


# ---------------------------------------------------------------------------------------------------
# Pretraining: the MLE generator and the judge


def make_pretrain(config):
  d, ms = dims(config), models_of(config)
  gen_apply, judge_apply = lm.make_apply_fn(ms['gen']), lm.make_apply_fn(ms['judge'])
  sampler = lm.window_sampler(ms['gen'])
  tx = optax.adam(config.pretrain_lr)

  def init(key, hp):
    kg, kj, ke = jax.random.split(key, 3)
    params = {'gen': init_lm(ms['gen'], kg, d.T), 'judge': init_lm(ms['judge'], kj, d.T)}
    return dict(params=params, opt_state=tx.init(params), eval_key=jax.random.key_data(ke))

  def step(s, hp, key):
    buf = jokes.sample_jokes(key, config.pretrain_batch, d.T)

    def loss_fn(p):
      g, j = mle_loss(gen_apply, p['gen'], buf), mle_loss(judge_apply, p['judge'], buf)
      return g + j, (g, j)

    (_, (g, j)), grads = jax.value_and_grad(loss_fn, has_aux=True)(s['params'])
    updates, opt_state = tx.update(grads, s['opt_state'], s['params'])
    new = dict(s, params=optax.apply_updates(s['params'], updates), opt_state=opt_state)
    return new, {'gen_loss': g, 'judge_loss': j}

  def evaluate(s, hp):
    key = jax.random.wrap_key_data(s['eval_key'])
    real = jokes.sample_jokes(jax.random.fold_in(key, 0), config.eval_batch, d.T)
    buf = generate(sampler, s['params']['gen'], jax.random.fold_in(key, 1), config.eval_batch, d, 1.0)
    m = sample_metrics(buf, config)
    return {
      'gen_loss': mle_loss(gen_apply, s['params']['gen'], real),
      'judge_loss': mle_loss(judge_apply, s['params']['judge'], real),
      'joke_rate': jnp.mean(m['joke']),
      'loop_rate': jnp.mean(m['loop']),
    }

  return init, step, evaluate, lambda s: s['params']


# ---------------------------------------------------------------------------------------------------
# Arms: mle (control), blind and aware (REINFORCE against a discriminator)


def make_arm(config, arm: str):
  """``(init, step, evaluate)`` of arm ``mle``, ``blind`` or ``aware``; ``init(key, hp, base)`` starts
  from the seed's pretrained generator and judge, and (adversarial arms) a fresh discriminator."""
  d, ms = dims(config), models_of(config)
  gen_apply, judge_apply = lm.make_apply_fn(ms['gen']), lm.make_apply_fn(ms['judge'])
  sampler = lm.window_sampler(ms['gen'])
  tx_g, tx_d = optax.adam(config.gen_lr), optax.adam(config.disc_lr)
  dmodel = ms.get(arm) if arm in ('blind', 'aware') else None

  def init(key, hp, base):
    s = dict(
      gen=base['gen'],
      gen_opt=tx_g.init(base['gen']),
      judge=base['judge'],
      baseline=jnp.float32(0.0),
      eval_key=jax.random.key_data(jax.random.fold_in(key, EVAL_STREAM)),
    )
    if dmodel is not None:
      dp = init_disc(dmodel, jax.random.fold_in(key, 1), d.L)
      s.update(disc=dp, disc_opt=tx_d.init(dp))
    return s

  def step(s, hp, key):
    k_gen, k_real = jax.random.split(key)
    buf = generate(sampler, s['gen'], k_gen, d.B, d, 1.0)
    real = jokes.sample_jokes(k_real, d.B, d.T)
    m = sample_metrics(buf, config)
    top = f'rep{max(rep_ns(config))}'
    logs = {'loop_rate': jnp.mean(m['loop']), top: jnp.nanmean(m[top]), 'joke_rate': jnp.mean(m['joke'])}
    if dmodel is None:
      loss, grads = jax.value_and_grad(lambda p: mle_loss(gen_apply, p, real))(s['gen'])
      new = dict(s)
    else:
      new, loss, grads, adv_logs = adversarial_update(dmodel, gen_apply, tx_d, config, s, buf, real)
      logs.update(adv_logs)
    updates, gen_opt = tx_g.update(grads, s['gen_opt'], s['gen'])
    new.update(gen=optax.apply_updates(s['gen'], updates), gen_opt=gen_opt)
    return new, dict(logs, loss=loss)

  def evaluate(s, hp):
    return evaluate_gen(config, d, sampler, judge_apply, s)

  return init, step, evaluate


def disc_logits(dmodel, params, buf):
  tok = buf[:, 1:]
  _, mask = counted(tok)
  return dmodel.apply({'params': params}, tok, mask)


def adversarial_update(dmodel, gen_apply, tx_d, config, s, buf, real):
  """One discriminator step (logistic loss, real vs generated) and the generator's REINFORCE gradient
  with reward σ(D(x)) of the discriminator before its step, one reward per sequence, EMA baseline."""
  B = buf.shape[0]

  def d_loss(p):
    lr_, lf = disc_logits(dmodel, p, real), disc_logits(dmodel, p, buf)
    return jnp.mean(jax.nn.softplus(-lr_)) + jnp.mean(jax.nn.softplus(lf)), (lr_, lf)

  (dl, (lr_, lf)), dgrads = jax.value_and_grad(d_loss, has_aux=True)(s['disc'])
  reward = jax.nn.sigmoid(lf)

  def g_loss(p):
    lp, _ = seq_logprob(gen_apply, p, buf)
    return rl.reinforce(lp, reward, s['baseline']) / B

  loss, grads = jax.value_and_grad(g_loss)(s['gen'])
  dupd, disc_opt = tx_d.update(dgrads, s['disc_opt'], s['disc'])
  new = dict(
    s,
    disc=optax.apply_updates(s['disc'], dupd),
    disc_opt=disc_opt,
    baseline=rl.ema(s['baseline'], jnp.mean(reward), config.baseline_decay),
  )
  acc = 0.5 * (jnp.mean(lr_ > 0) + jnp.mean(lf < 0))
  return new, loss, grads, {'reward': jnp.mean(reward), 'disc_loss': dl, 'disc_acc': acc}


def evaluate_gen(config, d: Dims, sampler, judge_apply, s) -> dict:
  """Per-sequence metrics of ``eval_batch`` generated jokes (the same noise in every arm of a seed) and
  the judge's score: 10 × the fraction of ``eval_batch`` real jokes whose mean per-token log-likelihood
  under the judge is at most the sequence's (5 = a typical real joke)."""
  key = jax.random.wrap_key_data(s['eval_key'])
  n = config.eval_batch
  buf = generate(sampler, s['gen'], jax.random.fold_in(key, 1), n, d, 1.0)
  real = jokes.sample_jokes(jax.random.fold_in(key, 0), n, d.T)
  lp, cnt = seq_logprob(judge_apply, s['judge'], jnp.concatenate([buf, real]))
  ll = lp / jnp.maximum(cnt, 1)
  gen_ll, ref_ll = ll[:n], ll[n:]
  score = 10.0 * jnp.mean(ref_ll[None, :] <= gen_ll[:, None], axis=1)
  m = sample_metrics(buf, config)
  out = {k: v.astype(jnp.float32) for k, v in m.items()}
  out.update(judge=score, judge_ll=gen_ll, tokens=buf[:, 1:])
  means = {f'{k}_mean': jnp.nanmean(v) for k, v in out.items() if k not in ('tokens', 'period')}
  return dict(out, **means, real_judge_ll_mean=jnp.mean(ref_ll))
