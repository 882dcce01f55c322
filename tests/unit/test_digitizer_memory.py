"""Page-reading processes keep freed page-sized blocks for reuse (`_reuse_freed_memory`)."""
from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

_FAULTS = textwrap.dedent("""
    import resource
    import numpy as np
    from pipeline.digitizer import _reuse_freed_memory

    def faults(n=20):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(n):
            page = np.ones((2000, 2000), np.float32)  # 16 MB, every page of it touched
            del page
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    plain = faults()
    _reuse_freed_memory()
    faults(1)
    print(plain, faults())
""")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_freed_page_sized_blocks_are_reused_not_mapped_again() -> None:
    out = subprocess.run([sys.executable, "-c", _FAULTS], capture_output=True, text=True,
                         check=True, timeout=120)
    plain, reused = (int(v) for v in out.stdout.split())
    # Fresh maps fault in every page (thousands, or a few per huge page); reused ones none.
    assert plain >= 20
    assert reused <= plain // 10
