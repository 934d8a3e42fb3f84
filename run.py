"""tenfold launcher: python run.py --config=configs/<experiment>.py[:smoke] --workdir=DIR [--config.k=v]

Flags, logging and one call into the lab (exp.cli -> exp.runner.run, or exp.core.catalogue.run for
configs/catalogue.py: every experiment into DIR/<name>/, then DIR/dashboard.md and .png); nothing else
lives here. Exit codes: 0 done (or report reprinted), 1 the catalogue ran but an experiment crashed (its
traceback in DIR/<name>/error.txt), 2 bad input (one line on stderr, nothing written), 3 stopped before
the end (rerun the same command to resume).
"""

from absl import app, flags
from ml_collections import config_flags

from exp.core import cli

_CONFIG = config_flags.DEFINE_config_file(
  'config', None, 'experiment config file, e.g. configs/memorization.py or configs/memorization.py:smoke'
)
_WORKDIR = flags.DEFINE_string(
  'workdir', None, 'directory for checkpoints, metrics and results; rerun with the same workdir to resume'
)
_REPORT_ONLY = flags.DEFINE_bool('report_only', False, 'rebuild report.md and plots/ from results.json')
_COORDINATOR = flags.DEFINE_string(
  'coordinator_address', None, 'multi-process runs: host:port of process 0 (or TENFOLD_COORDINATOR_ADDRESS)'
)
_NUM_PROCESSES = flags.DEFINE_integer(
  'num_processes', None, 'multi-process runs: how many (or TENFOLD_NUM_PROCESSES)'
)
_PROCESS_ID = flags.DEFINE_integer(
  'process_id', None, 'multi-process runs: this one, 0-based (or TENFOLD_PROCESS_ID)'
)
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  distributed = {
    'coordinator_address': _COORDINATOR.value,
    'num_processes': _NUM_PROCESSES.value,
    'process_id': _PROCESS_ID.value,
  }
  return cli.launch(_CONFIG.value, _WORKDIR.value, _REPORT_ONLY.value, argv, distributed)


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
