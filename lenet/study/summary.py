"""The overall-performance table printed at the end of a bench session (Studies A-C's headline table)."""
from __future__ import annotations

COLUMNS = (
    ("backend", "backend", "{}"),
    ("arch", "arch", "{}"),
    ("device", "device", "{}"),
    ("test_top1", "top-1", "{:.4f}"),
    ("test_top5", "top-5", "{:.4f}"),
    ("infer_b1_ms", "infer b=1 ms", "{:.3f}"),
    ("infer_b1024_ms", "infer b=1024 ms", "{:.2f}"),
    ("infer_b1024_img_s", "img/s b=1024", "{:,.0f}"),
    ("epoch_s", "train epoch s", "{:.2f}"),
    ("params", "params", "{:,}"),
    ("param_bytes", "param bytes", "{:,}"),
    ("macs_per_sample", "MACs/sample", "{:,}"),
)


def format_summary(rows: dict, unstable: dict | None = None) -> str:
    """``rows``: ``{(backend, arch, device): {field: value}}`` -> aligned text table.

    Timings are pytest-benchmark medians after warm-up; a dash means that
    figure was not run in this session.  ``unstable`` counts the flagged
    benchmarks per row; with any, a last column names them.
    """
    columns = COLUMNS + ((("unstable", "unstable", "{} flagged"),) if unstable else ())
    table = [[title for _, title, _ in columns]]
    for key, values in sorted(rows.items()):
        backend, arch, device = key
        values = {"backend": backend, "arch": arch, "device": device, **values,
                  "unstable": (unstable or {}).get(key)}
        table.append([fmt.format(values[k]) if values.get(k) is not None else "-" for k, _, fmt in columns])
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("timings: median after warm-up (pytest-benchmark); MACs: analytic, per sample, bias excluded; "
                 "param bytes: float32")
    return "\n".join(lines)
