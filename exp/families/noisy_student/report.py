"""The Noisy Student report (``exp.analysis.report.render_report``): the setup, the write-up's table side
by side with ours, all metrics, the noisy-vs-clean and ablation comparisons (with power), the findings
(``findings.py``), "is ten enough?" and the plots. No conclusion is written here: every one is a check."""

from __future__ import annotations

import numpy as np

from exp.analysis import plots, report, stats
from exp.core import validate as cfglib
from exp.families.noisy_student.common import CONDITION_IDS, LOSSES, METRIC_LABELS, METRICS, REGIMES, find
from exp.families.noisy_student.common import metric_key as _key
from exp.families.noisy_student.formatting import ci, est, mean_half, ms

POWER_HEADER = ('power at g (two-sample)', 'seeds/group for 80% power')


def _power_cells(g, n_a, n_b) -> list[str]:
  """Power of the two-sample t test at the observed Hedges' g, and the seeds per group 80% power needs."""
  if g is None or not np.isfinite(g) or not n_a or not n_b:
    return [report.MISSING, report.MISSING]
  return [report.fmt(stats.power_t(abs(g), int(n_a), int(n_b))), report.fmt_count(stats.seeds_for_power(g))]


def _with_power(table: str, compares: list[dict]) -> str:
  """A comparison_table with the power columns appended to its header and each of its rows."""
  lines = table.split('\n')
  lines[0] += ' ' + ' | '.join(POWER_HEADER) + ' |'
  lines[1] += '---:|---:|'
  for i, c in enumerate(compares):
    cells = _power_cells(c.get('hedges_g'), c.get('n_a'), c.get('n_b'))
    lines[2 + i] += ' ' + ' | '.join(cells) + ' |'
  return '\n'.join(lines)


def _setup(an: dict, config) -> str:
  E, F = an['regimes']['early'], an['regimes']['final']
  t = an['teacher']
  return (
    f'{config.num_seeds} seeds. Per seed: a fixed stochastic "spec → code" program ({config.prompt_len}-token '
    f'prompt over {config.n_symbols} symbols, {config.response_len}-token response, each response token a '
    f'table of two prompt positions, {config.program_noise:g} token noise); a teacher window-MLP LM '
    f'(hidden {config.teacher_hidden}) trained on fresh samples for {config.pretrain_steps} steps'
    + (f' (held-out exact match {report.fmt(t["exact"]["mean"])})' if t.get('exact') else '')
    + f'; its greedy pseudo-labels on {config.n_train} training and {config.n_heldout} held-out prompts'
    + (
      f' ({report.fmt(t["heldout_unseen"]["mean"])} of them not in the training set on average)'
      if t.get('heldout_unseen')
      else ''
    )
    + f'. A smaller student (hidden {config.hidden}) is distilled on the {config.n_train} pseudo-labelled '
    f'prompts with Adam (lr {config.lr:g}, batch {config.batch_size}); every condition of a seed shares '
    f'data, labels, initial student, minibatch order and deletion draws. Noise (training only): delete '
    f'each prompt token with p = {config.delete_p:g} (delete and shift) and dropout {config.dropout:g}. '
    f"Students are evaluated after {E} updates (the claim's regime) and {F} updates (over-fitting).\n\n"
    "Metrics: **training loss on noised inputs** = each student's loss on its own training inputs with its "
    f'own noise ({config.noise_draws} noise draws over all training prompts; what the claim reports, equal '
    'to the clean training loss for the clean student); **training loss, clean inputs**; **held-out loss** = '
    "clean inputs, unseen prompts, against the teacher's labels; exact match / token accuracy of the "
    "student's greedy output against the noise-free program (unseen prompts)."
  )


def _writeup_table(an: dict) -> str:
  regs, labels, cl = an['regimes'], an['labels'], an['claim']
  rows = [
    [
      'write-up',
      g,
      cl['reported'][g]['n'],
      ms(cl['reported'][g]),
      ci(cl['reported'][g]['ci95']),
      ci(cl['ci95'][g]),
    ]
    for g in ('noisy', 'clean')
  ]
  for reg in REGIMES:
    for c in ('noisy', 'clean'):
      if c in an['cells']:
        d = an['cells'][c][reg].get('train_loss_noised')
        rows.append(
          [
            f'ours, {regs[reg]} steps',
            labels[c],
            d['n'] if d else '–',
            ms(d),
            ci(d['ci95'] if d else None),
            '–',
          ]
        )
  header = [
    'source',
    'group',
    'n',
    'training loss (mean ± SD)',
    '95% CI (published / ours)',
    '95% CI recomputed from mean, SD, n',
  ]
  return (
    "Training loss on noised inputs (the write-up's metric), mean ± SD over seeds and the per-group 95% "
    f'CI (t, n − 1 df): the write-up as published, ours after {regs["early"]} updates (its regime) and '
    f'after {regs["final"]} updates.\n\n' + report.markdown_table(header, rows)
  )


