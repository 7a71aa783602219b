"""``lenet report``: every table read back and compared with the JSON, real PNGs with the right axes,
missing groups said so, two machines merged, a doctored slower run flagged, bad files named.

The slow tests share the session's quick bench run (``quick_run`` in tests/conftest.py): the bench runs
once for tests/test_bench_study.py and this file together.  The others build small histories by hand.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.image import imread

from lenet.cli import main
from lenet.io.history import HistoryError
from lenet.io.records import machine_label
from lenet.report import build_report
from lenet.report.markdown import sig
from lenet.report.plots import DPI, WIDE, pareto_front
from lenet.schema import section_of
from lenet.study.speed_targets import check

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- reading the markdown back --------------------------------------------------------------------------------

def _split_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [c.strip().replace("\\|", "|") for c in cells]


FOLDED = re.compile(r"^Every row: (.+?)\.(?: |$)")


def parse_tables(md: str) -> list[dict]:
    """Every markdown table: {"section": last "## " heading, "caption": last bold line, "header", "rows", "note"}.

    Identity columns the report folds into the note ("Every row: arch lenet5, device cpu.") are put back into
    every row, so that rows are picked by the same keys whether or not a column was folded.
    """
    out, section, caption, lines, i = [], None, None, md.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section, caption = line[3:].strip(), None
        elif line.startswith("**") and line.endswith("**"):
            caption = line.strip("*")
        elif line.startswith("|"):
            header = _split_row(line)
            assert re.fullmatch(r"\|(:?---:?\|)+", lines[i + 1]), lines[i + 1]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = _split_row(lines[i])
                assert len(cells) == len(header), lines[i]
                rows.append(dict(zip(header, cells)))
                i += 1
            note = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith(("|", "#", "**", "![")) else ""
            if folded := FOLDED.match(note):
                for part in folded[1].split(", "):
                    key, value = part.split(" ", 1)
                    assert key not in header
                    for row in rows:
                        row[key] = value
            out.append({"section": section, "caption": caption, "header": header, "rows": rows, "note": note})
            caption = None  # a caption names the one table under it
            continue
        i += 1
    return out


def table(md: str, section: str, caption: str | None = None) -> dict:
    """The one table of ``section`` with that caption (None: the section's table without a caption)."""
    found = [t for t in parse_tables(md) if t["section"] == section and t["caption"] == caption]
    assert len(found) == 1, f"{len(found)} tables in section {section!r} caption {caption!r}"
    return found[0]


def num(cell: str):
    """A cell as a number (separators, %, × and signs handled); None for a dash."""
    if cell == "-":
        return None
    return float(cell.replace(",", "").replace("%", "").replace("×", ""))


UNITS = {"s": 1.0, "ms": 1e-3, "µs": 1e-6}


def column(row: dict, key: str) -> tuple[str, float]:
    """(header, seconds per unit) of ``key`` in ``row``; a key with ``{unit}`` matches the unit the report chose."""
    if "{unit}" not in key:
        return key, 1.0
    found = [(key.replace("{unit}", u), s) for u, s in UNITS.items() if key.replace("{unit}", u) in row]
    assert len(found) == 1, (key, list(row))
    return found[0]


def agrees(cell: str, value, header: str, scale: float = 1.0) -> bool:
    """The cell shows ``value`` at the report's precision (4 decimals for accuracies, 4 significant figures).

    ``scale``: seconds per unit of a duration column (``value`` is then in seconds).
    """
    if value is None:
        # a recorded null break-even reads "never"; a field the row lacks reads as a dash
        return cell in (("never", "-") if header == "break-even calls" else ("-",))
    got = num(cell)
    if got is None:
        return False
    if "top-" in header:
        return abs(got - value) <= 5.1e-5
    return got * scale == pytest.approx(value, rel=6e-4, abs=1e-12)


def check_row(row: dict, expected: dict) -> None:
    """``expected``: header -> JSON value; a header with ``{unit}`` is a duration, its value in seconds."""
    for key, value in expected.items():
        header, scale = column(row, key)
        assert agrees(row[header], value, header, scale), f"{header}: table shows {row[header]!r}, JSON has {value!r}"


def interval(row: dict, key: str) -> tuple[float, float]:
    """A "low–high" duration cell, in seconds."""
    header, scale = column(row, key)
    low, high = row[header].split("–")
    return num(low) * scale, num(high) * scale


def pick(rows: list[dict], **ident) -> dict:
    found = [r for r in rows if all(r[k] == str(v) for k, v in ident.items())]
    assert len(found) == 1, (ident, rows)
    return found[0]


def benchmarks(doc: dict, prefix: str) -> list[dict]:
    return [b for b in doc["benchmarks"] if (b.get("group") or "").startswith(prefix)]


HEADLINE = ("accuracy", "inference", "train-epoch", "memory", "flops")  # the groups of the overall table


def headline(doc: dict) -> list[dict]:
    return [b for b in doc["benchmarks"] if (b.get("group") or "").startswith(HEADLINE)]


def ident(b: dict, **more) -> dict:
    e = b["extra_info"]
    return {"backend": e["backend"], "arch": e["arch"], "device": e["device"], **more}


# --- hand-made histories --------------------------------------------------------------------------------------

COMMON = {"arch": "lenet5", "arch_name": "lenet5-tanh-maxpool", "device": "cpu", "dataset": "digits", "epochs": 4,
          "seed": 0, "params": 61706, "param_bytes": 246824, "macs_per_sample": 416520,
          "flops_per_sample": 833040, "flops_tf_per_sample": 845862, "test_top1": 0.9, "test_top5": 1.0}


def entry(group: str, name: str, extra: dict, median: float = 1e-3, params: dict | None = None) -> dict:
    return {"group": group, "name": name, "fullname": f"bench/test_x.py::{name}", "params": params or {},
            "stats": {"median": median, "iqr": median / 10, "stddev": median / 5, "rounds": 5, "iterations": 1},
            "extra_info": {**COMMON, **extra}}


def write_history(path: Path, benchmarks: list, node: str = "box", when: str = "2026-11-22T00:00:00",
                  lenet: dict | None = None) -> Path:
    path.write_text(json.dumps({"machine_info": {"node": node, "cpu": {"brand_raw": "Test CPU"},
                                                 "lenet": lenet or {}},
                                "commit_info": {"id": "abc", "dirty": False}, "datetime": when,
                                "benchmarks": benchmarks}), encoding="utf-8")
    return path


def assert_png(path: Path, size: tuple) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    pixels = imread(path)
    assert pixels.shape[:2] == (round(size[1] * DPI), round(size[0] * DPI)), (path, pixels.shape)
    assert pixels.std() > 0  # something was drawn


# --- the real bench run ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def history(quick_run, tmp_path_factory) -> Path:
    """A copy of the quick run's history (tests alter copies, never the shared file): the first one saved in its
    storage, since other tests run the bench again in the same folder and plain pytest bench/ autosaves."""
    tmp, proc = quick_run
    files = sorted((tmp / "storage").rglob("0001_*.json"))
    assert len(files) == 1, "the bench saved no history:\n" + proc.stdout[-3000:] + proc.stderr[-2000:]
    dest = tmp_path_factory.mktemp("history") / files[0].name
    shutil.copy(files[0], dest)
    return dest


@pytest.fixture(scope="module")
def doc(history) -> dict:
    """The quick run's history as a dict, for tests that write doctored copies of it: without its content
    digest, which a doctored copy would no longer match (tests/test_bad_inputs_history.py checks the digest)."""
    d = json.loads(history.read_text(encoding="utf-8"))
    assert d["lenet_session"].pop("content_sha256")
    return d


@pytest.fixture(scope="module")
def report(history, tmp_path_factory):
    return build_report([history], tmp_path_factory.mktemp("report"))


@pytest.mark.slow
def test_sections_follow_the_groups_present(report, doc):
    groups = {section_of(b["group"]) for b in doc["benchmarks"]}
    assert {"accuracy", "inference", "training", "flops"} <= groups
    headings = re.findall(r"^## (.+)$", report.markdown, flags=re.M)
    titles = {"accuracy": "Accuracy", "inference": "Inference", "training": "Training", "memory": "Memory",
              "flops": "FLOPs", "graph": "Static vs dynamic graph", "compression": "Compression",
              "mlp-sweep": "MLP sweep"}
    for key, title in titles.items():
        assert (title in headings) == (key in groups), title
        assert any(n.startswith(title + " (") for n in report.not_run) == (key not in groups), title
    assert {"Histories", "Conventions", "Overall performance", "Speed targets"} <= set(headings)
    assert "## Not run in these histories" in report.markdown  # compression never runs in the shared quick run
    assert report.readme.read_text(encoding="utf-8") == report.markdown


@pytest.mark.slow
def test_wall_time_per_part_matches_the_session_info(report, doc):
    parts = doc["lenet_session"]["parts_wall_s"]
    t = table(report.markdown, "Histories", "Wall time per part")
    shown = {row["part"]: num(row["wall time (s)"]) for row in t["rows"]}
    assert set(shown) == set(parts) and "total (session)" in shown
    for part, seconds in parts.items():
        assert shown[part] == pytest.approx(seconds, rel=1e-3, abs=1e-3), part


@pytest.mark.slow
def test_overall_table_matches_json(report, doc):
    t = table(report.markdown, "Overall performance")
    sizes = table(report.markdown, "Overall performance", "Sizes and work")
    assert len(t["header"]) <= 10  # the headline; the rest is in the detail table and the sections
    assert "MACs/sample (thop convention)" in sizes["header"]
    idents = {(b["extra_info"]["backend"], b["extra_info"]["arch"], b["extra_info"]["device"])
              for b in headline(doc)}
    assert len(t["rows"]) == len(sizes["rows"]) == len(idents)
    train_batches = [b["extra_info"]["batch_size"] for b in benchmarks(doc, "train-epoch")]
    shown_batch = max(set(train_batches), key=lambda b: (train_batches.count(b), -b))
    for backend, arch, device in idents:
        mine = [b for b in headline(doc) if ident(b) == {"backend": backend, "arch": arch, "device": device}]
        by = lambda prefix, batch=None, mine=mine: next(  # noqa: E731
            (b for b in mine if b["group"].startswith(prefix)
             and (batch is None or b["extra_info"]["batch_size"] == batch)), None)
        acc, b1, b1024, mem = by("accuracy"), by("inference", 1), by("inference", 1024), by("memory")
        epoch = by("train-epoch", shown_batch)
        e = mine[0]["extra_info"]
        key = {"backend": backend, "arch": arch, "device": device}
        expected = {
            "test top-1": acc and acc["extra_info"]["test_top1"],
            "inference {unit}, batch 1 (median)": b1 and b1["stats"]["median"],
            "img/s, batch 1024": b1024 and 1024 / b1024["stats"]["median"],
            f"train epoch {{unit}}, batch {shown_batch} (median)": epoch and epoch["stats"]["median"],
            "peak RSS MiB (inference, batch 1024)": mem and mem["extra_info"]["infer_peak_rss_mib"],
        }
        flagged = sum(bool(b["extra_info"].get("unstable")) for b in mine)
        if any(b["extra_info"].get("unstable") for b in headline(doc)):  # the column shows when any row has one
            expected["⚠ unstable benchmarks"] = flagged or None
        else:
            assert "⚠ unstable benchmarks" not in t["header"]
        check_row(pick(t["rows"], **key), expected)
        row = pick(sizes["rows"], **key)
        assert abs(num(row.pop("param MB (10^6 bytes)")) - e["param_bytes"] / 1e6) <= 5e-4
        check_row(row, {"test top-5": acc and acc["extra_info"]["test_top5"], "params": e["params"],
                        "param bytes (float32)": e["param_bytes"],
                        "MACs/sample (thop convention)": e["macs_per_sample"],
                        "file bytes (.npz)": mem and mem["extra_info"]["file_bytes"]})


@pytest.mark.slow
def test_accuracy_table_matches_json(report, doc):
    scores = table(report.markdown, "Accuracy")
    setup = table(report.markdown, "Accuracy", "Training setup")
    cost = table(report.markdown, "Accuracy", "Training and evaluation time")
    acc = benchmarks(doc, "accuracy")
    trained = [b for b in acc if not b["extra_info"].get("weights_from")]  # onnxruntime runs handcrafted's weights
    assert len(scores["rows"]) == len(cost["rows"]) == len(acc) and len(setup["rows"]) == len(trained) < len(acc)
    for b in acc:
        e = b["extra_info"]
        check_row(pick(scores["rows"], **ident(b)), {"val top-1": e["val_top1"], "val top-5": e["val_top5"],
                                                     "test top-1": e["test_top1"], "test top-5": e["test_top5"]})
        check_row(pick(cost["rows"], **ident(b)), {"training {unit}": e["train_seconds"],
                                                   "test-set predict {unit} (median)": b["stats"]["median"]})
        if b not in trained:
            assert not [r for r in setup["rows"] if r["backend"] == e["backend"]]  # never shown as trained
            continue
        row = pick(setup["rows"], **ident(b))
        check_row(row, {"epochs": e["epochs"], "seed": e["seed"], "lr": e["train_config"]["lr"],
                        "train batch": e["train_config"]["batch_size"]})
        assert row["dataset"] == e["dataset"] and row["optimizer"] == e["train_config"]["optimizer"]


@pytest.mark.slow
def test_inference_tables_match_json(report, doc):
    steady = table(report.markdown, "Inference", "Steady state (after warm-up)")
    spread = table(report.markdown, "Inference", "Spread and rounds")
    first = table(report.markdown, "Inference", "First call (tracing, compilation, allocator warm-up)")
    inf = benchmarks(doc, "inference")
    assert len(steady["rows"]) == len(spread["rows"]) == len(first["rows"]) == len(inf) > 0
    for b in inf:
        s, e = b["stats"], b["extra_info"]
        key = ident(b, batch=e["batch_size"])
        row = pick(steady["rows"], **key)
        check_row(row, {"latency {unit} (median)": s["median"], "p90 {unit}": e["timing"]["p90_s"],
                        "p99 {unit}": e["timing"]["p99_s"], "img/s (batch / median)": e["batch_size"] / s["median"]})
        low, high = interval(row, "median 95% CI {unit}")
        assert (low, high) == pytest.approx(tuple(e["timing"]["median_ci95_s"]), rel=6e-4)
        # the reasons: a footnote (no column at all when no row is flagged)
        assert row.get("flag", "-").startswith("-" if not e["unstable"] else "⚠ unstable [")
        if e["unstable"]:
            assert f"{row['flag'][len('⚠ unstable '):]} {'; '.join(e['unstable_reasons'])}." in steady["note"]
        check_row(pick(spread["rows"], **key), {"IQR {unit}": s["iqr"], "stddev {unit}": s["stddev"],
                                                "rounds": s["rounds"], "iterations": s["iterations"]})
        check_row(pick(first["rows"], **key), {"first call {unit}": e["first_call_s"]})
    assert not any(h.startswith("first call") for h in steady["header"])  # first-call cost is shown apart


@pytest.mark.slow
def test_training_table_matches_json(report, doc):
    t = table(report.markdown, "Training")
    steps = table(report.markdown, "Training", "Spread and steps")
    epochs = benchmarks(doc, "train-epoch")
    assert len(t["rows"]) == len(steps["rows"]) == len(epochs) > 0
    for b in epochs:
        e = b["extra_info"]
        key = ident(b, batch=e["batch_size"])
        check_row(pick(t["rows"], **key), {"epoch {unit} (median)": b["stats"]["median"],
                                           "images/epoch": e["train_samples"],
                                           "img/s (images / median)": e["train_samples"] / b["stats"]["median"]})
        row = pick(steps["rows"], **key)
        check_row(row, {"IQR {unit}": b["stats"]["iqr"], "step p50 {unit}": e["step_timing"]["p50_s"],
                        "step p90 {unit}": e["step_timing"]["p90_s"], "step p99 {unit}": e["step_timing"]["p99_s"]})
        assert row["speed dataset"] == e["speed_dataset"]


@pytest.mark.slow
def test_scenarios_and_roofline_match_json(report, doc):
    single = table(report.markdown, "Scenarios", "Single stream (one sample per query, back to back)")
    offline = table(report.markdown, "Scenarios", "Offline (every sample available at once, at the best batch size)")
    for b in benchmarks(doc, "scenario single-stream"):
        e = b["extra_info"]
        check_row(pick(single["rows"], **ident(b)), {
            "queries": e["queries"], "p50 {unit}": e["latency_p50_ms"] / 1e3, "p90 {unit}": e["latency_p90_ms"] / 1e3,
            "p99 {unit}": e["latency_p99_ms"] / 1e3, "p90 99% upper bound {unit}": e["p90_upper99_ms"] / 1e3})
    for b in benchmarks(doc, "scenario offline"):
        e = b["extra_info"]
        check_row(pick(offline["rows"], **ident(b)), {"best batch": e["batch_size"], "img/s": e["throughput_img_s"],
                                                      "batch time {unit} (median)": b["stats"]["median"],
                                                      "GFLOP/s (analytic)": e["achieved_gflops"],
                                                      "% of GEMM peak": e["pct_of_peak"]})
    roof = table(report.markdown, "Roofline")
    ceiling = doc["lenet_session"]["ceiling"]
    (machine,) = table(report.markdown, "Roofline", "The machine's ceiling, measured in the same session")["rows"]
    check_row(machine, {"GEMM peak GFLOP/s (fp32)": ceiling["gemm_gflops"],
                        "copy bandwidth GB/s": ceiling["bandwidth_gbs"]})
    timed = [b for b in doc["benchmarks"] if b["group"].startswith(("inference", "train-epoch", "scenario offline"))]
    assert len(roof["rows"]) == len(timed) > 0
    phases = {"inference": "inference", "train-epoch": "training", "scenario offline": "offline"}
    for b in timed:
        e = b["extra_info"]
        phase = next(v for k, v in phases.items() if b["group"].startswith(k))
        check_row(pick(roof["rows"], **ident(b, phase=phase, batch=e["batch_size"])), {
            "GFLOP/s (analytic)": e["achieved_gflops"], "FLOP/byte (analytic)": e["arithmetic_intensity_flop_per_byte"],
            "roof GFLOP/s": e["roof_gflops"], "% of roof": 100 * e["achieved_gflops"] / e["roof_gflops"],
            "% of GEMM peak": e["pct_of_peak"]})


def _memory_benchmarks(doc: dict) -> list[dict]:
    """The run's memory benchmarks or, when the bench could not run them, ones with the bench's fields."""
    real = benchmarks(doc, "memory")
    if real:
        return real
    made = []
    for i, b in enumerate(benchmarks(doc, "accuracy")):
        m = copy.deepcopy(b)
        m.update(group="memory", name=b["name"].replace("accuracy", "memory"),
                 fullname=b["fullname"].replace("accuracy", "memory"))
        m["extra_info"].update(file_bytes=252502 + i, gzip_bytes=229876 - i, infer_peak_rss_mib=307.71 + i,
                               infer_baseline_rss_mib=232.86, infer_delta_rss_mib=74.85 + i, infer_batch_size=1024,
                               train_peak_rss_mib=328.89, train_baseline_rss_mib=303.73, train_delta_rss_mib=25.16,
                               train_epoch_samples=1024, infer_device_peak_bytes=None,
                               train_device_peak_bytes=None if i else 123456789)
        made.append(m)
    return made


@pytest.mark.slow
def test_memory_tables_match_json(doc, tmp_path):
    d = copy.deepcopy(doc)
    mem = _memory_benchmarks(d)
    d["benchmarks"] = [b for b in d["benchmarks"] if b["group"] != "memory"] + mem
    path = tmp_path / "with-memory.json"
    path.write_text(json.dumps(d))
    md = build_report([path], tmp_path / "out").markdown
    sizes, rss = table(md, "Memory", "Sizes"), table(md, "Memory", "Resident memory")
    assert len(sizes["rows"]) == len(mem) and len(rss["rows"]) == 2 * len(mem)
    for b in mem:
        e = b["extra_info"]
        check_row(pick(sizes["rows"], **ident(b)), {"params": e["params"], "param bytes (float32)": e["param_bytes"],
                                                   "file bytes (.npz)": e["file_bytes"],
                                                   "gzip bytes (level 9)": e["gzip_bytes"]})
        for phase, what in (("infer", f"inference, batch {e['infer_batch_size']}"),
                            ("train", f"training, {e['train_epoch_samples']} images")):
            row = pick(rss["rows"], **ident(b), phase=what)
            expected = {"peak RSS MiB": e[f"{phase}_peak_rss_mib"], "baseline RSS MiB": e[f"{phase}_baseline_rss_mib"],
                        "delta RSS MiB": e[f"{phase}_delta_rss_mib"]}
            if "device peak bytes" in row:
                expected["device peak bytes"] = e[f"{phase}_device_peak_bytes"]
            check_row(row, expected)
    assert "memory-profiler" in md and "fresh Python process" in md
    overall = table(md, "Overall performance")
    sizes = table(md, "Overall performance", "Sizes and work")
    for b in mem:
        check_row(pick(overall["rows"], **ident(b)),
                  {"peak RSS MiB (inference, batch 1024)": b["extra_info"]["infer_peak_rss_mib"]})
        check_row(pick(sizes["rows"], **ident(b)), {"file bytes (.npz)": b["extra_info"]["file_bytes"]})


@pytest.mark.slow
def test_flops_table_matches_json(report, doc):
    t = table(report.markdown, "FLOPs", "Framework counters against the analytic count")
    flops = benchmarks(doc, "flops")
    counters = [(b, name, c) for b in flops for name, c in b["extra_info"]["flop_counters"].items()]
    assert len(t["rows"]) == len(counters) > 0
    for b, name, c in counters:
        row = pick(t["rows"], **ident(b), counter=name)
        check_row(row, {"counter value": c["value"], "counter value/sample": c["value"] / c["batch_size"],
                        "analytic/sample (same convention)": c["analytic_per_sample"]})
        assert row["convention"] == c["convention"] and row["counted per"] == f"batch of {c['batch_size']}"
        assert row["matches"] == ("yes" if c["value"] == c["expected"] else "NO")
    analytic = table(report.markdown, "FLOPs", "Analytic counts (from the spec, per sample)")
    e = flops[0]["extra_info"]
    check_row(pick(analytic["rows"], arch=e["arch"]), {
        "MACs/sample (macs: thop, fvcore)": e["macs_per_sample"],
        "FLOPs/sample (flops: 2 x MACs, torch flop_counter)": e["flops_per_sample"],
        "FLOPs/sample (flops_tf: 2 x MACs + bias + pool, TF profiler)": e["flops_tf_per_sample"]})


@pytest.mark.slow
def test_speed_targets_match_the_checker(report, history):
    from lenet.io.history import load_run

    rows = check(load_run(history))
    if not rows:
        assert "No handcrafted/rival pairs" in report.markdown
        return
    t = table(report.markdown, "Speed targets")
    assert [r["target"] for r in t["rows"]] == [r["target"] for r in rows]
    for got, want in zip(t["rows"], rows):
        assert got["limit"] == want["limit"]
        if want["passed"] is None:  # a flagged figure, an epoch too short, an interval astride: not judged
            assert got["ratio"] == ("-" if want["ratio"] is None else f"{want['ratio']:.2f}")
            assert got["result"] == ("⚠ unstable: not judged" if want["unstable"] else "not judged: "
                                     + "; ".join(want["reasons"]))
            continue
        assert abs(num(got["ratio"]) - want["ratio"]) <= 0.005
        # rows timed side by side (interleaved, or a rival's ratio to handcrafted) give their interval
        interval = " [{:.2f}, {:.2f}]".format(*want["interval"]) if want.get("interval") else ""
        assert got["result"] == ("PASS" if want["passed"] else "FAIL") + interval


@pytest.mark.slow
def test_plots_are_pngs_with_labelled_axes(report, doc):
    by_name = {p.path.name: p for p in report.plots}
    archs = {b["extra_info"]["arch"] for b in benchmarks(doc, "accuracy")}
    expected = {f"training_curves_{a}.png" for a in archs} | {"latency_vs_batch.png", "accuracy_vs_latency.png",
                                                               "accuracy_vs_memory.png", "roofline.png"}
    if benchmarks(doc, "graph"):
        expected.add("graph_modes.png")
    if [b for b in benchmarks(doc, "scenario server") if b["extra_info"].get("search")]:
        expected.add("server_latency_vs_rate.png")
    assert expected == set(by_name)
    for p in report.plots:
        assert_png(p.path, p.size)
        assert p.path.parent == report.readme.parent and f"]({p.path.name})" in report.markdown
        assert p.title
        for ax in p.axes:
            assert ax.xlabel and ax.ylabel and (ax.legend or p.legend), (p.path.name, ax)
    backends = {b["extra_info"]["backend"] for b in benchmarks(doc, "accuracy")
                if not b["extra_info"].get("weights_from")}  # the backends that trained
    loss, top1 = by_name["training_curves_lenet5.png"].axes
    assert (loss.xlabel, loss.ylabel) == ("epoch", "cross-entropy loss (mean per image)")
    assert (top1.xlabel, top1.ylabel) == ("epoch", "top-1 accuracy (fraction)")
    assert set(loss.legend) == {f"{b} {split}" for b in backends for split in ("train", "val")}
    (lat,) = by_name["latency_vs_batch.png"].axes
    assert (lat.xscale, lat.yscale) == ("log", "log") and "batch size" in lat.xlabel and "ms" in lat.ylabel
    assert "p50" in lat.ylabel and "p90" in lat.ylabel and "p99" in lat.ylabel
    assert set(lat.legend) == {b["extra_info"]["backend"] for b in benchmarks(doc, "inference")}
    roofs = by_name["roofline.png"].axes  # one panel per backend: the batch labels of five do not pile up
    assert {a.title for a in roofs} == {b["extra_info"]["backend"] for b in benchmarks(doc, "inference")}
    assert "GFLOP/s" in roofs[0].ylabel
    for roof in roofs:
        assert (roof.xscale, roof.yscale) == ("log", "log") and "FLOP/byte" in roof.xlabel
        assert "GEMM peak" in " ".join(roof.labels) and "bandwidth" in " ".join(roof.labels)
        mine = {str(b["extra_info"]["batch_size"]) for b in benchmarks(doc, "inference")
                if b["extra_info"]["backend"] == roof.title}
        assert mine <= set(roof.labels)  # each point labelled with its batch size
    assert set(by_name["roofline.png"].legend) >= {"inference", "training"}  # the phases' markers
    (acc_lat,) = by_name["accuracy_vs_latency.png"].axes
    assert "latency ms, batch 1" in acc_lat.xlabel and "top-1" in acc_lat.ylabel
    mem_axes = by_name["accuracy_vs_memory.png"].axes
    assert "parameter bytes" in mem_axes[0].xlabel
    for name in ("accuracy_vs_latency.png", "accuracy_vs_memory.png"):  # one legend beside the panels
        assert {"Pareto front", *backends} <= set(by_name[name].legend), by_name[name].legend


@pytest.mark.slow
def test_findings_and_csv_match_the_real_run(report, doc):
    check_findings(report.findings, doc)
    check_inference_csv(report, doc)
    assert report.html.is_file() and report.markdown.index("## What this run shows") < report.markdown.index(
        "## Histories")


@pytest.mark.slow
def test_history_without_memory_says_so(doc, tmp_path):
    d = copy.deepcopy(doc)
    d["benchmarks"] = [b for b in d["benchmarks"] if b["group"] not in ("memory", "flops")]
    path = tmp_path / "no-memory.json"
    path.write_text(json.dumps(d))
    rep = build_report([path], tmp_path / "out")
    assert "## Memory" not in rep.markdown and "## FLOPs" not in rep.markdown
    not_run = rep.markdown.split("## Not run in these histories")[1]
    assert "- Memory (group `memory`)" in not_run and "- FLOPs (group `flops`)" in not_run
    overall = table(rep.markdown, "Overall performance")
    sizes = table(rep.markdown, "Overall performance", "Sizes and work")
    assert all(r["peak RSS MiB (inference, batch 1024)"] == "-" for r in overall["rows"])
    assert all(r["file bytes (.npz)"] == "-" for r in sizes["rows"])


@pytest.mark.slow
def test_two_machines_merge_with_labels(doc, tmp_path):
    cpu = tmp_path / "cpu.json"
    cpu.write_text(json.dumps(doc))
    gpu_doc = copy.deepcopy(doc)
    gpu_doc["machine_info"]["node"] = "gpubox"
    gpu_doc["machine_info"]["lenet"]["torch_devices"] = ["cpu", "cuda"]
    for b in gpu_doc["benchmarks"]:
        b["stats"]["median"] /= 3  # a faster machine
    gpu = tmp_path / "gpu.json"
    gpu.write_text(json.dumps(gpu_doc))
    from lenet.io.history import load_run

    assert machine_label(load_run(cpu)) != machine_label(load_run(gpu))
    assert "GPU" in machine_label(load_run(gpu))

    rep = build_report([cpu, gpu], tmp_path / "out", labels=["cpu-box", "gpu-box"])
    inf = table(rep.markdown, "Inference", "Steady state (after warm-up)")
    assert inf["header"][0] == "machine"
    for label, d in (("cpu-box", doc), ("gpu-box", gpu_doc)):
        for b in benchmarks(d, "inference"):
            row = pick(inf["rows"], machine=label, **ident(b, batch=b["extra_info"]["batch_size"]))
            check_row(row, {"latency {unit} (median)": b["stats"]["median"]})
    overall = table(rep.markdown, "Overall performance")
    assert overall["header"][0] == "machine" and len(overall["header"]) <= 10
    assert {r["machine"] for r in overall["rows"]} == {"cpu-box", "gpu-box"}
    assert len(overall["rows"]) == 2 * len({tuple(ident(b).values()) for b in headline(doc)})
    hist = table(rep.markdown, "Histories")
    assert [r["machine"] for r in hist["rows"]] == ["cpu-box", "gpu-box"]
    lat = next(p for p in rep.plots if p.path.name == "latency_vs_batch.png").axes[0]
    assert any(name.startswith("gpu-box ") for name in lat.legend)  # one line per machine and backend

    default = build_report([cpu, gpu], tmp_path / "out2")  # labels from machine_info
    assert {r["machine"] for r in table(default.markdown, "Overall performance")["rows"]} == {
        machine_label(load_run(cpu)), machine_label(load_run(gpu))}


def _doctored(doc: dict, folder: Path) -> tuple[Path, Path, str, str]:
    """(base, new) histories: in ``new`` one inference benchmark is 32% slower and the accuracy 20 points lower.

    Every benchmark is marked stable on both sides (this machine's own flags are not what is tested here), and
    20 points on the small test split is well beyond its binomial standard error.
    """
    folder.mkdir()
    doc = copy.deepcopy(doc)
    for b in doc["benchmarks"]:
        b["extra_info"].update(unstable=False, unstable_reasons=[])
    base = folder / "0001_base.json"
    base.write_text(json.dumps(doc))
    new_doc = copy.deepcopy(doc)
    new_doc["datetime"] = "2099-01-01T00:00:00"
    slow = benchmarks(new_doc, "inference")[0]
    slow["stats"]["median"] *= 1.32
    slow["stats"]["data"] = [v * 1.32 for v in slow["stats"]["data"]]
    worse = benchmarks(new_doc, "accuracy")[0]
    worse["extra_info"]["test_top1"] -= 0.20
    seeds = (worse["extra_info"].get("seed_spread") or {}).get("test_top1")
    if seeds:  # over several seeds, the change is judged on their values: a worse model is worse on every seed
        seeds["values"] = [v - 0.20 for v in seeds["values"]]
        seeds["mean"] -= 0.20
    new = folder / "0002_new.json"
    new.write_text(json.dumps(new_doc))
    return base, new, slow["name"], worse["name"]


@pytest.mark.slow
def test_compare_flags_the_doctored_run(doc, tmp_path, capsys):
    base, new, slow, worse = _doctored(doc, tmp_path / "runs")
    # a regression: exit 1, as lenet compare (issue 34)
    assert main(["report", str(base), str(new), "--out", str(tmp_path / "out"), "--compare"]) == 1
    printed = capsys.readouterr().out
    assert f"{slow}: ⚠ slower x1.32" in printed and f"{worse}: ⚠ top-1 -20.00 pts" in printed
    md = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    t = table(md, "Comparison")
    assert len(t["rows"]) == len(doc["benchmarks"])
    for row in t["rows"]:
        name = row["benchmark"].strip("`")
        if name == slow:
            ratio, low, high = (float(v) for v in re.findall(r"[\d.]+", row["new/base [95% CI]"]))
            assert ratio == pytest.approx(1.32, abs=1e-3) and low <= 1.32 <= high
            assert row["time verdict"] == "regression" and row["flag"] == "⚠ slower x1.32"
        elif name == worse:
            assert row["top-1 change (points ± SE)"].startswith("-20.00 ± ")
            assert row["flag"] == "⚠ top-1 -20.00 pts"
        else:  # the same samples on both sides (accuracy, FLOP and memory rows' times are side figures, not judged)
            verdict = row["time verdict"]
            assert verdict == "no significant change" or verdict.startswith("not judged ("), row
            assert row["flag"] == "-", row
    # a time change under the threshold is not flagged; the accuracy drop still is (it has no fixed threshold)
    assert main(["report", str(base), str(new), "--out", str(tmp_path / "out2"), "--compare",
                 "--threshold-time", "40"]) == 1  # the accuracy regression: exit 1, as lenet compare
    assert "1 flagged, 1 regression(s)" in capsys.readouterr().out


@pytest.mark.slow
def test_compare_takes_a_folders_two_newest_runs(doc, tmp_path):
    base, new, slow, _ = _doctored(doc, tmp_path / "runs")
    older = copy.deepcopy(doc)
    older["datetime"] = "2000-01-01T00:00:00"
    (tmp_path / "runs" / "0000_older.json").write_text(json.dumps(older))
    rep = build_report([tmp_path / "runs"], tmp_path / "out", compare=True)
    c = rep.comparison
    assert (c.base_runs[0].path, c.new_runs[0].path) == (base, new) and not c.only_base and not c.only_new
    assert [v.name for v in rep.flagged if any("slower" in f for f in v.flags)] == [slow]
    # merged per machine label, the newest run's figures are the ones tabled
    inf = table(rep.markdown, "Inference", "Steady state (after warm-up)")
    b = next(b for b in json.loads(new.read_text())["benchmarks"] if b["name"] == slow)
    check_row(pick(inf["rows"], **ident(b, batch=b["extra_info"]["batch_size"])),
              {"latency {unit} (median)": b["stats"]["median"]})


# --- fast tests: hand-made histories --------------------------------------------------------------------------

def test_corrupt_and_foreign_json_are_named_without_traceback(tmp_path):
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{not json")
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"hello": "world"}))
    for path, message in ((corrupt, "not valid JSON"), (foreign, "not a pytest-benchmark history")):
        proc = subprocess.run([sys.executable, "-m", "lenet", "report", str(path), "--out", str(tmp_path / "out")],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(f"lenet: error: {path}: {message}") and "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "README.md").exists()
    with pytest.raises(HistoryError, match="foreign.json"):
        build_report([foreign], tmp_path / "out")


def test_usage_errors_exit_2(tmp_path, capsys):
    h = write_history(tmp_path / "h.json", [entry("accuracy", "test_accuracy[torch]", {"backend": "torch"})])
    assert main(["report", str(h), "--out", str(tmp_path / "o"), "--label", "a", "b"]) == 2
    assert "2 --label name(s) for 1 history argument(s)" in capsys.readouterr().err
    assert main(["report", str(h), "--out", str(tmp_path / "o"), "--compare"]) == 2
    assert "--compare needs exactly two runs" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.json: no such file" in capsys.readouterr().err


def test_unknown_groups_only(tmp_path):
    h = write_history(tmp_path / "h.json", [{"group": "something-else", "name": "test_y", "params": None,
                                             "stats": {"median": 1.0}, "extra_info": {}}])
    rep = build_report([h], tmp_path / "out")
    assert rep.plots == [] and [s.key for s in rep.sections] == []
    for title in ("Overall performance", "Accuracy", "Inference", "Training", "Memory", "FLOPs",
                  "Static vs dynamic graph", "Compression", "MLP sweep", "Speed targets"):
        assert any(n.startswith(title + " (") for n in rep.not_run), title
    assert "`something-else`" in rep.markdown


GRAPH = [
    entry("graph infer", "test_graph[keras-eager-infer-1]", {"backend": "keras", "mode": "eager", "phase": "infer",
                                                             "batch_size": 1, "first_call_s": 0.006,
                                                             "steady_s": 0.006, "break_even_calls": None}),
    entry("graph infer", "test_graph[keras-function-infer-1]", {"backend": "keras", "mode": "tf.function",
                                                                "phase": "infer", "batch_size": 1,
                                                                "first_call_s": 0.12, "steady_s": 0.0005,
                                                                "break_even_calls": 22}),
    entry("graph train", "test_graph[keras-xla-train-64]", {"backend": "keras", "mode": "xla", "phase": "train",
                                                            "batch_size": 64, "first_call_s": 0.3,
                                                            "new_field_mib": 12.5}),  # no steady_s: a dash
]
COMPRESSION = [
    entry("compression", f"test_compression[torch-{t}-{lvl}]",
          {"backend": "torch", "technique": t, "level": lvl, "base_top1": 0.95, "top1": top1, "top5": 0.99,
           "nonzero_params": nz, "dense_bytes": 246824, "file_bytes": fb, "gzip_bytes": gz, "executed_macs": macs,
           "latency_b1_ms": lat, "latency_b256_ms": 3.0 * lat, "peak_rss_mib": 300.0, "base_nonzero_params": 61706,
           "base_dense_bytes": 246824, "base_file_bytes": 252502, "base_gzip_bytes": 229876,
           "base_executed_macs": 416520, "base_latency_b1_ms": 0.3, "base_latency_b256_ms": 0.9,
           "base_peak_rss_mib": 300.0, "base_top5": 1.0})
    for t, lvl, top1, nz, fb, gz, macs, lat in (
        ("prune-masked", 0.5, 0.94, 30853, 252502, 120000, 416520, 0.31),
        ("prune-removed", 0.5, 0.93, 30853, 130000, 118000, 208260, 0.2),
        ("quantize-int8", 8, 0.95, 61706, 70000, 60000, 416520, 0.6),  # slower: reported as slower
    )
] + [entry("compression", "test_compression[keras-lowrank-4]", {"backend": "keras", "technique": "lowrank",
                                                                 "level": 4, "top1": 0.9})]  # few fields
MLP = [
    entry("mlp-sweep 1-hidden", f"test_mlp[torch-{h}]", {"backend": "torch", "arch": f"mlp-{h}", "hidden": str(h),
                                                         "params": p, "param_bytes": 4 * p, "test_top1": a,
                                                         "latency_b1_ms": lat, "peak_rss_mib": mem})
    for h, p, a, lat, mem in ((30, 23860, 0.91, 0.05, 250.0), (100, 79510, 0.95, 0.07, 255.0),
                              (1024, 814090, 0.96, 0.2, 290.0))
] + [entry("mlp-sweep 2-hidden", "test_mlp[torch-100-30]", {"backend": "torch", "arch": "mlp-100-30",
                                                            "hidden": "100-30", "params": 81840,
                                                            "param_bytes": 327360, "test_top1": 0.955})]


def test_graph_compression_and_mlp_sections_render_their_rows(tmp_path):
    h = write_history(tmp_path / "h.json", GRAPH + COMPRESSION + MLP)
    rep = build_report([h], tmp_path / "out")
    md = rep.markdown
    assert [s.key for s in rep.sections] == ["graph", "compression", "mlp-sweep"]
    assert "- Accuracy (group `accuracy`)" in md and "Overall performance (needs" in md

    g = table(md, "Static vs dynamic graph")
    assert len(g["rows"]) == len(GRAPH)
    for b in GRAPH:
        e = b["extra_info"]
        row = pick(g["rows"], backend=e["backend"], mode=e["mode"], phase=e["phase"], batch=e["batch_size"])
        check_row(row, {"first call {unit}": e["first_call_s"], "steady-state {unit} (median)": e.get("steady_s"),
                        "break-even calls": e.get("break_even_calls")})
    assert pick(g["rows"], mode="xla")["new field MiB"] == "12.50"  # a new field renders by its suffix
    assert "first call ms" in g["header"]  # 6 ms to 300 ms: ms suits the column better than s or µs

    size = table(md, "Compression", "Accuracy and size (the base row is the uncompressed model)")
    work = table(md, "Compression", "Work and speed")
    relative = table(md, "Compression", "Relative to the uncompressed model")
    check_row(pick(size["rows"], technique="none (base)"), {"file bytes (.npz)": 252502, "test top-1": 0.95})
    check_row(pick(work["rows"], technique="none (base)"), {"executed MACs/sample": 416520,
                                                            "latency {unit}, batch 1 (median)": 0.3e-3})
    assert len(size["rows"]) == len(work["rows"]) == len(COMPRESSION) + 1  # one base row, from the base_* figures
    for b in COMPRESSION:
        e = b["extra_info"]
        key = {"backend": e["backend"], "technique": e["technique"]}
        check_row(pick(size["rows"], **key), {"test top-1": e["top1"], "file bytes (.npz)": e.get("file_bytes")})
        check_row(pick(work["rows"], **key), {
            "executed MACs/sample": e.get("executed_macs"),
            "latency {unit}, batch 1 (median)": e.get("latency_b1_ms") and e["latency_b1_ms"] / 1e3})
        rel = pick(relative["rows"], **key)
        check_row(rel, {"Δ top-1 points": (e["top1"] - e["base_top1"]) * 100 if "base_top1" in e else None})
    rel = {r["technique"]: r for r in relative["rows"]}
    assert num(rel["prune-removed"]["executed MACs/sample / base"]) == 0.5
    assert num(rel["prune-masked"]["executed MACs/sample / base"]) == 1.0  # masks execute every multiply
    assert rel["quantize-int8"]["verdict"].startswith("slower (batch 1") and rel["prune-removed"]["verdict"] == "-"

    m = table(md, "MLP sweep")
    speed = table(md, "MLP sweep", "Speed and memory")
    assert [r["hidden units"] for r in m["rows"]] == ["30", "100", "100-30", "1024"]  # by size
    for b in MLP:
        e = b["extra_info"]
        check_row(pick(m["rows"], arch=e["arch"]), {"params": e["params"], "test top-1": e["test_top1"]})
        check_row(pick(speed["rows"], arch=e["arch"]), {
            "latency {unit}, batch 1 (median)": e.get("latency_b1_ms") and e["latency_b1_ms"] / 1e3,
            "peak RSS MiB": e.get("peak_rss_mib")})
    for t in parse_tables(md):
        assert len(t["header"]) <= 10, (t["section"], t["caption"], t["header"])

    plots = {p.path.name: p for p in rep.plots}
    assert set(plots) == {"graph_modes.png", "compression_tradeoffs.png", "accuracy_vs_latency.png",
                          "accuracy_vs_memory.png"}  # the last two: MLP-sweep models alone (Study E's plots)
    for p in rep.plots:
        assert_png(p.path, p.size)
    assert plots["graph_modes.png"].size == WIDE and plots["accuracy_vs_latency.png"].size == WIDE  # legend beside
    steady, first = plots["graph_modes.png"].axes
    assert set(steady.legend) == {"eager", "tf.function"} and set(first.legend) == {"eager", "tf.function", "xla"}
    assert steady.yscale == "log" and "ms" in steady.ylabel and first.xlabel


def test_shared_weights_and_study_e_rows_say_so(tmp_path):
    """A row running another backend's weights names that backend; Study E's protocol off MNIST is named."""
    acc = [entry("accuracy", f"test_accuracy[{b}-lenet5]",
                 {"backend": b, "config": "default", "test_top1": 0.9101, **({"weights_from": "handcrafted"}
                                                                             if b != "handcrafted" else {})})
           for b in ("handcrafted", "torch", "keras")]
    sweep = [entry("mlp-sweep 1-hidden", "test_mlp[torch-30]",
                   {"backend": "torch", "arch": "mlp-30", "hidden": "30", "params": 23860, "config": "study-e",
                    "dataset": "fashion-mnist", "test_top1": 0.85})]
    rep = build_report([write_history(tmp_path / "h.json", acc + sweep)], tmp_path / "out")
    scores = table(rep.markdown, "Accuracy")
    assert [r["weights trained by"] for r in scores["rows"]] == ["handcrafted"] * 3
    assert "2 of them run weights trained by handcrafted." in rep.markdown
    assert "Study E trained on MNIST; these rows trained on fashion-mnist." in rep.markdown
    alone = build_report([write_history(tmp_path / "a.json", acc[:1])], tmp_path / "alone").markdown
    assert "weights trained by" not in alone and "Study E" not in alone


def test_compression_plot_is_small_multiples_labelled_directly(tmp_path):
    """One panel per backend and cost, one colour per technique everywhere, points labelled, no legend inside."""
    more = [entry("compression", "test_compression[keras-prune-removed-0.5]", {
        **COMPRESSION[1]["extra_info"], "backend": "keras", "latency_b1_ms": 0.4}),
        entry("compression", "test_compression[torch-prune-removed-0.75]", {
            **COMPRESSION[1]["extra_info"], "level": 0.75, "top1": 0.9, "gzip_bytes": 90000})]
    rep = build_report([write_history(tmp_path / "h.json", COMPRESSION + more)], tmp_path / "out")
    (plot,) = [p for p in rep.plots if p.path.name == "compression_tradeoffs.png"]
    assert_png(plot.path, plot.size)
    assert [a.title for a in plot.axes] == ["torch", "keras"] * 2  # columns: backends; rows: the two costs
    assert [a.xlabel.split(" (")[0] for a in plot.axes] == ["gzip bytes"] * 2 + ["latency ms, batch 1"] * 2
    assert all(a.ylabel == "test top-1 (fraction)" and a.xscale == "log" and a.legend == () for a in plot.axes)
    techniques = ["prune-masked", "prune-removed", "quantize-int8", "lowrank"]
    assert list(plot.legend) == techniques + ["base (uncompressed)"]  # one legend, outside the panels
    colours: dict[str, set] = {}
    for ax in plot.axes:
        for label, colour in ax.series:
            colours.setdefault(label, set()).add(colour)
    assert all(len(c) == 1 for c in colours.values()), colours  # a technique has one colour in every panel
    assert len({next(iter(colours[t])) for t in colours if t in techniques}) == len(set(colours) & set(techniques))
    torch_size = plot.axes[0]
    assert {"0.5", "0.75"} <= set(torch_size.labels)  # prune-removed has two levels: its points read their level
    assert {"prune-masked", "quantize-int8", "base"} <= set(torch_size.labels)  # one level: the technique's name


def test_mlp_sweep_points_join_the_accuracy_plots(tmp_path):
    lenet = [entry("accuracy", "test_accuracy[torch-lenet5-cpu]", {"backend": "torch", "test_top1": 0.98}),
             entry("inference batch=1", "test_inference[torch-lenet5-cpu-1]", {"backend": "torch", "batch_size": 1},
                   median=0.001)]
    rep = build_report([write_history(tmp_path / "h.json", lenet + MLP)], tmp_path / "out")
    plots = {p.path.name: p for p in rep.plots}
    assert len(plots["accuracy_vs_latency.png"].axes) == 1  # models by marker, backends by colour: one legend
    assert set(plots["accuracy_vs_latency.png"].legend) == {"torch", "lenet5", "mlp-30", "mlp-100", "mlp-1024",
                                                            "Pareto front"}
    assert set(plots["accuracy_vs_memory.png"].legend) >= {"torch", "lenet5", "mlp-100-30", "Pareto front"}


def test_pareto_front():
    pts = [(1, 0.90), (2, 0.95), (3, 0.93), (4, 0.97), (4, 0.96), (5, 0.97)]
    assert pareto_front(pts) == [(1, 0.90), (2, 0.95), (4, 0.97)]


def test_gpu_machine_label_names_the_gpu(tmp_path):
    from lenet.io.history import load_run

    h = write_history(tmp_path / "h.json", [], node="node7", lenet={"torch_devices": ["cpu", "cuda"],
                                                                    "keras_devices": ["cpu", "gpu"]})
    assert machine_label(load_run(h)) == "node7 (Test CPU, GPU)"  # torch's cuda and TF's gpu: one GPU
    h = write_history(tmp_path / "h2.json", [], node="node7", lenet={"gpu": "NVIDIA H100"})
    assert machine_label(load_run(h)) == "node7 (Test CPU, NVIDIA H100)"


# --- number formats -------------------------------------------------------------------------------------------

def test_figures_keep_four_significant_digits_in_a_unit_that_suits_them():
    from lenet.report.markdown import sig, time_unit

    assert [sig(v) for v in (23724.4, 0.0004785, 0.05109, 43.16, 5.36, 1234.5, 0)] == [
        "23,720", "0.0004785", "0.05109", "43.16", "5.360", "1,234", "0"]
    assert time_unit([4.785e-4, 0.1025])[0] == "ms"  # 0.4785 and 102.5 ms, not 0.0004785 s or 102,500 µs
    assert time_unit([6.4e-4])[0] == "µs" and time_unit([0.3218])[0] == "ms" and time_unit([5.36, 723.7])[0] == "s"
    assert time_unit([7.4e-5, 0.1199, 6.4e-4])[0] == "ms"  # never 119,900 µs
    assert time_unit([])[0] == "s"


# --- a small history with every kind of finding ---------------------------------------------------------------

def _timed(group, name, backend, batch, median, unstable=False, **extra):
    e = entry(group, name, {"backend": backend, "batch_size": batch, "unstable": unstable,
                            "unstable_reasons": ["load average 5.00 above the 2 usable cores"] if unstable else [],
                            "timing": {"p50_s": median, "p90_s": median * 1.3, "p99_s": median * 2.1,
                                       "median_ci95_s": [median * 0.97, median * 1.04]}, **extra}, median=median)
    e["stats"]["data"] = [median * f for f in (0.9, 1.0, 1.1)]
    return e


FINDINGS_HISTORY = [
    entry("accuracy", f"test_accuracy[{b}]", {"backend": b, "test_top1": a, "unstable": False})
    for b, a in (("handcrafted", 0.9612), ("torch", 0.9655), ("keras", 0.9640))
] + [
    _timed(f"inference batch={n}", f"test_inference[{b}-{n}]", b, n, t, unstable=(b, n) == ("torch", 64),
           first_call_s=t * 3, achieved_gflops=0.833 * n / t / 1e3, pct_of_peak=0.833 * n / t / 1e3 / 80 * 100,
           arithmetic_intensity_flop_per_byte=1.5 + n / 100, roof_gflops=40.0, peak_gflops=80.0, bandwidth_gbs=20.0)
    for b, n, t in (("handcrafted", 1, 5.1e-5), ("torch", 1, 2.2e-4), ("keras", 1, 4.5e-4),
                    ("handcrafted", 64, 2.1e-3), ("torch", 64, 4.6e-3), ("keras", 64, 1.9e-3))
] + [
    _timed("train-epoch batch=64", f"test_train_epoch[{b}-64]", b, 64, t, train_samples=1024, speed_dataset="synthetic",
           step_timing={"p50_s": t / 16, "p90_s": t / 14, "p99_s": t / 12})
    for b, t in (("handcrafted", 5.36), ("torch", 8.63), ("keras", 5.96))
] + GRAPH + COMPRESSION


def _quoted(sentence: str) -> tuple[list[float], list[float]]:
    """(durations in seconds, ratios) a sentence quotes: "51.09 µs", "2.1 ms", "4.25×"."""
    secs = [float(v.replace(",", "")) * UNITS[u] for v, u in re.findall(r"([\d,]+(?:\.\d+)?) (µs|ms|s)\b", sentence)]
    return secs, [float(v) for v in re.findall(r"([\d.]+)×", sentence)]


def _side_by_side(r: dict, reference: str) -> str:
    """How a sentence quotes a ratio: three significant figures, its interval in brackets."""
    return f"{sig(r['median'], 3)}× {reference}'s speed [{sig(r['low'], 3)}, {sig(r['high'], 3)}] side by side"


def check_findings(found: list, doc: dict, threshold_time: float = 10.0) -> None:
    """Every finding against the JSON: recomputed here from the benchmarks, then found quoted in the sentence."""
    kinds = {f.kind for f in found}
    for group, kind in (("inference", "fastest-inference"), ("train-epoch", "fastest-training")):
        by_batch: dict[int, list] = {}
        for b in benchmarks(doc, group):
            by_batch.setdefault(b["extra_info"]["batch_size"], []).append(b)
        mine = [f for f in found if f.kind == kind]
        # "What this run shows" holds at most 3 sentences of a kind and quotes no flagged figure: each sentence
        # there is checked, not that every possible one is there
        assert {f.facts["batch"] for f in mine} <= {n for n, bs in by_batch.items() if len(bs) > 1}
        for f in mine:
            first, second = sorted(by_batch[f.facts["batch"]], key=lambda b: b["stats"]["median"])[:2]
            assert f"**{first['extra_info']['backend']}** is fastest" in f.text
            names = [b["extra_info"]["backend"] for b in (first, second)]
            paired = [(b["extra_info"]["ratio"], b is second) for b, other in ((first, names[1]), (second, names[0]))
                      if (b["extra_info"].get("ratio") or {}).get("reference") == other]
            if paired:  # one was timed against the other side by side: its ratio leads, the flags do not hold it
                (r, inverse), *_ = paired
                lead = {"median": 1 / r["median"], "low": 1 / r["high"], "high": 1 / r["low"]} if inverse else r
                assert f"it runs {_side_by_side(lead, names[1])}." in f.text and "⚠ unstable" not in f.text
                continue
            assert f"than {second['extra_info']['backend']} (" in f.text
            secs, ratios = _quoted(f.text)
            assert secs == pytest.approx([first["stats"]["median"], second["stats"]["median"]], rel=6e-4)
            assert ratios == pytest.approx([second["stats"]["median"] / first["stats"]["median"]], rel=5e-3)
            assert ("⚠ unstable" in f.text) == any(b["extra_info"].get("unstable") for b in (first, second))
    rows = [b["extra_info"] for b in benchmarks(doc, "accuracy")]
    seeded = all(len(((e.get("seed_spread") or {}).get("test_top1") or {}).get("values") or ()) >= 2 for e in rows)
    acc = [e["seed_spread"]["test_top1"]["mean"] if seeded else e["test_top1"] for e in rows]  # means over seeds
    for f in (f for f in found if f.kind == "accuracy"):
        assert ("(mean over seeds)" in f.text) == seeded
        assert f"{min(acc):.4f}" in f.text and f"{max(acc):.4f}" in f.text
        assert min(acc) == max(acc) or f"{(max(acc) - min(acc)) * 100:.2f} points" in f.text
    timed = [b["extra_info"] for b in doc["benchmarks"] if b["group"].startswith(("inference", "train-epoch",
                                                                                   "scenario offline"))
             and b["extra_info"].get("pct_of_peak") is not None]
    assert "roofline" not in kinds or timed
    for f in (f for f in found if f.kind == "roofline"):
        best = max(timed, key=lambda e: e["achieved_gflops"])
        assert f"the best figure is {best['achieved_gflops']:.3g} GFLOP/s ({best['backend']}" in f.text.replace(
            ",", "") or f"{best['achieved_gflops']:,.0f}" in f.text
        # three significant figures, trailing zeros kept ("43.0%")
        shown = re.search(r"([\d.]+)% of the measured GEMM peak", f.text)
        assert shown and float(shown[1]) == pytest.approx(best["pct_of_peak"], rel=2e-3)
        assert ("no row reaches half the peak" in f.text) == (max(e["pct_of_peak"] for e in timed) < 50)
    graph = [b["extra_info"] for b in benchmarks(doc, "graph") if "break_even_calls" in b["extra_info"]
             and b["extra_info"]["mode"] != "eager" and b["extra_info"].get("first_call_s") is not None]
    mine = [f for f in found if f.kind == "graph"]
    assert sum(len(f.facts["modes"]) for f in mine) <= len(graph)
    for f in mine:
        assert f.text.startswith(f"Graph mode, {f.facts['backend']} {f.facts['phase']} at batch {f.facts['batch']}")
        here = [e for e in graph if (e["backend"], e["phase"], e["batch_size"]) == (
            f.facts["backend"], f.facts["phase"], f.facts["batch"])]
        assert len(re.findall(r"(repays its|never does)", f.text)) == len(here) > 0
        for e in here:
            r = e.get("ratio")
            lead = f"{e['mode']} runs {_side_by_side(r, 'eager')} and " if r else f"{e['mode']} "
            if e["break_even_calls"] is None:
                assert lead + ("never repays its first call" if r else "never does") in f.text
                continue
            part = re.search(rf"{re.escape(lead)}repays its (.+?) first call after ([\d,]+) calls?", f.text)
            assert _quoted(part[1])[0] == pytest.approx([e["first_call_s"]], rel=6e-4)
            assert int(part[2].replace(",", "")) == e["break_even_calls"]
    comp = [b["extra_info"] for b in benchmarks(doc, "compression")]
    removes = {(e["technique"], e["level"]) for e in comp if e.get("executed_macs") is not None
               and e.get("base_executed_macs") and e["executed_macs"] < e["base_executed_macs"]}
    mine = [f for f in found if f.kind == "compression-removes"]
    assert {(f.facts["technique"], f.facts["level"]) for f in mine} <= removes
    for f in mine:
        es = [e for e in comp if (e["technique"], e["level"]) == (f.facts["technique"], f.facts["level"])]
        assert f"executes {es[0]['executed_macs'] / es[0]['base_executed_macs']:.3g}× the base MACs" in f.text
        assert f"({es[0]['executed_macs']:,} of {es[0]['base_executed_macs']:,} per sample)" in f.text
        for e in es:
            assert f"{(e['top1'] - e['base_top1']) * 100:+.2f}" in f.text
            r = e.get("ratio")
            assert not r or f"{_side_by_side(r, 'the base')} on {e['backend']}" in f.text
    # slower: by the ratio timed side by side where a row has one (median beyond the threshold, interval below 1),
    # else by the latencies timed apart; the sentence quotes the ratio or the latencies' quotient
    slower = [e for e in comp if (e["ratio"]["high"] < 1 and e["ratio"]["median"] < 1 / (1 + threshold_time / 100)
                                  if e.get("ratio") else
                                  e.get("latency_b1_ms") and e.get("base_latency_b1_ms")
                                  and e["latency_b1_ms"] / e["base_latency_b1_ms"] > 1 + threshold_time / 100)]
    for f in (f for f in found if f.kind == "compression-slower"):
        assert _quoted(f.text)[1] == pytest.approx([e["ratio"]["median"] if e.get("ratio") else
                                                    e["latency_b1_ms"] / e["base_latency_b1_ms"] for e in slower],
                                                   rel=5e-3)
    assert "compression-slower" not in kinds or slower
    (unstable,) = [f for f in found if f.kind in ("unstable", "withheld")]  # the last sentence
    flagged = [b for b in doc["benchmarks"] if b["extra_info"].get("unstable")]
    if not any("unstable" in b["extra_info"] for b in doc["benchmarks"]):
        assert "carry no stability flags" in unstable.text
    elif not flagged:
        assert unstable.text == f"None of the {len(doc['benchmarks'])} benchmarks was flagged unstable."
    else:
        assert f"{len(flagged)} of {len(doc['benchmarks'])} benchmarks" in unstable.text
        assert len(flagged) > 5 or all(f"`{b['name']}`" in unstable.text for b in flagged)


def test_findings_quote_the_numbers_they_rest_on(tmp_path):
    h = write_history(tmp_path / "h.json", FINDINGS_HISTORY)
    rep = build_report([h], tmp_path / "out")
    check_findings(rep.findings, json.loads(h.read_text()))
    kinds = [f.kind for f in rep.findings]
    # the most important first: accuracy, who is fastest, where graph mode pays, compression, the ceiling
    assert kinds == ["accuracy", "fastest-inference", "fastest-inference", "fastest-training", "graph",
                     "compression-removes", "compression-slower", "compression-keeps", "roofline", "unstable"]
    text = {f.kind: f.text for f in rep.findings}
    assert text["fastest-training"] == ("Training at batch 64: **handcrafted** is fastest, 5.360 s (median), 1.11× "
                                        "faster than keras (5.960 s).")
    assert "`test_inference[torch-64]` (load average 5.00 above the 2 usable cores)" in text["unstable"]
    findings_md = rep.markdown.split("## What this run shows")[1].split("\n## ")[0]
    assert all(f"- {f.text}" in findings_md for f in rep.findings)
    assert rep.markdown.index("## What this run shows") < rep.markdown.index("## Histories")  # at the top


def _ratio(median: float, low: float, high: float, reference: str) -> dict:
    return {"reference": reference, "median": median, "low": low, "high": high, "confidence": 0.95, "rounds": 6}


def _paired(history: list, ratios: dict) -> list:
    """A copy of ``history`` whose benchmarks named in ``ratios`` carry that ``extra_info["ratio"]``."""
    out = copy.deepcopy(history)
    for b in out:
        if b["name"] in ratios:
            b["extra_info"]["ratio"] = ratios[b["name"]]
    return out


PAIRED = _paired(FINDINGS_HISTORY, {
    "test_inference[torch-1]": _ratio(0.25, 0.21, 0.3, "handcrafted"),
    "test_inference[keras-64]": _ratio(1.12, 1.05, 1.2, "handcrafted"),
    "test_train_epoch[torch-64]": _ratio(0.7, 0.66, 0.75, "handcrafted"),
    "test_graph[keras-function-infer-1]": _ratio(9.5, 8.0, 11.0, "eager"),
    "test_compression[torch-prune-removed-0.5]": _ratio(1.4, 1.3, 1.5, "base"),
    # latencies timed apart call it slower (0.6 ms against 0.3), side by side it is not beyond its interval
    "test_compression[torch-quantize-int8-8]": _ratio(0.8, 0.6, 1.05, "base"),
    # latencies timed apart say no (0.31 against 0.3); side by side it is 1.6x slower
    "test_compression[torch-prune-masked-0.5]": _ratio(0.62, 0.55, 0.7, "base"),
})


def test_ratios_lead_the_tables_and_the_findings(tmp_path):
    h = write_history(tmp_path / "h.json", PAIRED)
    rep = build_report([h], tmp_path / "out")
    md = rep.markdown
    for section, caption, column, before in (
            ("Inference", "Steady state (after warm-up)", "× handcrafted [95% CI]", "latency"),
            ("Training", None, "× handcrafted [95% CI]", "images/epoch"),
            ("Static vs dynamic graph", None, "× eager [95% CI]", "first call"),
            ("Compression", "Work and speed", "× base [95% CI]", "executed MACs")):
        t = table(md, section, caption)
        first_absolute = next(i for i, name in enumerate(t["header"]) if name.startswith(before))
        assert t["header"].index(column) < first_absolute, (section, t["header"])
        assert "interleaved rounds" in t["note"]
    steady = table(md, "Inference", "Steady state (after warm-up)")["rows"]
    assert pick(steady, backend="torch", batch="1")["× handcrafted [95% CI]"] == "0.250× [0.210, 0.300]"
    assert pick(steady, backend="handcrafted", batch="1")["× handcrafted [95% CI]"] == "-"  # the reference
    graph = table(md, "Static vs dynamic graph")["rows"]
    assert pick(graph, mode="tf.function")["× eager [95% CI]"] == "9.50× [8.00, 11.0]"
    work = table(md, "Compression", "Work and speed")["rows"]
    assert pick(work, technique="prune-removed")["× base [95% CI]"] == "1.40× [1.30, 1.50]"
    assert pick(work, technique="none (base)")["× base [95% CI]"] == "-"

    check_findings(rep.findings, json.loads(h.read_text()))
    text = {f.kind: f.text for f in rep.findings}
    fastest = [f.text for f in rep.findings if f.kind == "fastest-inference"]
    # who is fastest: the side-by-side ratio leads, inverted where the faster one is the reference
    assert any("**handcrafted** is fastest (" in t and "it runs 4.00× torch's speed [3.33, 4.76] side by side." in t
               for t in fastest), fastest
    assert "Inference at batch 64: **keras** is fastest (1.900 ms median); it runs 1.12× handcrafted's speed " \
           "[1.05, 1.20] side by side." in fastest
    assert ("tf.function runs 9.50× eager's speed [8.00, 11.0] side by side and repays its 120.0 ms first call "
            "after 22 calls") in text["graph"]
    removes = text["compression-removes"]
    assert "at batch 1 it runs 1.40× the base's speed [1.30, 1.50] side by side on torch." in removes
    # slower side by side: prune-masked (its ratio), not quantize-int8 (its interval reaches 1)
    assert "prune-masked 0.5 on torch (runs 0.620× the base's speed [0.550, 0.700] side by side)" in (
        text["compression-slower"])
    assert "quantize-int8" not in text["compression-slower"]


def test_a_history_before_ratios_has_no_ratio_column(tmp_path):
    md = build_report([write_history(tmp_path / "h.json", FINDINGS_HISTORY)], tmp_path / "out").markdown
    assert not any(h.startswith("× ") for t in parse_tables(md) for h in t["header"])


# --- CSV ------------------------------------------------------------------------------------------------------

def read_csv(report, name: str) -> list[dict]:
    import csv

    path = report.readme.parent / "csv" / f"{name}.csv"
    assert path in report.csv
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def csv_row(rows: list[dict], **ident) -> dict:
    found = [r for r in rows if all(r[k] == str(v) for k, v in ident.items())]
    assert len(found) == 1, (ident, rows)
    return found[0]


def check_inference_csv(report, doc: dict) -> None:
    """The steady-state CSV: every figure exactly the history's (seconds, full precision), intervals in two columns."""
    rows = read_csv(report, "inference-steady-state")
    inf = benchmarks(doc, "inference")
    assert len(rows) == len(inf)
    for b in inf:
        e, s = b["extra_info"], b["stats"]
        row = csv_row(rows, **ident(b, batch=e["batch_size"]))
        assert float(row["latency s (median)"]) == s["median"]
        assert float(row["img/s (batch / median)"]) == e["batch_size"] / s["median"]
        if "timing" in e:
            t = e["timing"]
            assert [float(row["median 95% CI s low"]), float(row["median 95% CI s high"])] == t["median_ci95_s"]
            assert (float(row["p90 s"]), float(row["p99 s"])) == (t["p90_s"], t["p99_s"])
        # no flag column at all when no row is flagged
        assert row.get("flag", "") == ("⚠ unstable" if e.get("unstable") else "")
        assert row.get("flag note", "") == ("; ".join(e["unstable_reasons"]) if e.get("unstable") else "")


def test_csv_reads_back_equal_to_the_json(tmp_path):
    h = write_history(tmp_path / "h.json", FINDINGS_HISTORY)
    rep = build_report([h], tmp_path / "out")
    doc = json.loads(h.read_text())
    check_inference_csv(rep, doc)
    assert {p.name for p in rep.csv} == {f"{t.name}.csv" for s in rep.document for t in s.tables}
    graph = read_csv(rep, "graph")
    for b in GRAPH:
        e = b["extra_info"]
        row = csv_row(graph, backend=e["backend"], mode=e["mode"], phase=e["phase"])
        assert float(row["first call s"]) == e["first_call_s"]
        assert row["steady-state s (median)"] == ("" if "steady_s" not in e else repr(e["steady_s"]))
        assert row["break-even calls"] == ("" if "break_even_calls" not in e else
                                           "never" if e["break_even_calls"] is None else str(e["break_even_calls"]))
    work = read_csv(rep, "compression-work-and-speed")
    for b in COMPRESSION:
        e = b["extra_info"]
        row = csv_row(work, backend=e["backend"], technique=e["technique"])
        assert row["arch"] == "lenet5" and row["device"] == "cpu"  # folded in the markdown, kept in the CSV
        if "latency_b1_ms" in e:
            assert float(row["latency s, batch 1 (median)"]) == pytest.approx(e["latency_b1_ms"] / 1e3, rel=1e-15)
            assert int(row["executed MACs/sample"]) == e["executed_macs"]


# --- HTML -----------------------------------------------------------------------------------------------------

def test_html_page_is_self_contained(tmp_path):
    import base64

    h = write_history(tmp_path / "h.json", FINDINGS_HISTORY + MLP)
    rep = build_report([h], tmp_path / "out")
    page = rep.html.read_text(encoding="utf-8")
    assert rep.html == rep.readme.parent / "index.html"
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page) and "@import" not in page
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(rep.plots) == page.count("<img ")
    assert sorted(base64.b64decode(i) for i in images) == sorted(p.path.read_bytes() for p in rep.plots)
    nav = re.search(r'<nav aria-label="contents">(.*?)</nav>', page)[1]
    ids = re.findall(r'<section id="([^"]+)"', page)
    assert re.findall(r'href="#([^"]+)"', nav) == ids and ids[0] == "what-this-run-shows"
    assert page.count('<table class="sortable"') == sum(len(s.tables) for s in rep.document)
    assert "tr class=flagged" in page and "⚠ unstable" in page  # the unstable torch row, tinted
    assert re.search(r'data-v="0\.0046"[^<]*>4\.600</td>', page)  # sorted by the raw seconds, shown in ms
    assert ">4.462–4.784</td>" in page  # the median's 95% interval, ms


