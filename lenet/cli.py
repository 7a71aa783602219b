"""The ``lenet`` command: describe, train and evaluate models in any backend.

    lenet info  --arch lenet5
    lenet train --backend handcrafted --dataset digits --epochs 20 --save model.npz
    lenet eval  --backend keras --weights model.npz --dataset digits
    lenet report .benchmarks/cpu .benchmarks/gpu --label cpu gpu --out report/
    lenet compare base-runs/ new-runs/          # exit 1 on a significant regression
    lenet history .benchmarks/cpu -k inference  # per benchmark over commits; exit 1 on a confirmed change point
    lenet bisect v1.0 HEAD -k "inference and torch"   # the first commit that made them slower

The comparison study itself is ``pytest bench/`` (see the README).

Every error a user can cause -- a bad argument or environment variable, an
unreadable file, a device that is not there, an output path that cannot be
written (checked before training, so that no trained model is lost to it) --
is one line, ``lenet: error: ...``, and exit status 2; never a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import warnings

from .backends import BACKENDS, capabilities, get_backend, trainer_for
from .counting import summary_table
from .io.memory_budget import require_fits
from .io.weights import WeightsError
from .io.writable import require_writable
from .measure import threads
from .metrics import evaluate
from .spec import ARCHITECTURES, SpecError, build_arch
from .study.configs import CONFIG_NAMES
from .training import OPTIMIZERS, STUDY_E_SCHEDULE, ConfigError, TrainConfig


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default in its help, except None and a flag's False: their help says what happens then."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (usage is one ``--help`` away), exit status 2 as usual, and every
    option's default shown in ``--help``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _command(sub, name: str, summary: str, description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` opens with its description (``summary`` is its line in ``lenet --help``)."""
    return sub.add_parser(name, help=summary, description=description or summary)


def _positive_int(text: str) -> int:
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or int(digits) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(digits)


def _non_negative_int(text: str) -> int:
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return int(digits)


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _parse_schedule(text: str) -> tuple:
    """``"2:2e-4,5:1e-4"`` or ``study-e`` -> ((2, 2e-4), (5, 1e-4))."""
    if text == "study-e":
        return STUDY_E_SCHEDULE
    pairs = []
    for part in filter(None, text.split(",")):
        try:
            epoch, lr = part.split(":")
            pairs.append((int(epoch), _finite_float(lr)))
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"schedule entry {part!r}: expected EPOCH:LR, e.g. 2:2e-4") from None
    return tuple(pairs)


