// Constrained decoding (crate/src/constraint/): the tokens a grammar forbids get a logit of -inf
// before the sampler runs again on the same logits. MASK is a bitset, bit i of word i / 32 set
// when token i is allowed.
#include "sample_common.wgsl"

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> L: array<f32>;
@group(0) @binding(2) var<storage, read> MASK: array<u32>;

@compute @workgroup_size(WG_X, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let base = wid.x * CHUNK;
    // -inf as the CPU's mask writes it. A constant expression may not be infinite in WGSL (Tint
    // refuses the module; naga does not), so the bits come from a variable, read at run time.
    var neg_inf_bits = 0xff800000u;
    for (var j = lid.x; j < CHUNK && base + j < P.n; j += WG_X) {
        let id = base + j;
        if ((MASK[id >> 5u] & (1u << (id & 31u))) == 0u) {
            L[P.logits_offset + id] = bitcast<f32>(neg_inf_bits);
        }
    }
}
