"""Family A — memorization: supervised learning vs RL with end-of-episode vs per-step reward.

Claim (write-up): SL needs ~2 episodes for every N, RL with a binary end-of-episode reward needs
episodes ∝ N^0.89 (R² 0.967), RL with a per-step reward times out; SL advantage 9×/64×/299×.

Toy (SCIENCE.md A): per seed a fixed context x ~ N(0, I_d) and a target y* = ⌊u·N⌋, u ~ U(0, 1) (so every
N of a seed shares x, u and the initial parameters). MLP d→hidden→N_max with logits ≥ N masked, so N is a
vmapped grid axis. One episode = one forward pass, one output, one Adam update. A run is done at the start
of episode k when argmax π = y* and π(y*) ≥ converge_prob; episodes to converge = k = updates + 1.

Arms: ``sl`` (cross-entropy; its learning rate is a grid axis, a large and a small step), ``rl_eoe``
(REINFORCE, reward 1[a = y*], EMA baseline), ``rl_step`` (the write-up's shaped partial-credit reward
1 − |a − y*|/(N − 1), or −|a − y*|), ``rl_step_dense`` (the audit arm: y* emitted as ⌈log2 N⌉ binary
tokens, each rewarded for its own correctness).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from exp.analysis import plots, report, stats
from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment
from exp.core.workdir import finite_or_none
from losses.rl import ema, reinforce
from losses.supervised import cross_entropy
from models.mlp import MLP

ARMS = ('sl', 'rl_eoe', 'rl_step', 'rl_step_dense')
LABELS = {'sl': 'SL', 'rl_eoe': 'RL-EoE', 'rl_step': 'RL-Step', 'rl_step_dense': 'RL-Step-dense'}
SHAPED = ('linear', 'neg_abs')
# The write-up's published numbers, inputs to the audit (never used as results).
CLAIM = {
  'ns': (10, 100, 500),
  'sl': (2, 2, 2),
  'rl_eoe': (19, 129, 599),
  'exponent': 0.89,
  'r2': 0.967,
  'g_sl_vs_rl_eoe': -8.2,
}
MASK = -1e9  # logit of an impossible answer (finite, so p·log p stays 0 rather than NaN)


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  ns = tuple(config.ns)
  if not ns or any(isinstance(n, bool) or not isinstance(n, int) or n < 2 for n in ns):
    raise ConfigError('ns', f'must be a non-empty tuple of integers >= 2, got {ns}')
  if len(set(ns)) != len(ns):
    raise ConfigError('ns', f'has duplicates: {ns}')
  cfglib.require_positive_floats(config, 'sl_lrs')
  for key in ('rl_eoe_lr', 'rl_step_lr', 'rl_dense_lr'):
    cfglib.require_positive_floats(config, key)
  cfglib.require_int(config, 'context_dim', 1)
  cfglib.require_int(config, 'hidden', 1)
  if not 0.0 <= config.baseline_decay < 1.0:
    raise ConfigError('baseline_decay', f'must be in [0, 1), got {config.baseline_decay}')
  if not 0.0 < config.converge_prob <= 1.0:
    raise ConfigError('converge_prob', f'must be in (0, 1], got {config.converge_prob}')
  cfglib.require_choice(config, 'shaped_reward', SHAPED)


def num_bits(n_max: int) -> int:
  return max(1, math.ceil(math.log2(n_max)))


def build(config) -> Experiment:
  ns = tuple(config.ns)
  n_max, bits_max = max(ns), num_bits(max(ns))
  cat_model = MLP(hidden=(config.hidden,), out=n_max)
  bit_model = MLP(hidden=(config.hidden,), out=2 * bits_max)
  tx = optax.inject_hyperparams(optax.adam)(learning_rate=0.0)  # lr lives in the opt state
  decay, cp = config.baseline_decay, config.converge_prob

  # --- shared pieces -------------------------------------------------------------------------------
  def task(key, n):
    kx, ky, kp = jax.random.split(key, 3)
    x = jax.random.normal(kx, (config.context_dim,))
    y = jnp.minimum(jnp.floor(jax.random.uniform(ky) * n), n - 1).astype(jnp.int32)
    return x, y, kp

  def init_with(model):
    def init(key, hp):
      x, y, kp = task(key, hp['n'])
      params = model.init(kp, x)['params']
      opt_state = optax.inject_hyperparams(optax.adam)(learning_rate=hp['lr']).init(params)
      nb = bits_max if model is bit_model else 1
      return dict(
        params=params,
        opt_state=opt_state,
        x=x,
        y=y,
        t=jnp.int32(0),
        baseline=jnp.zeros((nb,), jnp.float32),
        first_success=jnp.int32(-1),
      )

    return init

  def apply_update(state, grads):
    updates, opt_state = tx.update(grads, state['opt_state'], state['params'])
    return dict(
      state, params=optax.apply_updates(state['params'], updates), opt_state=opt_state, t=state['t'] + 1
    )

  # --- categorical policy (sl, rl_eoe, rl_step) ----------------------------------------------------
  def cat_logits(params, x, n):
    logits = cat_model.apply({'params': params}, x)
    return jnp.where(jnp.arange(n_max) < n, logits, MASK)

  def cat_view(logits, y):
    logp = jax.nn.log_softmax(logits)
    p = jnp.exp(logp)
    return dict(p_target=p[y], entropy=-jnp.sum(p * logp), argmax=jnp.argmax(logits))

  def cat_done(state, hp):
    v = cat_view(cat_logits(state['params'], state['x'], hp['n']), state['y'])
    return (v['argmax'] == state['y']) & (v['p_target'] >= cp)

  def cat_eval(state, hp):
    v = cat_view(cat_logits(state['params'], state['x'], hp['n']), state['y'])
    return dict(
      p_target=v['p_target'],
      entropy=v['entropy'],
      abs_err=jnp.abs(v['argmax'] - state['y']).astype(jnp.float32),
      first_success=state['first_success'],
    )

  def sl_step(state, hp, key):
    del key

    def loss_fn(params):
      logits = cat_logits(params, state['x'], hp['n'])
      return cross_entropy(logits, state['y']), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params'])
    v = cat_view(logits, state['y'])
    return apply_update(state, grads), dict(p_target=v['p_target'], entropy=v['entropy'], loss=loss)

  def reward_fn(kind):
    def eoe(a, y, n):
      return (a == y).astype(jnp.float32)

    def shaped(a, y, n):
      err = jnp.abs(a - y).astype(jnp.float32)
      if config.shaped_reward == 'linear':
        return 1.0 - err / (n - 1).astype(jnp.float32)
      return -err

    return eoe if kind == 'eoe' else shaped

  def rl_step_fn(kind):
    reward = reward_fn(kind)

    def step(state, hp, key):
      def loss_fn(params):
        logits = cat_logits(params, state['x'], hp['n'])
        a = jax.random.categorical(key, jax.lax.stop_gradient(logits))
        r = reward(a, state['y'], hp['n'])
        logp = jax.nn.log_softmax(logits)
        return reinforce(logp[a], r, state['baseline'][0]), (logits, a, r)

      (_, (logits, a, r)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params'])
      v = cat_view(logits, state['y'])
      hit = a == state['y']
      new = apply_update(state, grads)
      new = dict(
        new,
        baseline=ema(state['baseline'], r, decay),
        first_success=jnp.where((state['first_success'] < 0) & hit, state['t'] + 1, state['first_success']),
      )
      return new, dict(p_target=v['p_target'], entropy=v['entropy'], reward=r)

    return step

  # --- binary-token policy (rl_step_dense) ---------------------------------------------------------
  powers = 2 ** jnp.arange(bits_max)

  def bit_view(params, x, y, n):
    logp = jax.nn.log_softmax(bit_model.apply({'params': params}, x).reshape(bits_max, 2))
    used = (powers < n).astype(jnp.float32)  # ⌈log2 N⌉ bits carry y*
    ybits = (y >> jnp.arange(bits_max)) & 1
    logp_y = jnp.take_along_axis(logp, ybits[:, None], axis=1)[:, 0]
    greedy = jnp.argmax(logp, axis=1)
    p = jnp.exp(logp)
    return dict(
      logp=logp,
      used=used,
      ybits=ybits,
      p_target=jnp.exp(jnp.sum(used * logp_y)),
      argmax=jnp.sum(used * greedy * powers).astype(jnp.int32),
      entropy=-jnp.sum(used * jnp.sum(p * logp, axis=1)),
    )

  def bit_done(state, hp):
    v = bit_view(state['params'], state['x'], state['y'], hp['n'])
    return (v['argmax'] == state['y']) & (v['p_target'] >= cp)

  def bit_eval(state, hp):
    v = bit_view(state['params'], state['x'], state['y'], hp['n'])
    return dict(
      p_target=v['p_target'],
      entropy=v['entropy'],
      abs_err=jnp.abs(v['argmax'] - state['y']).astype(jnp.float32),
      first_success=state['first_success'],
    )

  def dense_step(state, hp, key):
    def loss_fn(params):
      v = bit_view(params, state['x'], state['y'], hp['n'])
      a = jax.random.categorical(key, jax.lax.stop_gradient(v['logp']), axis=1)
      r = (a == v['ybits']).astype(jnp.float32)  # each token rewarded for its own correctness
      logp_a = jnp.take_along_axis(v['logp'], a[:, None], axis=1)[:, 0]
      return reinforce(logp_a, r, state['baseline'], mask=v['used']), (v, a, r)

    (_, (v, a, r)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state['params'])
    hit = jnp.all(jnp.where(v['used'] > 0, a == v['ybits'], True))
    new = apply_update(state, grads)
    new = dict(
      new,
      baseline=ema(state['baseline'], r, decay),
      first_success=jnp.where((state['first_success'] < 0) & hit, state['t'] + 1, state['first_success']),
    )
    reward = jnp.sum(v['used'] * r) / jnp.sum(v['used'])
    return new, dict(p_target=v['p_target'], entropy=v['entropy'], reward=reward)

  # --- arms ----------------------------------------------------------------------------------------
  def grid(lrs):
    n_col = np.array([n for n in ns for _ in lrs], np.int32)
    lr_col = np.array([lr for _ in ns for lr in lrs], np.float32)
    return {'n': n_col, 'lr': lr_col}

  specs = {
    'sl': (grid(tuple(config.sl_lrs)), init_with(cat_model), sl_step, cat_eval, cat_done),
    'rl_eoe': (grid((config.rl_eoe_lr,)), init_with(cat_model), rl_step_fn('eoe'), cat_eval, cat_done),
    'rl_step': (grid((config.rl_step_lr,)), init_with(cat_model), rl_step_fn('shaped'), cat_eval, cat_done),
    'rl_step_dense': (grid((config.rl_dense_lr,)), init_with(bit_model), dense_step, bit_eval, bit_done),
  }
  arms = tuple(
    Arm(
      name=a,
      grid=specs[a][0],
      init=specs[a][1],
      step=specs[a][2],
      evaluate=specs[a][3],
      done=specs[a][4],
      num_steps=config.num_steps,
    )
    for a in cfglib.arm_names(config)
  )
  return Experiment(name='memorization', arms=arms, analyze=analyze, report=make_report)


# ---------------------------------------------------------------------------------------------------
# Analysis (host, numpy/scipy)


def series_of(runs: list[dict], config) -> dict:
  """Groups runs into series: one per arm, and one per learning rate for SL.
  Returns {series: {'label', 'arm', 'lr', 'by_n': {n: {'episodes': [...], 'observed': [...],
  'seeds': [...], 'diverged': int}}}} where censored runs carry the budget as their time."""
  budget = config.num_steps
  out: dict = {}
  sl_lrs = sorted(set(float(r['grid']['lr']) for r in runs if r['arm'] == 'sl'), reverse=True)
  for r in runs:
    arm, lr, n = r['arm'], float(r['grid']['lr']), int(r['grid']['n'])
    if arm == 'sl':
      key = 'sl' if lr == sl_lrs[0] else f'sl@{lr:g}'
      label = f'SL (lr {lr:g})'
    else:
      key, label = arm, LABELS[arm]
    s = out.setdefault(key, {'label': label, 'arm': arm, 'lr': lr, 'by_n': {}})
    cell = s['by_n'].setdefault(n, {'episodes': [], 'observed': [], 'seeds': [], 'diverged': 0})
    if r['status'] == 'diverged':
      cell['diverged'] += 1
      continue
    steps = r['metrics'].get('steps_to_done')
    cell['episodes'].append(float(steps + 1) if steps is not None else float(budget + 1))
    cell['observed'].append(steps is not None)
    cell['seeds'].append(r['seed'])
  order = ['sl'] + [k for k in out if k.startswith('sl@')] + [a for a in ARMS if a != 'sl']
  return {k: out[k] for k in order if k in out}


def analyze(runs: list[dict], config) -> dict:
  ser = series_of(runs, config)
  ns = sorted(tuple(config.ns))
  budget = config.num_steps
  cells, fits = {}, {}
  for key, s in ser.items():
    cells[key] = {}
    xs, ys, gs = [], [], []
    for n in ns:
      c = s['by_n'].get(n)
      if c is None:
        continue
      ep, obs = np.array(c['episodes']), np.array(c['observed'], bool)
      summary = stats.censored_summary(ep, obs) if len(ep) else None
      conv = ep[obs]
      cells[key][str(n)] = {
        'n_runs': len(ep) + c['diverged'],
        'converged': int(obs.sum()),
        'diverged': c['diverged'],
        'median': finite_or_none(summary['median']) if summary else None,
        'median_ci95': [finite_or_none(v) for v in summary['median_ci95']] if summary else None,
        'describe': stats.describe(conv) if len(conv) else None,
        'describe_log10': stats.describe(np.log10(conv)) if len(conv) else None,
        'all_converged': bool(len(ep) and obs.all()),
        'episodes': ep.tolist(),
        'observed': obs.tolist(),
      }
      xs += [n] * int(obs.sum())
      ys += list(conv)
      gs += list(np.array(c['seeds'])[obs])
    fit, fit_medians = None, None
    if len(set(xs)) >= 2:
      fit = stats.power_law(np.array(xs, float), np.array(ys), groups=np.array(gs), seed=config.seed)
      med = [
        (n, cells[key][str(n)]['median'])
        for n in ns
        if str(n) in cells[key] and cells[key][str(n)]['median'] is not None
      ]
      if len(med) >= 2:
        fit_medians = stats.power_law(
          np.array([m[0] for m in med], float), np.array([m[1] for m in med], float), n_boot=0
        )
    fits[key] = {'per_seed': fit, 'medians': fit_medians}

  # SL vs each RL arm, per N: t-tests only where both groups fully converged (censored never enter).
  comparisons = []
  if 'sl' in ser:
    for other in [k for k in ('rl_eoe', 'rl_step', 'rl_step_dense') if k in ser]:
      for n in ns:
        a, b = ser['sl']['by_n'].get(n), ser[other]['by_n'].get(n)
        if not a or not b or not a['episodes'] or not b['episodes']:
          continue
        ea, eb = np.array(a['episodes']), np.array(b['episodes'])
        oa, ob = np.array(a['observed'], bool), np.array(b['observed'], bool)
        row = {
          'a': 'sl',
          'b': other,
          'n': n,
          'label': f'SL vs {LABELS[other]}, N={n}',
          'fisher': stats.fisher(int(oa.sum()), len(oa), int(ob.sum()), len(ob)),
          'logrank': stats.logrank(ea, oa, eb, ob),
        }
        if oa.all() and ob.all():
          row['raw'] = stats.compare(ea, eb, paired=_paired(a, b))
          row['log10'] = stats.compare(np.log10(ea), np.log10(eb), paired=_paired(a, b))
        else:  # censored times sit above every converged one, so a rank test stays valid
          row['mann_whitney_censored'] = stats.compare(ea, eb)['mann_whitney']
        comparisons.append(row)
  ps = [c['log10']['student']['p'] if 'log10' in c else c['logrank']['p'] for c in comparisons]
  for c, p in zip(comparisons, stats.holm(ps)):
    c['holm_p'] = p

  analysis = {
    'budget': budget,
    'ns': ns,
    'cells': cells,
    'fits': fits,
    'comparisons': comparisons,
    'labels': {k: s['label'] for k, s in ser.items()},
  }
  analysis['audit'] = _audit(analysis, ser)
  analysis['headline'] = _headline(analysis)
  return analysis


def _paired(a, b) -> bool:
  return a['seeds'] == b['seeds']


def _audit(an: dict, ser: dict) -> dict:
  """Numbers behind the audit paragraph, all computed here from the runs and the claim's inputs."""
  claim_fit = stats.power_law(np.array(CLAIM['ns'], float), np.array(CLAIM['rl_eoe'], float), n_boot=0)
  out = {'claim_means_fit': {'exponent': claim_fit['exponent'], 'r2': claim_fit['r2']}}
  # g = -8.2 at N=10 with SL SD≈0 implies a pooled SD of Δ/|g|/J and an RL SD of √2 times that.
  j = 1 - 3 / (4 * 18 - 1)
  pooled = (CLAIM['rl_eoe'][0] - CLAIM['sl'][0]) * j / abs(CLAIM['g_sl_vs_rl_eoe'])
  out['claim_implied_rl_sd_n10'] = pooled * math.sqrt(2)
  cells = an['cells'].get('rl_eoe', {})
  smallest = str(min(an['ns']))
  if smallest in cells and cells[smallest]['describe']:
    d = cells[smallest]['describe']
    out['observed_rl_eoe_n_small'] = {'n': int(smallest), 'mean': d['mean'], 'sd': d['sd']}
  # Does the dense per-token reward behave like SL or like RL-EoE? By scaling: compare exponent CIs.
  fits = {k: an['fits'].get(k, {}).get('per_seed') for k in ('sl', 'rl_eoe', 'rl_step_dense')}
  if fits['rl_eoe'] and fits['rl_step_dense']:
    d_lo, d_hi = fits['rl_step_dense']['exponent_ci95']
    r_lo, r_hi = fits['rl_eoe']['exponent_ci95']
    if d_hi < r_lo:
      scaling = 'sl'  # scales clearly slower than RL-EoE
    elif d_lo > 0 and d_hi >= r_lo:
      scaling = 'rl_eoe'  # grows with N, compatible with RL-EoE's exponent
    else:
      scaling = 'unclear'
    out['dense_scaling_like'] = scaling
    out['dense_exponent'] = fits['rl_step_dense']['exponent']
    out['dense_exponent_ci95'] = fits['rl_step_dense']['exponent_ci95']
    big = str(max(an['ns']))
    med = {k: an['cells'].get(k, {}).get(big, {}).get('median') for k in ('sl', 'rl_eoe', 'rl_step_dense')}
    out['largest_n'] = int(big)
    out['medians_at_largest_n'] = med
  return out


