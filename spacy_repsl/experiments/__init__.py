"""The papers' experiments: the grid of runs, their metrics, tables, plots and speed.

`python -m spacy_repsl.experiments <command>` is what `project/project.yml` calls; every
command skips work whose outputs already exist, so reruns only do what is missing.
"""
