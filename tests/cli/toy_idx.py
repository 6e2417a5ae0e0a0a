#!/usr/bin/env python3
"""toy_idx.py DIR TRAIN_N TEST_N: a small 16x16 IDX set of 4 classes for quick CLI tests.

Image i has label i % 4; class l is a bright band in rows 4l..4l+3 (90% of its pixels lit)
on dark noise, so a tiny classifier learns it in one epoch. Seeded: the same files every run.
"""
import os
import random
import struct
import sys

d, n_train, n_test = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d)
random.seed(1)


def write(prefix, n):
    labels = [i % 4 for i in range(n)]
    pix = bytes(255 if (r // 4) == l and random.random() < 0.9 else random.randrange(40)
                for l in labels for r in range(16) for c in range(16))
    open(os.path.join(d, prefix + "-images-idx3-ubyte"), "wb").write(struct.pack(">IIII", 0x803, n, 16, 16) + pix)
    open(os.path.join(d, prefix + "-labels-idx1-ubyte"), "wb").write(struct.pack(">II", 0x801, n) + bytes(labels))


write("train", n_train)
write("t10k", n_test)
