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
from lenet.report import build_report
from lenet.report.history import HistoryError
from lenet.report.plots import DPI, SIZE, WIDE, pareto_front
from lenet.report.records import machine_label, section_of
from lenet.study.speed_targets import check

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- reading the markdown back --------------------------------------------------------------------------------

def _split_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [c.strip().replace("\\|", "|") for c in cells]


def parse_tables(md: str) -> list[dict]:
    """Every markdown table: {"section": last "## " heading, "caption": last bold line, "header", "rows"}."""
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
            out.append({"section": section, "caption": caption, "header": header, "rows": rows})
            continue
        i += 1
    return out


def table(md: str, section: str, caption: str | None = None) -> dict:
    found = [t for t in parse_tables(md) if t["section"] == section and (caption is None or t["caption"] == caption)]
    assert len(found) == 1, f"{len(found)} tables in section {section!r} caption {caption!r}"
    return found[0]


def num(cell: str):
    """A cell as a number (separators, %, × and signs handled); None for a dash."""
    if cell == "-":
        return None
    return float(cell.replace(",", "").replace("%", "").replace("×", ""))


def agrees(cell: str, value, header: str) -> bool:
    """The cell shows ``value`` at the report's precision (4 decimals for accuracies, 4 significant figures)."""
    if value is None:
        # a recorded null break-even reads "never"; a field the row lacks reads as a dash
        return cell in (("never", "-") if header == "break-even calls" else ("-",))
    got = num(cell)
    if got is None:
        return False
    if "top-" in header:
        return abs(got - value) <= 5.1e-5
    return got == pytest.approx(value, rel=6e-4, abs=1e-12)


def check_row(row: dict, expected: dict) -> None:
    for header, value in expected.items():
        assert agrees(row[header], value, header), f"{header}: table shows {row[header]!r}, JSON has {value!r}"


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
    """A copy of the quick run's history (tests alter copies, never the shared file)."""
    tmp, proc = quick_run
    files = sorted((tmp / "storage").rglob("*.json"))
    assert len(files) == 1, "the bench saved no history:\n" + proc.stdout[-3000:] + proc.stderr[-2000:]
    dest = tmp_path_factory.mktemp("history") / files[0].name
    shutil.copy(files[0], dest)
    return dest


@pytest.fixture(scope="module")
def doc(history) -> dict:
    return json.loads(history.read_text(encoding="utf-8"))


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
def test_overall_table_matches_json(report, doc):
    t = table(report.markdown, "Overall performance")
    assert "MACs/sample (thop convention)" in t["header"] and "inference ms, batch 1 (median)" in t["header"]
    idents = {(b["extra_info"]["backend"], b["extra_info"]["arch"], b["extra_info"]["device"])
              for b in headline(doc)}
    assert len(t["rows"]) == len(idents)
    for backend, arch, device in idents:
        mine = [b for b in headline(doc) if ident(b) == {"backend": backend, "arch": arch, "device": device}]
        by = lambda prefix, batch=None, mine=mine: next(  # noqa: E731
            (b for b in mine if b["group"].startswith(prefix)
             and (batch is None or b["extra_info"]["batch_size"] == batch)), None)
        acc, b1, b1024, mem = by("accuracy"), by("inference", 1), by("inference", 1024), by("memory")
        epochs = [b for b in mine if b["group"].startswith("train-epoch")]
        e = mine[0]["extra_info"]
        expected = {
            "test top-1": acc and acc["extra_info"]["test_top1"], "test top-5": acc and acc["extra_info"]["test_top5"],
            "inference ms, batch 1 (median)": b1 and b1["stats"]["median"] * 1e3,
            "inference ms, batch 1024 (median)": b1024 and b1024["stats"]["median"] * 1e3,
            "img/s, batch 1024": b1024 and 1024 / b1024["stats"]["median"],
            "params": e["params"], "param bytes (float32)": e["param_bytes"],
            "param MB (10^6 bytes)": None,  # checked below at its 3 decimals
            "MACs/sample (thop convention)": e["macs_per_sample"],
            "file bytes (.npz)": mem and mem["extra_info"]["file_bytes"],
            "peak RSS MiB (inference, batch 1024)": mem and mem["extra_info"]["infer_peak_rss_mib"],
        }
        expected.update({f"train epoch s, batch {b['extra_info']['batch_size']} (median)": b["stats"]["median"]
                         for b in epochs})
        flops = by("flops")
        for name, c in ((flops or {}).get("extra_info", {}).get("flop_counters") or {}).items():
            expected[f"{name}/sample ({c['convention']})"] = c["value"] / c["batch_size"]
        row = pick(t["rows"], backend=backend, arch=arch, device=device)
        mb = row.pop("param MB (10^6 bytes)")
        assert abs(num(mb) - e["param_bytes"] / 1e6) <= 5e-4
        del expected["param MB (10^6 bytes)"]
        for header in set(row) - set(expected) - {"backend", "arch", "device"}:
            expected[header] = None  # counters of other backends: a dash, never a zero
        check_row(row, expected)


