// Helpers shared by all kernels.

// Four bytes of a word as unsigned values, lowest byte first.
fn bytes4(w: u32) -> vec4<u32> {
    return vec4<u32>(w & 0xffu, (w >> 8u) & 0xffu, (w >> 16u) & 0xffu, w >> 24u);
}

// Four bytes of a word as signed values.
fn sbytes4(w: u32) -> vec4<i32> {
    let s = bitcast<i32>(w);
    return vec4<i32>(extractBits(s, 0u, 8u), extractBits(s, 8u, 8u), extractBits(s, 16u, 8u), extractBits(s, 24u, 8u));
}

// Byte `i` of a little-endian byte array stored in words.
fn byte_at(w: u32, i: u32) -> u32 {
    return (w >> (8u * i)) & 0xffu;
}

// Fast-path decoding (matvec): instead of shifting each field down, keep it in place, mask it and
// convert the word to f32 directly, so that byte k is worth its value times 256^k; the x it meets
// was multiplied by XSCALE once and serves every row. CPU-emulated adapters run shifts lane by
// lane, masks and conversions as whole vectors.
const XSCALE: vec4<f32> = vec4<f32>(1.0, 0.00390625, 0.0000152587890625, 0.000000059604644775390625);
const M1: vec4<u32> = vec4<u32>(0x1u, 0x100u, 0x10000u, 0x1000000u);
const M2: vec4<u32> = vec4<u32>(0x3u, 0x300u, 0x30000u, 0x3000000u);
const M3: vec4<u32> = vec4<u32>(0x7u, 0x700u, 0x70000u, 0x7000000u);
const M4: vec4<u32> = vec4<u32>(0xfu, 0xf00u, 0xf0000u, 0xf000000u);
const M5: vec4<u32> = vec4<u32>(0x1fu, 0x1f00u, 0x1f0000u, 0x1f000000u);
const M6: vec4<u32> = vec4<u32>(0x3fu, 0x3f00u, 0x3f0000u, 0x3f000000u);
// Upper fields of each byte (for inplace_u: the top byte's reaches bit 31).
const M4H: vec4<u32> = vec4<u32>(0xf0u, 0xf000u, 0xf00000u, 0xf0000000u);
const M2H: vec4<u32> = vec4<u32>(0xc0u, 0xc000u, 0xc00000u, 0xc0000000u);

// The fields `m` (one of the masks above) of the four bytes of w, in place, as floats.
fn inplace(w: u32, m: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) & m));
}

// As inplace, for masks whose top field reaches bit 31: the top byte's field converts as unsigned.
// Flipping bit 31 makes it a signed value exactly 2^31 less (these few-bit fields are exact in f32).
fn inplace_u(w: u32, m: vec4<u32>) -> vec4<f32> {
    let v = vec4<u32>(w) & m;
    return vec4<f32>(vec3<f32>(bitcast<vec3<i32>>(v.xyz)), f32(bitcast<i32>(v.w ^ 0x80000000u)) + 2147483648.0);
}

// The four signed bytes of w, each times 2^24 (moved to the top byte by a multiplication).
fn sbytes_top(w: u32) -> vec4<f32> {
    let t = (vec4<u32>(w) * vec4<u32>(16777216u, 65536u, 256u, 1u)) & vec4<u32>(0xff000000u);
    return vec4<f32>(bitcast<vec4<i32>>(t));
}
