/*
 * cifar10.c: CIFAR-10 binary batch reader (see cifar10.h and
 * shared/specs/diffusers-and-formats.md 5.2).
 */
#include "io/cifar10.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsutil.h"

static const char *const cifar10_default_names[10] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
};

int cifar10_detect(const char *dir) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/data_batch_1.bin", dir);
    if (fs_exists(p)) return 1;
    snprintf(p, sizeof p, "%s/test_batch.bin", dir);
    return fs_exists(p);
}

lethe_status cifar10_read_batch(const char *path, uint8_t *pixels, int *labels) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return lethe_fail(LETHE_ERR_IO, "%s: cannot open CIFAR-10 batch: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return lethe_fail(LETHE_ERR_IO, "%s: not a regular file", path);
    }
    if ((long long)sb.st_size != CIFAR10_FILE_BYTES) {
        fclose(fp);
        return lethe_fail(LETHE_ERR_FORMAT, "%s: CIFAR-10 batch is %lld bytes, expected %lld (10000 records of "
                          "3073 bytes)%s", path, (long long)sb.st_size, CIFAR10_FILE_BYTES,
                          (long long)sb.st_size < CIFAR10_FILE_BYTES ? ": truncated" : "");
    }
    uint8_t *rec = malloc(CIFAR10_RECORD_BYTES);
    if (!rec) { fclose(fp); return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", path); }
    lethe_status st = LETHE_OK;
    for (int i = 0; i < CIFAR10_RECORDS; i++) {
        if (fread(rec, 1, CIFAR10_RECORD_BYTES, fp) != CIFAR10_RECORD_BYTES) {
            st = lethe_fail(LETHE_ERR_IO, "%s: read failed at record %d (truncated while reading?)", path, i);
            break;
        }
        if (rec[0] > 9) {
            st = lethe_fail(LETHE_ERR_FORMAT, "%s: record %d has label %d, expected 0..9 (CIFAR-100 file?)",
                            path, i, rec[0]);
            break;
        }
        labels[i] = rec[0];
        memcpy(pixels + (size_t)i * CIFAR10_PIXELS, rec + 1, CIFAR10_PIXELS);
    }
    free(rec);
    fclose(fp);
    return st;
}

lethe_status cifar10_read(const char *dir, int train, uint8_t **pixels, int **labels, int *n) {
    *pixels = NULL;
    *labels = NULL;
    *n = 0;
    int nfiles = train ? 5 : 1;
    char paths[5][PATH_MAX];
    for (int i = 0; i < nfiles; i++) {
        int len = train ? snprintf(paths[i], PATH_MAX, "%s/data_batch_%d.bin", dir, i + 1)
                        : snprintf(paths[i], PATH_MAX, "%s/test_batch.bin", dir);
        if (len < 0 || len >= PATH_MAX) return lethe_fail(LETHE_ERR_ARG, "%s: path too long", dir);
        if (!fs_exists(paths[i]))
            return lethe_fail(LETHE_ERR_IO, "%s: missing CIFAR-10 %s batch %s", dir, train ? "train" : "test", paths[i]);
    }
    size_t count = (size_t)nfiles * CIFAR10_RECORDS;
    uint8_t *px = malloc(count * CIFAR10_PIXELS);
    int *lb = malloc(count * sizeof *lb);
    if (!px || !lb) {
        free(px);
        free(lb);
        return lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory for %zu CIFAR-10 images", dir, count);
    }
    for (int i = 0; i < nfiles; i++) {
        lethe_status st = cifar10_read_batch(paths[i], px + (size_t)i * CIFAR10_RECORDS * CIFAR10_PIXELS,
                                             lb + (size_t)i * CIFAR10_RECORDS);
        if (st) {
            free(px);
            free(lb);
            return st;
        }
    }
    *pixels = px;
    *labels = lb;
    *n = (int)count;
    return LETHE_OK;
}

lethe_status cifar10_class_names(const char *dir, char names[][32], int cap, int *n) {
    *n = 0;
    if (cap < 10) return lethe_fail(LETHE_ERR_ARG, "cifar10_class_names: room for %d names, need 10", cap);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    if (!fs_exists(path)) {
        for (int i = 0; i < 10; i++) snprintf(names[i], 32, "%s", cifar10_default_names[i]);
        *n = 10;
        return LETHE_OK;
    }
    uint8_t *bytes;
    size_t size;
    lethe_status st = fs_read_all(path, &bytes, &size);
    if (st) return st;
    int count = 0;
    size_t i = 0;
    while (i < size) {
        size_t j = i;
        while (j < size && bytes[j] != '\n') j++;
        size_t b = i, e = j;
        while (b < e && (bytes[b] == ' ' || bytes[b] == '\t' || bytes[b] == '\r')) b++;
        while (e > b && (bytes[e - 1] == ' ' || bytes[e - 1] == '\t' || bytes[e - 1] == '\r')) e--;
        if (e > b) {
            if (count >= 10 || e - b > 31) {
                free(bytes);
                return lethe_fail(LETHE_ERR_FORMAT, "%s: expected 10 class names of at most 31 characters, "
                                  "one per line", path);
            }
            memcpy(names[count], bytes + b, e - b);
            names[count][e - b] = '\0';
            count++;
        }
        i = j + 1;
    }
    free(bytes);
    if (count != 10)
        return lethe_fail(LETHE_ERR_FORMAT, "%s: found %d class names, expected 10 (one per line)", path, count);
    *n = 10;
    return LETHE_OK;
}