def _percent(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a percentage >= 0, got {text!r}")
    return value


def _confidence(text: str) -> float:
    value = _finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a level strictly between 0 and 1 (e.g. 0.95), got {text!r}")
    return value


def _add_data_args(p: argparse.ArgumentParser, batch_help: str) -> None:
    p.add_argument("--dataset", default="digits", help="digits (embedded), mnist, fashion-mnist, kmnist, "
                   "synthetic[:N], imagelist:PATH (grayscale), imagelist-rgb:PATH, imagelist-hist:PATH "
                   "(64-bin colour histograms); PATH holds train.txt, val.txt, test.txt")
    p.add_argument("--data-dir", default=None, help="folder holding the idx files (default: LENET_DATA, then known "
                   "locations, then download)")
    p.add_argument("--allow-outside-root", action="store_true", help="let image lists name relative paths that "
                   "leave their folder through '..'")
    p.add_argument("--input-size", type=_positive_int, default=32,
                   help="image side fed to the network (28 for MLPs)")
    p.add_argument("--device", default="cpu", help="cpu, cuda (torch) or gpu (keras)")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="threads for BLAS, torch and TF (default: LENET_THREADS, else all cores)")
    p.add_argument("--batch-size", type=_positive_int, default=None, help=batch_help)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lenet", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    info = _command(sub, "info", "per-layer shapes, parameters and MACs of an architecture",
                    "Per-layer output shapes, parameters, MACs and FLOPs of an architecture, worked out from its "
                    "spec with no framework (the analytic reference every FLOP counter is checked against).")
    info.add_argument("--arch", default="lenet5", choices=sorted(ARCHITECTURES), help="architecture")
    info.add_argument("--classes", type=_positive_int, default=10, help="number of classes")
    info.add_argument("--input", default="1x32x32", help="input shape CxHxW")

    train = _command(sub, "train", "train a model and print its per-epoch history",
                     "Train one architecture in one backend and print loss and top-1/top-5 per epoch, then the "
                     "test metrics. --config starts from one of the bench's named training configs; the options "
                     "given beside it override its fields.")
    train.add_argument("--backend", default="handcrafted", choices=BACKENDS,
                       help="backend to train in (onnxruntime is inference only)")
    train.add_argument("--arch", default="lenet5", choices=sorted(ARCHITECTURES), help="architecture")
    _add_data_args(train, "training batch size (default: the config's)")
    train.add_argument("--config", default="reference", choices=CONFIG_NAMES,
                       help="the bench's named training config for the dataset (lenet/study/configs.py): default "
                       "(what the bench trains with), reference (Adam 1e-3, batch 64, 10 epochs) or study-e")
    train.add_argument("--epochs", type=_positive_int, default=None, help="epochs (default: the config's; "
                       "--dry-run runs 1)")
    train.add_argument("--optimizer", default=None, choices=OPTIMIZERS, help="optimizer (default: the config's)")
    train.add_argument("--lr", type=_finite_float, default=None, help="learning rate (default: the config's)")
    train.add_argument("--momentum", type=_finite_float, default=None,
                       help="SGD momentum in [0, 1) (default: the config's)")
    train.add_argument("--weight-decay", type=_finite_float, default=None,
                       help="L2 weight decay, >= 0 (default: the config's)")
    train.add_argument("--schedule", type=_parse_schedule, default=None,
                       help="step schedule EPOCH:LR,... (0-based epochs) or 'study-e' (default: the config's)")
    train.add_argument("--seed", type=_non_negative_int, default=0, help="seed of the initial weights and data order")
    train.add_argument("--hflip", action="store_true",
                       help="mirror a seeded half of each epoch's images left to right (not for digits)")
    train.add_argument("--save", default=None, help="write the trained weights (.npz, any backend can load it)")
    train.add_argument("--json", default=None, help="write history and test metrics as JSON")
    train.add_argument("--dry-run", action="store_true", help="one epoch on 256 samples: a smoke test")

    ev = _command(sub, "eval", "evaluate saved weights (from any backend) in a backend",
                  "Load canonical weights (.npz from `lenet train --save`, trained in any backend) into a backend "
                  "and print its test loss, top-1 and top-5.")
    ev.add_argument("--backend", default="handcrafted", choices=BACKENDS, help="backend to run the weights in")
    ev.add_argument("--weights", required=True, help=".npz written by `lenet train --save` in any backend")
    _add_data_args(ev, "evaluation batch size (default: 1024)")

    sp = _command(sub, "check-speed", "judge the handcrafted speed targets from a benchmark history",
                  "Judge the handcrafted backend's speed targets (lenet/study/speed_targets.py) from benchmark "
                  "output: interleaved ratios by their 95% interval, unstable figures not judged. Exit 1 unless "
                  "every target was judged and passed.")
    sp.add_argument("history", nargs="+", help="pytest-benchmark JSON files or storage folders: the latest run of "
                    "each, judged together (a later one's figure replaces an earlier one's)")

    pl = _command(sub, "profile-layers", "where the handcrafted network's time goes, per layer, forward "
                  "and backward (inference at batch 1, 64, 1024; one training step at batch 64)")
    pl.add_argument("--arch", action="extend", nargs="+", default=None, choices=sorted(ARCHITECTURES),
                    help="architectures to profile (default: lenet5 lenet5-relu)")
    pl.add_argument("--threads", type=_positive_int, action="extend", nargs="+", default=None,
                    help="thread counts to profile at, each in turn (default: LENET_THREADS, else all cores)")
    pl.add_argument("--rounds", type=_positive_int, default=30, help="calls per scenario (the median is shown)")

    cp = _command(sub, "compare", "judge NEW against BASE from raw samples; exit 1 on a regression",
                  "Judge NEW against BASE from their raw samples: a time change counts when its bootstrap interval "
                  "excludes 1 and it is beyond --threshold; unstable rows and rows whose machine state differs "
                  "are inconclusive; test top-1 is judged against its binomial error. Given one storage folder "
                  "alone, its newest run is judged against the run before it. Exit 1 on a regression.")
    cp.add_argument("base", help="pytest-benchmark JSON file or storage folder (all its runs: one side); given "
                    "alone, a storage folder whose newest run is compared with the one before")
    cp.add_argument("new", nargs="?", default=None, help="likewise, the other side")
    cp.add_argument("--last", type=_positive_int, default=None, metavar="K",
                    help="use only the newest K runs of each side (default: every run given; with BASE alone, "
                    "the K runs before the newest, 1 if not given)")
    cp.add_argument("--threshold", type=_percent, default=10.0, metavar="PCT",
                    help="a time change must be significant and beyond this many percent")
    cp.add_argument("--confidence", type=_confidence, default=0.95, help="level of the intervals and tests")
    cp.add_argument("--threshold-instructions", type=_percent, default=1.0, metavar="PCT",
                    help="instructions per call (histories of `pytest bench/ --instrument instructions`) must change "
                    "by more than this many percent; deterministic counts, so no significance test")

    rp = _command(sub, "report", "markdown, one HTML page, PNG plots and CSV tables from benchmark histories",
                  "Write README.md, index.html, PNG plots and one CSV per table from pytest-benchmark histories; "
                  "with --compare, judge two runs as `lenet compare` does and exit 1 on a regression.")
    rp.add_argument("history", nargs="+", help="pytest-benchmark JSON file(s) or storage folder(s)")
    rp.add_argument("--out", required=True, help="folder for README.md, index.html, the PNG plots and csv/")
    rp.add_argument("--label", action="extend", nargs="+", default=None, metavar="NAME",
                    help="one machine label per HISTORY, in order (default: node, CPU and GPU from machine_info)")
    rp.add_argument("--compare", action="store_true", help="judge two runs as `lenet compare` does: two HISTORY "
                    "arguments (the newest run of each) or one storage folder (its two newest runs)")
    rp.add_argument("--threshold-time", type=_percent, default=10.0, metavar="PCT",
                    help="a time change must be significant and beyond this many percent; test top-1 is judged "
                    "against its binomial standard error")
    _add_timeline_parsers(sub)
    return parser