def test_tuned_modes_against_their_defaults_have_their_section(tmp_path):
    def row(backend, phase, batch, modes, speedup, **figures):
        group = f"tuned-vs-default {'inference' if phase == 'infer' else 'train'} batch={batch}"
        return {"name": f"test_tuned_{phase}[{backend}-lenet5-{batch}]", "group": group, "params": {},
                "stats": {"median": 1.0},
                "extra_info": {"backend": backend, "arch": "lenet5", "device": "cpu", "phase": phase,
                               "batch_size": batch, "threads": {"requested": 1}, "default_mode": modes[0],
                               "tuned_mode": modes[1], "speedup": {modes[1]: dict(zip(("low", "median", "high"),
                                                                                     speedup))}, **figures}}

    path = tmp_path / "h.json"
    path.write_text(json.dumps({"machine_info": {"node": "box"}, "commit_info": {}, "datetime": "2026-12-06T00:00:00",
                                "benchmarks": [
                                    row("jax", "infer", 64, ("jit", "jit-nhwc"), (0.7, 0.8, 0.9),
                                        throughput={"jit": 20000.0, "jit-nhwc": 16000.0}),
                                    row("torch", "train", 64, ("eager", "channels_last"), (1.1, 1.2, 1.3),
                                        step_time={"eager": 0.012, "channels_last": 0.01}),
                                    row("torch", "infer", 64, ("eager", "frozen"), (2.0, 2.4, 2.6),
                                        throughput={"eager": 10000.0, "frozen": 24000.0})]}))
    report = build_report([path], tmp_path / "out")
    rows = table(report.markdown, "What an expert gains")["rows"]
    assert [(r["backend"], r["phase"], r["default mode"], r["tuned mode"], r["tuned's speed over the default's"],
             r["95% interval"], r["default / tuned"]) for r in rows] == [
        ("torch", "infer", "eager", "frozen", "2.40x", "[2.00, 2.60]", "10,000 / 24,000 img/s"),
        ("torch", "train", "eager", "channels_last", "1.20x", "[1.10, 1.30]", "12.00 / 10.00 ms"),
        ("jax", "infer", "jit", "jit-nhwc", "0.80x", "[0.70, 0.90]", "20,000 / 16,000 img/s")]  # slower: reported
    assert "not rendered" not in report.markdown and "Speed ratios, interleaved (group" in "".join(report.not_run)


