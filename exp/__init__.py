"""tenfold's lab: the runner, statistics, reports, task generators and experiment families.

``exp.load(workdir) -> (runs, curves)``: a workdir (or a catalogue DIR) as two pandas DataFrames
(exp/analysis/load.py); imported on first use, so the launcher never pays for pandas.
"""


def __getattr__(name):
  if name == 'load':
    from exp.analysis.load import load

    return load
  raise AttributeError(f"module 'exp' has no attribute {name!r}")