def _add_timeline_parsers(sub) -> None:
    """``history`` and ``bisect``: a benchmark across many runs and commits (lenet.study.timeline, .bisect)."""
    hi = _command(sub, "history", "each benchmark over the runs of a storage, by commit time, with its change "
                  "points (Apache Otava, confirmed by the bootstrap); exit 1 on a confirmed regression")
    hi.add_argument("storage", nargs="+", help="pytest-benchmark storage folder(s) or files of one environment, "
                    "3 runs or more (the shards of a run count once)")
    hi.add_argument("-k", dest="select", default=None, metavar="SELECTOR",
                    help="pytest keyword expression choosing the benchmarks (as pytest -k)")
    hi.add_argument("--threshold", type=_percent, default=10.0, metavar="PCT",
                    help="a change point is confirmed when significant and beyond this many percent")
    hi.add_argument("--confidence", type=_confidence, default=0.95, help="level of the bootstrap intervals")

    bi = _command(sub, "bisect", "the first commit between GOOD and BAD whose selected benchmarks regressed "
                  "against GOOD's (git bisect run in a temporary worktree; the checkout is not touched)")
    bi.add_argument("good", help="a commit whose figures are good (an ancestor of BAD)")
    bi.add_argument("bad", help="a commit whose figures regressed")
    bi.add_argument("-k", dest="select", required=True, metavar="SELECTOR",
                    help="pytest keyword expression choosing the benchmarks to measure at each commit")
    bi.add_argument("--pytest-args", type=shlex.split, default=(), metavar="'ARGS'",
                    help="what pytest runs at each commit, one quoted string given with '=' "
                    "(--pytest-args='bench/ --profile quick --limit 256'; default: bench/ --profile quick)")
    bi.add_argument("--repo", default=".", help="the git repository")
    bi.add_argument("--threshold", type=_percent, default=10.0, metavar="PCT",
                    help="a commit is bad when significantly slower than GOOD beyond this many percent")
    bi.add_argument("--confidence", type=_confidence, default=0.95, help="level of the bootstrap intervals")


def _load_data(args):
    from .data import load_dataset

    return load_dataset(args.dataset, input_size=args.input_size, data_dir=args.data_dir,
                        allow_outside_root=args.allow_outside_root)


def _check_writable(path: str | None, flag: str) -> None:
    """Refuse an output path that cannot be written, before any work is done for it."""
    if path is not None:
        require_writable(path, flag, ConfigError)


