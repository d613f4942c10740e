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
