"""Report of the self-modifying family: ``make_report(analysis, runs, log, config, plot_dir)`` writes the
plots and returns the markdown through ``report.render_report``: setup prose, tables (accuracy per cell,
each cell vs fixed/none, ANOVA, main effects, the path decomposition, gradient conflict, architecture
churn, split shift), the findings, "is ten enough?", notes and plots. No conclusion is written here: every
one is a check in findings.py. See docs/families/self_modifying.md.
"""

from __future__ import annotations

from exp.analysis import plots, report
from exp.analysis.report import fmt, fmt_p, markdown_table

from .analysis import CLAIM, cell_name

TITLE = 'Self-modifying network vs fixed architecture, with auxiliary objectives (the "0/3 wins" audit)'


def _mci(d) -> str:
  if not d or d.get('mean') is None:
    return '–'
  lo, hi = d.get('ci95') or [None, None]
  if lo is None or hi is None:
    return fmt(d['mean'])
  m, a, b = report.fmt_same([d['mean'], lo, hi])
  return f'{m} [{a}, {b}]'


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  del runs, log
  tables = [
    ('Accuracy per cell (validation split, clean labels, %)', _cells(an, 'cells')),
    ('I.i.d. test accuracy per cell (clean labels, %)', _cells(an, 'test_cells')),
    ('Each cell vs fixed/none of its split (paired by seed; validation accuracy points)', _vs_base(an)),
    (
      'Repeated-measures ANOVA, architecture × objective (statsmodels AnovaRM, seeds as subjects)',
      _anova(an),
    ),
    ('Main effects of the factorial (points, paired by seed)', _effects(an)),
    ("The write-up's failures on the tail split, decomposed (points)", _decomp(an)),
    ('Gradient conflict (cosine of primary and auxiliary gradients, every step)', _conflict(an)),
    ('Architecture churn (self-modifying cells)', _churn(an)),
    ('Split shift (training split vs its validation set)', _shift(an)),
  ]
  text = report.render_report(
    TITLE, _setup(an, config), tables, an['findings'], _plots(an, plot_dir), _notes(config)
  )
  return text.rstrip('\n') + '\n'


def _setup(an: dict, config) -> str:
  n_cells = len(an['architectures']) * len(an['objectives']) * len(an['splits'])
  text = (
    f'{len(an["seeds"])} seeds × {n_cells} cells (architectures {", ".join(an["architectures"])} × objectives '
    f'{", ".join(an["objectives"])} × splits {", ".join(an["splits"])}), one compiled program. Data: '
    f'{config.file_size} rows of {config.input_dim}-d inputs, {config.num_classes} classes from a random teacher, '
    f'label noise {config.label_noise}, the file grouped by noisy label with jitter {config.jitter}; validation = '
    f'{config.val_frac:.0%} of the file (its tail, or at random). Network: one hidden ReLU layer, {config.width} of '
    f'{config.max_width} units active, input-connection density {config.density}; {config.num_steps} rounds of '
    f'{config.modify_every} Adam updates (batch {config.batch_size}, lr {config.lr}); a self-modifying cell prunes '
    f'{config.prune_units} and grows {config.grow_units} units (Net2WiderNet) and rewires input connections (RigL, '
    f'drop fraction {config.rewire_alpha} cosine-decayed) after every round. Accuracy = clean-label accuracy on the '
    'validation split (what the write-up reports), in %; the i.i.d. test accuracy is shown beside it.'
  )
  if an['n_diverged']:
    text += (
      f'\n\n**{an["n_diverged"]} of {an["n_runs"]} runs diverged**; they are left out of every mean and test.'
    )
  return text


def _notes(config) -> list[str]:
  return [
    f'An effect "exists" when its 95% CI (paired t over seeds) lies above 0 and its mean is at least {config.min_effect} '
    f'points; it "is absent" when its CI lies inside ±{config.min_effect} or below 0.',
    "Main effects average over the other factors' levels, per seed; the decomposition follows the path "
    'fixed/none/random → fixed/none/tail (split) → self-modifying/none/tail (architecture) → '
    'self-modifying/objective/tail (objective); its parts add up to the total drop.',
    'Gradient conflict: cosine between the masked primary and auxiliary gradients of the shared layers at '
    'every update (the auxiliary head is excluded), accumulated in the run state; per-layer cosines use the '
    "hidden (w1, b1) and output (w2, b2) layers. Correlation: each auxiliary run's mean cosine against its "
    'drop vs the no-objective run of the same seed, architecture and split (Pearson, Fisher-z CI).',
    f'Split shift: {config.shift_sample} points per group; domain classifier = L2 logistic regression, 2-fold '
    f'cross-fitted AUC; MMD² unbiased, RBF with the median heuristic, {config.mmd_permutations} permutations, '
    f'significance at {config.alpha}.',
    f"The write-up's numbers: baseline {CLAIM['baseline']}%, synthetic labels {CLAIM['pseudo']}%, entropy + "
    f'auxiliary {CLAIM["entropy_aux"]}%, entropy constraints {CLAIM["entropy"]}%, split cliff {CLAIM["cliff"]}%.',
  ]


def _cells(an: dict, key: str) -> str:
  rows = []
  for x in an['architectures']:
    for o in an['objectives']:
      rows.append([f'{x} / {o}'] + [_mci(an[key].get(cell_name(x, o, s))) for s in an['splits']])
  return markdown_table(['architecture / objective'] + list(an['splits']), rows)


