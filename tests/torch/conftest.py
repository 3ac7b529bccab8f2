"""The PyTorch adapter's tests need the ``torch`` extra.

Without PyTorch only ``test_torch_extra.py`` is collected, and it skips with one line; with
PyTorch, torch runs one intra-op thread (the suite's processes share the machine's cores).
"""

from __future__ import annotations

from pathlib import Path

try:
    import torch
except ImportError:
    collect_ignore = [str(p) for p in Path(__file__).parent.glob("test_*.py")
                      if p.name != "test_torch_extra.py"]
else:
    torch.set_num_threads(1)
