"""The distillation family's markdown report and plots (``make_report``)."""

from __future__ import annotations

from exp.analysis import plots, report
from exp.core import validate as cfglib
from exp.families.distillation import figures
from exp.families.distillation.analysis import PHASE_RULE
from exp.families.distillation.common import (
  ARM_LABELS,
  AT_SWITCH,
  JUMP_FACTOR,
  MEASURE_LABELS,
  MEASURES,
  SOURCE_SETUP,
)


def fmt_geo(g: dict) -> str:
  if g['geo_mean'] is None:
    return '–'
  lo, hi = g['ci95']
  return f'{report.fmt(g["geo_mean"])}× [{report.fmt(lo)}, {report.fmt(hi)}]'


def make_report(an: dict, runs: list, log, config, plot_dir: str) -> str:
  """report.md through the shared skeleton: setup prose, each arm's tables, the findings, "is ten
  enough?", method notes and the plots."""
  del runs  # the report reads the analysis and metrics.jsonl only
  tables, paths = [], []
  for arm, a in an['arms'].items():
    tables += _arm_tables(arm, a, an, config)
    paths += figures.plot_arm(arm, log, config, plot_dir)
  series = {f['title']: f['seeds']['halfwidth_by_k'] for f in an['findings'] if f.get('seeds')}
  if series:
    paths.append(
      plots.halfwidth_by_seeds(
        f'{plot_dir}/seeds_halfwidth.png', series, 'Is ten enough? CI half-width by seeds'
      )
    )
  title = 'Hybrid distillation collapse (off-policy → on-policy) and context distillation'
  return report.render_report(title, _intro(an, config), tables, an['findings'], paths, NOTES) + '\n'


NOTES = (
  "The source's logged ratio divides two different quantities: before the switch its log shows the SFT "
  'loss (for the unshifted bug a copy-task loss, which trains towards 0 whatever the generations do), '
  'after it a single-sample KL estimate; the stale sampler describes the student of the last refresh '
  'until the switch refreshes it.',
  'Until the first on-policy update every hybrid with the same SFT loss is the same run (common random '
  "numbers), so the switch measurements are shown for the correct hybrid and the source's setup only.",
  "Power columns: Student's two-sided t at the observed Hedges' g (seeds per group) and the paired t at "
  'the observed d_z (pairs of seeds), alpha 0.05, from exp.analysis.stats.power_t / seeds_for_power.',
)


def _intro(an: dict, config) -> str:
  """The setup, the pretrained base, how the KL is measured and the thresholds the checks use."""
  sw, n = an['switch_step'], an['num_steps']
  lrs = ', '.join(f'{x:g}' for x in cfglib.split_names(config.sensitivity_lrs))
  lines = [
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
      f'Pretrained base (mean ± 95% CI over seeds): teacher legal rate {report.fmt_mean_ci(pre["teacher_legal"])}; '
      f'base with NULL: legal rate under task {config.target_task} {report.fmt_mean_ci(pre["base_null_legal"])}, exact '
      f'reverse KL to the teacher {report.fmt_mean_ci(pre["base_null_kl"])} nats/token (where context distillation '
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
    f'Thresholds of the checks: the exact KL "jumps" when the 95% CI of its ratio lies above ×{JUMP_FACTOR:g}; '
    f'a logged ratio "reads as a spike" when its CI lies above ×{config.spike_threshold:g} '
    '(`spike_threshold`); "ends below on-only" = the paired 95% CI of Δ final legal rate lies below 0; '
    f'collapse phase: {PHASE_RULE}. Learning rate: {config.lr:g} (arm context), {config.size_gap_lr:g} '
    f"(arm size_gap); the source's setup is also run at lr {lrs or '–'} (`sensitivity_lrs`, arms "
    '`<arm>_lrs`).',
  ]
  return '\n'.join(lines)


