#!/usr/bin/env python3
"""Splits a GGUF file the way llama.cpp's gguf-split does (every part a valid GGUF; the first holds
all metadata plus split.no / split.count / split.tensors.count, the others only the split keys and
their tensors), so the split-file loading paths can be tested on the default model.

Usage: make_split.py SRC.gguf OUT_DIR N   -> OUT_DIR/<stem>-0000i-of-0000N.gguf
"""
import os
import sys

import gguf
import numpy as np
from gguf import GGUFReader, GGUFWriter


def main():
    src, out_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    r = GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    stem = os.path.basename(src)[: -len(".gguf")]
    tensors = list(r.tensors)
    per = (len(tensors) + n - 1) // n
    os.makedirs(out_dir, exist_ok=True)
    for i in range(n):
        path = os.path.join(out_dir, f"{stem}-{i + 1:05d}-of-{n:05d}.gguf")
        w = GGUFWriter(path, arch)
        if i == 0:
            for k, f in r.fields.items():
                if k.startswith("GGUF.") or k == "general.architecture":
                    continue
                t = f.types[0]
                if t == gguf.GGUFValueType.ARRAY:
                    w.add_key_value(k, f.contents(), t, sub_type=f.types[-1])
                else:
                    w.add_key_value(k, f.contents(), t)
            w.add_int32(gguf.Keys.Split.LLM_KV_SPLIT_TENSORS_COUNT, len(tensors))
        w.add_uint16(gguf.Keys.Split.LLM_KV_SPLIT_NO, i)
        w.add_uint16(gguf.Keys.Split.LLM_KV_SPLIT_COUNT, n)
        for t in tensors[i * per:(i + 1) * per]:
            w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        print(path)


if __name__ == "__main__":
    main()
