//! The split attention kernel of the CPU adapters (`attn_cpu.wgsl`): the launcher and test are
//! `attention`'s (`attention_split` picks this kernel where the recorder is tuned for a CPU).

use super::attention::AttnDecodeParams;
use crate::gpu::pipeline::{Access, Kernel};

/// Query heads per job: one K/V load serves this many heads (a vector times a 4 × 4 matrix).
pub const QUAD: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttnCpu {
    pub head_dim: u32,
    /// Keys per workgroup.
    pub split: u32,
    /// All keys fit one split: the output is written normalized, no reduction pass.
    pub single: bool,
    /// Lanes per job: the subgroup size (4 or 8, the CPU adapters' SIMD widths), whose lanes take
    /// every `lanes`-th key; 1 without subgroups, each invocation then a job of its own.
    pub lanes: u32,
}

impl AttnCpu {
    /// Lanes per job on an adapter whose smallest subgroup is `subgroup_size` (0: none).
    pub fn lanes_for(subgroup_size: u32) -> u32 {
        if matches!(subgroup_size, 4 | 8) {
            subgroup_size
        } else {
            1
        }
    }
    /// Jobs per workgroup (one subgroup's lanes share a job, else 4 jobs side by side).
    pub fn jobs_per_group(&self) -> u32 {
        if self.lanes > 1 {
            1
        } else {
            4
        }
    }
    /// Vectors per chunk of the head: the largest divisor of the head's vectors up to 8 (32
    /// dimensions). Unrolled code is compile time on the CPU adapters, paid before the first
    /// token: on SwiftShader 16-vector chunks ran SmolLM2's attention 8% faster than 8-vector
    /// ones but delayed its first token by 0.6 s (1.36 s in all with 8).
    pub fn chunk(&self) -> u32 {
        let d4 = self.head_dim / 4;
        (1..=d4.min(8)).rev().find(|c| d4.is_multiple_of(*c)).unwrap_or(1)
    }
    /// Jobs per token and split for `n_head` query heads in groups of `group` per KV head.
    pub fn jobs(n_head: u32, group: u32) -> u32 {
        n_head / group * group.div_ceil(QUAD)
    }
}

impl Kernel for AttnCpu {
    type Params = AttnDecodeParams;
    fn shader(&self) -> &'static str {
        "attn_cpu.wgsl"
    }
    fn defines(&self) -> Vec<(String, String)> {
        let ch = self.chunk();
        // Each step once per vector of a chunk, with its index a constant (see attn_cpu.wgsl).
        let each = |f: &str| (0..ch).map(|d| format!("{f}({d}u);")).collect::<Vec<_>>().join(" ");
        let mut d = vec![
            ("HEAD_DIM".into(), format!("{}u", self.head_dim)),
            ("CH".into(), format!("{ch}u")),
            ("SPLIT".into(), format!("{}u", self.split)),
            ("LK".into(), format!("{}u", self.lanes)),
            ("AC_Q".into(), each("load_q")),
            ("AC_SCORE".into(), each("score_d")),
            ("AC_V".into(), each("v_d")),
            ("AC_ZERO".into(), each("zero_d")),
        ];
        if self.single {
            d.push(("SINGLE".into(), "1".into()));
        }
        d
    }
    fn workgroup(&self) -> [u32; 3] {
        [self.lanes * self.jobs_per_group(), 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite]
    }
}
