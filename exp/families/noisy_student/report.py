"""The Noisy Student report: the setup, the write-up's table side by side with ours, all metrics with the
noisy-vs-clean and ablation comparisons, the audit (``audit_text.py``), the verdict and the plots."""

from __future__ import annotations

import numpy as np

from exp.analysis import plots, report
from exp.core import validate as cfglib
from exp.families.noisy_student.analysis import find
from exp.families.noisy_student.audit_text import audit_text
from exp.families.noisy_student.common import CONDITION_IDS, LOSSES, METRIC_LABELS, METRICS, REGIMES
from exp.families.noisy_student.common import metric_key as _key
from exp.families.noisy_student.formatting import ci, est, mean_half, ms


def _setup(an: dict, config) -> list[str]:
  E, F = an['regimes']['early'], an['regimes']['final']
  t = an['teacher']
  return [
    '# Noisy Student: token-level noise in distillation (claims audit)',
    '',
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
    f"Students are evaluated after {E} updates (the claim's regime) and {F} updates (over-fitting).",
    '',
    "Metrics: **training loss on noised inputs** = each student's loss on its own training inputs with its "
    f'own noise ({config.noise_draws} noise draws over all training prompts; what the claim reports, equal '
    'to the clean training loss for the clean student); **training loss, clean inputs**; **held-out loss** = '
    "clean inputs, unseen prompts, against the teacher's labels; exact match / token accuracy of the "
    "student's greedy output against the noise-free program (unseen prompts).",
    '',
  ]


def _writeup_table(an: dict) -> list[str]:
  regs, labels, cl = an['regimes'], an['labels'], an['claim']
  lines = [
    "## The write-up's table, side by side",
    '',
    'Final training loss, mean ± SD over seeds and the per-group 95% CI (t, n − 1 df), as the write-up '
    'reports it.',
    '',
  ]
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
  return lines + [report.markdown_table(header, rows), '']


def _stats_rows(an: dict) -> list[list]:
  regs, cl = an['regimes'], an['claim']
  rec = cl['recomputed']
  srows = [
    [
      'write-up, as published',
      report.fmt(cl['reported']['t']),
      report.fmt_p(cl['reported']['p']),
      report.fmt(cl['reported']['g']),
      f'"{cl["reported"]["variance_factor"]:g}×"',
    ]
    + ['–'] * 4,
    [
      'write-up, recomputed from its summary',
      f'{report.fmt(rec["student"]["t"])} ({report.fmt_count(rec["student"]["df"])})',
      report.fmt_p(rec['student']['p']),
      est(rec['hedges_g'], rec['hedges_g_ci95']),
      report.fmt(cl['sd_ratio']),
      report.fmt(cl['var_ratio']),
      report.fmt_p(cl['f_test']['p']),
      '–',
      '–',
    ],
  ]
  for reg in REGIMES:
    for m in ('train_loss_noised', 'heldout_loss'):
      row = find(an['comparisons'], m, reg)
      v = an['variance'].get(reg, {}).get(m)
      if row is None:
        continue
      c = row['compare']
      srows.append(
        [
          f'ours, {regs[reg]} steps: {METRIC_LABELS[m]}',
          f'{report.fmt(c["student"]["t"])} ({report.fmt_count(c["student"]["df"])})',
          report.fmt_p(c['student']['p']),
          est(c['hedges_g'], c['hedges_g_ci95']),
          report.fmt(v['sd_ratio']) if v else '–',
          report.fmt(v['var_ratio']) if v else '–',
          report.fmt_p(v['f']['p']) if v else '–',
          report.fmt_p(v['levene']['p']) if v else '–',
          report.fmt_p(v['brown_forsythe']['p']) if v else '–',
        ]
      )
  return srows


