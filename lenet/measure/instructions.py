"""Instructions and simulated cache misses per measured call, counted under valgrind's cachegrind.

A wall-clock gate on a shared CI runner flakes or needs a 10-30% threshold; a count of executed
instructions and simulated cache misses repeats to well under 1% whatever else the machine runs, so a
regression gate on it can be tight (CodSpeed's approach).  This VM has no hardware counters, so the count
comes from valgrind.

**Method: the difference of two whole-process counts.**  :func:`count_per_call` runs this module as
``python -m lenet.measure.instructions`` twice, each in a fresh process under
``valgrind --tool=cachegrind --cache-sim=yes``, at 1 thread: once with ``k`` measured calls and once with
``2k``.  Both processes do the same imports, model load and warm-up calls; they differ only by ``k`` more
measured calls, so ``(count(2k) - count(k)) / k`` is the work of one measured call.  Why not toggle
collection around the calls instead: valgrind 3.19's cachegrind has neither ``CACHEGRIND_START/STOP``
client requests nor ``--toggle-collect`` (both came in 3.22); callgrind's ``--toggle-collect`` needs a
function only the measured region enters, and every libc function that takes a callback we tried
(``qsort``) is also called by NumPy and Python themselves, which toggles collection off mid-region.  The
difference is exact up to what differs between two starts of the same program (hash seeds, fixed here by
``PYTHONHASHSEED=0``; addresses): :func:`calls_for` picks ``k`` so that the measured calls outweigh that
residue by far.

**The simulated caches are fixed** (:data:`CACHES`), not read from the host's CPU, so that two runners
with different processors simulate the same caches and give the same misses.  The cycle estimate is
:data:`CYCLES_FORMULA`, the weighting cachegrind's documentation suggests; it is a model, not a
measurement, and a change that only moves memory traffic beyond what these caches see is the known limit
of this method (the report flags a row where time and instructions disagree).

The child (:func:`main`) loads canonical weights and its input from ``.npz`` files and runs either the
forward pass (``--phase infer``) or one training step (``--phase train``) ``--calls`` times after three
warm-up calls.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

# The simulated caches, (size bytes, associativity, line bytes): a common x86 L1 and an 8 MiB last level.
CACHES = {"I1": (32768, 8, 64), "D1": (32768, 8, 64), "LL": (8388608, 16, 64)}
CYCLES_FORMULA = "instructions + 10 x L1 misses (I1+D1) + 100 x LL misses"
L1_MISS_CYCLES, LL_MISS_CYCLES = 10, 100
WARMUP_CALLS = 3
MEASURED_SECONDS = 0.03  # native time of the k extra calls (see calls_for)
MAX_CALLS = 500
_EVENTS = ("Ir", "I1mr", "ILmr", "Dr", "D1mr", "DLmr", "Dw", "D1mw", "DLmw")


class InstrumentError(RuntimeError):
    """Instructions could not be counted: valgrind absent or failing, or its output unreadable."""


@dataclass(frozen=True)
class InstructionCount:
    """What one measured call costs in cachegrind's simulation, from the difference of two processes.

    ``instructions``: instructions executed (``Ir``); ``l1_misses``: first-level misses, instruction and data
    (``I1mr + D1mr + D1mw``); ``ll_misses``: last-level misses (``ILmr + DLmr + DLmw``); all per call.
    ``calls``: the ``k`` of the difference; ``call``: what one call is.
    """

    instructions: float
    l1_misses: float
    ll_misses: float
    calls: int
    call: str
    valgrind: str

    @property
    def cycles(self) -> float:
        """Estimated cycles per call (:data:`CYCLES_FORMULA`)."""
        return self.instructions + L1_MISS_CYCLES * self.l1_misses + LL_MISS_CYCLES * self.ll_misses

    def as_record(self) -> dict:
        """The ``extra_info["instructions"]`` record: the counts, the formula and what was simulated."""
        return {**asdict(self), "cycles": self.cycles, "cycles_formula": CYCLES_FORMULA,
                "caches": {name: f"{size} B, {assoc}-way, {line} B lines" for name, (size, assoc, line)
                           in CACHES.items()},
                "method": "cachegrind, (count(2k calls) - count(k calls)) / k, fresh processes at 1 thread"}


def parse_cachegrind(path: Path) -> dict[str, int]:
    """The ``summary:`` totals of a cachegrind output file, by event name (``Ir``, ``D1mr``, ...)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        raise InstrumentError(f"{path}: cannot read cachegrind's output: {e.strerror or e}") from None
    events = re.search(r"^events:(.*)$", text, re.MULTILINE)
    summary = re.search(r"^summary:(.*)$", text, re.MULTILINE)
    if not events or not summary:
        raise InstrumentError(f"{path}: not a cachegrind output file (no 'events:' and 'summary:' lines)")
    names, values = events.group(1).split(), summary.group(1).split()
    if len(names) != len(values) or not all(v.isdigit() for v in values):
        raise InstrumentError(f"{path}: cachegrind summary {summary.group(1).strip()!r} does not match its events "
                              f"{events.group(1).strip()!r}")
    counts = dict(zip(names, map(int, values)))
    missing = [e for e in _EVENTS if e not in counts]
    if missing:
        raise InstrumentError(f"{path}: cachegrind counted no {', '.join(missing)} (was --cache-sim=yes given?)")
    return counts


