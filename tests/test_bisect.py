"""``lenet bisect`` on a throwaway repository: six commits, one of which makes the benchmarked function 4x slower.

The benchmark sleeps (1 ms, then 4 ms from the culprit on): a sleep's length does not depend on how busy the shared
CPUs are, so the slowdown stands far beyond any noise, and the threshold is set at 50% so that no good commit is
called bad by a slow moment.  The bisection must name exactly the culprit, and the user's checkout must come out
untouched.
"""
import os
import re
import shutil
import subprocess

import pytest

from lenet.cli import main

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="lenet bisect drives git, which is not installed")

BENCH = '''import work


def test_work(benchmark):
    benchmark(work.work)


def test_other(benchmark):
    benchmark(sum, range(100))
'''
WORK = "import time\n\n\ndef work():\n    time.sleep({})\n"
PYTEST_ARGS = ["--pytest-args=test_bench.py --benchmark-min-rounds=15 --benchmark-max-time=0.05"]
ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.org"}


def git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **ENV}).stdout.strip()


def commit(repo, message, **files) -> str:
    for name, text in files.items():
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """``(path, commits)``: c0 good, c1-c2 harmless, c3 the slowdown, c4-c5 harmless."""
    path = tmp_path_factory.mktemp("throwaway")
    git(path, "init", "-q", "-b", "main")
    commits = [commit(path, "the benchmark", **{"test_bench.py": BENCH, "work.py": WORK.format(0.005)})]
    commits.append(commit(path, "readme", **{"README": "a throwaway repository\n"}))
    commits.append(commit(path, "a comment", **{"work.py": "# work\n" + WORK.format(0.005)}))
    commits.append(commit(path, "the deliberate slowdown", **{"work.py": "# work\n" + WORK.format(0.02)}))
    commits.append(commit(path, "more readme", **{"README": "still throwaway\n"}))
    commits.append(commit(path, "notes", **{"NOTES": "nothing\n"}))
    return path, commits


def test_bisect_names_the_commit_that_made_it_slower(repo, capsys):
    path, commits = repo
    head = git(path, "rev-parse", "HEAD")
    status = git(path, "status", "--porcelain")
    assert main(["bisect", commits[0], "main", "-k", "test_work", "--repo", str(path), "--threshold", "50",
                 *PYTEST_ARGS]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"first bad commit: {commits[3]} the deliberate slowdown"), out
    assert re.search(r"test_work: ⚠ slower x[34]\.\d\d", out), out
    assert git(path, "rev-parse", "HEAD") == head and git(path, "status", "--porcelain") == status
    assert git(path, "worktree", "list").count("\n") == 0  # the temporary worktree is gone
    assert not (path / ".git" / "BISECT_LOG").exists()


@pytest.mark.parametrize(("good", "bad", "extra", "message"), [
    (5, 0, [], r"GOOD '\w+' \(\w{12}\) is not an ancestor of BAD '\w+' \(\w{12}\): bisect needs a range"),
    (None, 5, [], r"GOOD 'no-such-rev': not a commit in "),
    (0, 2, [], r"BAD '\w+' \(\w{12}\) shows no regression against GOOD '\w+' for -k 'test_work'"),
    (0, 5, ["-k", "no_such_test"], r"GOOD '\w+' \(\w{12}\) could not be measured: pytest exited 5"),
])
def test_what_cannot_be_bisected_is_one_line(repo, capsys, good, bad, extra, message):
    path, commits = repo
    good = "no-such-rev" if good is None else commits[good]
    args = ["bisect", good, commits[bad], "-k", "test_work", "--repo", str(path), "--threshold", "50", *extra]
    assert main(args + PYTEST_ARGS) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lenet: error: ") and re.search(message, err), err
    assert git(path, "worktree", "list").count("\n") == 0


def test_a_folder_that_is_not_a_repository_is_named(tmp_path, capsys):
    assert main(["bisect", "a", "b", "-k", "x", "--repo", str(tmp_path)]) == 2
    assert f"lenet: error: {tmp_path}: not a git repository" in capsys.readouterr().err