@pytest.mark.slow
def test_accuracy_table_matches_json(report, doc):
    t = table(report.markdown, "Accuracy")
    acc = benchmarks(doc, "accuracy")
    assert len(t["rows"]) == len(acc)
    for b in acc:
        e = b["extra_info"]
        row = pick(t["rows"], **ident(b))
        check_row(row, {"val top-1": e["val_top1"], "val top-5": e["val_top5"], "test top-1": e["test_top1"],
                        "test top-5": e["test_top5"], "epochs": e["epochs"], "seed": e["seed"],
                        "training s": e["train_seconds"], "test-set predict ms (median)": b["stats"]["median"] * 1e3,
                        "lr": e["train_config"]["lr"], "train batch": e["train_config"]["batch_size"]})
        assert row["dataset"] == e["dataset"] and row["optimizer"] == e["train_config"]["optimizer"]


@pytest.mark.slow
def test_inference_tables_match_json(report, doc):
    steady = table(report.markdown, "Inference", "Steady state (after warm-up)")
    first = table(report.markdown, "Inference", "First call (tracing, compilation, allocator warm-up)")
    inf = benchmarks(doc, "inference")
    assert len(steady["rows"]) == len(first["rows"]) == len(inf) > 0
    for b in inf:
        s, e = b["stats"], b["extra_info"]
        key = ident(b, batch=e["batch_size"])
        check_row(pick(steady["rows"], **key), {
            "latency ms (median)": s["median"] * 1e3, "IQR ms": s["iqr"] * 1e3, "stddev ms": s["stddev"] * 1e3,
            "img/s (batch / median)": e["batch_size"] / s["median"], "rounds": s["rounds"],
            "iterations": s["iterations"]})
        check_row(pick(first["rows"], **key), {"first call s": e["first_call_s"]})
    assert "first call s" not in steady["header"]  # first-call cost is shown apart


@pytest.mark.slow
def test_training_table_matches_json(report, doc):
    t = table(report.markdown, "Training")
    epochs = benchmarks(doc, "train-epoch")
    assert len(t["rows"]) == len(epochs) > 0
    for b in epochs:
        e = b["extra_info"]
        row = pick(t["rows"], **ident(b, batch=e["batch_size"]))
        check_row(row, {"epoch s (median)": b["stats"]["median"], "IQR s": b["stats"]["iqr"],
                        "images/epoch": e["train_samples"],
                        "img/s (images / median)": e["train_samples"] / b["stats"]["median"]})
        assert row["speed dataset"] == e["speed_dataset"]


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
    for b in mem:
        check_row(pick(overall["rows"], **ident(b)),
                  {"peak RSS MiB (inference, batch 1024)": b["extra_info"]["infer_peak_rss_mib"],
                   "file bytes (.npz)": b["extra_info"]["file_bytes"]})


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
    from lenet.report.history import load_run

    rows = check(load_run(history))
    if not rows:
        assert "No handcrafted/torch pairs" in report.markdown
        return
    t = table(report.markdown, "Speed targets")
    assert [r["target"] for r in t["rows"]] == [r["target"] for r in rows]
    for got, want in zip(t["rows"], rows):
        assert got["limit"] == want["limit"]
        if want["passed"] is None:  # this machine flagged one of the figures: not judged, in both
            assert got["ratio"] == "-" and got["result"] == "⚠ unstable: not judged"
            continue
        assert abs(num(got["ratio"]) - want["ratio"]) <= 0.005
        assert got["result"] == ("PASS" if want["passed"] else "FAIL")


