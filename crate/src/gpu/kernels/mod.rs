//! One module per kernel family: its pipeline key, parameters, launcher and conformance test.

pub mod attention;
pub mod attn_cpu;
pub mod elementwise;
pub mod embed;
pub mod glu;
pub mod matmul;
pub mod matvec;
mod matvec_exact;
pub mod moe;
pub mod norm;
pub mod rope;
pub mod sample;
