"""python -m spacy_repsl.experiments {train,evaluate,sweep,search,aggregate,plot,profile,package} ...

Grid options are comma-separated lists; anything after `--` is passed to `spacy train` as
config overrides (e.g. `-- --training.max_epochs 2`). `--engine ray` runs train, evaluate and
sweep as Ray tasks (pip install "spacy-repsl[ray]"); `search` always runs on Ray Tune.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any, List, Optional, Sequence

from . import grid
from .execution import EngineOptions, run_stage
from .methods import grid_methods, group_sweep


def csv(text: str) -> List[str]:
    return [x.strip() for x in str(text).split(",") if x.strip()]


def ints(text: str) -> List[int]:
    return [int(x) for x in csv(text)]


def optional_float(text: str) -> Optional[float]:
    """A number, or None for "" (project.yml passes its empty defaults)."""
    return float(text) if str(text).strip() else None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m spacy_repsl.experiments",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "command", choices=["train", "evaluate", "sweep", "search", "aggregate", "plot", "profile", "package"]
    )
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
    p.add_argument(
        "--bos",
        default="every",
        choices=["every", "once"],
        help="BOS in front of every copy (the SR paper's inputs, default) or once",
    )
    g = p.add_argument_group("engines")
    g.add_argument(
        "--engine",
        default="local",
        choices=["local", "ray"],
        help="local: one run after another in this process; ray: runs as Ray tasks, concurrently",
    )
    g.add_argument(
        "--ray-address",
        default=None,
        type=lambda a: a or None,
        help="join this Ray cluster ('auto' or host:port); default: start a local Ray instance",
    )
    g.add_argument(
        "--gpus-per-run",
        type=optional_float,
        default=None,
        help="Ray: GPUs per run (default 1 with --gpu-id >= 0, else 0)",
    )
    g.add_argument(
        "--cpus-per-run",
        type=optional_float,
        default=None,
        help="Ray: CPUs per run (default 1); also the torch thread count of each run, on either engine",
    )
    g.add_argument("--max-failures", type=int, default=2, help="Ray: retries of a run whose worker process died")
    s_ = p.add_argument_group("search")
    s_.add_argument("--search-datasets", type=csv, default=csv("conll03"))
    s_.add_argument(
        "--candidates",
        type=csv,
        default=csv("r0,r1,r2,r4,middle,full,groups"),
        help="methods to compare; 'groups' stands for all 2^m layer-group configurations",
    )
    s_.add_argument("--scheduler", default="asha", choices=["asha", "none"], help="asha stops trials that fall behind")
    s_.add_argument("--grace-period", type=int, default=2, help="evaluations before ASHA may stop a trial")
    s_.add_argument("--reduction-factor", type=float, default=2, help="ASHA keeps the top 1/rf at each rung")
    p.add_argument(
        "--baseline",
        type=int,
        nargs="?",
        const=1,
        default=0,
        choices=[0, 1],
        help="train/evaluate: also spaCy's own model on every listed dataset, per seed: ner "
        "(configs/spacy_ner.cfg, beside --config) where the target is doc.ents, spancat_singlelabel "
        "(configs/spacy_spancat.cfg) where it is doc.spans: what a spaCy user would train instead "
        "(--baseline or --baseline 1; --baseline 0 leaves it out)",
    )
    p.add_argument(
        "--encoders",
        type=csv,
        default=[],
        help="train/evaluate: also fine-tune these encoder checkpoints (paths or hub ids; configs/encoder.cfg, "
        "beside --config) on every listed dataset, per seed, with the same overrides after `--` (the "
        "same step budget): the papers' encoder baseline row",
    )
    p.add_argument(
        "--baseline-max-steps",
        type=int,
        default=0,
        help="stop the baseline after this many steps (0, the default: its config's schedule, spaCy's: "
        "until 1600 steps bring no improvement, at most 20000)",
    )
    p.add_argument(
        "--passes",
        type=int,
        default=0,
        help="train: every run trains this many passes over its own training set (steps = passes x docs / "
        "batch size; spaCy's ner: max_epochs), whatever the overrides after `--` say: budgets matched "
        "across contenders and training sizes (0, the default: the overrides decide)",
    )
    p.add_argument(
        "--skip-evaluated",
        type=int,
        nargs="?",
        const=1,
        default=0,
        choices=[0, 1],
        help="train, sweep: also skip a run whose metrics file exists though its model-best is gone: a finished "
        "run restored from project/results/ on a new machine (weights are never kept there), which "
        "`tools/real_scale.sh` would otherwise train again. Such a run cannot be packaged. 0, the "
        "default: only a run with its model-best counts as trained",
    )
    p.add_argument(
        "--evals",
        type=int,
        default=2,
        help="with --passes: dev evaluations per run, the last at its last step (model-best among them)",
    )
    p.add_argument("--package-name", default="repsl")
    p.add_argument("--package-version", default="0.0.0")
    return p


def main(argv: Optional[Sequence[str]] = None) -> None:
    from ..engines.ray_cluster import RayMissingError

    try:
        failures = run(argv)
    except (RayMissingError, FileNotFoundError, ConnectionError, ValueError) as err:  # the user's to fix: no traceback
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:  # permission denied, a full disk: the real cause, one line
        from ..storage.paths import os_error_line

        print(f"error: {os_error_line(err)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\nInterrupted. Run the same command again to resume: finished runs are skipped.", file=sys.stderr)
        sys.exit(130)
    if failures:
        sys.exit(1)


def run(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; returns the number of runs that failed."""
    from spacy.cli._util import parse_config_overrides

    from ..engines.jobs import report_failures

    argv = list(sys.argv[1:] if argv is None else argv)
    extra_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    extra = parse_config_overrides(extra_args)
    root = args.root.resolve()
    leave_out_skipped(args, root)
    methods = grid_methods(args.repetitions, args.unmasking, args.exit_layers, args.exit_repetitions)
    runs = grid.plan(args.datasets, args.models, methods, args.seeds)
    if args.baseline and args.command in ("train", "evaluate"):
        runs += grid.plan_baseline(args.datasets, args.seeds)
    if args.command in ("train", "evaluate"):
        runs += grid.plan_encoders(args.datasets, args.encoders, args.seeds)
    sweep_runs = (
        grid.plan(args.sweep_datasets, args.models, group_sweep(args.groups), args.seeds) if args.groups else []
    )
    config = args.config.resolve()
    if args.command in ("train", "sweep", "search") and not config.is_file():
        raise FileNotFoundError(
            f"The training config {args.config} was not found (resolved to {config}): pass "
            "--config (relative paths start where the command runs; in project.yml, in project/)."
        )
    if args.command == "train" and args.encoders:  # before any run starts, not once per encoder run
        grid.sibling_config(config, grid.ENCODER_CONFIG, "the encoder recipe")
    options = EngineOptions(
        args.engine, args.ray_address, args.cpus_per_run, args.gpus_per_run, args.max_failures, args.gpu_id
    )
    locations = {m: grid.model_location(m) for m in [*args.models, *args.encoders]}
    train = partial(
        grid.train_run,
        root=root,
        config=config,
        gpu_id=options.worker_gpu_id,
        extra=extra,
        bos=args.bos,
        locations=locations,
        baseline_max_steps=args.baseline_max_steps,
        passes=args.passes,
        evals=args.evals,
    )
    evaluate = partial(grid.evaluate_run, root=root)

    def trained(run: grid.Run) -> bool:
        return run.is_trained(root) or bool(args.skip_evaluated and run.is_evaluated(root))

    def evaluated(run: grid.Run) -> bool:
        return run.is_evaluated(root)

    outcomes = []
    if args.command == "train":
        outcomes = run_stage(runs, "train", train, trained, root, options, requires=[config])
    elif args.command == "evaluate":
        outcomes = run_stage(runs, "evaluate", evaluate, evaluated, root, options)
    elif args.command == "sweep":
        outcomes = run_stage(sweep_runs, "sweep train", train, trained, root, options, requires=[config])
        outcomes += run_stage(
            [r for r in sweep_runs if r.is_trained(root)], "sweep evaluate", evaluate, evaluated, root, options
        )
    elif args.command == "search":
        return search_all(args, root, config, extra, options)
    elif args.command == "aggregate":
        from .reports import aggregate

        aggregate(root, grid.load_metrics(root))
        print((root / "metrics" / "results.md").read_text())
    elif args.command == "plot":
        from .plots import plot_f1_vs_r, plot_f1_vs_train_size, plot_group_sweep, plot_methods

        metrics = grid.load_metrics(root)
        for name, made in (
            ("f1_vs_r.png", plot_f1_vs_r(metrics, root / "metrics" / "f1_vs_r.png")),
            ("methods.png", plot_methods(metrics, root / "metrics" / "methods.png")),
            ("f1_vs_train_size.png", plot_f1_vs_train_size(metrics, root / "metrics" / "f1_vs_train_size.png")),
            ("group_sweep.png", plot_group_sweep(metrics, root / "metrics" / "group_sweep.png")),
        ):
            print(f"{'wrote' if made else 'nothing to plot for'} metrics/{name}")
    elif args.command == "profile":
        from .profile import profile

        first_seed = [r for r in runs if r.seed == args.seeds[0] and r.dataset == args.datasets[0]] if runs else []
        profile(root, first_seed)
    elif args.command == "package":
        package_best(root, runs, args.package_name, args.package_version)
    return report_failures(outcomes, args.command)


