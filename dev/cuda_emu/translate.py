#!/usr/bin/env python3
"""translate.py: rewrites src/ops/cuda/*.cu(h) into host C++ for emu.h.

  kernel<<<grid, block>>>(args);  ->  emu_launch(B, grid, block, [=]() { kernel(args); });

B is 1 for kernels that use barriers or shuffles (their body mentions __syncthreads,
block_sum, warp_sum or __shfl): those run as fibers. CUDA headers become emu.h.
Usage: translate.py SRC_DIR OUT_DIR
"""
import os
import re
import sys

SYNC = re.compile(r"__syncthreads|block_sum|warp_sum|__shfl")


def matching(s, i, open_ch, close_ch):
    """index just past the bracket that closes the one at s[i]"""
    depth = 0
    for j in range(i, len(s)):
        if s[j] == open_ch:
            depth += 1
        elif s[j] == close_ch:
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError("unbalanced %s at %d" % (open_ch, i))


def split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{<" and not (ch == "<"):
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def kernels_with_barriers(texts):
    marked = set()
    for s in texts:
        for m in re.finditer(r"__global__\s+void\s+(\w+)\s*\(", s):
            body_start = s.index("{", m.end())
            body = s[body_start:matching(s, body_start, "{", "}")]
            if SYNC.search(body):
                marked.add(m.group(1))
    return marked


def translate(s, marked):
    s = s.replace("#include <cublas_v2.h>\n", "").replace("#include <cuda_runtime.h>\n", '#include "emu.h"\n')
    out, i = "", 0
    while True:
        j = s.find("<<<", i)
        if j < 0:
            return out + s[i:]
        name_m = re.search(r"(\w+)\s*$", s[i:j])
        name = name_m.group(1)
        start = i + name_m.start()
        k = s.index(">>>", j)
        cfg = split_top(s[j + 3:k])
        p = s.index("(", k)
        q = matching(s, p, "(", ")")
        args = s[p + 1:q - 1]
        flag = 1 if name in marked else 0
        out += s[i:start] + "emu_launch(%d, %s, %s, [=]() { %s(%s); })" % (flag, cfg[0], cfg[1], name, args)
        i = q


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    files = sorted(f for f in os.listdir(src) if f.endswith(".cu") or f.endswith(".cuh") or f.endswith(".h"))
    texts = {f: open(os.path.join(src, f)).read() for f in files}
    marked = kernels_with_barriers(texts.values())
    for f, s in texts.items():
        name = f + ".cpp" if f.endswith(".cu") else f
        open(os.path.join(dst, name), "w").write(translate(s, marked))
    print("translate.py: %d files, kernels with barriers: %s" % (len(files), " ".join(sorted(marked))))


if __name__ == "__main__":
    main()