def _require_model_fits(arch) -> None:
    """Weights, gradients and two optimizer moments, float32: refused up front when they cannot fit."""
    params = sum(math.prod(shape) for shape in arch.weight_shapes().values())
    require_fits(params * 4 * 4, f"{arch.name} with input {arch.input_shape} ({params:,} parameters)", ConfigError,
                 "choose a smaller --input-size")


def _test_metrics(backend, model, data, batch_size: int) -> dict:
    return evaluate(backend.predict(model, data.x_test, batch_size=batch_size), data.y_test)


def _smallest_input(name: str, channels: int, largest: int = 512) -> int | None:
    """The smallest square input side ``name`` takes (None if none up to ``largest``): worked out from the spec."""
    for side in range(1, largest + 1):
        try:
            build_arch(name, 10, (channels, side, side))
        except SpecError:
            continue
        return side
    return None


def _build_arch(name: str, num_classes: int, input_shape: tuple, *, shape_from: str, classes_from: str):
    """:func:`build_arch`, its errors naming what the user gave: the option (or dataset) that set the class
    count or the input shape, rather than a layer of the network."""
    if num_classes < 2:
        raise SpecError(f"{classes_from}: {num_classes} class(es); a classifier needs at least 2")
    try:
        return build_arch(name, num_classes, input_shape)
    except SpecError as e:
        c, h, w = input_shape
        smallest = _smallest_input(name, c)
        hint = f"; the smallest {name} takes is {smallest}x{smallest}" if smallest and min(h, w) < smallest else ""
        raise SpecError(f"{shape_from}: {name} cannot take input {c}x{h}x{w} ({e}){hint}") from None