def _headline(an: dict) -> dict:
  rl, sl = (an['fits'].get(k, {}).get('per_seed') for k in ('rl_eoe', 'sl'))
  n_big = str(max(an['ns']))
  parts = []
  if sl:
    parts.append(f'SL exponent {report.fmt_ci(sl["exponent"], sl["exponent_ci95"])}')
  if rl:
    parts.append(
      f'RL-EoE exponent {report.fmt_ci(rl["exponent"], rl["exponent_ci95"])}, R² {report.fmt(rl["r2"])}'
    )
  step = an['cells'].get('rl_step', {})
  big_ns = [n for n in an['ns'] if n >= 100 and str(n) in step]
  if big_ns:
    conv = sum(step[str(n)]['converged'] for n in big_ns)
    tot = sum(step[str(n)]['n_runs'] for n in big_ns)
    parts.append(f'RL-Step converged {conv}/{tot} at N ≥ 100')
  effect = None
  cmp = next(
    (c for c in an['comparisons'] if c['b'] == 'rl_eoe' and str(c['n']) == n_big and 'log10' in c), None
  )
  if cmp:
    effect = {
      'name': f"Hedges' g, log10 episodes, SL − RL-EoE at N={n_big}",
      'value': cmp['log10']['hedges_g'],
      'ci95': cmp['log10']['hedges_g_ci95'],
    }
  reproduced = None
  if rl and sl:
    sl_flat = sl['exponent_ci95'][0] <= 0.1 and abs(sl['exponent']) < 0.15
    rl_scales = rl['exponent_ci95'][0] > 0.5
    reproduced = bool(sl_flat and rl_scales)
  verdict = (
    'SL is flat in N while RL-EoE scales with N, as claimed'
    if reproduced
    else 'The claimed pattern (SL flat, RL-EoE ∝ N^~0.9) is not fully reproduced; see the table'
    if reproduced is False
    else 'not enough arms to judge'
  )
  return {
    'finding': 'Memorization: SL vs RL (end-of-episode / per-step reward)',
    'claim': 'SL 2 episodes at every N; RL-EoE ∝ N^0.89; RL-Step times out',
    'result': '; '.join(parts),
    'effect': effect,
    'verdict': verdict,
    'reproduced': reproduced,
  }