def leave_out_skipped(args: argparse.Namespace, root: Path) -> None:
    """Datasets whose preprocessing was skipped (files missing, e.g. the licensed ACE05) are left
    out of this command, with a line saying so; results.md lists them too."""
    from ..datasets.skipped import skipped_datasets

    names = ("datasets", "sweep_datasets", "search_datasets")
    wanted = [d for name in names for d in getattr(args, name, None) or []]
    skipped = skipped_datasets(root / "corpus", list(dict.fromkeys(wanted)))
    for dataset, reason in skipped.items():
        print(f"[{args.command}] {dataset}: skipped, its preprocessing found no files ({reason})", flush=True)
    for name in names:
        if getattr(args, name, None):
            setattr(args, name, [d for d in getattr(args, name) if d not in skipped])


def search_all(args: argparse.Namespace, root: Path, config: Path, extra: dict, options: EngineOptions) -> int:
    """One search per dataset and model; prints each trial and updates results.md."""
    from ..engines.ray_cluster import require_ray
    from .reports import aggregate
    from .search import candidates, search, trial_lines

    require_ray()
    methods = candidates(args.candidates, args.groups)
    failed = 0
    for dataset in args.search_datasets:
        grid.plan([dataset], args.models, methods, args.seeds[:1])  # validates names before starting Ray
        for model in args.models:
            result = search(
                root,
                dataset,
                model,
                methods,
                config=config,
                seed=args.seeds[0],
                bos=args.bos,
                extra=extra,
                scheduler=args.scheduler,
                grace_period=args.grace_period,
                reduction_factor=args.reduction_factor,
                cpus=options.cpus,
                gpus=options.gpus,
                gpu_id=args.gpu_id,
                threads=options.threads,
                max_failures=args.max_failures,
                address=args.ray_address,
            )
            print(
                f"[search {dataset}] {model}: best on dev {result['best_method']}; {result['stopped_early']} of "
                f"{len(result['trials'])} trial(s) stopped early",
                flush=True,
            )
            print("\n".join(trial_lines(result)), flush=True)
            failed += result["failed"]
    aggregate(root, grid.load_metrics(root))
    print(f"Wrote metrics/search/ and the search table in {root / 'metrics' / 'results.md'}")
    return failed