def test_interleaved_speed_ratios_have_their_section_and_judge_the_targets(tmp_path):
    def row(phase, batch, speedup, **figures):
        group = f"speed-ratio {'inference' if phase == 'infer' else 'train'} batch={batch}"
        return {"name": f"test_{phase}[lenet5-{batch}]", "group": group, "params": {}, "stats": {"median": 1.0},
                "extra_info": {"backend": "handcrafted", "arch": "lenet5", "device": "cpu", "phase": phase,
                               "batch_size": batch, "threads": {"requested": 2}, "contenders": ["handcrafted", "torch"],
                               "speedup": {"torch": dict(zip(("low", "median", "high"), speedup))},
                               "rival_modes": {"handcrafted": "eager", "torch": "frozen"}, **figures}}

    path = tmp_path / "h.json"
    path.write_text(json.dumps({"machine_info": {"node": "box"}, "commit_info": {}, "datetime": "2026-12-01T00:00:00",
                                "benchmarks": [row("infer", 64, (1.2, 1.3, 1.4), throughput={"handcrafted": 2600.0,
                                                                                             "torch": 2000.0}),
                                               row("train", 64, (0.9, 1.1, 1.3), step_time={"handcrafted": 0.011,
                                                                                             "torch": 0.0121})]}))
    report = build_report([path], tmp_path / "out")
    ratios = table(report.markdown, "Speed ratios, interleaved")["rows"]
    assert [(r["phase"], r["rival"], r["rival's mode"], r["handcrafted's speed over the rival's"], r["95% interval"])
            for r in ratios] == [("infer", "torch", "frozen", "1.30x", "[1.20, 1.40]"),
                                 ("train", "torch", "frozen", "1.10x", "[0.90, 1.30]")]
    assert ratios[0]["handcrafted / rival"] == "2,600 / 2,000 img/s" and ratios[1]["handcrafted / rival"] == \
        "11.00 / 12.10 ms"
    targets = table(report.markdown, "Speed targets")["rows"]
    assert targets[0]["result"] == "PASS [1.20, 1.40]"
    assert targets[1]["result"].startswith("not judged: the 95% interval [0.77, 1.11]")  # 1/1.3 .. 1/0.9 vs 0.8
    assert "not rendered" not in report.markdown  # no group left over
    # the ratios lead "What this run shows", with their intervals
    first = report.findings[0]
    assert first.kind == "speed-ratio" and first.text == (
        "Side by side (lenet5, 2 thread(s)): handcrafted's throughput over torch's: 1.30× [1.20, 1.40] at batch 64 "
        "(median of the interleaved rounds' ratios, 95% interval).")


