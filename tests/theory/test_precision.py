"""Precision limits of a depth profile: ``Prediction.underflow_depth(dtype)``."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest

import vgmath as vg
from vgmath.cli.main import main
from vgmath.core.errors import InvalidArgumentError
from vgmath.theory.precision import FLOAT_FORMATS, float_format, precision_limits


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_format_constants_match_numpy(name: str) -> None:
    fmt, fi = FLOAT_FORMATS[name], np.finfo(name)
    assert fmt.normal_min == float(fi.smallest_normal)
    assert fmt.subnormal_min == float(fi.smallest_subnormal)
    assert fmt.max == float(fi.max)
    # exp turns the rounding of ln M (|ln M| ≤ 710, so ~710 ε ≈ 1.6e-13 relative) into a
    # relative error of the same size: 1e-12 bounds it
    assert math.exp(fmt.ln_max) == pytest.approx(float(fi.max), rel=1e-12)


def test_bfloat16_constants_from_its_bit_layout() -> None:
    # bfloat16 = the top 16 bits of a float32: same exponent field, 7 stored fraction bits
    f32 = np.finfo(np.float32)
    bf = float_format("bfloat16")
    assert bf.normal_min == float(f32.smallest_normal)
    bits_max = np.array([0x7F7F0000], dtype=np.uint32).view(np.float32)[0]  # 0 11111110 1111111
    bits_sub = np.array([0x00010000], dtype=np.uint32).view(np.float32)[0]  # 0 00000000 0000001
    assert bf.max == float(bits_max)
    assert bf.subnormal_min == float(bits_sub)
    assert float_format("torch.bfloat16") is bf and float_format(np.float16).name == "float16"
    with pytest.raises(InvalidArgumentError, match="dtype='int8'"):
        float_format("int8")


def test_relu_xavier_reference_depths() -> None:
    # E[(g^l)²]/E[(g^L)²] = 2^-(L-l) exactly (ReLU, Xavier, square layers): 2^-k is below
    # the normal minimum 2^emin from k = -emin + 1 and rounds to 0 from k = -emin + p
    # (below 2^(emin-p+1)); a wrong comparison (≤, or an off-by-one layer) shifts these.
    p = vg.predict(vg.Chain("relu", init="xavier", depth=1100, width=64))
    expect = {"float16": (15, 25), "bfloat16": (127, 134), "float32": (127, 150),
              "float64": (1023, 1075)}
    for name, (normal, sub) in expect.items():
        lim = p.underflow_depth(name)
        assert (lim.normal_depth, lim.subnormal_depth, lim.overflow_depth) == (normal, sub, None)
    assert p.underflow_depth("float64", output_second_moment=2.0**-60).subnormal_depth == 1015
    # the same profile simulated in float16 arithmetic really loses its values there
    halves = np.cumprod(np.full(29, 0.5, np.float16), dtype=np.float16)
    g = np.concatenate([[np.float16(1)], halves])
    assert g.dtype == np.float16
    assert int(np.argmax(g < np.finfo(np.float16).smallest_normal)) == 15
    assert int(np.argmax(g == 0)) == 25


def test_loss_scale_keeps_every_layer_normal() -> None:
    for depth, dtype in ((20, "float16"), (100, "bfloat16"), (250, "float32")):
        p = vg.predict(vg.Chain("relu", init="xavier", depth=depth, width=32))
        lim = p.underflow_depth(dtype)
        assert lim.loss_scale is not None and math.log2(lim.loss_scale).is_integer()
        scaled = p.ln_grad_second_moment + 2 * math.log(lim.loss_scale)
        fmt = float_format(dtype)
        assert scaled.min() >= fmt.ln_normal_min and scaled.max() <= fmt.ln_max
    # more than the dynamic range: no single scale exists. 2^-40 spans 40 log10(2) = 12.04
    # decades; float16's normal range 65504/2^-14 spans log10(65504) + 14 log10(2) = 9.03
    lim = vg.predict(vg.Chain("relu", init="xavier", depth=40, width=32)).underflow_depth(
        "float16")
    assert lim.loss_scale is None
    assert lim.excess_decades == pytest.approx(40 * math.log10(2) - math.log10(65504 * 2**14),
                                               rel=1e-9)  # the profile's ~1e-12 accuracy
    # already in range: no scaling
    assert precision_limits(np.zeros(5), "float16").loss_scale == 1.0


def test_exploding_profile_overflows() -> None:
    lim = precision_limits(np.log(4.0) * np.arange(20, -1, -1), "float16")  # G = 4^(L-l)
    assert lim.overflow_depth == 8 and lim.normal_depth is None  # 4^8 = 65536 > 65504
    with pytest.raises(InvalidArgumentError, match="output_second_moment"):
        precision_limits(np.zeros(3), "float16", output_second_moment=0.0)


def _cli(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()


def test_cli_dtype_limits_and_readout() -> None:
    text = _cli("predict", "relu", "--init", "xavier", "--depth", "30", "--width", "16",
                "--dtype-limits")
    assert "float16: below normal after 15 layers (l = 15)" in text
    data = json.loads(_cli("predict", "relu", "--init", "xavier", "--depth", "30", "--width",
                           "16", "--dtype-limits", "--json"))
    assert [d["dtype"] for d in data["dtype_limits"]] == list(FLOAT_FORMATS)
    assert data["dtype_limits"][0]["subnormal_depth"] == 25
    lin = json.loads(_cli("predict", "relu", "--init", "he", "--depth", "5", "--width", "16",
                          "--readout", "linear", "--json"))
    assert lin["chain"]["readout"] == "linear"
    assert lin["fields"]["grad_second_moment"][0] == pytest.approx(2.0, rel=1e-14)
    sim = _cli("simulate", "relu", "--init", "he", "--depth", "3", "--width", "8", "--trials",
               "20", "--readout", "linear")
    assert "readout=linear" in sim