def _stats_table(an: dict) -> list[str]:
  header = [
    '',
    'Student t (df)',
    'p',
    "Hedges' g [95% CI]",
    'SD ratio',
    'variance ratio',
    'F-test p',
    'Levene p',
    'Brown–Forsythe p',
  ]
  return [
    "Noisy − clean, the write-up's statistics (Student pooled t, Hedges' g) beside ours; variance "
    'tests for the "2× higher variance" claim (SD and variance ratio noisy/clean, two-sided F test, '
    'Levene, Brown–Forsythe).',
    '',
    report.markdown_table(header, _stats_rows(an)),
    '',
  ]


def _all_metrics(an: dict) -> list[str]:
  regs, labels, conds = an['regimes'], an['labels'], an['conditions']
  diverged = any(an['cells'][c]['diverged'] for c in conds)
  lines = [
    '## All metrics',
    '',
    'Mean ± 95% CI half-width over seeds'
    + (
      ' (diverged runs: ' + ', '.join(f'{labels[c]} {an["cells"][c]["diverged"]}' for c in conds) + ')'
      if diverged
      else ''
    )
    + '.',
    '',
  ]
  header = ['metric', 'steps'] + [labels[c] for c in conds]
  mrows = []
  for m in METRICS:
    for reg in REGIMES:
      mrows.append([METRIC_LABELS[m], regs[reg]] + [mean_half(an['cells'][c][reg].get(m)) for c in conds])
  return lines + [report.markdown_table(header, mrows), '']


def _noisy_vs_clean(an: dict) -> list[str]:
  regs, comps = an['regimes'], an['comparisons']
  lines = [
    '### Noisy vs clean',
    '',
    'Paired by seed (same data, labels, initial student and minibatch order); Holm over all rows of this table.',
    '',
    report.comparison_table(
      [
        (f'noisy vs clean, {METRIC_LABELS[r["metric"]]}, {regs[r["regime"]]} steps', r['compare'])
        for r in comps
      ],
      holm=[r['holm_p'] for r in comps],
    ),
    '',
  ]
  for r in comps:
    if r['metric'] in LOSSES:
      name = f'noisy vs clean, {METRIC_LABELS[r["metric"]]}, {regs[r["regime"]]} steps'
      lines.append('- ' + report.verdict(name, r['compare'], holm_p=r['holm_p'], names=('noisy', 'clean')))
  lines.append('')
  return lines


def _ablations(an: dict) -> list[str]:
  regs, labels, abl = an['regimes'], an['labels'], an['ablations']
  return [
    '### Ablations: deletion only, dropout only',
    '',
    'Each vs clean, paired by seed; Holm over the rows.',
    '',
    report.comparison_table(
      [
        (f'{labels[r["a"]]} vs clean, {METRIC_LABELS[r["metric"]]}, {regs[r["regime"]]} steps', r['compare'])
        for r in abl
      ],
      holm=[r['holm_p'] for r in abl],
    ),
    '',
  ]


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
  E, F = an['regimes']['early'], an['regimes']['final']
  paths = _forest_and_strip(an, plot_dir) + _curves(an, log, config, plot_dir)
  return [
    '## Plots',
    '',
    f"Effect sizes: the write-up's g beside ours ({E}-step losses and the {F}-step "
    f'held-out loss; the {F}-step training-loss g are in the table above). Per-seed losses after {E} steps. '
    'Learning curves of the training minibatch loss (as each student trains, with its own noise) and of '
    'the clean held-out loss.',
    '',
  ] + [f'![{p.rsplit("/", 1)[1][:-4]}](plots/{p.rsplit("/", 1)[1]})' for p in paths]


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs
  lines = _setup(an, config) + _writeup_table(an) + _stats_table(an) + _all_metrics(an)
  if an['comparisons']:
    lines += _noisy_vs_clean(an)
  if an['ablations']:
    lines += _ablations(an)
  lines += ['## Audit', '', audit_text(an, config), '']
  lines += ['## Verdict', '', f'{an["headline"]["verdict"]}: {an["headline"]["result"]}.', '']
  lines += _plots(an, log, config, plot_dir)
  return '\n'.join(lines) + '\n'
