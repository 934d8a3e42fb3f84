"""Analysis of the degeneration family (host side, numpy/scipy): per-run degeneration numbers, per-arm
summaries over seeds, paired comparisons of the arms (Holm over the metrics), AUROC of each score against
the loop flag, and the findings (findings.py). See docs/families/degeneration.md.

Per run (from its ``eval_batch`` generated jokes, stored in results.json): the means of the in-program
metrics (loop flag, seq-rep-n, rep/l, longest repeat, judge score, well-formed rate, length) and, on the
host, the deflate ratio relative to shuffled equal-length baselines, corpus distinct-n, the
exact-duplicate ratio, and the judge score / duplicate share among the looping samples.
Per seed, pooling the samples of all its arms: the AUROC of each score against the loop flag (loops are
the positives; for the judge the detecting direction is a LOW score, for compression a low ratio).
"""

from __future__ import annotations

import numpy as np

from exp.analysis import degeneration as H
from exp.analysis import findings as F
from exp.analysis import stats
from exp.core.workdir import json_safe

ARM_ORDER = ('mle', 'blind', 'aware')
# (a, b) pairs compared per metric, paired by seed; Holm runs over the metrics of one pair.
PAIRS = (('blind', 'mle'), ('aware', 'mle'), ('blind', 'aware'))


def rep_ns(config) -> tuple[int, ...]:
  v = config.rep_ns
  return (v,) if isinstance(v, int) else tuple(int(n) for n in v)


def metric_names(config) -> tuple[str, ...]:
  """Per-run metrics summarised and compared, in table order."""
  top = max(rep_ns(config))
  reps = tuple(f'rep{n}' for n in rep_ns(config))
  return (
    'loop',
    *reps,
    'repl',
    'lrs',
    'compression',
    f'distinct{top}',
    'dup_ratio',
    'judge',
    'joke',
    'length',
  )


def detectors(config) -> dict[str, str]:
  """AUROC scores (name -> words); each oriented so that a higher value means "flagged as a loop"."""
  reps = {f'rep{n}': f'seq-rep-{n}' for n in rep_ns(config)}
  return {
    **reps,
    'repl': f'rep/{config.rep_window}',
    'lrs': 'longest repeat',
    'compression': 'deflate vs shuffles (low = flagged)',
    'judge': 'judge score (low = flagged)',
    'dup': 'exact-duplicate flag',
  }


def run_numbers(m: dict, config, seed: int) -> tuple[dict, dict]:
  """(per-run scalars, per-sample scores for the AUROCs) of one run's metrics."""
  seqs = H.trim(m['tokens'], m['length'])
  loop = np.asarray(m['loop'], float) > 0.5
  judge = np.asarray(m['judge'], float)
  dup = H.duplicate_flags(seqs)
  comp = H.relative_compression(seqs, config.n_baselines, seed)
  top = max(rep_ns(config))
  nums = {k: float(np.nanmean(np.asarray(m[k], float))) for k in ('lrs', 'repl', 'length')}
  nums.update({f'rep{n}': float(np.nanmean(np.asarray(m[f'rep{n}'], float))) for n in rep_ns(config)})
  nums.update(
    loop=float(loop.mean()),
    joke=float(np.mean(m['joke'])),
    judge=float(judge.mean()),
    compression=float(np.nanmean(comp)),
    dup_ratio=H.exact_duplicate_ratio(seqs),
    n_loops=int(loop.sum()),
    n_samples=int(loop.size),
  )
  nums[f'distinct{top}'] = H.distinct_n(seqs, top)
  scores = {f'rep{n}': np.asarray(m[f'rep{n}'], float) for n in rep_ns(config)}
  scores.update(
    repl=np.asarray(m['repl'], float),
    lrs=np.asarray(m['lrs'], float),
    compression=-comp,
    judge=-judge,
    dup=dup.astype(float),
    loop=loop,
    judge_raw=judge,
  )
  return nums, scores


