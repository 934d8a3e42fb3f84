"""Report of the degeneration family: ``make_report(analysis, runs, log, config, plot_dir)`` writes the plots
and returns the markdown through ``report.render_report``: setup prose, tables (per arm, paired comparisons,
AUROC against the loop flag, the judge and dedup on looping samples, pretraining, sample outputs), the
findings (findings.py), "is ten enough?", notes and plots. No conclusion is written here: every one is a
check in findings.py. See docs/families/degeneration.md.
"""

from __future__ import annotations

import numpy as np

from exp.analysis import plots, report
from exp.families.degeneration.analysis import PAIRS, detectors, metric_names
from exp.tasks import jokes

TITLE = 'Adversarial joke generation and degenerate text'
ARM_WORDS = {
  'mle': 'mle (more maximum likelihood: the control)',
  'blind': 'blind (REINFORCE vs an order-blind discriminator)',
  'aware': 'aware (REINFORCE vs an order-aware discriminator)',
}
EXAMPLES = 4  # decoded samples per arm (seed 0) in the report


def metric_words(config) -> dict:
  out = {
    'loop': 'loop flag (share of samples)',
    'repl': f'rep/{config.rep_window}',
    'lrs': 'longest repeat (tokens)',
    'compression': 'deflate ratio / shuffled baselines',
    'dup_ratio': 'exact-duplicate ratio',
    'judge': 'judge score (0–10)',
    'joke': 'well-formed joke (share)',
    'length': 'length (tokens before EOS)',
  }
  for k in metric_names(config):
    if k.startswith('rep') and k[3:].isdigit():
      out[k] = f'seq-rep-{k[3:]}'
    if k.startswith('distinct'):
      out[k] = f'distinct-{k[8:]} (corpus)'
  return out


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  tables = [
    ('Per arm (mean ± 95% CI half-width over seeds)', _arm_table(an, config)),
    *[
      (f'Paired by seed: {a} − {b} (Holm over the metrics)', _pair_table(an, config, a, b)) for a, b in PAIRS
    ],
    ('AUROC against the loop flag (per seed, all arms of the seed pooled)', _auroc_table(an, config)),
    ('The judge and dedup on looping samples', _loop_table(an)),
    ('Pretraining (per seed)', _pretrain_table(an)),
    ('Samples (seed 0, evaluation draws)', _samples(runs, an)),
  ]
  text = report.render_report(
    TITLE, _setup(an, config), tables, an['findings'], _plots(an, log, plot_dir), _notes(config)
  )
  return text.rstrip('\n') + '\n'


def _setup(an: dict, config) -> str:
  arms = ', '.join(ARM_WORDS.get(a, a) for a in an['arms'])
  text = (
    f'{len(an["seeds"])} seeds × arms {arms}. Per seed a generator (window-MLP LM, window {config.window}) '
    f'and a judge (window-MLP LM, window {config.judge_window}: its likelihood measures local fluency) are '
    f'pretrained by maximum likelihood on template jokes ({config.pretrain_steps} steps); each arm then '
    f'takes {config.num_steps} generator steps (batch {config.batch}; REINFORCE with reward σ(D(x)) at the end '
    f'of the sequence and an EMA baseline, decay {config.baseline_decay}, for the adversarial arms). '
    f'Evaluation: {config.eval_batch} samples per run, the same noise in every arm of a seed. Loop flag: a '
    f'unit of period ≤ {config.loop_max_period} repeated {config.loop_repeats} times back to back over ≥ '
    f'{config.loop_min_span} tokens. Judge score: 10 × the share of {config.eval_batch} real jokes whose '
    "mean per-token log-likelihood under the judge is at most the sample's (5 ≈ a typical real joke)."
  )
  if an['n_diverged']:
    text += f'\n\n**{an["n_diverged"]} of {an["n_runs"]} runs diverged**; they are left out of every number.'
  return text


def _arm_table(an: dict, config) -> str:
  words = metric_words(config)
  rows = [
    [words.get(k, k)] + [report.fmt_mean_ci(an['describe'][a][k]) for a in an['arms']] for k in an['metrics']
  ]
  return report.markdown_table(['metric', *an['arms']], rows)