@pytest.mark.slow
def test_plots_are_pngs_with_labelled_axes(report, doc):
    by_name = {p.path.name: p for p in report.plots}
    archs = {b["extra_info"]["arch"] for b in benchmarks(doc, "accuracy")}
    expected = {f"training_curves_{a}.png" for a in archs} | {"latency_vs_batch.png", "accuracy_vs_latency.png",
                                                               "accuracy_vs_memory.png"}
    if benchmarks(doc, "graph"):
        expected.add("graph_modes.png")
    assert expected == set(by_name)
    for p in report.plots:
        assert_png(p.path, WIDE if len(p.axes) > 1 else SIZE)
        assert p.path.parent == report.readme.parent and f"]({p.path.name})" in report.markdown
        assert p.title
        for ax in p.axes:
            assert ax.xlabel and ax.ylabel and ax.legend, (p.path.name, ax)
    backends = {b["extra_info"]["backend"] for b in benchmarks(doc, "accuracy")}
    loss, top1 = by_name["training_curves_lenet5.png"].axes
    assert (loss.xlabel, loss.ylabel) == ("epoch", "cross-entropy loss (mean per image)")
    assert (top1.xlabel, top1.ylabel) == ("epoch", "top-1 accuracy (fraction)")
    assert set(loss.legend) == {f"{b} {split}" for b in backends for split in ("train", "val")}
    (lat,) = by_name["latency_vs_batch.png"].axes
    assert (lat.xscale, lat.yscale) == ("log", "log") and "batch size" in lat.xlabel and "ms" in lat.ylabel
    assert set(lat.legend) == {b["extra_info"]["backend"] for b in benchmarks(doc, "inference")}
    (acc_lat,) = by_name["accuracy_vs_latency.png"].axes
    assert "latency ms, batch 1" in acc_lat.xlabel and "top-1" in acc_lat.ylabel and "Pareto front" in acc_lat.legend
    mem_axes = by_name["accuracy_vs_memory.png"].axes
    assert "parameter bytes" in mem_axes[0].xlabel and all("Pareto front" in a.legend for a in mem_axes)


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
    assert all(r["peak RSS MiB (inference, batch 1024)"] == "-" and r["file bytes (.npz)"] == "-"
               for r in overall["rows"])
    assert not any("/sample (" in h and "thop convention" not in h for h in overall["header"])


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
    from lenet.report.history import load_run

    assert machine_label(load_run(cpu)) != machine_label(load_run(gpu))
    assert "GPU" in machine_label(load_run(gpu))

    rep = build_report([cpu, gpu], tmp_path / "out", labels=["cpu-box", "gpu-box"])
    inf = table(rep.markdown, "Inference", "Steady state (after warm-up)")
    assert inf["header"][0] == "machine"
    for label, d in (("cpu-box", doc), ("gpu-box", gpu_doc)):
        for b in benchmarks(d, "inference"):
            row = pick(inf["rows"], machine=label, **ident(b, batch=b["extra_info"]["batch_size"]))
            check_row(row, {"latency ms (median)": b["stats"]["median"] * 1e3})
    overall = table(rep.markdown, "Overall performance")
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
    new = folder / "0002_new.json"
    new.write_text(json.dumps(new_doc))
    return base, new, slow["name"], worse["name"]


