"""The PyTorch adapter's tests need the ``torch`` extra.

Without PyTorch only ``test_torch_extra.py`` is collected, and it skips with one line; with
PyTorch, torch runs one intra-op thread (the suite's processes share the machine's cores).
"""

from __future__ import annotations

try:
    import torch
except ImportError:
    collect_ignore_glob = ["test_[!t]*.py"]  # everything but test_torch_extra.py
else:
    torch.set_num_threads(1)