def analyze(runs: list[dict], config) -> dict:
  pre = [r for r in runs if r['arm'] == 'pretrain']
  runs = [r for r in runs if r['arm'] != 'pretrain']
  arms = [a for a in ARM_ORDER if any(r['arm'] == a for r in runs)]
  seeds = sorted({r['seed'] for r in runs})
  ok = [r for r in runs if r['status'] == 'ok']
  names = metric_names(config)
  values = {a: {k: np.full(len(seeds), np.nan) for k in names} for a in arms}
  pooled = {s: [] for s in seeds}
  for r in ok:
    nums, scores = run_numbers(r['metrics'], config, r['seed'])
    i = seeds.index(r['seed'])
    for k in names:
      values[r['arm']][k][i] = nums[k]
    pooled[r['seed']].append(scores)
  an = {
    'arms': arms,
    'seeds': seeds,
    'n_runs': len(runs),
    'n_diverged': sum(r['status'] == 'diverged' for r in runs),
    'metrics': list(names),
    'values': {a: {k: v.tolist() for k, v in values[a].items()} for a in arms},
    'describe': {a: {k: stats.describe(v) for k, v in values[a].items()} for a in arms},
    'comparisons': _comparisons(values, arms, names),
    'detection': _detection(pooled, seeds, config),
    'pretrain': _pretrain(pre),
  }
  an = json_safe(an)
  from exp.families.degeneration.findings import build_findings  # findings reads this module's helpers

  an['findings'] = build_findings(an, config)
  an['headline'] = F.headline_of(an['findings'][0])
  return an


def _comparisons(values: dict, arms: list, names: tuple) -> dict:
  """{'a-b': {metric: compare(a, b, paired) + 'holm_p'}} for each pair of PAIRS whose arms both ran; Holm
  over the metrics of the pair, on the paired t-test's p."""
  out = {}
  for a, b in PAIRS:
    if a not in arms or b not in arms:
      continue
    res = {}
    for k in names:
      va, vb = values[a][k], values[b][k]
      keep = np.isfinite(va) & np.isfinite(vb)
      res[k] = stats.compare(va, vb, paired=True) if keep.any() else None
    ps = [c['paired']['p'] if c else np.nan for c in res.values()]
    for c, p in zip(res.values(), stats.holm(ps)):
      if c:
        c['holm_p'] = p
    out[f'{a}-{b}'] = res
  return out


def _detection(pooled: dict, seeds: list, config) -> dict:
  """Per seed, pooling the samples of all its arms: the AUROC of every detector against the loop flag
  (NaN when the seed has fewer than ``min_loops`` looping or non-looping samples), the mean judge score
  of looping and of non-looping samples, and the share of looping samples that are exact duplicates."""
  dets = list(detectors(config))
  out = {k: [] for k in (*dets, 'judge_loops', 'judge_clean', 'dup_loops', 'n_loops', 'n_samples')}
  for s in seeds:
    cat = {
      k: np.concatenate([p[k] for p in pooled[s]]) if pooled[s] else np.zeros(0) for k in (*dets, 'loop')
    }
    judge = np.concatenate([p['judge_raw'] for p in pooled[s]]) if pooled[s] else np.zeros(0)
    loop = cat['loop'].astype(bool)
    enough = loop.sum() >= config.min_loops and (~loop).sum() >= config.min_loops
    for k in dets:
      out[k].append(H.auroc(cat[k], loop) if enough else np.nan)
    has = loop.sum() >= config.min_loops
    out['judge_loops'].append(float(judge[loop].mean()) if has else np.nan)
    out['judge_clean'].append(float(judge[~loop].mean()) if (~loop).any() else np.nan)
    out['dup_loops'].append(float(cat['dup'][loop].mean()) if has else np.nan)
    out['n_loops'].append(int(loop.sum()))
    out['n_samples'].append(int(loop.size))
  out['describe'] = {k: stats.describe(out[k]) for k in (*dets, 'judge_loops', 'judge_clean', 'dup_loops')}
  return out


def _pretrain(pre: list) -> dict:
  keys = ('gen_loss', 'judge_loss', 'joke_rate', 'loop_rate')
  vals = {k: [r['metrics'].get(k, np.nan) for r in pre if r['status'] == 'ok'] for k in keys}
  return {k: stats.describe(v) if v else None for k, v in vals.items()}