def cmd_info(args) -> int:
    try:
        shape = tuple(int(d) for d in args.input.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3:
        raise SpecError(f"--input {args.input!r}: expected CxHxW (three integers), e.g. 1x32x32")
    print(summary_table(_build_arch(args.arch, args.classes, shape, shape_from=f"--input {args.input}",
                                    classes_from=f"--classes {args.classes}")))
    return 0


# lenet train's options that override a field of the named config when given
_CONFIG_OPTIONS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule")


def _train_config(args, dataset: str) -> TrainConfig:
    """The named config for ``dataset``, with the fields given on the command line in place of its own."""
    from .study.configs import train_config

    fields = train_config(dataset, args.config, seed=args.seed).to_dict()
    fields.update({k: getattr(args, k) for k in _CONFIG_OPTIONS if getattr(args, k) is not None})
    if args.dry_run:
        fields["epochs"] = 1
    return TrainConfig(**{**fields, "hflip": args.hflip})


def cmd_train(args) -> int:
    if not capabilities(args.backend).trains:
        raise ConfigError(f"--backend {args.backend}: inference only, it trains nothing; train with another "
                          f"backend (--backend {trainer_for(args.backend)} --save model.npz), then run the weights "
                          f"with `lenet eval --backend {args.backend} --weights model.npz`")
    threads.set_threads(args.threads)
    _train_config(args, args.dataset)  # a bad option fails before any data is loaded
    _check_writable(args.save, "--save")
    _check_writable(args.json, "--json")
    backend = get_backend(args.backend)
    data = _load_data(args)
    config = _train_config(args, data.name)
    if args.dry_run:
        data = data.subset(train=256, val=128, test=128)
    # The image side comes from --input-size, except for features (imagelist-hist: 64 bins of 1x1).
    sized = data.input_shape[1:] == (args.input_size, args.input_size)
    arch = _build_arch(args.arch, data.num_classes, data.input_shape, classes_from=f"--dataset {args.dataset}",
                       shape_from=f"--input-size {args.input_size}" if sized else f"--dataset {args.dataset}")
    _require_model_fits(arch)
    model = backend.build(arch, seed=args.seed, device=args.device)
    print(f"{args.backend} {arch.name} on {data.name} {data.sizes()}, threads {threads.report()}", flush=True)
    history = backend.train(model, data, config, progress=sys.stderr.isatty())
    print(history.format())
    test = _test_metrics(backend, model, data, config.batch_size)
    print(f"test: loss {test['loss']:.4f}  top1 {test['top1']:.4f}  top5 {test['top5']:.4f}")
    if args.save:
        backend.save(model, args.save)
        print(f"saved {args.save}")
    if args.json:
        from .io.atomic import write_text

        write_text(args.json, json.dumps({"backend": args.backend, "arch": arch.to_dict(), "dataset": data.name,
                                          "config": config.to_dict(), "history": history.to_list(),
                                          "test": test}, indent=2))
    return 0


def cmd_eval(args) -> int:
    threads.set_threads(args.threads)
    backend = get_backend(args.backend)
    model = backend.load(args.weights, device=args.device)
    data = _load_data(args)
    if data.input_shape != model.arch.input_shape or data.num_classes != model.arch.num_classes:
        raise WeightsError(f"{args.weights}: model {model.arch.name} takes input {model.arch.input_shape} with "
                         f"{model.arch.num_classes} classes, but {data.name} has {data.input_shape} and "
                         f"{data.num_classes} classes")
    test = _test_metrics(backend, model, data, args.batch_size or 1024)
    print(f"{args.backend} {model.arch.name} ({args.weights}) on {data.name} test: "
          f"loss {test['loss']:.4f}  top1 {test['top1']:.4f}  top5 {test['top5']:.4f}")
    return 0


def cmd_check_speed(args) -> int:
    from .io.history import load_runs
    from .study.speed_targets import check, format_rows, passed

    runs = [load_runs([path])[-1] for path in args.history]
    rows = check(*runs)
    print(", ".join(str(run.path) for run in runs) + ":")
    print(format_rows(rows))
    return 0 if passed(rows) else 1


def cmd_profile_layers(args) -> int:
    from .backends.handcrafted.profile import format_profile, profile_layers

    get_backend("handcrafted")  # loaded as a backend, so that set_threads sets its worker threads too
    for n in args.threads or [threads.requested()]:
        counts = threads.set_threads(n)
        for arch in args.arch or ["lenet5", "lenet5-relu"]:
            print(format_profile(profile_layers(arch, rounds=args.rounds), f"\n{arch}, threads {counts}"), flush=True)
    return 0


def cmd_compare(args) -> int:
    from .study.compare import compare_runs, exit_status, format_comparison, sides_to_compare

    base, new, beside = sides_to_compare(args.base, args.new, args.last)
    comparison = compare_runs(base, new, threshold=args.threshold / 100, confidence=args.confidence,
                              instruction_threshold=args.threshold_instructions / 100, repeats=beside)
    print(format_comparison(comparison))
    return exit_status(comparison)


def cmd_history(args) -> int:
    from .io.history import load_runs
    from .study.timeline import build_timeline, exit_status, format_timeline

    timeline = build_timeline(load_runs(args.storage), args.select, threshold=args.threshold / 100,
                              confidence=args.confidence, where=", ".join(args.storage))
    print(format_timeline(timeline))
    return exit_status(timeline)


def cmd_bisect(args) -> int:
    from .study.bisect import bisect, format_result

    result = bisect(args.repo, args.good, args.bad, args.select, tuple(args.pytest_args),
                    threshold=args.threshold / 100, confidence=args.confidence)
    print(format_result(result))
    return 0


def cmd_report(args) -> int:
    from .report import build_report, summary_lines
    from .study.compare import exit_status

    require_writable(args.out, "--out", ConfigError, folder=True)
    report = build_report(args.history, args.out, labels=args.label, compare=args.compare,
                          threshold_time=args.threshold_time)
    print("\n".join(summary_lines(report)))
    return exit_status(report.comparison) if report.comparison else 0


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"lenet: warning: {message}\n"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from .backends import BackendUnavailable, DeviceError
    from .data.base import DatasetError
    from .io.history import HistoryError
    from .study.bisect import BisectError

    # Notes (a skipped file, a rebuilt cache) on one line, like errors; restored for callers in-process.
    saved_format, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    try:
        commands = {"info": cmd_info, "train": cmd_train, "eval": cmd_eval, "check-speed": cmd_check_speed,
                    "profile-layers": cmd_profile_layers, "report": cmd_report, "compare": cmd_compare,
                    "history": cmd_history, "bisect": cmd_bisect}
        return commands[args.command](args)
    except (BackendUnavailable, DeviceError, DatasetError, HistoryError, SpecError, ConfigError, WeightsError,
            BisectError, FloatingPointError) as e:  # FloatingPointError: training diverged at a learning rate chosen
        print(f"lenet: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the machine refused: a full disk, a permission, a file that vanished
        where = f"{e.filename}: " if e.filename else ""
        print(f"lenet: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = saved_format


if __name__ == "__main__":
    sys.exit(main())
