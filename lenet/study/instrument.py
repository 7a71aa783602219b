"""The bench's instrumented mode (``--instrument instructions``): each timed body also counted under valgrind.

:class:`Instrument` is what the ``instrument`` fixture of ``bench/conftest.py`` gives a timed benchmark.
Off, it does nothing; on, it saves the benchmark's model and input and counts one call (one forward pass,
or one training step) in fresh processes under cachegrind (:mod:`lenet.measure.instructions`), recording
the counts in ``extra_info["instructions"]``.  Backends whose :class:`~lenet.backends.Capabilities`
declare counting impractical are left out when the option is on (:func:`counted_backends`), never
skipped at run time.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..backends import capabilities
from ..measure import instructions as cg

INSTRUMENTS = ("instructions",)


def counted_backends(names, instrument: str | None) -> tuple:
    """``names``, less the backends that declare instruction counting impractical when ``instrument`` is on."""
    if instrument is None:
        return tuple(names)
    return tuple(b for b in names if capabilities(b).counts_instructions)


def check_instrument(instrument: str | None) -> None:
    """At configure time: a known instrument, and valgrind present and starting (else one clear line)."""
    if instrument is None:
        return
    if instrument not in INSTRUMENTS:
        raise ValueError(f"--instrument: unknown {instrument!r}; choose from {','.join(INSTRUMENTS)}")
    cg.valgrind_version(cg.valgrind_path())


@dataclass
class Instrument:
    """Counts a benchmark's call under cachegrind when ``instrument`` is set; records it in ``extra_info``."""

    instrument: str | None
    work_dir: Path

    def count(self, benchmark, backend_name: str, backend, model, phase: str, x, seconds_per_call: float,
              y=None, mode: str | None = None) -> None:
        """Count one call of ``phase`` (``"infer"``: forward on ``x``; ``"train"``: one step on ``x, y``).

        ``seconds_per_call``: the call's timed median, which sizes the measured calls (:func:`calls_for`).
        """
        if self.instrument is None:
            return
        weights = self.work_dir / "weights.npz"
        backend.save(model, weights)
        inputs = cg.write_inputs(self.work_dir / "inputs.npz", x, y)
        args = ["--backend", backend_name, "--weights", str(weights), "--inputs", str(inputs), "--phase", phase]
        call = (f"one forward pass at batch {len(x)}" if phase == "infer"
                else f"one training step at batch {len(x)}")
        counted = cg.count_per_call(args + (["--mode", mode] if mode else []), cg.calls_for(seconds_per_call),
                                    call, work_dir=self.work_dir)
        benchmark.extra_info["instructions"] = counted.as_record()
