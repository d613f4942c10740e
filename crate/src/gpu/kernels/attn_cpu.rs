//! The split attention kernel of the CPU adapters (`attn_cpu.wgsl`): the launcher and test are
//! `attention`'s (`attention_split` picks this kernel where the recorder is tuned for a CPU).

use super::attention::AttnDecodeParams;
use crate::gpu::context::Tuning;
use crate::gpu::pipeline::{Access, Kernel};

/// Query heads per job: one K/V load serves this many heads (a vector times a 4 × 4 matrix).
pub const QUAD: u32 = 4;

/// Lanes per job without subgroups: the widest CPU adapter's SIMD width (lavapipe's 256 bits).
pub const PART_LANES: u32 = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttnCpu {
    pub head_dim: u32,
    /// Keys per workgroup.
    pub split: u32,
    /// All keys fit one split: the output is written normalized, no reduction pass.
    pub single: bool,
    /// Lanes per job (one workgroup), each taking every `lanes`-th key of the split: the subgroup
    /// size (4 or 8, the CPU adapters' SIMD widths), or [`PART_LANES`] without subgroups.
    pub lanes: u32,
    /// Partials per split: 1 where the lanes merge theirs with subgroup operations; `lanes`
    /// without subgroups, each lane then writing a partial of its own for `attn_reduce` to merge.
    /// (Jobs side by side, one per lane, left most lanes idle: SmolLM2's 3 KV heads filled 3 of
    /// lavapipe's 8 and one of its 2 threads, and attention took twice as long as with subgroups.)
    pub parts: u32,
}

impl AttnCpu {
    /// Partials per split on an adapter tuned as `tuning` whose smallest subgroup is
    /// `subgroup_size` (0: none): see [`AttnCpu::parts`]. The GPU kernel writes one.
    pub fn parts_for(tuning: Tuning, subgroup_size: u32) -> u32 {
        if tuning == Tuning::Cpu && !matches!(subgroup_size, 4 | 8) {
            PART_LANES
        } else {
            1
        }
    }
    /// The kernel for a geometry's split and partials per split on an adapter whose smallest
    /// subgroup is `subgroup_size`.
    pub fn new(head_dim: u32, split: u32, parts: u32, subgroup_size: u32, single: bool) -> AttnCpu {
        let lanes = if parts > 1 { parts } else { subgroup_size };
        AttnCpu { head_dim, split, single: single && parts == 1, lanes, parts }
    }
    /// Vectors per chunk of the head: the largest divisor of the head's vectors up to 8 (32
    /// dimensions). Unrolled code is compile time on the CPU adapters, paid before the first
    /// token: on SwiftShader 16-vector chunks ran SmolLM2's attention 8% faster than 8-vector
    /// ones but delayed its first token by 0.6 s (1.36 s in all with 8).
    pub fn chunk(&self) -> u32 {
        let d4 = self.head_dim / 4;
        (1..=d4.min(8)).rev().find(|c| d4.is_multiple_of(*c)).unwrap_or(1)
    }
    /// Jobs (workgroups) per token and split for `n_head` query heads in groups of `group` per KV
    /// head.
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
            ("PARTS".into(), format!("{}u", self.parts)),
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
        [self.lanes, 1, 1]
    }
    fn bindings(&self) -> Vec<Access> {
        vec![Access::Read, Access::Read, Access::Read, Access::ReadWrite, Access::ReadWrite]
    }
}