def _arm_tables(arm: str, a: dict, an: dict, config) -> list[tuple[str, str]]:
  """One arm's tables as (heading, markdown) pairs."""
  out = [(f'Arm `{arm}`: {ARM_LABELS[arm]}', _main_table(a, an))]
  if a['comparisons']:
    body = (
      "p is Student's pooled two-sample t (as the write-ups used); seeds pair, so the Δ CI and the "
      '"paired p" column come from the paired t.\n\n' + _with_power(a['comparisons'])
    )
    out.append((f'Arm `{arm}`, downstream: hybrid vs on-only (final legal rate; Holm over the rows)', body))
  body = (
    'Per seed, ratio = value at the first on-policy step / value at the last off-policy step. Paired '
    't-tests of log10 ratios against the exact fresh-sample ratio (Holm over the rows).\n\n' + _spike_table(a)
  )
  out.append((f'Arm `{arm}`, the spike: three measurements of the same switch', body))
  out.append(
    (
      f'Arm `{arm}`, change points',
      PHASE_RULE[0].upper() + PHASE_RULE[1:] + '.\n\n' + _change_table(a, config),
    )
  )
  if a.get('lr_sensitivity'):
    out.append((f"Arm `{arm}`, the source's setup at each learning rate", _lr_table(a['lr_sensitivity'])))
  return out


def _with_power(comps: list) -> str:
  """The comparison table with power and seeds-for-80%-power columns appended to each row."""
  text = report.comparison_table([(c['label'], c['cmp']) for c in comps], holm=[c['holm_p'] for c in comps])
  lines = text.split('\n')
  extra = ['power at g', 'seeds for 80% (per group)', 'paired d_z', 'power at d_z', 'pairs for 80%']
  lines[0] += ' ' + ' | '.join(extra) + ' |'
  lines[1] += '---:|' * len(extra)
  for i, c in enumerate(comps):
    p = c['power']
    cells = [
      p['power_g'],
      report.fmt_count(p['seeds_g']),
      p['dz'],
      p['power_dz'],
      report.fmt_count(p['seeds_dz']),
    ]
    lines[2 + i] += ' ' + ' | '.join(report.fmt(x) for x in cells) + ' |'
  return '\n'.join(lines)


def _lr_table(rows: list) -> str:
  out = []
  for r in rows:
    lg, ex = r['logged'], r['exact']
    out.append(
      [
        f'{r["lr"]:g}' + (' (main grid)' if r['main'] else ''),
        report.fmt_count(r['n_runs']),
        f'{report.fmt_mean_ci(lg["pre"])} → {report.fmt_mean_ci(lg["post"])}',
        fmt_geo(lg['geo']),
        fmt_geo(ex['geo']),
        report.fmt_mean_ci(r['legal']),
      ]
    )
  header = [
    'lr',
    'runs',
    'as the source logged it, before → after',
    'logged ratio',
    'exact KL ratio',
    'final legal rate',
  ]
  return report.markdown_table(header, out)


def _main_table(a: dict, an: dict) -> str:
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
      logged = f'{report.fmt_mean_ci(sp["source"]["pre"])} → {report.fmt_mean_ci(sp["source"]["post"])}'
      exact = f'{report.fmt_mean_ci(sp["fresh"]["pre"])} → {report.fmt_mean_ci(sp["fresh"]["post"])}'
      lr, er = fmt_geo(sp['source']['geo']), fmt_geo(sp['fresh']['geo'])
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
        report.fmt_mean_ci(s['kl_exact']),
        report.fmt_mean_ci(s['legal']),
        report.fmt_mean_ci(s['rep']),
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
          f'{report.fmt_mean_ci(sp["pre"])} → {report.fmt_mean_ci(sp["post"])}',
          fmt_geo(sp['geo']) + nonpos,
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


PHASE_TEXT = {
  'none': 'no collapse',
  'before_switch': 'before the switch',
  'at_switch': 'at the switch',
  'later': 'after the switch',
}


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
    pre_sw = report.fmt_mean_ci(s['legal_at_switch']['pre']) if 'legal_at_switch' in s else '–'
    rows.append(
      [
        s['label'],
        report.fmt_mean_ci(s['legal_start']),
        pre_sw,
        report.fmt_mean_ci(s['legal']),
        f'{ch["n_with"]}/{ch["n"]}',
        report.fmt(ch['median_step']) if ch['median_step'] is not None else '–',
        where,
        PHASE_TEXT.get(ch['phase'], 'undecided (tie)') if 'phase' in ch else '–',
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
      'collapse phase (rule)',
    ],
    rows,
  )
