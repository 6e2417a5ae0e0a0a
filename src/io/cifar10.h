/*
 * cifar10.h: CIFAR-10 binary batches (data_batch_1.bin .. data_batch_5.bin for train,
 * test_batch.bin for test). Each file is exactly 10,000 records of 3073 bytes: one
 * label byte (0-9), then 3072 pixels, 1024 R, 1024 G, 1024 B, each 32x32 row-major
 * (already CHW). batches.meta.txt holds the class names, one per line.
 */
#ifndef LETHE_IO_CIFAR10_H
#define LETHE_IO_CIFAR10_H

#include <stdint.h>

#include "core/error.h"

#define CIFAR10_RECORDS 10000
#define CIFAR10_PIXELS 3072                       // 3 x 32 x 32
#define CIFAR10_RECORD_BYTES (1 + CIFAR10_PIXELS)
#define CIFAR10_FILE_BYTES ((long long)CIFAR10_RECORDS * CIFAR10_RECORD_BYTES)   // 30,730,000

// 1 if DIR holds data_batch_1.bin or test_batch.bin.
int cifar10_detect(const char *dir);

// Reads one batch file into pixels (10,000 x 3072 bytes, CHW) and labels (10,000).
// Errors name the file: wrong size (expected 30,730,000 bytes), label outside 0..9.
lethe_status cifar10_read_batch(const char *path, uint8_t *pixels, int *labels);

// Reads the train split (data_batch_1..5.bin, 50,000 images) or the test split
// (test_batch.bin, 10,000 images). *pixels (n x 3072) and *labels (n) are malloc'd
// and owned by the caller; on failure they are NULL.
lethe_status cifar10_read(const char *dir, int train, uint8_t **pixels, int **labels, int *n);

// Class names from DIR/batches.meta.txt (ten non-empty lines), or the standard ten
// (airplane ... truck) when the file is absent. *n is set to 10.
lethe_status cifar10_class_names(const char *dir, char names[][32], int cap, int *n);

#endif
