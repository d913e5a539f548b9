"""python -m spacy_repsl.experiments {train,evaluate,sweep,aggregate,plot,profile,package} ...

Grid options are comma-separated lists; anything after `--` is passed to `spacy train` as
config overrides (e.g. `-- --training.max_epochs 2`).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import List, Optional, Sequence

from . import grid
from .methods import grid_methods, group_sweep


def csv(text: str) -> List[str]:
    return [x.strip() for x in str(text).split(",") if x.strip()]


def ints(text: str) -> List[int]:
    return [int(x) for x in csv(text)]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m spacy_repsl.experiments", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["train", "evaluate", "sweep", "aggregate", "plot", "profile", "package"])
    p.add_argument("--root", type=Path, default=Path("."), help="the project directory")
    p.add_argument("--config", type=Path, default=Path("../configs/repetition.cfg"))
    p.add_argument("--datasets", type=csv, default=csv("conll03,rest14,nlupp,ace05"))
    p.add_argument("--models", type=csv, default=csv("Qwen/Qwen3-0.6B"))
    p.add_argument("--repetitions", type=ints, default=ints("0,1,2,4"))
    p.add_argument("--unmasking", type=csv, default=csv("middle,full"))
    p.add_argument("--exit-layers", type=ints, default=[])
    p.add_argument("--exit-repetitions", type=ints, default=ints("1,2,4,8"))
    p.add_argument("--seeds", type=ints, default=ints("5,29,42,81,123"))
    p.add_argument("--groups", type=int, default=4, help="m, the number of layer groups in the sweep")
    p.add_argument("--sweep-datasets", type=csv, default=csv("conll03"))
    p.add_argument("--gpu-id", type=int, default=-1)
    p.add_argument("--package-name", default="repsl")
    p.add_argument("--package-version", default="0.0.0")
    return p


def main(argv: Optional[Sequence[str]] = None) -> None:
    from spacy.cli._util import parse_config_overrides

    argv = list(sys.argv[1:] if argv is None else argv)
    extra_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    extra = parse_config_overrides(extra_args)
    root = args.root.resolve()
    methods = grid_methods(args.repetitions, args.unmasking, args.exit_layers, args.exit_repetitions)
    runs = grid.plan(args.datasets, args.models, methods, args.seeds)
    sweep_runs = grid.plan(args.sweep_datasets, args.models, group_sweep(args.groups), args.seeds) if args.groups else []
    config = args.config.resolve()
    train = partial(grid.train_run, root=root, config=config, gpu_id=args.gpu_id, extra=extra)
    evaluate = partial(grid.evaluate_run, root=root)
    if args.command == "train":
        grid.each(runs, train, "train")
    elif args.command == "evaluate":
        grid.each(runs, evaluate, "evaluate")
    elif args.command == "sweep":
        grid.each(sweep_runs, train, "sweep train")
        grid.each(sweep_runs, evaluate, "sweep evaluate")
    elif args.command == "aggregate":
        from .reports import aggregate

        aggregate(root, grid.load_metrics(root))
        print((root / "metrics" / "results.md").read_text())
    elif args.command == "plot":
        from .plots import plot_f1_vs_r, plot_group_sweep

        metrics = grid.load_metrics(root)
        for name, made in (("f1_vs_r.png", plot_f1_vs_r(metrics, root / "metrics" / "f1_vs_r.png")),
                           ("group_sweep.png", plot_group_sweep(metrics, root / "metrics" / "group_sweep.png"))):
            print(f"{'wrote' if made else 'nothing to plot for'} metrics/{name}")
    elif args.command == "profile":
        from .profile import profile

        first_seed = [r for r in runs if r.seed == args.seeds[0] and r.dataset == args.datasets[0]]
        profile(root, first_seed)
    elif args.command == "package":
        package_best(root, runs, args.package_name, args.package_version)


def package_best(root: Path, runs: Sequence[grid.Run], name: str, version: str) -> None:
    """Package, per dataset, the run with the best dev F1 (base model bundled) as a wheel."""
    import json

    import spacy

    for dataset in dict.fromkeys(r.dataset for r in runs):
        scored = [(json.loads(r.metrics_path(root).read_text())["dev"]["f"] or 0.0, r)
                  for r in runs if r.dataset == dataset and r.metrics_path(root).is_file()]
        if not scored:
            print(f"[package] no evaluated run for {dataset}: run train and evaluate first")
            continue
        f1, best = max(scored, key=lambda x: x[0])
        nlp = spacy.load(best.best_model(root))
        nlp.get_pipe("repsl_tagger").cfg["bundle_base"] = True
        nlp.meta["description"] = f"repsl_tagger on {dataset}: {best.model}, {best.method}, seed {best.seed} (dev F1 {f1:.4f})"
        source = root / "packages" / "pipelines" / f"{name}_{dataset}"
        source.parent.mkdir(parents=True, exist_ok=True)
        nlp.to_disk(source)
        out = root / "packages"
        subprocess.run([sys.executable, "-m", "spacy", "package", str(source), str(out), "--name", f"{name}_{dataset}",
                        "--version", version, "--build", "wheel", "--force"], check=True)
        print(f"[package] {dataset}: {best.method} seed {best.seed} (dev F1 {f1:.4f}) -> {out}")


if __name__ == "__main__":
    main()
