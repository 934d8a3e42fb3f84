"""The report's "Audit" section: the claim's own numbers, which loss carries the claim, the held-out
loss, the variance claim and the ablations, in words computed from the analysis."""

from __future__ import annotations

import numpy as np

from exp.analysis import report
from exp.families.noisy_student.analysis import find, sig
from exp.families.noisy_student.common import REGIMES
from exp.families.noisy_student.formatting import ci, g_text, p_text


def _paired_only(an: dict) -> bool:
  """Some held-out comparison is significant by the paired test but not by Student's t."""
  for r in an['comparisons']:
    if r['metric'].startswith('heldout'):
      pp = r['compare'].get('paired', {}).get('p')
      sp = r['compare']['student']['p']
      if pp is not None and sp is not None and pp < 0.05 <= sp:
        return True
  return False


def _claim_numbers(an: dict) -> str:
  cl = an['claim']
  rec = cl['recomputed']
  return (
    f"**The claim's numbers.** Recomputed from the published summary (means, SDs, n = 10 each), Student "
    f't({report.fmt_count(rec["student"]["df"])}) = {report.fmt(rec["student"]["t"])}, p = '
    f"{report.fmt_p(rec['student']['p'])}, Hedges' g = {report.fmt(rec['hedges_g'])} and the per-group CIs "
    f'{ci(cl["ci95"]["noisy"])} and {ci(cl["ci95"]["clean"])} match the write-up, so its "±" is the SD. '
    f'Its "2× higher variance" is an SD ratio of {report.fmt(cl["sd_ratio"])}, i.e. a variance ratio of '
    f'{report.fmt(cl["var_ratio"])}, and the two-sided F test on its own numbers gives p = '
    f'{report.fmt_p(cl["f_test"]["p"])}'
    + (' — not significant at 0.05.' if cl['f_test']['p'] is not None and cl['f_test']['p'] >= 0.05 else '.')
  )


def _which_loss(an: dict, claim_row: dict) -> str:
  E, a = an['regimes']['early'], an['audit']
  c = claim_row['compare']
  dec = an['decomposition'].get('early', {})
  share = dec.get('measurement_share')
  return (
    f"**Which loss carries the claim.** The write-up compares each student's *training* loss on its own "
    f'(noised) inputs. Here, after {E} steps, that gap is noisy − clean = {report.fmt(c["mean_diff"])} '
    f'({g_text(claim_row)}, {p_text(claim_row["holm_p"], "Holm p")}): '
    + (
      'the claimed direction, reproduced. '
      if a.get('claim_metric_reproduced')
      else 'the claimed increase is not significant here. '
    )
    + (
      f'Scoring the noisy student on clean training inputs instead of its corrupted ones removes '
      f"{report.fmt(100 * share)}% of the gap (the noisy student's own noised − clean training loss, "
      f'{report.fmt(dec["measurement_part"]["mean"])}, over the whole gap): that part is measurement, '
      'higher by construction, because deletion removes prompt tokens the response depends on and '
      'dropout perturbs the student. The rest, '
      f'{report.fmt(dec["model_part"]["mean"])} on clean training inputs, is the noisy student '
      'fitting its training prompts less closely — which is what the regulariser is for, and says '
      'nothing yet about unseen prompts. '
      if share is not None and np.isfinite(share)
      else ''
    )
  )


def _heldout_rows(an: dict) -> list[str]:
  regs, comps = an['regimes'], an['comparisons']
  held = []
  for reg in REGIMES:
    row = find(comps, 'heldout_loss', reg)
    acc = find(comps, 'heldout_token_acc', reg)
    if row:
      word = (
        {'higher': 'higher', 'lower': 'lower', 'no difference': 'not detectably different'}[sig(row)]
        if sig(row)
        else 'untestable'
      )
      txt = (
        f"after {regs[reg]} steps the noisy student's clean held-out loss is {word} "
        f'(Δ = {report.fmt(row["compare"]["mean_diff"])}, {g_text(row)}, {p_text(row["holm_p"], "Holm p")}, '
        f'{p_text(row["compare"].get("paired", {}).get("p"), "paired p")})'
      )
      if acc and acc['compare']['mean_diff'] is not None:
        txt += (
          f', its held-out token accuracy Δ = {report.fmt(acc["compare"]["mean_diff"])} '
          f'({p_text(acc["holm_p"], "Holm p")}, {p_text(acc["compare"].get("paired", {}).get("p"), "paired p")})'
        )
      held.append(txt)
  return held


