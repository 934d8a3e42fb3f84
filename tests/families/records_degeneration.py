"""Synthetic run records of the degeneration family (shaped like results.json 'runs'; no training).

Each run holds ``n`` samples: clean ones (distinct words, an EOS) and looping ones (a short prefix, then a
unit of two tokens repeated to the end; distinct prefixes unless ``same_loop``; clean ones all alike with ``same_clean``). Per-sample metrics are
computed from the tokens (seq-rep-n, rep/l, longest repeat exactly as the plain-Python references), except
where a knob overrides them: ``rep_signal=False`` replaces seq-rep-n by noise, and the judge score is drawn
around ``judge_loop`` / ``judge_clean``.
"""

import numpy as np

L = 15  # generated tokens
WORDS = range(3, 52)


def _rep_n(seq, n):
  grams = [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]
  return 1 - len(set(grams)) / len(grams) if grams else float('nan')


def _lrs(seq):
  best, period = 0, 0
  for d in range(1, len(seq)):
    run = cur = 0
    for i in range(len(seq) - d):
      cur = cur + 1 if seq[i] == seq[i + d] else 0
      run = max(run, cur)
    if run > best:
      best, period = run, d
  return best, period


def _repl(seq, l=4):
  return float(np.mean([seq[t] in seq[max(0, t - l) : t] for t in range(len(seq))])) if seq else float('nan')


def run(
  arm,
  seed,
  loop_share,
  *,
  n=24,
  same_loop=False,
  same_clean=False,
  judge_loop=7.0,
  judge_clean=5.0,
  rep_signal=True,
  rng,
):
  n_loop = int(round(np.clip(loop_share, 0, 1) * n))
  toks, lengths, loops = [], [], []
  fixed_loop = [3, 4, 5] + [6, 7] * 6
  for i in range(n):
    if i < n_loop:
      seq = fixed_loop if same_loop else [int(x) for x in rng.choice(WORDS, 3, replace=False)] + [6, 7] * 6
      seq = seq[:L]
      lengths.append(L)
      buf = seq
    else:
      k = 10 if same_clean else int(rng.integers(9, 13))
      seq = list(range(10, 20)) if same_clean else [int(x) for x in rng.choice(WORDS, k, replace=False)]
      lengths.append(k)
      buf = seq + [2] + [0] * (L - k - 1)
    toks.append(buf)
    loops.append(i < n_loop)
  seqs = [t[:m] for t, m in zip(toks, lengths)]
  lrs = [_lrs(s) for s in seqs]
  m = {f'rep{k}': [_rep_n(s, k) if rep_signal else float(rng.random()) for s in seqs] for k in (2, 3, 4)}
  judge = [float(np.clip((judge_loop if lp else judge_clean) + rng.normal(0, 0.5), 0, 10)) for lp in loops]
  m.update(
    tokens=toks,
    length=lengths,
    loop=[float(x) for x in loops],
    repl=[_repl(s) for s in seqs],
    lrs=[float(a) for a, _ in lrs],
    period=[float(b) for _, b in lrs],
    judge=judge,
    judge_ll=[j / 10 - 1 for j in judge],
    joke=[0.0 if lp else 1.0 for lp in loops],
    ended=[0.0 if lp else 1.0 for lp in loops],
  )
  return {'arm': arm, 'seed': seed, 'grid': {}, 'status': 'ok', 'metrics': m}


def runs(shares, seeds=4, noise=0.05, pretrain=True, **knobs):
  """One run per arm × seed; ``shares`` {arm: mean loop share}; per-arm knobs as {arm: {...}} under
  ``per_arm``, the rest apply to every arm."""
  rng = np.random.default_rng(0)
  per_arm = knobs.pop('per_arm', {})
  out = []
  for s in range(seeds):
    if pretrain:
      out.append(
        {
          'arm': 'pretrain',
          'seed': s,
          'grid': {},
          'status': 'ok',
          'metrics': {'gen_loss': 0.6, 'judge_loss': 1.1, 'joke_rate': 0.97, 'loop_rate': 0.0},
        }
      )
    for arm, share in shares.items():
      kw = {**knobs, **per_arm.get(arm, {})}
      out.append(run(arm, s, share + noise * rng.standard_normal() * (share > 0), rng=rng, **kw))
  return out