def test_accuracy_over_seeds_shows_its_spread_and_the_equivalence_verdict(tmp_path):
    from lenet.study.seeds import spread

    def row(backend, values, **extra):
        seeds = {"test_top1": spread(values, list(range(len(values))))}
        return entry("accuracy", f"test_accuracy[{backend}]", {"backend": backend, "test_top1": values[0],
                                                               "seed_spread": seeds, **extra})

    path = write_history(tmp_path / "h.json", [
        row("handcrafted", [0.975, 0.977, 0.976]), row("torch", [0.976, 0.975, 0.977]),
        row("keras", [0.950, 0.951, 0.949]), row("jax", [0.976]),
        row("onnxruntime", [0.975, 0.977, 0.976], weights_from="handcrafted")])
    report = build_report([path], tmp_path / "out")
    rows = {r["backend"]: r for r in table(report.markdown, "Accuracy")["rows"]}
    assert rows["handcrafted"]["test top-1 over seeds (mean ± sd)"] == "0.9760 ± 0.0010 (n=3)"
    assert rows["torch"]["vs handcrafted (TOST ±0.5 pts)"] == "equivalent (+0.00 pts)"
    assert rows["keras"]["vs handcrafted (TOST ±0.5 pts)"] == "different (-2.60 pts)"
    assert rows["jax"]["vs handcrafted (TOST ±0.5 pts)"] == "undecided (+0.00 pts)"  # one seed
    assert rows["onnxruntime"]["vs handcrafted (TOST ±0.5 pts)"] == "runs handcrafted's weights"
    (sentence,) = [f.text for f in report.findings if f.kind == "accuracy-equivalence"]
    assert sentence.startswith("Accuracy over seeds: handcrafted scores test top-1 0.9760 ± 0.0010 over 3 seed(s)")
    assert sentence.endswith("(TOST, margin ±0.5 points): equivalent: torch (+0.00 pts); different: keras (-2.60 pts).")
    # one seed a backend: the table still says "undecided", the findings say nothing rather than that
    path = write_history(tmp_path / "one.json", [row("handcrafted", [0.975]), row("torch", [0.976])])
    report = build_report([path], tmp_path / "one")
    assert not [f for f in report.findings if f.kind == "accuracy-equivalence"]


