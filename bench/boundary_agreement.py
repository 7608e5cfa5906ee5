"""Do the Triton and reference routers choose the same boundaries? (a measurement for bench/bench_kernels.py)

`compare_boundaries` runs `kernels.routing.naive.boundary_prob` and the Triton kernel on the same q, k and reports
where rounding flips a decision at p ≈ 0.5. The Triton module is looked up at call time, so a test that reloads it
under the interpreter (TRITON_INTERPRET=1) compares against the reloaded kernel.
"""
from dataclasses import dataclass, field

import torch


@dataclass
class BoundaryComparison:
    """Where the Triton and reference routers disagree on the same q, k."""
    n_positions: int
    n_flips: int  # positions whose boundary decision differs
    flips: list = field(default_factory=list)  # (batch, position, p_reference, p_triton) per flip
    max_abs_dp: float = 0.0  # largest |p_triton - p_reference|
    n_near_half: int = 0  # positions with |p_reference - 0.5| <= near: where a flip is possible at all
    near: float = 1e-6

    def summary(self):
        rate = self.n_flips / max(self.n_positions, 1)
        return (f"{self.n_flips} of {self.n_positions} boundary decisions differ ({rate:.2e}); "
                f"{self.n_near_half} positions have abs(p - 0.5) <= {self.near:g}; max abs Δp = {self.max_abs_dp:.2e}")


def compare_boundaries(q, k, near=1e-6, max_listed=100):
    """Run `kernels.routing.naive.boundary_prob` and the Triton kernel on q, k (b,l,d); report decision flips."""
    from kernels.routing import naive, triton as routing_triton

    with torch.no_grad():
        p_ref, b_ref = naive.boundary_prob(q, k)
        p_tri, b_tri = routing_triton.boundary_prob(q, k)
    diff = (b_ref != b_tri).nonzero().tolist()
    flips = [(i, t, float(p_ref[i, t]), float(p_tri[i, t])) for i, t in diff[:max_listed]]
    return BoundaryComparison(
        n_positions=p_ref.numel(), n_flips=len(diff), flips=flips,
        max_abs_dp=float((p_ref - p_tri).abs().max()) if p_ref.numel() else 0.0,
        n_near_half=int(((p_ref - 0.5).abs() <= near).sum()), near=near,
    )


__all__ = ["BoundaryComparison", "compare_boundaries"]
