"""exp and tanh for the compiled kernels, written so that the compiler vectorises them.

Why our own: numba compiles ``math.exp`` and ``math.tanh`` on float32 to calls into the C library, one
number at a time, because the LLVM of the PyPI wheels has no vector maths library: slower than NumPy's
SIMD loops (``python -m benchmarks.kernel_compile``: 4.3 and 27 ns a number against NumPy's 2.8 and
3.0). A gate step spends most of its arithmetic in these two functions, so a kernel that calls the C
library loses to NumPy's separate passes. Written out, exp is a few multiplies and adds that LLVM turns
into 8-wide AVX2 instructions (0.5-0.9 ns a number, the same command).

float32, x clamped to [-87.3, 88.8]:

    k = round(x log2(e)),  r = x - k ln 2  (ln 2 in two parts, so r is exact),  |r| <= ln(2) / 2
    exp(x) = 2^k exp(r),   exp(r) ~ 1 + r + r^2 (1/2 + r/6 + ...)  (Cephes' degree-7 minimax polynomial)

2^k is made from its bits, (k + 127) << 23. Error: about one unit in the last place (1.003 at most over
two million points from -87 to 88.3; the tests hold it to 1.5). Above 88.4 the result is inf (2^128 has
no float32), where exp would still be finite up to 88.72: only 1 / (1 + exp(x)) and 2 / (1 + exp(x)) use
it, and those are then 0, as float32 rounds them anyway at these sizes (below 3e-39). Below -87.3 it is
exp(-87.3) ~ 1.2e-38 instead of smaller: 1 + that is 1.

tanh(x) = 1 - 2 / (1 + exp(2x)) (float32): exact limits +-1; its error is absolute, within two units in
the last place of 1 (1.8e-7 measured; the tests hold it to 2.4e-7) rather than relative to tanh(x), the
size of the rounding of what it feeds (c = f c + i g, h = o tanh(c)). The sigmoid is 1 / (1 + exp(-x)).

float64 keeps the C library's exp and tanh (exact to half a unit, scalar: float64 is the oracle's
precision, not the fast path's).
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from . import CACHE

# the flags the kernels compile with: fused multiply-add, reciprocals and the sign of zero may be
# rearranged; infinities and NaN keep IEEE meaning (no nnan/ninf: saturated gates rely on inf), and no
# reassociation (it would fold the rounding trick below away)
FASTMATH = {"contract", "arcp", "nsz"}
# cached on disk unless no directory is writable (rnnlab.kernels.for_cell finds out)
JIT = dict(fastmath=FASTMATH, error_model="numpy", boundscheck=False, nogil=True, cache=CACHE["on"])

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)           # ln 2 = _LN2_HI + _LN2_LO, _LN2_HI with few bits: k _LN2_HI exact
_LN2_LO = np.float32(-2.12194440e-4)
_ROUND = np.float32(12582912.0)             # 1.5 * 2^23: (y + _ROUND) - _ROUND rounds |y| < 2^22 to an integer
_LO, _HI = np.float32(-87.3), np.float32(88.8)
_P = [np.float32(v) for v in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                              4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)]
_P0, _P1, _P2, _P3, _P4, _P5 = _P
_ONE, _TWO = np.float32(1.0), np.float32(2.0)


@intrinsic
def _f32_from_bits(typingctx, bits):
    """The float32 whose bits are the int32 ``bits`` (a bit cast: one vector instruction, or none)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


def fexp(x):
    """exp(x): in a kernel, the vectorisable float32 version above, or the C library's float64 one."""
    return math.exp(x)


def ftanh(x):
    """tanh(x): in a kernel, 1 - 2 / (1 + exp(2x)) in float32, the C library's in float64."""
    return math.tanh(x)


@overload(fexp, inline="always")
def _fexp(x):
    if x == types.float32:
        def exp32(x):
            v = max(min(x, _HI), _LO)
            k = (v * _LOG2E + _ROUND) - _ROUND
            r = (v - k * _LN2_HI) - k * _LN2_LO
            p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
            p = p * (r * r) + r + _ONE
            return p * _f32_from_bits((np.int32(k) + np.int32(127)) << np.int32(23))
        return exp32
    if x == types.float64:
        return lambda x: math.exp(x)
    return None


@overload(ftanh, inline="always")
def _ftanh(x):
    if x == types.float32:
        return lambda x: _ONE - _TWO / (_ONE + fexp(x + x))
    if x == types.float64:
        return lambda x: math.tanh(x)
    return None


@njit(**JIT)
def exp_into(x, out):
    """out[i] = fexp(x[i]) for 1-D arrays (the tests' handle on fexp)."""
    for i in range(x.shape[0]):
        out[i] = fexp(x[i])


@njit(**JIT)
def tanh_into(x, out):
    """out[i] = ftanh(x[i]) for 1-D arrays (the tests' handle on ftanh)."""
    for i in range(x.shape[0]):
        out[i] = ftanh(x[i])
