#!/usr/bin/env python3
"""Writes a speed twin of a GGUF model: the same header, metadata, tokenizer and tensor table, byte for
byte, with each tensor's data replaced by its own first block repeated. The twin loads and runs exactly like
the original (same shapes, quant types, bytes read per token) but its text is meaningless, and it gzips to
a few MB, so `gguf-web bench` can run on a machine that cannot download the model (a remote GPU box).

Usage: python3 scripts/make_twin.py MODEL.gguf OUT.gguf.gz     (needs `pip install gguf`)
"""
import gzip
import sys

from gguf import GGUFReader
from gguf.constants import GGML_QUANT_SIZES


def main(src, dst):
    reader = GGUFReader(src)
    raw = reader.data  # a memmap of the whole file
    out = bytearray(raw[: reader.data_offset].tobytes())
    out.extend(bytes(len(raw) - reader.data_offset))
    for t in reader.tensors:
        _, block_bytes = GGML_QUANT_SIZES[t.tensor_type]
        start, n = t.data_offset, int(t.n_bytes)
        block = raw[start : start + block_bytes].tobytes()
        out[start : start + n] = block * (n // block_bytes)
    with gzip.open(dst, "wb", compresslevel=6) as f:
        f.write(out)
    print(f"{dst}: {len(reader.tensors)} tensors, {len(out)} bytes before compression")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