def test_training_curves_shade_the_seeds_range(tmp_path):
    def curve(*top1):
        return [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "train_top1": t, "val_loss": 1.0 / (i + 1),
                 "val_top1": t} for i, t in enumerate(top1)]

    seeds = [curve(0.50, 0.80), curve(0.40, 0.85), curve(0.60, 0.75)]
    path = write_history(tmp_path / "h.json", [
        entry("accuracy", "test_accuracy[handcrafted]", {"backend": "handcrafted", "history": seeds[0],
                                                         "seed_histories": seeds}),
        entry("accuracy", "test_accuracy[torch]", {"backend": "torch", "history": seeds[1]})])  # one seed: no band
    (plot,) = [p for p in build_report([path], tmp_path / "out").plots if p.path.name.startswith("training_curves")]
    loss, top1 = plot.axes
    colour = dict(top1.series)["handcrafted train"]
    assert sorted(top1.bands) == [(colour, 0.40, 0.85), (colour, 0.40, 0.85)]  # train and val: min to max
    assert all(c == colour for c, *_ in loss.bands) and len(loss.bands) == 2


def test_a_malformed_seed_history_is_refused_by_name(tmp_path):
    seeds = [[{"epoch": 1, "val_top1": 0.5}], [{"epoch": 1, "val_top1": 1.5}]]
    path = write_history(tmp_path / "h.json", [entry("accuracy", "test_accuracy[handcrafted]", {
        "backend": "handcrafted", "seed_histories": seeds})])
    with pytest.raises(HistoryError, match=r"h\.json.*test_accuracy\[handcrafted\].*seed_histories.*seed 1"):
        build_report([path], tmp_path / "out")


