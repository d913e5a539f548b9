"""Where work runs: the runs of an experiment grid, the trials of a config search.

`local` (the default) runs jobs one after another in this process and imports no Ray. `ray`
spreads the same jobs over a Ray cluster, a local one or one joined by address, with CPUs and
GPUs per job, retries for workers that die and a report of runs that failed. Both engines take
`jobs.Job`s and return `jobs.Outcome`s, so callers do not care which ran them.
"""

ENGINES = ("local", "ray")