# ---------------------------------------------------------------------------------------------------
# Report


def _cell_text(c: dict | None, budget: int) -> str:
  if c is None:
    return '–'
  conv = f'{c["converged"]}/{c["n_runs"]}'
  if c['median'] is None:
    return f'> {budget} ({conv})'
  d = c['describe']
  mean = (
    f', {report.fmt(d["mean"])} ± {report.fmt(d["ci95"][1] - d["mean"])}'
    if d and c['all_converged'] and d['n'] > 1
    else ''
  )
  return f'{report.fmt(c["median"])}{mean} ({conv})'


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs
  budget, ns, labels = an['budget'], an['ns'], an['labels']
  keys = list(an['cells'])
  lines = [
    '# Memorization: supervised vs RL (end-of-episode / per-step reward)',
    '',
    f'{config.num_seeds} seeds per cell; episodes to converge (argmax = y* and π(y*) ≥ '
    f'{config.converge_prob}); budget {budget} episodes (censored beyond). Cells: median, '
    'mean ± 95% CI half-width when every seed converged, (converged/runs).',
    '',
  ]
  header = ['N'] + [labels[k] for k in keys] + ['SL advantage (RL-EoE / SL medians)']
  rows = []
  for n in ns:
    row = [str(n)] + [_cell_text(an['cells'][k].get(str(n)), budget) for k in keys]
    sl = an['cells'].get('sl', {}).get(str(n), {}).get('median')
    rl = an['cells'].get('rl_eoe', {}).get(str(n), {}).get('median')
    row.append(f'{report.fmt(rl / sl)}×' if sl and rl else '–')
    rows.append(row)
  lines += [report.markdown_table(header, rows), '']

  lines += ['## Scaling: episodes ∝ N^b', '']
  frows = []
  for k in keys:
    f = an['fits'][k]['per_seed']
    fm = an['fits'][k]['medians']
    if f is None:
      frows.append([labels[k], '–', '–', '–', '–', '–'])
      continue
    frows.append(
      [
        labels[k],
        report.fmt_ci(f['exponent'], f['exponent_ci95']),
        report.fmt(f['r2']),
        report.fmt(f['p_exponent_eq_0']),
        report.fmt(f['p_exponent_eq_1']),
        f'{report.fmt(fm["exponent"])} (R² {report.fmt(fm["r2"])})' if fm else '–',
      ]
    )
  lines += [
    report.markdown_table(
      [
        'series',
        'b over converged seeds [95% bootstrap CI]',
        'R²',
        'p (b = 0)',
        'p (b = 1)',
        'b over medians',
      ],
      frows,
    ),
    '',
  ]

  lines += ['## SL vs RL', '']
  full = [(c['label'] + ' (log10 episodes)', c['log10']) for c in an['comparisons'] if 'log10' in c]
  raw = [(c['label'] + ' (raw episodes)', c['raw']) for c in an['comparisons'] if 'raw' in c]
  if full:
    lines += [
      'Where every seed of both groups converged: t-tests on log10 and raw episodes '
      '(Holm across the log10 rows).',
      '',
      report.comparison_table(full),
      '',
      report.comparison_table(raw, holm=False),
      '',
    ]
    for label, c in full:
      lines.append('- ' + report.verdict(label, c))
    lines.append('')
  cens = [c for c in an['comparisons'] if 'log10' not in c]
  if cens:
    lines += [
      'Where some runs were censored (no t-test): converged counts (Fisher exact), log-rank, '
      'Mann–Whitney with censored runs ranked last.',
      '',
    ]
    crow = [
      [
        c['label'],
        f'{an["cells"][c["a"]][str(c["n"])]["converged"]}/{an["cells"][c["a"]][str(c["n"])]["n_runs"]}',
        f'{an["cells"][c["b"]][str(c["n"])]["converged"]}/{an["cells"][c["b"]][str(c["n"])]["n_runs"]}',
        report.fmt(c['fisher']['p']),
        report.fmt(c['logrank']['p']),
        report.fmt(c['mann_whitney_censored']['p']),
        report.fmt(c['holm_p']),
      ]
      for c in cens
    ]
    lines += [
      report.markdown_table(
        [
          'comparison',
          'converged A',
          'converged B',
          'Fisher p',
          'log-rank p',
          'Mann–Whitney p',
          'Holm p (log-rank)',
        ],
        crow,
      ),
      '',
    ]

  lines += ['## Audit', '', _audit_text(an, config), '']
  lines += ['## Verdict', '', f'{an["headline"]["verdict"]}: {an["headline"]["result"]}.', '']

  # Plots
  series = {labels[k]: _scatter(an, k) for k in keys}
  paths = [
    plots.loglog_fit(
      f'{plot_dir}/episodes_vs_n.png',
      series,
      'Episodes to converge vs N',
      'N (answer-space size)',
      'episodes to converge',
    )
  ]
  mid = ns[len(ns) // 2]
  curves = {}
  for k in keys:
    arm = 'sl' if k.startswith('sl') else k
    where = {'n': mid}
    if arm == 'sl':
      where['lr'] = float(np.float32(k.split('@')[1])) if '@' in k else _sl_large_lr(config)
    steps, vals = log.curves(arm, 'p_target', where)
    if len(steps):
      curves[labels[k]] = (steps, vals)
  if curves:
    max_steps = max(s[-1] for s, _ in curves.values())
    steps = np.arange(0, max_steps + 1, config.log_every)
    aligned = {lab: _align(s, v, steps) for lab, (s, v) in curves.items()}
    paths.append(
      plots.curves_with_bands(
        f'{plot_dir}/p_target_n{mid}.png',
        steps,
        aligned,
        f'π(y*) over episodes, N={mid} (mean, 95% band over seeds)',
        'episode',
        'π(y*)',
        logx=True,
      )
    )
  if full:
    paths.append(
      plots.forest_plot(
        f'{plot_dir}/effect_sizes.png',
        [(label.replace(' (log10 episodes)', ''), c['hedges_g'], c['hedges_g_ci95']) for label, c in full],
        "Hedges' g on log10 episodes (SL − other), 95% CI",
      )
    )
  lines += ['## Plots', ''] + [f'![{p.rsplit("/", 1)[1]}](plots/{p.rsplit("/", 1)[1]})' for p in paths]
  return '\n'.join(lines) + '\n'


def _sl_large_lr(config) -> float:
  return float(np.float32(max(config.sl_lrs)))


def _align(steps, vals, grid):
  """Forward-fills (seeds, P) values onto a common step grid (frozen runs keep their last value)."""
  idx = np.searchsorted(steps, grid, side='right') - 1
  out = vals[:, np.clip(idx, 0, None)]
  out[:, idx < 0] = np.nan
  return out


def _scatter(an: dict, key: str) -> dict:
  """Per-seed (N, episodes) points of one series; censored runs drawn at the budget."""
  xs, ys, cx = [], [], []
  for n, cell in an['cells'][key].items():
    for e, o in zip(cell['episodes'], cell['observed']):
      (xs if o else cx).append(int(n))
      if o:
        ys.append(e)
  return {
    'x': np.array(xs),
    'y': np.array(ys),
    'fit': an['fits'][key]['per_seed'],
    'censored_x': np.array(cx),
    'censored_y': an['budget'],
  }


def _audit_text(an: dict, config) -> str:
  a = an['audit']
  out = []
  cf = a['claim_means_fit']
  out.append(
    f"The write-up's three RL-EoE means (19, 129, 599 at N = 10, 100, 500) give exponent "
    f'{report.fmt(cf["exponent"])} with R² {report.fmt(cf["r2"])}, not R² {CLAIM["r2"]}: the '
    'published R² must come from per-seed points.'
  )
  if 'observed_rl_eoe_n_small' in a:
    o = a['observed_rl_eoe_n_small']
    out.append(
      f'Its g = {CLAIM["g_sl_vs_rl_eoe"]} at N = 10 implies an RL-EoE SD of about '
      f'{report.fmt(a["claim_implied_rl_sd_n10"])} episodes; here RL-EoE at N = {o["n"]} has mean '
      f'{report.fmt(o["mean"])} and SD {report.fmt(o["sd"])} (a geometric-like search has SD ≈ mean), '
      'so g on raw episodes is inflated by an implausibly small SD; the log scale is the '
      'meaningful one.'
    )
  if 'dense_scaling_like' in a:
    lo, hi = a['dense_exponent_ci95']
    med = a['medians_at_largest_n']
    who = {
      'sl': "like SL (flat: its exponent CI lies below RL-EoE's)",
      'rl_eoe': "like RL-EoE (its episodes grow with N, exponent CI overlapping RL-EoE's)",
      'unclear': 'neither clearly like SL nor like RL-EoE',
    }[a['dense_scaling_like']]
    level = ''
    if all(v is not None for v in med.values()):
      level = (
        f' At N = {a["largest_n"]} its median is {report.fmt(med["rl_step_dense"])} episodes against '
        f"SL's {report.fmt(med['sl'])} and RL-EoE's {report.fmt(med['rl_eoe'])}."
      )
    out.append(
      f'The dense per-token reward (⌈log2 N⌉ binary tokens, each rewarded for its correctness) '
      f'scales {who}: exponent {report.fmt_ci(a["dense_exponent"], (lo, hi))}.'
      f"{level} The write-up's 'RL-Step' used a shaped partial-credit reward instead, which "
      + ('also failed here (mostly censored at N ≥ 100)' if _step_mostly_censored(an) else 'converged here')
      + ': the per-step failure comes from the reward shaping, '
      'not from per-step feedback as such.'
      if _step_mostly_censored(an) and a['dense_scaling_like'] == 'sl'
      else f'The dense per-token reward (⌈log2 N⌉ binary tokens) scales {who}: exponent '
      f'{report.fmt_ci(a["dense_exponent"], (lo, hi))}.{level}'
    )
  return ' '.join(out)


def _step_mostly_censored(an) -> bool:
  step = an['cells'].get('rl_step', {})
  big = [step[str(n)] for n in an['ns'] if n >= 100 and str(n) in step]
  return bool(big) and sum(c['converged'] for c in big) < 0.5 * sum(c['n_runs'] for c in big)