def test_what_this_run_shows_is_ten_sentences_at_most_and_withholds_flagged_figures(tmp_path):
    rows = [_timed(f"inference batch={n}", f"test_inference[{b}-{n}]", b, n, t, unstable=(b, n) == ("keras", 4))
            for n in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
            for b, t in (("handcrafted", 1e-4 * n), ("keras", 2e-4 * n))]
    report = build_report([write_history(tmp_path / "h.json", rows)], tmp_path / "out")
    kinds = [f.kind for f in report.findings]
    assert len(kinds) <= 10 and kinds[-1] == "withheld" and kinds.count("fastest-inference") == 3  # 3 of a kind
    assert "keras-4" not in " ".join(f.text for f in report.findings[:-1])  # the flagged figure is not quoted
    assert report.findings[-1].text.startswith("1 more sentence(s) would quote a flagged figure and are withheld; "
                                               "⚠ unstable: 1 of 22 benchmarks")




def _loadgen(valid: bool, reason: str = "early stopping not met") -> dict:
    return {"valid": valid, "verdict": "VALID" if valid else f"INVALID ({reason})",
            "reasons": [] if valid else [reason]}


def scenario_history(path: Path) -> Path:
    """LoadGen's four scenarios for two backends, handcrafted's server search passing at 4000 queries/s."""
    rows = []
    for b, scale in (("handcrafted", 1.0), ("torch", 3.0)):
        ms = lambda v, scale=scale: v * scale  # noqa: E731
        search = [{"target_qps": q, "met_bound": ok, "valid": ok, "latency_p50_ms": ms(p50), "latency_p99_ms": ms(p99),
                   "loadgen_p99_ms": ms(p99)}
                  for q, ok, p50, p99 in ((2000.0, True, 0.1, 1.0), (4000.0, True, 0.2, 4.0),
                                          (8000.0, False, 5.0, 40.0))]
        rows += [
            entry("scenario single-stream", f"test_single_stream[{b}]", {
                "backend": b, "scenario": "single-stream", "batch_size": 1, "queries": 1200, "latency_p50_ms": ms(0.1),
                "latency_p90_ms": ms(0.12), "latency_p99_ms": ms(0.3), "loadgen": _loadgen(True)}),
            entry("scenario multi-stream", f"test_multi_stream[{b}]", {
                "backend": b, "scenario": "multi-stream", "batch_size": 8, "queries": 700, "latency_p50_ms": ms(0.5),
                "latency_p90_ms": ms(0.6), "latency_p99_ms": ms(0.9), "loadgen": _loadgen(b == "handcrafted")}),
            entry("scenario server", f"test_server[{b}]", {
                "backend": b, "scenario": "server", "batch_size": 1, "queries": 900, "latency_p50_ms": ms(0.2),
                "latency_p90_ms": ms(1.0), "latency_p99_ms": ms(4.0), "loadgen_p99_ms": ms(4.2),
                "latency_bound_ms": 10.0, "service_ms": ms(0.1), "peak_qps": 4000.0, "peak_qps_below": 8000.0,
                "search": search, "loadgen": _loadgen(False)}),
            entry("scenario offline", f"test_offline[{b}]", {
                "backend": b, "scenario": "offline", "batch_size": 64, "throughput_img_s": 20000.0 / scale,
                "accuracy_mode": {"top1": 0.9694, "samples": 360, "reference_top1": 0.9694},
                "loadgen": _loadgen(True)}, median=3.2e-3 * scale)]
    return write_history(path, rows)


