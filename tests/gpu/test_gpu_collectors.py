"""NVML and nvidia-smi collectors on a real GPU under load (skips where no GPU exists)."""

import pytest

from . import gpu_collectors_check as check


def test_gpu_collectors_under_load():
    reason = check.unavailable_reason()
    if reason:
        pytest.skip(f"{check.SKIP_REASON} ({reason})")
    result = check.run_check()
    assert result.passed, result.summary