def _heldout(an: dict, held: list[str]) -> str:
  F, a, comps = an['regimes']['final'], an['audit'], an['comparisons']
  text = '**The meaningful number** is the clean loss on unseen prompts: ' + '; '.join(held) + '.'
  if a.get('heldout_early') == 'no difference' and a.get('heldout_final') == 'lower':
    text += (
      " Over-fitting is where noise acts as a regulariser of the loss; in the claim's short regime it "
      'does not move held-out loss.'
    )
  hf, af = find(comps, 'heldout_loss', 'final'), find(comps, 'heldout_token_acc', 'final')
  if (
    hf
    and af
    and sig(hf) == 'lower'
    and af['compare']['mean_diff'] is not None
    and af['compare']['mean_diff'] <= 0
  ):
    text += (
      f' And the lower held-out loss after {F} steps is calibration, not accuracy: the noisy student '
      'gets no more unseen-prompt tokens right (token accuracy Δ = '
      f"{report.fmt(af['compare']['mean_diff'])}); the clean student's loss grows because it is "
      'confidently wrong where it over-fitted.'
    )
  if _paired_only(an):
    text += (
      ' Where only the paired test is significant (seeds share data, labels, initialisation and '
      'minibatch order, so it is more sensitive than the two-sample tests the write-up used), the '
      'effect is detectable but small against the seed-to-seed spread.'
    )
  return text


def _exact_match(an: dict, config) -> str | None:
  exact = [
    an['cells'][c][reg]['heldout_exact']['mean']
    for c in an['conditions']
    for reg in REGIMES
    if an['cells'][c][reg].get('heldout_exact')
  ]
  if exact and max(e for e in exact if e is not None) < 0.05:
    return (
      f'Held-out exact match stays below {report.fmt(100 * max(exact))}% in every condition: from '
      f'{config.n_train} prompts no student recovers the whole {config.response_len}-token program, '
      'so token accuracy is the informative accuracy metric here.'
    )
  return None


def _variance(an: dict, v: dict) -> str:
  E = an['regimes']['early']
  higher = v['sd_ratio'] is not None and v['sd_ratio'] > 1 and v['f_p'] is not None and v['f_p'] < 0.05
  return (
    f"**Variance.** Our noisy/clean SD ratio of the claim's metric after {E} steps is "
    f'{report.fmt(v["sd_ratio"])} (variance ratio {report.fmt(v["var_ratio"])}; F test '
    f'{p_text(v["f_p"])}, Levene {p_text(v["levene_p"])}, Brown–Forsythe {p_text(v["bf_p"])}): '
    + (
      'noise does raise the spread here.'
      if higher
      else 'no evidence that noise raises the spread across seeds.'
    )
  )


def _ablations(an: dict, abl: list[dict]) -> str:
  return (
    '**Which noise does what** (after '
    + str(an['regimes']['final'])
    + ' steps, vs clean): '
    + '; '.join(
      f'{an["labels"][r["a"]]}: {"held-out loss" if r["metric"] == "heldout_loss" else "token accuracy"} '
      f'Δ = {report.fmt(r["compare"]["mean_diff"])} ({p_text(r["holm_p"], "Holm p")}, '
      f'{p_text(r["compare"].get("paired", {}).get("p"), "paired p")})'
      for r in abl
    )
    + '.'
  )


def audit_text(an: dict, config) -> str:
  out = [_claim_numbers(an)]
  claim_row = find(an['comparisons'], 'train_loss_noised', 'early')
  if claim_row:
    out.append(_which_loss(an, claim_row))
  held = _heldout_rows(an)
  if held:
    out.append(_heldout(an, held))
    exact = _exact_match(an, config)
    if exact is not None:
      out.append(exact)
  v = an['audit'].get('variance_early')
  if v:
    out.append(_variance(an, v))
  abl = [
    r
    for r in an['ablations']
    if r['metric'] in ('heldout_loss', 'heldout_token_acc') and r['regime'] == 'final'
  ]
  if abl:
    out.append(_ablations(an, abl))
  return '\n\n'.join(out)