def test_scenarios_overview_and_server_plot(tmp_path):
    rep = build_report([scenario_history(tmp_path / "h.json")], tmp_path / "out")
    overview = table(rep.markdown, "Scenarios", "MLPerf metric per scenario")
    check_row(pick(overview["rows"], backend="torch"), {
        "single-stream p90 {unit}": 0.36e-3, "multi-stream p99 {unit}": 2.7e-3, "server peak queries/s": 4000.0,
        "offline samples/s": 20000.0 / 3})
    row = pick(overview["rows"], backend="torch")
    assert (row["single-stream verdict"], row["multi-stream verdict"], row["server verdict at peak"],
            row["offline verdict"]) == ("VALID", "INVALID", "INVALID", "VALID")
    server = table(rep.markdown, "Scenarios", "Server (Poisson arrivals, one query served at a time, p99 under the "
                                              "bound)")
    check_row(pick(server["rows"], backend="handcrafted"), {
        "p99 bound {unit}": 10e-3, "peak queries/s": 4000.0, "lowest failing queries/s": 8000.0, "runs": 3,
        "LoadGen's p99 at peak {unit}": 4.2e-3})
    assert pick(server["rows"], backend="handcrafted")["LoadGen verdict at peak"] == "INVALID (early stopping not met)"
    offline = table(rep.markdown, "Scenarios", "Offline (every sample available at once, at the best batch size)")
    check_row(pick(offline["rows"], backend="handcrafted"), {"top-1 (LoadGen accuracy mode)": 0.9694,
                                                             "img/s": 20000.0})
    (plot,) = [p for p in rep.plots if p.path.name == "server_latency_vs_rate.png"]
    assert_png(plot.path, WIDE)
    (ax,) = plot.axes
    assert (ax.xscale, ax.yscale) == ("log", "log") and ax.xlabel.startswith("offered rate")
    assert ax.legend == ("handcrafted p99", "handcrafted p50", "torch p99", "torch p50", "p99 bound 10 ms")
    (server_finding,) = [f for f in rep.findings if f.kind == "scenario-server"]
    assert server_finding.facts["peak_qps"] == 4000.0 and "INVALID (early stopping not met)" in server_finding.text