@pytest.mark.slow
def test_compare_flags_the_doctored_run(doc, tmp_path, capsys):
    base, new, slow, worse = _doctored(doc, tmp_path / "runs")
    assert main(["report", str(base), str(new), "--out", str(tmp_path / "out"), "--compare"]) == 0
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
        else:  # the same samples on both sides
            assert row["time verdict"] == "no significant change" and row["flag"] == "-", row
    # a time change under the threshold is not flagged; the accuracy drop still is (it has no fixed threshold)
    assert main(["report", str(base), str(new), "--out", str(tmp_path / "out2"), "--compare",
                 "--threshold-time", "40"]) == 0
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
              {"latency ms (median)": b["stats"]["median"] * 1e3})


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
        check_row(row, {"first call ms": e["first_call_s"] * 1e3,
                        "steady-state ms (median)": e.get("steady_s") and e["steady_s"] * 1e3,
                        "break-even calls": e.get("break_even_calls")})
    assert pick(g["rows"], mode="xla")["new field MiB"] == "12.50"  # a new field renders by its suffix

    absolute = table(md, "Compression", "Absolute figures (the base row is the uncompressed model)")
    relative = table(md, "Compression", "Relative to the uncompressed model")
    base = pick(absolute["rows"], technique="none (base)")
    check_row(base, {"file bytes (.npz)": 252502, "executed MACs/sample": 416520, "test top-1": 0.95,
                     "latency ms, batch 1 (median)": 0.3})
    assert len(absolute["rows"]) == len(COMPRESSION) + 1  # one base row, from the rows that carry base_* figures
    for b in COMPRESSION:
        e = b["extra_info"]
        row = pick(absolute["rows"], backend=e["backend"], technique=e["technique"])
        check_row(row, {"test top-1": e["top1"], "file bytes (.npz)": e.get("file_bytes"),
                        "executed MACs/sample": e.get("executed_macs"),
                        "latency ms, batch 1 (median)": e.get("latency_b1_ms")})
        rel = pick(relative["rows"], backend=e["backend"], technique=e["technique"])
        check_row(rel, {"Δ top-1 points": (e["top1"] - e["base_top1"]) * 100 if "base_top1" in e else None})
    rel = {r["technique"]: r for r in relative["rows"]}
    assert num(rel["prune-removed"]["executed MACs/sample / base"]) == 0.5
    assert num(rel["prune-masked"]["executed MACs/sample / base"]) == 1.0  # masks execute every multiply
    assert rel["quantize-int8"]["verdict"].startswith("slower (batch 1") and rel["prune-removed"]["verdict"] == "-"

    m = table(md, "MLP sweep")
    assert [r["hidden units"] for r in m["rows"]] == ["30", "100", "100-30", "1024"]  # by size
    for b in MLP:
        e = b["extra_info"]
        check_row(pick(m["rows"], arch=e["arch"]), {"params": e["params"], "test top-1": e["test_top1"],
                                                    "latency ms, batch 1 (median)": e.get("latency_b1_ms"),
                                                    "peak RSS MiB": e.get("peak_rss_mib")})

    plots = {p.path.name: p for p in rep.plots}
    assert set(plots) == {"graph_modes.png", "compression_tradeoffs.png", "accuracy_vs_latency.png",
                          "accuracy_vs_memory.png"}  # the last two: MLP-sweep models alone (Study E's plots)
    for p in rep.plots:
        assert_png(p.path, WIDE if len(p.axes) > 1 else SIZE)
    steady, first = plots["graph_modes.png"].axes
    assert set(steady.legend) == {"eager", "tf.function"} and set(first.legend) == {"eager", "tf.function", "xla"}
    assert steady.yscale == "log" and "ms" in steady.ylabel and first.xlabel
    assert [a.xlabel.split(" (")[0] for a in plots["compression_tradeoffs.png"].axes] == [
        "serialized bytes", "gzip bytes", "latency ms, batch 1"]
    assert all(a.ylabel == "test top-1 accuracy (fraction)" for a in plots["compression_tradeoffs.png"].axes)


def test_mlp_sweep_points_join_the_accuracy_plots(tmp_path):
    lenet = [entry("accuracy", "test_accuracy[torch-lenet5-cpu]", {"backend": "torch", "test_top1": 0.98}),
             entry("inference batch=1", "test_inference[torch-lenet5-cpu-1]", {"backend": "torch", "batch_size": 1},
                   median=0.001)]
    rep = build_report([write_history(tmp_path / "h.json", lenet + MLP)], tmp_path / "out")
    plots = {p.path.name: p for p in rep.plots}
    (ax,) = plots["accuracy_vs_latency.png"].axes
    assert set(ax.legend) == {"lenet5", "mlp-30", "mlp-100", "mlp-1024", "Pareto front"}
    assert set(plots["accuracy_vs_memory.png"].axes[0].legend) >= {"lenet5", "mlp-100-30", "Pareto front"}


def test_pareto_front():
    pts = [(1, 0.90), (2, 0.95), (3, 0.93), (4, 0.97), (4, 0.96), (5, 0.97)]
    assert pareto_front(pts) == [(1, 0.90), (2, 0.95), (4, 0.97)]


def test_gpu_machine_label_names_the_gpu(tmp_path):
    from lenet.report.history import load_run

    h = write_history(tmp_path / "h.json", [], node="node7", lenet={"torch_devices": ["cpu", "cuda"],
                                                                    "keras_devices": ["cpu", "gpu"]})
    assert machine_label(load_run(h)) == "node7 (Test CPU, GPU)"  # torch's cuda and TF's gpu: one GPU
    h = write_history(tmp_path / "h2.json", [], node="node7", lenet={"gpu": "NVIDIA H100"})
    assert machine_label(load_run(h)) == "node7 (Test CPU, NVIDIA H100)"
