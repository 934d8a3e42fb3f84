"""The runs axis sharded over 4 simulated host devices (9 runs padded to 12) gives the results of 1
device, and its checkpoints (unpadded) resume on 1 device."""

import os
import shutil

from conftest import WALK, WALK_3, WALK_3_FLAGS, load_config, read_results, run_cli, same_runs

from exp.core import runner


def test_four_devices_match_one_and_resume_on_one(walk_three_seeds, tmp_path):
  one = read_results(walk_three_seeds)
  work = tmp_path / 'four'
  out = run_cli(
    f'--config={WALK}',
    f'--workdir={work}',
    *WALK_3_FLAGS,
    env={'XLA_FLAGS': '--xla_force_host_platform_device_count=4'},
  )
  assert out.returncode == 0, out.stderr[-2000:]
  same_runs(read_results(work)['runs'], one['runs'])

  # Preempted after its first chunk on 4 devices: drop what came later and resume here, on 1 device.
  os.remove(work / 'results.json')
  ck = work / 'checkpoints'
  steps = sorted(int(d) for d in os.listdir(ck) if d.isdigit())
  for s in steps[1:]:
    shutil.rmtree(ck / str(s))
  assert (ck / str(steps[0]) / 'state').is_dir()  # saved mid-run by 4 devices: the batch's state
  resumed = runner.run(load_config(WALK, **WALK_3), str(work), quiet=True)
  assert resumed.status == 'complete'
  same_runs(resumed.results['runs'], one['runs'])