def test_scenarios_from_before_loadgen_have_no_overview(tmp_path):
    """Hand-written scenario rows (no LoadGen verdict): their tables, and no LoadGen overview or verdicts."""
    h = write_history(tmp_path / "h.json", [entry("scenario single-stream", "test_single_stream[torch]", {
        "backend": "torch", "batch_size": 1, "queries": 1024, "latency_p50_ms": 0.1, "latency_p90_ms": 0.2,
        "latency_p99_ms": 0.4})])
    rep = build_report([h], tmp_path / "out")
    assert "MLPerf metric per scenario" not in rep.markdown
    single = table(rep.markdown, "Scenarios", "Single stream (one sample per query, back to back)")
    assert "LoadGen verdict" not in single["header"]



def test_a_new_section_is_one_registry_entry_and_its_builder(tmp_path):
    """Nothing but the schema's registry and a builder: the report finds, titles, builds and lists the section,
    and the bench's flag applies the group's trust rule."""
    from lenet import schema
    from lenet.report.markdown import Column, Table, sig
    from lenet.report.markdown import text as plain_text
    from lenet.report.sections.core import Section

    def toy_section(records, ctx):
        return Section("toy", "Toys", "One row per backend.", [Table([
            Column("backend", lambda r: r.ident[0], plain_text, left=True),
            Column("toys/s", lambda r: r.get("toys_per_s"), sig)], records)])

    schema.register(schema.Group("toy", "toy", "Toys", schema.DETERMINISTIC, toy_section))
    try:
        assert schema.group_of("toy batch=3").trust == schema.DETERMINISTIC
        path = write_history(tmp_path / "h.json", [entry("toy batch=3", "test_toy[handcrafted]",
                                                         {"backend": "handcrafted", "toys_per_s": 12.5})])
        report = build_report([path], tmp_path / "out")
    finally:
        schema.unregister("toy")
    assert schema.group_of("toy") is None
    assert [(r["backend"], r["toys/s"]) for r in table(report.markdown, "Toys")["rows"]] == [("handcrafted", "12.50")]
    assert "## Toys" in report.markdown and "Other groups" not in report.markdown
    with pytest.raises(ValueError, match="needs a builder"):
        schema.register(schema.Group("toy", "toy", "Toys", schema.TIME))


def test_the_accuracy_sentence_quotes_the_means_over_seeds(tmp_path):
    from lenet.study.seeds import spread

    def row(backend, values):
        return entry("accuracy", f"test_accuracy[{backend}]", {
            "backend": backend, "test_top1": values[0], "seed_spread": {"test_top1": spread(values, [0, 1, 2])}})

    rows = [row("handcrafted", [0.91, 0.90, 0.92]), row("torch", [0.90, 0.92, 0.91])]
    path = write_history(tmp_path / "h.json", rows)
    (sentence,) = [f.text for f in build_report([path], tmp_path / "out").findings if f.kind == "accuracy"]
    assert sentence == "Accuracy: all 2 backends score test top-1 (mean over seeds) 0.9100."  # not 0.91 and 0.90
