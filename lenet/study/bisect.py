"""``lenet bisect GOOD BAD -k SELECTOR``: the first commit whose selected benchmarks regressed against GOOD's.

A change point (``lenet history``) says between which runs a figure moved; the commits between two runs may be many.
TorchBench opens an issue only once bisection names a culprit, and so does this: it drives ``git bisect run``.

* GOOD and BAD are resolved to commits, and GOOD must be an ancestor of BAD (else ``git bisect`` has no range).
* Everything happens in a detached worktree in a temporary folder: the user's checkout, index and branch are never
  touched, and the worktree (with its bisect state) is removed afterwards, whatever happened.
* Each commit is measured by ``python -m pytest PYTEST_ARGS -k SELECTOR --benchmark-json=...`` run in that worktree
  with the worktree first on ``PYTHONPATH``, so that the commit's own code is measured.
* GOOD is measured first; BAD must then show a regression against it (as ``lenet compare`` judges one run per side:
  significant and beyond the threshold), or there is nothing to bisect.  Each step compares its commit against
  GOOD's figures with the judge of *this* ``lenet`` (run with ``python -P`` and this package's root on ``PYTHONPATH``,
  never the bisected commit's copy): a regression marks it bad, no regression good, and a commit whose benchmarks do
  not run is skipped (exit 125).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..io.history import HistoryError, Run, load_run
from ..measure.stats import CONFIDENCE
from .compare import DEFAULT_THRESHOLD, Comparison, compare_runs

DEFAULT_PYTEST_ARGS = ("bench/", "--profile", "quick")
SKIP = 125  # git bisect run: this commit cannot be tested
_FIRST_BAD = re.compile(r"^([0-9a-f]{40}) is the first bad commit", re.MULTILINE)


class BisectError(ValueError):
    """A bisection that cannot start or end: no repository, a range that is not an ancestry, nothing regressed."""


@dataclass(frozen=True)
class Plan:
    """What every step needs; written to a JSON file that the steps read."""

    good_json: str  # GOOD's measured figures
    select: str
    pytest_args: tuple
    threshold: float
    confidence: float


@dataclass(frozen=True)
class Result:
    good: str
    bad: str
    first_bad: str
    subject: str
    at_bad: Comparison  # BAD against GOOD
    log: str  # git bisect's own account


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise BisectError(f"git {' '.join(args)} in {repo}: {last[0]}")
    return done


def resolve(repo: Path, rev: str, what: str) -> str:
    """The full id of the commit ``rev`` names in ``repo``, or a one-line error saying which is not one."""
    if _git(repo, "rev-parse", "--git-dir", check=False).returncode != 0:
        raise BisectError(f"{repo}: not a git repository")
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if done.returncode != 0:
        raise BisectError(f"{what} {rev!r}: not a commit in {repo}")
    return done.stdout.strip()


def check_ancestry(repo: Path, good: str, bad: str, names: tuple[str, str]) -> None:
    """GOOD must be a proper ancestor of BAD: the range that ``git bisect`` walks."""
    if good == bad:
        raise BisectError(f"GOOD {names[0]!r} and BAD {names[1]!r} are the same commit ({good[:12]}): nothing to "
                          f"bisect")
    if _git(repo, "merge-base", "--is-ancestor", good, bad, check=False).returncode != 0:
        raise BisectError(f"GOOD {names[0]!r} ({good[:12]}) is not an ancestor of BAD {names[1]!r} ({bad[:12]}): "
                          f"bisect needs a range where BAD descends from GOOD")


def measure(worktree: Path, plan: Plan, out: Path) -> tuple[Run | None, str]:
    """The selected benchmarks of the commit checked out in ``worktree`` (None when they did not run), and why."""
    out.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(worktree), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "pytest", *plan.pytest_args, "-k", plan.select, f"--benchmark-json={out}",
           "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(cmd, cwd=worktree, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        tail = (done.stdout.strip() + "\n" + done.stderr.strip()).strip().splitlines()[-1:] or ["no output"]
        return None, f"pytest exited {done.returncode}: {tail[0]}"
    run = load_run(out)
    return (run, "") if run.benchmarks else (None, f"-k {plan.select!r} selects no benchmark")


def judge(good: Run, new: Run, plan: Plan) -> Comparison:
    return compare_runs([good], [new], threshold=plan.threshold, confidence=plan.confidence)


def step(plan_path: str) -> int:
    """One ``git bisect run`` step, in the worktree at the commit to test: 1 regressed, 0 not, 125 not measurable."""
    plan = Plan(**json.loads(Path(plan_path).read_text()))
    here = Path.cwd()
    run, why = measure(here, plan, Path(plan_path).with_name("step.json"))
    if run is None:
        print(f"lenet bisect: skipping this commit: {why}")
        return SKIP
    comparison = judge(load_run(plan.good_json), run, plan)
    print(f"lenet bisect: {len(comparison.regressions)} regression(s) against GOOD")
    return 1 if comparison.regressions else 0


def _our_root() -> str:
    """The folder holding this ``lenet`` package: the judge that every step runs."""
    return str(Path(__file__).resolve().parents[2])


def bisect(repo: str | os.PathLike, good_rev: str, bad_rev: str, select: str, pytest_args: tuple = (),
           threshold: float = DEFAULT_THRESHOLD, confidence: float = CONFIDENCE) -> Result:
    """The first bad commit between ``good_rev`` and ``bad_rev`` in ``repo`` for the benchmarks ``select`` picks;
    ``pytest_args`` (empty: :data:`DEFAULT_PYTEST_ARGS`) is what pytest runs at each commit."""
    repo = Path(repo)
    good, bad = resolve(repo, good_rev, "GOOD"), resolve(repo, bad_rev, "BAD")
    check_ancestry(repo, good, bad, (good_rev, bad_rev))
    with tempfile.TemporaryDirectory(prefix="lenet-bisect-") as tmp:
        tmp = Path(tmp)
        worktree = tmp / "worktree"
        _git(repo, "worktree", "add", "--detach", str(worktree), good)
        try:
            args = tuple(pytest_args) or DEFAULT_PYTEST_ARGS
            plan = Plan(str(tmp / "good.json"), select, args, threshold, confidence)
            good_run, why = measure(worktree, plan, Path(plan.good_json))
            if good_run is None:
                raise BisectError(f"GOOD {good_rev!r} ({good[:12]}) could not be measured: {why}")
            _git(worktree, "checkout", "--quiet", "--detach", bad)
            bad_run, why = measure(worktree, plan, tmp / "bad.json")
            if bad_run is None:
                raise BisectError(f"BAD {bad_rev!r} ({bad[:12]}) could not be measured: {why}")
            at_bad = judge(good_run, bad_run, plan)
            if not at_bad.regressions:
                raise BisectError(f"BAD {bad_rev!r} ({bad[:12]}) shows no regression against GOOD {good_rev!r} for -k "
                                  f"{select!r} ({len(at_bad.verdicts)} compared): nothing to bisect")
            plan_path = tmp / "plan.json"
            plan_path.write_text(json.dumps(asdict(plan)))
            _git(worktree, "bisect", "start", bad, good)
            step_env = {**os.environ, "PYTHONPATH": _our_root()}
            done = subprocess.run(["git", "-C", str(worktree), "bisect", "run", sys.executable, "-P", "-m",
                                   "lenet.study.bisect", str(plan_path)], capture_output=True, text=True, env=step_env)
            log = done.stdout + done.stderr
            found = _FIRST_BAD.search(log)
            if found is None:
                raise BisectError(f"git bisect run found no single first bad commit: "
                                  f"{(log.strip().splitlines() or ['no output'])[-1]}")
            first_bad = found.group(1)
            subject = _git(repo, "show", "-s", "--format=%s", first_bad).stdout.strip()
        finally:
            _git(worktree, "bisect", "reset", "--quiet", check=False)
            _git(repo, "worktree", "remove", "--force", str(worktree), check=False)
    return Result(good, bad, first_bad, subject, at_bad, log)


def format_result(r: Result) -> str:
    """What ``lenet bisect`` prints: the culprit first, then what BAD regressed in."""
    lines = [f"first bad commit: {r.first_bad} {r.subject}",
             f"range: GOOD {r.good[:12]} .. BAD {r.bad[:12]}; BAD regressed against GOOD in:"]
    lines += [f"  {v.name}: {', '.join(v.flags)}" for v in r.at_bad.regressions]
    return "\n".join(lines)


if __name__ == "__main__":  # a step of `git bisect run` (see bisect())
    try:
        sys.exit(step(sys.argv[1]))
    except HistoryError as e:
        print(f"lenet bisect: skipping this commit: {e}")
        sys.exit(SKIP)