def valgrind_path() -> str:
    """The valgrind executable (``LENET_VALGRIND``, else ``valgrind`` on PATH), or an error saying how to get it."""
    path = shutil.which(os.environ.get("LENET_VALGRIND") or "valgrind")
    if path is None:
        raise InstrumentError("valgrind is not installed (apt-get install valgrind): instruction counts need "
                              "its cachegrind tool")
    return path


def valgrind_version(valgrind: str) -> str:
    """``valgrind --version`` (e.g. ``valgrind-3.19.0``), or an error when it does not start."""
    try:
        proc = subprocess.run([valgrind, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InstrumentError(f"{valgrind} --version failed: {e}") from None
    version = proc.stdout.strip()
    if proc.returncode != 0 or not version.startswith("valgrind-"):
        raise InstrumentError(f"{valgrind} --version failed ({proc.returncode}): "
                              f"{_last_line(proc.stderr or proc.stdout)}")
    return version


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def cachegrind_command(valgrind: str, out_file: Path) -> list[str]:
    """valgrind's arguments: cachegrind with the cache simulation over the fixed :data:`CACHES`."""
    caches = [f"--{name}={size},{assoc},{line}" for name, (size, assoc, line) in CACHES.items()]
    return [valgrind, "--tool=cachegrind", "--cache-sim=yes", *caches, f"--cachegrind-out-file={out_file}"]


def _child_env() -> dict:
    """The child's environment: one thread everywhere, fixed hash seed (so both starts do the same work).

    The pools are sized before any library starts them; the child's ``threads.set_threads(1)`` then sets each
    backend's own knob (torch, TF, XLA's Eigen).
    """
    one = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "LENET_THREADS")}
    return {**os.environ, **one, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _start(child_args: list[str], calls: int, folder: Path, valgrind: str) -> subprocess.Popen:
    """The child with ``calls`` measured calls, started under cachegrind (output and stderr in ``folder``)."""
    cmd = [*cachegrind_command(valgrind, folder / f"cachegrind.{calls}"), sys.executable, "-m",
           "lenet.measure.instructions", *child_args, "--calls", str(calls)]
    with open(folder / f"stderr.{calls}", "w") as stderr:
        try:
            return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr, env=_child_env())
        except OSError as e:
            raise InstrumentError(f"{valgrind} did not start: {e}") from None