def package_best(root: Path, runs: Sequence[grid.Run], name: str, version: str) -> None:
    """Package, per dataset, the run with the best dev F1 (base model bundled) as a wheel."""
    import spacy

    from ..pipeline.saving import save_pipeline

    for dataset in dict.fromkeys(r.dataset for r in runs):
        metrics = [(grid.read_run_metrics(r.metrics_path(root)), r) for r in runs if r.dataset == dataset]
        scored = [(m["dev"]["f"] or 0.0, r) for m, r in metrics if m is not None]
        if not scored:
            print(f"[package] no evaluated run for {dataset}: run train and evaluate first")
            continue
        f1, best = max(scored, key=lambda x: x[0])
        if not best.is_trained(root):
            raise FileNotFoundError(
                f"The best run on {dataset} ({best.name()}, dev F1 {f1:.4f}) has its metrics but not its model "
                f"{best.best_model(root)} (metrics restored from project/results/ keep no weights): train it "
                f"again (delete {best.metrics_path(root)}, then run train and evaluate without --skip-evaluated; "
                "tools/real_scale.sh would restore that file), or package other runs."
            )
        nlp = spacy.load(best.best_model(root))
        tagger: Any = nlp.get_pipe("repsl_tagger")
        tagger.cfg["bundle_base"] = True
        nlp.meta["description"] = (
            f"repsl_tagger on {dataset}: {best.model}, {best.method}, seed {best.seed} (dev F1 {f1:.4f})"
        )
        source = root / "packages" / "pipelines" / f"{name}_{dataset}"
        save_pipeline(nlp, source)
        out = root / "packages"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "spacy",
                "package",
                str(source),
                str(out),
                "--name",
                f"{name}_{dataset}",
                "--version",
                version,
                "--build",
                "wheel",
                "--force",
            ],
            check=True,
        )
        print(f"[package] {dataset}: {best.method} seed {best.seed} (dev F1 {f1:.4f}) -> {out}")


if __name__ == "__main__":
    main()