def _vs_base(an: dict) -> str:
  rows = []
  for comps in an['vs_baseline'].values():
    for c in comps:
      rows.append(
        [
          c['cell'],
          f'{fmt(c["mean_diff"])} {_mci({"mean": 0, "ci95": c["mean_diff_ci95"]}).split(" ", 1)[-1]}',
          f'{fmt(c["student"]["t"])} / {fmt_p(c["student"]["p"])}',
          fmt_p(c['welch']['p']),
          fmt_p((c.get('paired') or {}).get('p')),
          fmt_p(c.get('paired_holm_p')),
          fmt(c['hedges_g']),
        ]
      )
  header = [
    'cell − fixed/none',
    'diff [95% CI]',
    'Student t / p',
    'Welch p',
    'paired p',
    'Holm p (paired)',
    "Hedges' g",
  ]
  return markdown_table(header, rows) if rows else ''


def _anova(an: dict) -> str:
  rows = []
  for s, a in an['anova'].items():
    for k in ('arch', 'objective', 'interaction'):
      if k in a:
        r = a[k]
        rows.append(
          [s, k, f'F({fmt(r["df1"])}, {fmt(r["df2"])}) = {fmt(r["F"])}', fmt_p(r['p']), a['n_subjects']]
        )
    if 'note' in a:
      rows.append([s, a['note'], '–', '–', a['n_subjects']])
  return markdown_table(['split', 'effect', 'F', 'p', 'seeds'], rows) if rows else ''


def _effects(an: dict) -> str:
  names = [k for k in an['effects'] if k != 'values']
  rows = [[k, _mci(an['effects'][k]), _mci((an.get('test_effects') or {}).get(k))] for k in names]
  if an.get('pcgrad'):
    rows.append(['PCGrad − unprojected', _mci(an['pcgrad']), '–'])
  return markdown_table(['effect', 'validation accuracy', 'test accuracy'], rows) if rows else ''


def _decomp(an: dict) -> str:
  rows = []
  for o, d in (an.get('decomposition') or {}).items():
    rows.append(
      [
        o,
        _mci(d['total']),
        _mci(d['split']),
        _mci(d['arch']),
        _mci(d['objective']),
        fmt(d.get('split_share')),
      ]
    )
  header = [
    'self-modifying + objective, tail split',
    'total drop',
    'split',
    'architecture',
    'objective',
    'split share',
  ]
  return markdown_table(header, rows) if rows else ''


def _conflict(an: dict) -> str:
  rows = []
  for name, c in an['conflict']['cells'].items():
    rows.append(
      [name] + [_mci(c.get(k)) for k in ('cos_mean', 'cos_frac_neg', 'cos_hidden_mean', 'cos_output_mean')]
    )
  r = an['conflict']['correlation']
  table = (
    markdown_table(['cell', 'mean cosine', 'fraction < 0', 'hidden layer', 'output layer'], rows)
    if rows
    else ''
  )
  if rows:
    table += f"\n\nCorrelation of a run's mean cosine with its drop: r = {fmt(r.get('r'))} {_mci({'mean': 0, 'ci95': r.get('ci95')}).split(' ', 1)[-1]} (n = {r.get('n')}, p = {fmt_p(r.get('p'))}; Spearman {fmt(r.get('spearman'))})."
  return table


def _churn(an: dict) -> str:
  ch = an['churn']
  cells = sorted(ch.get('units_per_event', {}))
  rows = [
    [c] + [_mci(ch[k].get(c)) for k in ('units_per_event', 'conns_per_event', 'acc_delta_per_event', 'width')]
    for c in cells
  ]
  header = [
    'cell',
    'units changed / event',
    'connections changed / event',
    'batch accuracy after − before',
    'final width',
  ]
  return markdown_table(header, rows) if rows else ''


def _shift(an: dict) -> str:
  rows = []
  for s, d in (an.get('shift') or {}).items():
    rows.append([s, _mci(d['tv']), _mci(d['auc']), _mci(d['mmd2']), fmt(d['frac_mmd_significant'])])
  return (
    markdown_table(['split', 'class-prior TV', 'domain AUC', 'MMD²', 'seeds with MMD p < α'], rows)
    if rows
    else ''
  )


def _plots(an: dict, plot_dir: str) -> list[str]:
  out = []
  groups = {
    f'{x[:3]}/{o}/{s[:4]}': an['values'][cell_name(x, o, s)]
    for s in an['splits']
    for x in an['architectures']
    for o in an['objectives']
    if cell_name(x, o, s) in an['values']
  }
  out.append(
    plots.strip_plot(f'{plot_dir}/accuracy.png', groups, 'Validation accuracy per cell', 'accuracy (%)')
  )
  rows = [(k, an['effects'][k]['mean'], an['effects'][k]['ci95']) for k in an['effects']]
  out.append(
    plots.forest_plot(f'{plot_dir}/effects.png', rows, 'Main effects (points)', 'accuracy points (95% CI)')
  )
  series = {f['title']: f['seeds']['halfwidth_by_k'] for f in an['findings'] if f.get('seeds')}
  if series:
    out.append(
      plots.halfwidth_by_seeds(f'{plot_dir}/ten_enough.png', series, 'Is ten enough? CI half-width vs seeds')
    )
  return out
