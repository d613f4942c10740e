// The bindings of the split attention kernels (attn_decode, attn_cpu): the query rows, the KV cache,
// the output rows, and the scratch of split partials per (token, head, split), [m, l, o[HEAD_DIM]]
// each (without SINGLE), after which attn_cpu keeps its scores.
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> KC: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> VC: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(5) var<storage, read_write> SCR: array<f32>;

const D4: u32 = HEAD_DIM / 4u;
