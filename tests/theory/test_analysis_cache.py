"""The on-disk cache of per-activation analysis (vgmath.core.cache, vgmath.theory.meanfield):
a fresh process that finds an entry gives bit-identical profiles; disabled, misplaced,
corrupted, stale or tampered entries are ignored (and rewritten); writes are atomic."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vgmath.core import cache

ROOT = Path(__file__).resolve().parents[2]

#: predicts two non-homogeneous activations and one homogeneous one in a fresh process and
#: prints the profiles exactly (repr of every float) and whether each table was loaded
SCRIPT = """
import json, vgmath as vg
from vgmath.theory import meanfield, moments
out = {}
for name in ("tanh", "gelu", "relu"):
    p = vg.predict(vg.Chain(name, init="he", depth=40, width=64))
    out[name] = [repr(float(v)) for v in list(p.q) + list(p.grad_second_moment)]
    act = vg.activation(name)
    gm = moments.moments_if_built(act)
    out[name + ":built_here"] = gm is not None and gm._tables and not gm._loaded
print(json.dumps(out))
"""


def run(env_extra: dict[str, str]) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VGMATH_CACHE", "VGMATH_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout)


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.json"))


@pytest.mark.slow
def test_a_fresh_process_reuses_the_analysis_bit_for_bit(tmp_path):
    env = {"VGMATH_CACHE_DIR": str(tmp_path)}
    first = run(env)
    assert first["tanh:built_here"] and first["gelu:built_here"]
    files = entries(tmp_path)
    assert len(files) == 3  # tanh, gelu, relu (relu: "homogeneous", no tables)
    assert not list(tmp_path.glob("*/.*.tmp"))  # atomic writes leave no temporary file
    second = run(env)
    assert not second["tanh:built_here"] and not second["gelu:built_here"]
    for name in ("tanh", "gelu", "relu"):
        assert second[name] == first[name]
    # the same numbers as a process without any cache
    off = run({"VGMATH_CACHE": "0", "VGMATH_CACHE_DIR": str(tmp_path / "unused")})
    assert off["tanh:built_here"]
    for name in ("tanh", "gelu", "relu"):
        assert off[name] == first[name]
    assert not (tmp_path / "unused").exists()


@pytest.mark.slow
def test_corrupted_and_tampered_entries_are_ignored_and_rewritten(tmp_path):
    env = {"VGMATH_CACHE_DIR": str(tmp_path)}
    reference = run(env)
    files = entries(tmp_path)
    by_name = {json.loads(f.read_text())["key"]["name"]: f for f in files}
    # truncated file: not JSON
    text = by_name["tanh"].read_text()
    by_name["tanh"].write_text(text[: len(text) // 2])
    # a wrong table with a *valid* checksum: caught by the check against the rule
    entry = json.loads(by_name["gelu"].read_text())
    entry["payload"]["tables"]["phi2"][4 * 21] *= 1.0 + 1e-9  # piece 4, constant term
    body = json.dumps(entry["payload"], sort_keys=True, separators=(",", ":"))
    entry["sha256"] = hashlib.sha256(body.encode()).hexdigest()
    by_name["gelu"].write_text(json.dumps(entry))
    again = run(env)
    assert again["tanh:built_here"] and again["gelu:built_here"]
    for name in ("tanh", "gelu", "relu"):
        assert again[name] == reference[name]
    # both entries were rewritten and are used by the next process
    third = run(env)
    assert not third["tanh:built_here"] and not third["gelu:built_here"]


def test_cache_folder_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("VGMATH_CACHE", raising=False)
    monkeypatch.delenv("VGMATH_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "vgmath"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored (XDG spec)
    assert cache.cache_dir() == Path.home() / ".cache" / "vgmath"
    monkeypatch.setenv("VGMATH_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"
    for off in ("0", "off", "No", "FALSE"):
        monkeypatch.setenv("VGMATH_CACHE", off)
        assert cache.cache_dir() is None
        assert not cache.store("ns", {"k": 1}, {"v": 2})
        assert cache.load("ns", {"k": 1}) is None


def test_store_load_validation_and_clear(tmp_path, monkeypatch):
    monkeypatch.delenv("VGMATH_CACHE", raising=False)
    monkeypatch.setenv("VGMATH_CACHE_DIR", str(tmp_path))
    key = {"name": "x", "code": "abc"}
    assert cache.load("ns", key) is None
    assert cache.store("ns", key, {"values": [0.1, 1e-300, 2.5e300], "flag": True})
    assert cache.load("ns", key) == {"values": [0.1, 1e-300, 2.5e300], "flag": True}
    assert cache.load("ns", {"name": "x", "code": "abd"}) is None  # another key
    assert cache.load("other", key) is None  # another namespace
    (path,) = entries(tmp_path)
    entry = json.loads(path.read_text())
    entry["vgmath"] = "0.0.0"  # another version's file under this name
    path.write_text(json.dumps(entry))
    assert cache.load("ns", key) is None
    for junk in ("", "[]", "{", '{"format": 1}', "\x00\x01"):
        path.write_text(junk)
        assert cache.load("ns", key) is None
    assert cache.store("ns", key, {"v": 1}) and cache.load("ns", key) == {"v": 1}
    assert cache.clear() == 1 and cache.load("ns", key) is None


def test_an_unwritable_cache_folder_only_costs_time(tmp_path, monkeypatch):
    monkeypatch.delenv("VGMATH_CACHE", raising=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VGMATH_CACHE_DIR", str(blocker / "sub"))
    assert not cache.store("ns", {"k": 1}, {"v": 1})
    assert cache.load("ns", {"k": 1}) is None


def test_source_fingerprint_changes_with_the_code(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    f1 = cache.source_fingerprint(a, b)
    a.write_text("x = 3\n")
    assert cache.source_fingerprint(a, b) != f1
    assert cache.source_fingerprint(a, tmp_path / "missing.py") == ""
