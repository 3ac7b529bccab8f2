"""The PyTorch adapter's tests need the ``torch`` extra.

(The folder is ``torch_adapter``, not ``torch``: pytest puts ``tests/`` on ``sys.path``, and a
folder named ``torch`` there would be imported as a namespace package ``torch`` when PyTorch is
not installed.)

Without PyTorch only ``test_torch_extra.py`` is collected, and it skips with one line; with
PyTorch, torch runs one intra-op thread (the suite's processes share the machine's cores).
"""

from __future__ import annotations

from pathlib import Path

try:
    import torch
    torch.set_num_threads  # noqa: B018  (a namespace package of that name is not PyTorch)
except (ImportError, AttributeError):
    collect_ignore = [str(p) for p in Path(__file__).parent.glob("test_*.py")
                      if p.name != "test_torch_extra.py"]
else:
    torch.set_num_threads(1)
