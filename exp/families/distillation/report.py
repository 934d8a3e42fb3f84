"""The distillation family's markdown report and plots (``make_report``)."""

from __future__ import annotations

import numpy as np

from exp.analysis import report
from exp.families.distillation import figures
from exp.families.distillation.analysis import fmt_geo, mean_of, sft_groups
from exp.families.distillation.common import (
  ARM_LABELS,
  AT_SWITCH,
  MEASURE_LABELS,
  MEASURES,
  SOURCE_SETUP,
  setup_label,
)


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
  lines = _intro(an, config)
  paths = []
  for arm, a in an['arms'].items():
    arm_lines, arm_paths = _arm_section(arm, a, an, log, config, plot_dir)
    lines += arm_lines
    paths += arm_paths
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


def _intro(an: dict, config) -> list[str]:
  """The title, the setup, the pretrained base and how the KL is measured."""
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
  return lines + [
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


def _arm_section(arm: str, a: dict, an: dict, log, config, plot_dir: str) -> tuple[list[str], list[str]]:
  """One arm's tables (and its plots, written to plot_dir): (markdown lines, plot paths)."""
  lines = [f'## Arm `{arm}`: {ARM_LABELS[arm]}', '']
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
  return lines, figures.plot_arm(a, arm, log, config, plot_dir)


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
    for sft, keys in sft_groups(audit).items():
      out.append(_audit_bullet(sft, keys, audit, st, by_a, config))
    out += [_audit_conclusion(audit, st, by_a), '']
  return '\n'.join(out).rstrip()


def _audit_what(v: dict, ch: dict, config) -> str:
  """What happened to the hybrids of one SFT loss, in bold."""
  sw = config.switch_step
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
  return what


def _audit_bullet(sft: str, keys: list, audit: dict, st: dict, by_a: dict, config) -> str:
  """The audit line of the hybrids with one SFT loss (their switch measurements are the first's)."""
  sw = config.switch_step
  k0 = keys[0]
  s, v = st[k0], audit[k0]
  sp = s['spikes']
  name = 'correct (shifted) SFT' if sft == 'shifted' else 'the unshifted SFT bug'
  what = _audit_what(v, s['change'], config)
  finals = '; '.join(
    f'{setup_label(k)} {mean_of(st[k])}'
    + (
      f' vs on-only {mean_of(st[by_a[k]["b"]])}, Holm p {report.fmt_p(by_a[k]["holm_p"])}'
      if k in by_a
      else ''
    )
    for k in keys
  )
  return (
    f'- Hybrids with {name}: {what}. Legal rate {mean_of(s, "legal_start")} at step 0 → '
    f'{report.fmt(s["legal_at_switch"]["pre"]["mean"])} at step {sw - 1}. Across the switch the exact '
    f'fresh-sample KL goes {_mci(sp["fresh"]["pre"])} → {_mci(sp["fresh"]["post"])} '
    f"(×{report.fmt(v['fresh_ratio'])}); the source's log reads {_mci(sp['source']['pre'])} → "
    f'{_mci(sp["source"]["post"])} (×{report.fmt(v["source_ratio"])}'
    + (f', a ≥{report.fmt(config.spike_threshold)}× "spike"' if v['reads_as_spike_in_source_log'] else '')
    + f'); the stale-sampler estimate ×{report.fmt(v["stale_ratio"])}. Final legal rate: {finals}.'
  )


def _audit_conclusion(audit: dict, st: dict, by_a: dict) -> str:
  """Which setups the claimed spike comes from, and whether it survives the exact measurement."""
  spiky = [k for k, v in audit.items() if v['reads_as_spike_in_source_log']]
  truly = [k for k, v in audit.items() if v['collapses_at_switch']]
  concl = (
    'So the claimed one-step spike comes from '
    + (
      ' and '.join(
        sorted({'the unshifted-SFT' if k.split('/')[1] == 'unshifted' else 'the shifted-SFT' for k in spiky})
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
      f'rate {mean_of(st[src])} vs on-only {mean_of(st[by_a[src]["b"]])}); with a fresh sampler the same '
      f'unshifted hybrid ends at {mean_of(st[unsh])}, and with correct SFT at {mean_of(st[cor])}.'
    )
  if spiky:
    concl += (
      ' The logged ratio divides two different quantities: the copy-task SFT loss, which trains '
      "towards 0 while the student's generations degrade, by a KL estimate of that student; the stale "
      'sampler likewise still describes the student of step 0 until it is refreshed at the switch.'
    )
  return concl