def _stats_row(label: str, c: dict, v: dict | None) -> list:
  return [
    label,
    f'{report.fmt(c["student"]["t"])} ({report.fmt_count(c["student"]["df"])})',
    report.fmt_p(c['student']['p']),
    est(c['hedges_g'], c['hedges_g_ci95']),
    *_power_cells(c['hedges_g'], c.get('n_a'), c.get('n_b')),
    report.fmt(v['sd_ratio']) if v else '–',
    report.fmt(v['var_ratio']) if v else '–',
    report.fmt_p(v['f']['p']) if v else '–',
    report.fmt_p(v['levene'].get('p')) if v else '–',
    report.fmt_p(v['brown_forsythe'].get('p')) if v else '–',
  ]


def _stats_table(an: dict) -> str:
  regs, cl = an['regimes'], an['claim']
  rep = cl['reported']
  srows = [
    ['write-up, as published', report.fmt(rep['t']), report.fmt_p(rep['p']), report.fmt(rep['g'])]
    + ['–', '–', f'"{rep["variance_factor"]:g}×"']
    + ['–'] * 4,
    _stats_row(
      'write-up, recomputed from its summary',
      cl['recomputed'],
      {
        'sd_ratio': cl['sd_ratio'],
        'var_ratio': cl['var_ratio'],
        'f': cl['f_test'],
        'levene': {},
        'brown_forsythe': {},
      },
    ),
  ]
  for reg in REGIMES:
    for m in ('train_loss_noised', 'heldout_loss'):
      row = find(an['comparisons'], m, reg)
      if row is not None:
        v = an['variance'].get(reg, {}).get(m)
        srows.append(_stats_row(f'ours, {regs[reg]} steps: {METRIC_LABELS[m]}', row['compare'], v))
  header = ['', 'Student t (df)', 'p', "Hedges' g [95% CI]", *POWER_HEADER]
  header += ['SD ratio', 'variance ratio', 'F-test p', 'Levene p', 'Brown–Forsythe p']
  return (
    "Noisy − clean, the write-up's statistics (Student pooled t, Hedges' g) beside ours, with the power of "
    'the two-sample t test at that g; variance tests for the "2× higher variance" claim (SD and variance '
    'ratio noisy/clean, two-sided F test, Levene, Brown–Forsythe).\n\n' + report.markdown_table(header, srows)
  )


def _all_metrics(an: dict) -> str:
  regs, labels, conds = an['regimes'], an['labels'], an['conditions']
  diverged = [f'{labels[c]} {an["cells"][c]["diverged"]}' for c in conds if an['cells'][c]['diverged']]
  header = ['metric', 'steps'] + [labels[c] for c in conds]
  rows = [
    [METRIC_LABELS[m], regs[reg]] + [mean_half(an['cells'][c][reg].get(m)) for c in conds]
    for m in METRICS
    for reg in REGIMES
  ]
  caption = 'Mean ± 95% CI half-width over seeds' + (
    f' (diverged runs: {", ".join(diverged)})' if diverged else ''
  )
  return caption + '.\n\n' + report.markdown_table(header, rows)


def _comparisons(an: dict, rows: list[dict], what: str) -> str:
  regs, labels = an['regimes'], an['labels']
  if not rows:
    return ''
  table = report.comparison_table(
    [
      (f'{labels[r["a"]]} vs clean, {METRIC_LABELS[r["metric"]]}, {regs[r["regime"]]} steps', r['compare'])
      for r in rows
    ],
    holm=[r['holm_p'] for r in rows],
  )
  return (
    f'{what}, paired by seed (same data, labels, initial student and minibatch order); Holm over the rows '
    'of this table; power of the two-sample t test at the observed g.\n\n'
    + _with_power(table, [r['compare'] for r in rows])
  )


