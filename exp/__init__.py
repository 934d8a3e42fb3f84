"""tenfold's lab: the runner, statistics, reports, task generators and experiment families."""