def _pair_table(an: dict, config, a: str, b: str) -> str:
  res = (an.get('comparisons') or {}).get(f'{a}-{b}')
  if not res:
    return ''
  words = metric_words(config)
  rows = []
  for k, c in res.items():
    if not c:
      rows.append([words.get(k, k)] + ['–'] * 6)
      continue
    lo, hi = c['mean_diff_ci95']
    rows.append(
      [
        words.get(k, k),
        report.fmt(c['mean_a']),
        report.fmt(c['mean_b']),
        f'{report.fmt(c["mean_diff"])} [{report.fmt(lo)}, {report.fmt(hi)}]',
        report.fmt(c['hedges_g']),
        report.fmt_p(c['paired']['p']),
        report.fmt_p(c.get('holm_p')),
      ]
    )
  return report.markdown_table(
    ['metric', a, b, 'difference [95% CI]', "Hedges' g", 'paired p', 'Holm p'], rows
  )


def _auroc_table(an: dict, config) -> str:
  det = an.get('detection') or {}
  rows = [
    [
      words,
      report.fmt_mean_ci(det['describe'].get(k)),
      report.fmt_count((det['describe'].get(k) or {}).get('n')),
    ]
    for k, words in detectors(config).items()
  ]
  return report.markdown_table(['score', 'AUROC', 'seeds with enough loops'], rows)


def _loop_table(an: dict) -> str:
  det = an.get('detection') or {}
  d = det.get('describe') or {}
  rows = [
    ['judge score of looping samples', report.fmt_mean_ci(d.get('judge_loops'))],
    ['judge score of non-looping samples', report.fmt_mean_ci(d.get('judge_clean'))],
    ['share of looping samples that are exact duplicates', report.fmt_mean_ci(d.get('dup_loops'))],
    ['looping samples per seed (all arms)', ', '.join(str(n) for n in det.get('n_loops', []))],
  ]
  return report.markdown_table(['quantity', 'mean ± 95% CI over seeds'], rows)


def _pretrain_table(an: dict) -> str:
  pre = an.get('pretrain') or {}
  rows = [[k, report.fmt_mean_ci(v)] for k, v in pre.items() if v]
  return report.markdown_table(['pretrained (eval)', 'mean ± 95% CI'], rows) if rows else ''


def _samples(runs: list, an: dict) -> str:
  lines = []
  for a in an['arms']:
    r = next((r for r in runs if r['arm'] == a and r['seed'] == an['seeds'][0] and r['status'] == 'ok'), None)
    if r is None:
      continue
    lines.append(f'**{a}**')
    lines.append('')
    for toks, loop in list(zip(r['metrics']['tokens'], r['metrics']['loop']))[:EXAMPLES]:
      lines.append(f'- `{jokes.decode(toks)}`' + (' (loop)' if loop else ''))
    lines.append('')
  return '\n'.join(lines)


def _notes(config) -> list[str]:
  return [
    'Comparisons pair the arms of one seed (they share the pretrained generator, the judge and the '
    "evaluation noise): paired t, Hedges' g on the pooled SD, Holm over the metrics of one pair; the "
    'Student, Welch and Mann–Whitney numbers are in results.json.',
    'AUROC: per seed, all samples of all its arms pooled, looping samples the positives; each score is '
    'oriented so that higher = flagged (the judge and the compression ratio are negated); a seed with '
    f'fewer than {config.min_loops} looping or non-looping samples has none.',
    f'Compression: raw deflate (zlib, wbits −15) of the tokens, over the mean of {config.n_baselines} '
    'random permutations of the same tokens (equal length, same counts).',
    'The loop flag is the label of the AUROCs, so it is not one of the scores.',
  ]


def _plots(an: dict, log, plot_dir: str) -> list[str]:
  paths = []
  for metric, title in (
    ('loop_rate', 'Looping training samples'),
    ('joke_rate', 'Well-formed training samples'),
  ):
    curves, steps = {}, {}
    for a in an['arms']:
      s, v = log.curves(a, metric)
      if len(s):
        curves[a], steps[a] = np.asarray(v, float), np.asarray(s, float)
    if curves:
      paths.append(
        plots.curves_with_bands(f'{plot_dir}/{metric}.png', steps, curves, title, 'generator step', 'share')
      )
  hw = {f['title']: f['seeds']['halfwidth_by_k'] for f in an['findings'] if f.get('seeds')}
  if hw:
    paths.append(
      plots.halfwidth_by_seeds(f'{plot_dir}/ten_enough.png', hw, 'Is ten enough? CI half-width vs seeds')
    )
  return paths
