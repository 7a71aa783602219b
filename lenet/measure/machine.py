"""What the machine is, read without a framework (the GPU's name)."""
from __future__ import annotations

import subprocess


def gpu_name() -> str | None:
    """Name of the first NVIDIA GPU (from nvidia-smi, framework-free), or None without one."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    names = out.stdout.strip().splitlines() if out.returncode == 0 else []
    return names[0].strip() if names else None
