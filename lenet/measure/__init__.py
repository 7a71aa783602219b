"""Measurement, in one place and outside the backends (NumPy, psutil and memory-profiler only).

* :mod:`.timing`   first-call cost, medians of secondary figures, rounds planned from a pilot;
* :mod:`.memory`   peak RSS of one inference or epoch in a fresh process (:mod:`.probe` is that process);
* :mod:`.sizes`    serialized and gzip bytes of an artifact, int8 parameter bytes;
* :mod:`.flops`    a framework's FLOP counters reconciled with the analytic count by convention;
* :mod:`.threads`  the one thread knob for every backend, and the usable cores;
* :mod:`.machine`  what the machine is (GPU name);
* :mod:`.stats`, :mod:`.noise`, :mod:`.monitor`, :mod:`.ceiling`: tail statistics and intervals, machine
  state and the unstable rules, the per-benchmark watch, the GEMM/bandwidth ceiling and roofline.
"""
