"""Does warp specialization lift the TMA GEMM to cuBLAS on Hopper? A probe, on a GPU.

Triton's Hopper warp specialization (`tl.range(..., warp_specialize=True)`) splits a loop
into a producer warp group that issues the TMA loads and consumer warp groups that run
the MMAs, as cuBLAS's sm90 kernels do. Compiled offline for sm_90 (Triton 3.9) it applied
only with `num_warps=4` (it adds a producer and a second consumer group: 12 warps), an
unflattened loop, and descriptors made in the kernel (`tl.make_tensor_descriptor`): it
splits each consumer's block in two, which a host descriptor's fixed block cannot follow.

This times that kernel (the tile body is `kernels.matmul.tma_tile`), persistent or a
program per tile, against cuBLAS and the shipped `matmul` in the same process, after
checking it against cuBLAS.

    PYTHONPATH=. python benchmarks/matmul_ws_probe.py
"""

from __future__ import annotations

import functools
import itertools

import torch
import triton
import triton.language as tl

import kernels.matmul as mm
from kernels._launch import cdiv


@triton.jit
def matmul_ws_kernel(a_ptr, b_ptr, c_ptr, M, N, K, stride_am, stride_bk, stride_cm,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                     GROUP_M: tl.constexpr, PERSISTENT: tl.constexpr):  # fmt: skip
    a_desc = tl.make_tensor_descriptor(a_ptr, [M, K], [stride_am, 1], [BLOCK_M, BLOCK_K])
    b_desc = tl.make_tensor_descriptor(b_ptr, [K, N], [stride_bk, 1], [BLOCK_K, BLOCK_N])
    if PERSISTENT:
        tiles = ((M + BLOCK_M - 1) // BLOCK_M) * ((N + BLOCK_N - 1) // BLOCK_N)
        for tile in tl.range(tl.program_id(0), tiles, tl.num_programs(0), warp_specialize=True):
            mm.tma_tile(tile, a_desc, b_desc, c_ptr, None, None, M, N, K, stride_cm, 1, 0,
                        "none", None, False, False, False, BLOCK_M, BLOCK_N, BLOCK_K, GROUP_M,
                        False)  # fmt: skip
    else:
        mm.tma_tile(tl.program_id(0), a_desc, b_desc, c_ptr, None, None, M, N, K, stride_cm, 1,
                    0, "none", None, False, False, False, BLOCK_M, BLOCK_N, BLOCK_K, GROUP_M,
                    True)  # fmt: skip


def matmul_ws(a, b, bm, bn, bk, warps, stages, persistent):
    (M, K), N = a.shape, b.shape[1]
    c = torch.empty(M, N, device=a.device, dtype=a.dtype)
    tiles = cdiv(M, bm) * cdiv(N, bn)
    sms = torch.cuda.get_device_properties(a.device).multi_processor_count if a.is_cuda else 132
    grid = (min(tiles, sms) if persistent else tiles,)
    compiled = matmul_ws_kernel[grid](a, b, c, M, N, K, a.stride(0), b.stride(0), c.stride(0),
                                      bm, bn, bk, 8, persistent, num_warps=warps,
                                      num_stages=stages)  # fmt: skip
    return c, compiled.metadata.num_warps  # 12 from 4: specialized


def main() -> None:
    triton.set_allocator(lambda size, align, stream: torch.empty(size, dtype=torch.int8,
                                                                 device="cuda"))  # fmt: skip
    ms = lambda fn: triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, triton {triton.__version__}")
    variants = [(128, 256, 64, 4, 3), (128, 256, 64, 4, 4), (128, 128, 64, 4, 4),
                (256, 128, 64, 4, 3), (128, 256, 64, 8, 3)]  # fmt: skip
    for dtype, size in itertools.product((torch.bfloat16, torch.float16), (4096, 8192)):
        a = torch.randn(size, size, device="cuda", dtype=dtype)
        b = torch.randn(size, size, device="cuda", dtype=dtype)
        flop = 2.0 * size**3
        blas = functools.partial(torch.matmul, a, b)
        ours = functools.partial(mm.matmul, a, b)
        want = blas()
        ours()
        t_blas, t_ours = ms(blas), ms(ours)
        print(f"{dtype} {size}^3: cuBLAS {flop / t_blas / 1e9:.0f} TFLOP/s, "
              f"shipped {t_blas / t_ours:.3f}x", flush=True)  # fmt: skip
        for (bm, bn, bk, warps, stages), persistent in itertools.product(variants, (1, 0)):
            run = functools.partial(matmul_ws, a, b, bm, bn, bk, warps, stages, persistent)
            name = f"{bm}x{bn}x{bk}-w{warps}-s{stages}-p{persistent}"
            try:
                got, warps_run = run()
            except Exception as exc:  # a compile failure is an answer too
                first = str(exc).splitlines()[0][:120] if str(exc) else ""
                print(f"  {name}: FAILED {type(exc).__name__}: {first}", flush=True)
                continue
            err = ((got.float() - want.float()).abs().max() / want.float().abs().max()).item()
            t = ms(run)
            speed = f"{flop / t / 1e9:.0f} TFLOP/s, {t_blas / t:.3f}x cuBLAS"
            print(f"  {name}: {speed}, {t_ours / t:.3f}x shipped, {warps_run} warps, err {err:.1e}")


if __name__ == "__main__":
    main()