def _forest_and_strip(an: dict, plot_dir: str) -> list[str]:
  regs, E = an['regimes'], an['regimes']['early']
  rec = an['claim']['recomputed']
  paths = []
  forest = [('write-up (recomputed): training loss', rec['hedges_g'], rec['hedges_g_ci95'])]
  for reg in REGIMES:
    for m in LOSSES if reg == 'early' else ('heldout_loss',):
      row = find(an['comparisons'], m, reg)
      if row:
        label = f'{regs[reg]} steps: {METRIC_LABELS[m].replace(" (the claim)", "")}'
        forest.append((label, row['compare']['hedges_g'], row['compare']['hedges_g_ci95']))
  paths.append(plots.forest_plot(f'{plot_dir}/effect_sizes.png', forest, "Noisy − clean: Hedges' g (95% CI)"))
  groups = {}
  for m, short in (('train_loss_noised', 'train, noised'), ('heldout_loss', 'held-out, clean')):
    for c in ('clean', 'noisy'):
      if c in an['per_seed'] and _key(m, 'early') in an['per_seed'][c]:
        groups[f'{c}\n{short}'] = np.array(
          [np.nan if v is None else v for v in an['per_seed'][c][_key(m, 'early')]]
        )
  if groups:
    paths.append(
      plots.strip_plot(
        f'{plot_dir}/losses_{E}_steps.png',
        groups,
        f'Per-seed losses after {E} steps',
        'loss (nats / response token)',
      )
    )
  return paths


def _curves(an: dict, log, config, plot_dir: str) -> list[str]:
  E = an['regimes']['early']
  curves = {}
  for c in ('clean', 'noisy'):
    if c not in an['conditions']:
      continue
    where = {'condition': CONDITION_IDS[c]}
    for metric, what in (
      ('loss', 'training minibatch, own noise'),
      ('heldout_loss', f'held-out ({config.curve_heldout} prompts), clean'),
    ):
      steps, vals = log.curves(cfglib.arm_names(config)[0], metric, where)
      if len(steps):
        curves[f'{c}: {what}'] = (steps, vals)
  if not curves:
    return []
  steps = next(iter(curves.values()))[0]
  return [
    plots.curves_with_bands(
      f'{plot_dir}/curves.png',
      steps,
      {k: v for k, (_, v) in curves.items()},
      f'Student losses (mean, 95% band over seeds); claim regime = step {E}',
      'update',
      'loss (nats / response token)',
      logx=False,
    )
  ]


def _plots(an: dict, log, config, plot_dir: str) -> list[str]:
  paths = _forest_and_strip(an, plot_dir) + _curves(an, log, config, plot_dir)
  series = {f['title']: f['seeds']['halfwidth_by_k'] for f in an['findings'] if f.get('seeds')}
  if series:
    paths.append(
      plots.halfwidth_by_seeds(
        f'{plot_dir}/halfwidth_by_seeds.png', series, 'Is ten enough? CI half-width of Δ with k seeds'
      )
    )
  return paths


def _notes(an: dict) -> list[str]:
  E, F = an['regimes']['early'], an['regimes']['final']
  return [
    'Each check decides on one prespecified comparison: a direction by the 95% CI of the mean per-seed '
    'difference (paired t; the conditions of a seed share everything but the noise), an effect size by '
    "Student's two-sample Hedges' g as the write-up computed it, a spread by the two-sided F test. The "
    'tables also give Holm-adjusted p over their rows.',
    'The claimed gap is split per seed into a model part (noisy − clean student, both on clean training '
    "inputs) and a measurement part (the noisy student's own noised − clean training loss); the share of "
    'the gap is only computed when the gap is positive.',
    "The first finding is the write-up's own metric; the second is what it would mean for the student "
    '(clean loss and accuracy on unseen prompts). Read both: the first can reproduce while the second does '
    'not. The variance finding has no "is ten enough?" row: its effect is a variance ratio.',
    f"Plots: Hedges' g, the write-up's beside ours ({E}-step losses, the {F}-step held-out loss); per-seed "
    f'losses after {E} steps; learning curves of the training minibatch loss (each student with its own '
    'noise) and of the clean held-out loss; the CI half-width of each headline effect with k seeds.',
  ]


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs
  tables = [
    ("The write-up's table, side by side", _writeup_table(an)),
    ("Statistics beside the write-up's", _stats_table(an)),
    ('All metrics', _all_metrics(an)),
    ('Noisy vs clean', _comparisons(an, an['comparisons'], 'Noisy vs clean on every metric')),
    ('Ablations: deletion only, dropout only', _comparisons(an, an['ablations'], 'Each ablation vs clean')),
  ]
  return (
    report.render_report(
      'Noisy Student: token-level noise in distillation (claims audit)',
      _setup(an, config),
      tables,
      an['findings'],
      plots=_plots(an, log, config, plot_dir),
      notes=_notes(an),
    ).rstrip('\n')
    + '\n'
  )
