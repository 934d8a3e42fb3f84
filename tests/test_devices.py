"""The runs axis sharded over 4 simulated host devices (padded: 6 runs on 4 devices) gives the results
of 1 device."""
import json
import math
import os

from conftest import load_config, read_results, run_cli
from exp import runner


def _close(a, b):
  if isinstance(a, float) and isinstance(b, float):
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-6)
  return a == b


def test_four_devices_match_one(tmp_path):
  flags = ['--config.arms=sl,rl_step_dense', '--config.num_seeds=3']
  one = runner.run(load_config(arms=('sl', 'rl_step_dense'), num_seeds=3), str(tmp_path / 'one'),
                   quiet=True).results
  out = run_cli('--config=configs/memorization.py:smoke', f'--workdir={tmp_path / "four"}', *flags,
                env={'XLA_FLAGS': '--xla_force_host_platform_device_count=4'})
  assert out.returncode == 0, out.stderr[-2000:]
  four = read_results(tmp_path / 'four')
  assert len(four['runs']) == len(one['runs'])   # pads dropped
  for a, b in zip(four['runs'], one['runs']):
    assert (a['arm'], a['seed'], a['grid'], a['status']) == (b['arm'], b['seed'], b['grid'], b['status'])
    assert a['metrics'].keys() == b['metrics'].keys()
    assert all(_close(a['metrics'][k], b['metrics'][k]) for k in a['metrics']), (a, b)


def test_checkpoint_from_four_devices_resumes_on_one(tmp_path):
  """Checkpoints hold the unpadded state, so a job preempted on 4 devices resumes on 1."""
  work = tmp_path / 'w'
  flags = ['--config.arms=rl_step', '--config.num_seeds=3', '--config.converge_prob=1.0']
  cfg = load_config(arms=('rl_step',), num_seeds=3, converge_prob=1.0)
  out = run_cli('--config=configs/memorization.py:smoke', f'--workdir={work}', *flags,
                env={'XLA_FLAGS': '--xla_force_host_platform_device_count=4'})
  assert out.returncode == 0, out.stderr[-2000:]
  # Drop the finished results and the last checkpoints, as if the job had been preempted mid-way.
  os.remove(work / 'results.json')
  ck = work / 'checkpoints'
  steps = sorted(int(d) for d in os.listdir(ck) if d.isdigit())
  import shutil
  for s in steps[-2:]:
    shutil.rmtree(ck / str(s))
  resumed = runner.run(cfg, str(work), quiet=True)
  assert resumed.status == 'complete'
  with open(work / 'config.json') as f:
    assert json.load(f)['sha256'] == resumed.results['config_sha256']