def _finish(proc: subprocess.Popen, calls: int, folder: Path, what: str, timeout: float) -> dict[str, int]:
    """Wait for a counted child; its whole-process totals, or an error with valgrind's last line."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InstrumentError(f"cachegrind run of {what} (--calls {calls}) took over {timeout:.0f} s") from None
    if code != 0:
        last = _last_line((folder / f"stderr.{calls}").read_text(errors="replace"))
        raise InstrumentError(f"cachegrind run of {what} (--calls {calls}) failed ({code}): {last}")
    return parse_cachegrind(folder / f"cachegrind.{calls}")


def per_call(base: dict[str, int], doubled: dict[str, int], calls: int, call: str, version: str,
             what: str) -> InstructionCount:
    """The counts of one call from the totals of ``calls`` and ``2 * calls`` measured calls.

    An instruction difference that is not positive means the two processes did not differ by the calls alone
    (or the calls did nothing): an error, never a zero or negative count.  A miss difference may be slightly
    negative: when a warmed-up call misses nothing in the last level, the few misses by which two starts differ
    are all there is, and that reads 0.
    """
    diff = {e: doubled[e] - base[e] for e in _EVENTS}
    diff |= {e: max(0, v) for e, v in diff.items() if e != "Ir"}
    if diff["Ir"] <= 0:
        raise InstrumentError(f"{what}: {2 * calls} calls counted {doubled['Ir']:,} instructions and {calls} calls "
                              f"{base['Ir']:,}; the difference must be positive")
    return InstructionCount(instructions=diff["Ir"] / calls,
                            l1_misses=(diff["I1mr"] + diff["D1mr"] + diff["D1mw"]) / calls,
                            ll_misses=(diff["ILmr"] + diff["DLmr"] + diff["DLmw"]) / calls,
                            calls=calls, call=call, valgrind=version)


def calls_for(seconds_per_call: float) -> int:
    """The ``k`` for a call timed at ``seconds_per_call``: enough calls for :data:`MEASURED_SECONDS` of native work.

    At a few G instructions a second that is about a hundred million instructions in the ``k`` extra calls,
    against a start-to-start residue measured at about 10,000 (two counts of 20 LeNet-5 calls at batch 64
    differed by 487 instructions a call).  Valgrind runs the calls 40-80 times slower, and the process start
    (20-120 s of CPU under valgrind) is paid twice whatever ``k`` is, so more calls buy nothing.
    """
    if not (seconds_per_call > 0 and math.isfinite(seconds_per_call)):
        raise ValueError(f"seconds per call must be a positive number, got {seconds_per_call!r}")
    return max(1, min(MAX_CALLS, math.ceil(MEASURED_SECONDS / seconds_per_call)))


def count_per_call(child_args: list[str], calls: int, call: str, timeout: float = 3600,
                   work_dir: Path | None = None) -> InstructionCount:
    """Instructions and simulated misses of one call of the child described by ``child_args``.

    The runs with ``calls`` and ``2 * calls`` measured calls run side by side; whatever ends the wait (an
    error, the ``timeout`` in seconds, Ctrl-C) ends both.
    """
    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls!r}")
    valgrind = valgrind_path()
    version = valgrind_version(valgrind)
    what = " ".join(child_args)
    with tempfile.TemporaryDirectory(prefix="lenet-cachegrind-", dir=work_dir) as tmp:
        folder, started = Path(tmp), []
        try:
            for n in (calls, 2 * calls):
                started.append((n, _start(child_args, n, folder, valgrind)))
            base, doubled = (_finish(proc, n, folder, what, timeout) for n, proc in started)
        finally:
            for _, proc in started:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return per_call(base, doubled, calls, call, version, what)


def main(argv=None) -> None:
    """The child: load the model and input, warm up, then run ``--calls`` measured calls (nothing printed)."""
    p = argparse.ArgumentParser(prog="python -m lenet.measure.instructions",
                                description="run a backend's forward pass or training step --calls times, "
                                            "for cachegrind to count (see the module's docstring)")
    p.add_argument("--backend", required=True)
    p.add_argument("--weights", required=True, help="canonical weights (.npz) of the model")
    p.add_argument("--inputs", required=True, help=".npz with x (NCHW float32) and, for --phase train, y")
    p.add_argument("--phase", choices=("infer", "train"), required=True)
    p.add_argument("--mode", default=None, help="the backend's execution mode (default: its first)")
    p.add_argument("--calls", type=int, required=True)
    args = p.parse_args(argv)
    if args.calls < 0:
        p.error(f"--calls must be >= 0, got {args.calls}")

    import numpy as np

    from ..backends import get_backend
    from . import threads

    threads.set_threads(1)
    backend = get_backend(args.backend)
    model = backend.load(args.weights)
    with np.load(args.inputs) as data:
        x = data["x"]
        y = data["y"] if args.phase == "train" else None
    if args.phase == "infer":
        run = backend.make_forward(model, x, mode=args.mode)
    else:
        from ..training import TrainConfig

        config = TrainConfig(epochs=1, batch_size=len(x), optimizer="sgd", lr=1e-3)
        trainer = backend.trainer(model, x, y, config, mode=args.mode)
        batch = np.arange(len(x))

        def run():
            trainer.step(batch, config.lr)
    for _ in range(WARMUP_CALLS):
        run()
    for _ in range(args.calls):
        run()


def write_inputs(path: Path, x, y=None) -> Path:
    """The child's ``--inputs`` file: the benchmark's own input (and labels), so both count the same work."""
    import numpy as np

    arrays = {"x": np.ascontiguousarray(x, dtype=np.float32)}
    if y is not None:
        arrays["y"] = np.asarray(y)
    np.savez(path, **arrays)
    return Path(path)


if __name__ == "__main__":
    main()
