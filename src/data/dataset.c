/*
 * dataset.c: loading image datasets (IDX or CIFAR-10), class names, class subsets
 * and batching (see dataset.h).
 *
 * Spec resolution: an existing directory is used as is; otherwise a name is looked up
 * as $LETHE_DATA_DIR/<name>, then in the user's data folder ($XDG_DATA_HOME, else
 * ~/.local/share, then lethe/datasets/<name>: where scripts/get_mnist.sh installs MNIST
 * without root), then /usr/share/datasets/<name>. In the directory:
 * IDX files (train-/t10k-images-idx3-ubyte and -labels-idx1-ubyte, plain or .gz), or
 * CIFAR-10 binary batches (also inside a cifar-10-batches-bin/ subdirectory).
 */
#include "data/dataset.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/canvas_set.h"
#include "io/cifar10.h"
#include "core/fsutil.h"
#include "io/idx.h"

#define DATASET_SYSTEM_DIR "/usr/share/datasets"
#define DATASET_USER_SUBDIR "lethe/datasets"   // under $XDG_DATA_HOME or ~/.local/share

static const char *const fashion_names[10] = {
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot",
};
static const char *const mnist_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
static const char *const cifar10_names[10] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
};

// Canonical dataset name for a name or directory basename, or NULL if not a known one.
static const char *dataset_canonical(const char *name) {
    static const struct { const char *alias, *canon; } aliases[] = {
        {"fashion-mnist", "fashion-mnist"}, {"fashion_mnist", "fashion-mnist"}, {"fashionmnist", "fashion-mnist"},
        {"mnist", "mnist"},
        {"cifar10", "cifar10"}, {"cifar-10", "cifar10"}, {"cifar-10-batches-bin", "cifar10"},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(name, aliases[i].alias) == 0) return aliases[i].canon;
    return NULL;
}

int dataset_known_class_names(const char *dataset_name, char names[][32], int cap) {
    if (!dataset_name) return 0;
    const char *canon = dataset_canonical(dataset_name);
    if (!canon) return 0;
    const char *const *src = strcmp(canon, "fashion-mnist") == 0 ? fashion_names
                           : strcmp(canon, "mnist") == 0         ? mnist_names
                                                                 : cifar10_names;
    int n = cap < 10 ? cap : 10;
    for (int i = 0; i < n; i++) snprintf(names[i], 32, "%s", src[i]);
    return n < 0 ? 0 : n;
}

// ----------------------------------------------------------------------------
// loading

// Last path component of dir, ignoring trailing slashes.
static void dataset_basename(const char *dir, char *out, size_t cap) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/') start--;
    size_t n = len - start < cap - 1 ? len - start : cap - 1;
    memcpy(out, dir + start, n);
    out[n] = '\0';
}

// The folder the files are read from, absolute (so a model's record holds wherever it was run from).
static void source_set_dir(lethe_dataset *ds, const char *dir) {
    char abs[PATH_MAX];
    snprintf(ds->source.dir, sizeof ds->source.dir, "%s", realpath(dir, abs) ? abs : dir);
}

static int path_or_gz_exists(const char *path) {
    char gz[PATH_MAX + 128];
    if (fs_exists(path)) return 1;
    return snprintf(gz, sizeof gz, "%s.gz", path) < (int)sizeof gz && fs_exists(gz);
}

// Adds a file of the folder to the dataset's record (the names of the files read, for the fingerprint).
static void source_add(lethe_dataset *ds, const char *name) {
    if (ds->source.n_files < LETHE_DATA_MAX_FILES)
        snprintf(ds->source.files[ds->source.n_files++].name, sizeof ds->source.files[0].name, "%s", name);
}

// Records the IDX file idx_read reads for PATH: PATH itself, or PATH.gz when PATH does not exist.
static void source_add_idx(lethe_dataset *ds, const char *path) {
    char base[256];
    dataset_basename(path, base, sizeof base - 3);
    if (!fs_exists(path)) strcat(base, ".gz");
    source_add(ds, base);
}

static lethe_status dataset_load_idx(lethe_dataset *ds, const char *dir, lethe_split split) {
    const char *pre = split == LETHE_SPLIT_TRAIN ? "train" : "t10k";
    char ipath[PATH_MAX + 64], lpath[PATH_MAX + 64];
    snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte", dir, pre);
    snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte", dir, pre);
    source_add_idx(ds, ipath);
    source_add_idx(ds, lpath);
    idx_array im, lb;
    lethe_status st = idx_read(&im, ipath);
    if (st) return st;
    st = idx_read(&lb, lpath);
    if (st) { idx_free(&im); return st; }
    if (im.ndim != 3) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: images file has %d dimensions, expected 3 (count, rows, cols)",
                        ipath, im.ndim);
    } else if (lb.ndim != 1) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: labels file has %d dimensions, expected 1", lpath, lb.ndim);
    } else if (lb.dims[0] != im.dims[0]) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: %d labels, but %s has %d images", lpath, lb.dims[0], ipath, im.dims[0]);
    }
    if (!st) {
        ds->labels = malloc((size_t)lb.dims[0] * sizeof *ds->labels);
        if (!ds->labels) st = lethe_fail(LETHE_ERR_NOMEM, "%s: out of memory", lpath);
    }
    if (st) { idx_free(&im); idx_free(&lb); return st; }
    ds->n = im.dims[0];
    ds->c = 1;
    ds->h = im.dims[1];
    ds->w = im.dims[2];
    ds->pixels = im.data;   // take ownership
    for (int i = 0; i < ds->n; i++) ds->labels[i] = lb.data[i];
    idx_free(&lb);
    return LETHE_OK;
}

static lethe_status dataset_load_cifar(lethe_dataset *ds, const char *dir, lethe_split split) {
    char name[64], meta[PATH_MAX + 64];
    for (int i = 0; i < (split == LETHE_SPLIT_TRAIN ? 5 : 1); i++) {
        if (split == LETHE_SPLIT_TRAIN) snprintf(name, sizeof name, "data_batch_%d.bin", i + 1);
        else snprintf(name, sizeof name, "test_batch.bin");
        source_add(ds, name);
    }
    snprintf(meta, sizeof meta, "%s/batches.meta.txt", dir);
    if (fs_exists(meta)) source_add(ds, "batches.meta.txt");   // the class names
    lethe_status st = cifar10_read(dir, split == LETHE_SPLIT_TRAIN, &ds->pixels, &ds->labels, &ds->n);
    if (st) return st;
    ds->c = 3;
    ds->h = 32;
    ds->w = 32;
    return cifar10_class_names(dir, ds->class_names, LETHE_MAX_CLASSES, &ds->n_classes);
}

lethe_status dataset_load(lethe_dataset *ds, const char *spec, lethe_split split) {
    memset(ds, 0, sizeof *ds);
    if (!spec || !spec[0]) return lethe_fail(LETHE_ERR_ARG, "empty dataset name");
    if (strlen(spec) > PATH_MAX / 2) return lethe_fail(LETHE_ERR_ARG, "dataset path too long");
    if (strncmp(spec, "fashion-canvas", 14) == 0 && !fs_is_dir(spec)) return canvas_dataset_load(ds, spec, split);

    char dir[PATH_MAX];
    const char *canon = NULL;
    if (fs_is_dir(spec)) {
        snprintf(dir, sizeof dir, "%s", spec);
        char base[256];
        dataset_basename(spec, base, sizeof base);
        canon = dataset_canonical(base);
    } else if (strchr(spec, '/') || fs_exists(spec)) {
        return lethe_fail(LETHE_ERR_IO, "dataset %s: %s", spec,
                          fs_exists(spec) ? "is a file, expected a directory holding IDX or CIFAR-10 files"
                                          : "no such directory");
    } else {
        const char *env = getenv("LETHE_DATA_DIR");
        char tried[2 * PATH_MAX] = "";
        int found = 0;
        if (env && env[0]) {
            snprintf(dir, sizeof dir, "%s/%s", env, spec);
            found = fs_is_dir(dir);
            snprintf(tried, sizeof tried, "%s, ", dir);
        } else {
            snprintf(tried, sizeof tried, "$LETHE_DATA_DIR/%s ($LETHE_DATA_DIR unset), ", spec);
        }
        // the user's data folder (XDG base directories: a relative $XDG_DATA_HOME is ignored)
        const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
        char user[PATH_MAX] = "";
        if (xdg && xdg[0] == '/') snprintf(user, sizeof user, "%s/" DATASET_USER_SUBDIR, xdg);
        else if (home && home[0]) snprintf(user, sizeof user, "%s/.local/share/" DATASET_USER_SUBDIR, home);
        if (!found && user[0]) {
            snprintf(dir, sizeof dir, "%s/%s", user, spec);
            found = fs_is_dir(dir);
            size_t at = strlen(tried);
            snprintf(tried + at, sizeof tried - at, "%s, ", dir);
        }
        if (!found) {
            snprintf(dir, sizeof dir, "%s/%s", DATASET_SYSTEM_DIR, spec);
            found = fs_is_dir(dir);
        }
        if (!found)
            return lethe_fail(LETHE_ERR_IO, "dataset '%s' not found: tried %s%s/%s; pass a directory holding "
                              "train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] (t10k-* for test), "
                              "or CIFAR-10 data_batch_*.bin / test_batch.bin (Fashion-MNIST: apt-get install "
                              "dataset-fashion-mnist; MNIST: scripts/get_mnist.sh)", spec, tried, DATASET_SYSTEM_DIR, spec);
        canon = dataset_canonical(spec);
    }

    // What is in the directory?
    char p[PATH_MAX + 64], sub[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", dir);
    int idx = path_or_gz_exists(p);
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", dir);
    idx = idx || path_or_gz_exists(p);
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir);
    lethe_status st;
    int cifar = 0;
    if (idx) {
        source_set_dir(ds, dir);
        st = dataset_load_idx(ds, dir, split);
    } else if (cifar10_detect(dir) || (fs_is_dir(sub) && cifar10_detect(sub))) {
        cifar = 1;
        source_set_dir(ds, cifar10_detect(dir) ? dir : sub);
        st = dataset_load_cifar(ds, cifar10_detect(dir) ? dir : sub, split);
        if (!st && !canon) canon = "cifar10";
    } else {
        return lethe_fail(LETHE_ERR_FORMAT, "dataset %s: no dataset files found: expected "
                          "train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] (and t10k-* for test) "
                          "or CIFAR-10 data_batch_1..5.bin / test_batch.bin", dir);
    }
    if (st) { dataset_free(ds); return st; }

    // Name and classes.
    snprintf(ds->name, sizeof ds->name, "%.63s", canon ? canon : spec);
    int max_label = -1;
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] > max_label) max_label = ds->labels[i];
    if (!cifar) {
        int k = canon ? dataset_known_class_names(canon, ds->class_names, LETHE_MAX_CLASSES) : 0;
        if (k > 0) {
            ds->n_classes = k;
        } else {
            ds->n_classes = max_label + 1 < 2 ? 2 : max_label + 1;
            for (int i = 0; i < ds->n_classes; i++) snprintf(ds->class_names[i], 32, "%d", i);
        }
    }
    if (max_label >= ds->n_classes) {
        for (int i = 0; i < ds->n; i++)
            if (ds->labels[i] >= ds->n_classes) {
                st = lethe_fail(LETHE_ERR_FORMAT, "dataset %s (%s): image %d has label %d, but %s has %d classes",
                                ds->name, dir, i, ds->labels[i], ds->name, ds->n_classes);
                break;
            }
        dataset_free(ds);
        return st;
    }
    return LETHE_OK;
}

lethe_status dataset_load_recorded(lethe_dataset *ds, const lethe_data_record *rec, const char *name, lethe_split split,
                                   const char *whose) {
    memset(ds, 0, sizeof *ds);
    if (!fs_is_dir(rec->dir))
        return lethe_fail(LETHE_ERR_IO, "%s was trained on the data in %s, which is gone (no such directory); pass "
                          "--data DIR with the folder that holds %s%s now", whose, rec->dir,
                          rec->n_files ? rec->files[0].name : "its files", rec->n_files > 1 ? " and the rest" : "");
    lethe_status st = dataset_load(ds, rec->dir, split);
    if (st) return lethe_fail_context(st, "%s was trained on the data in %s (pass --data DIR to read it elsewhere)", whose, rec->dir);
    if (name && name[0]) snprintf(ds->name, sizeof ds->name, "%s", name);
    if (split != LETHE_SPLIT_TRAIN) return LETHE_OK;   // the record covers the train split's files
    if ((st = data_record_hash(&ds->source)) || (st = data_record_compare(rec, &ds->source, whose))) dataset_free(ds);
    return st;
}

void dataset_free(lethe_dataset *ds) {
    if (!ds) return;
    free(ds->pixels);
    free(ds->labels);
    if (ds->free_generator) ds->free_generator(ds->generator);
    memset(ds, 0, sizeof *ds);
}

// ----------------------------------------------------------------------------
// class names

// Lowercase, without '-', '_', ' ' (so "T-Shirt", "tshirt" and "t_shirt" agree).
static void class_norm(const char *s, size_t len, char *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '-' || c == '_' || c == ' ') continue;
        out[n++] = (char)tolower(c);
    }
    out[n] = '\0';
}

static lethe_status class_unknown(const char names[][32], int n_classes, const char *what, lethe_status code,
                                  const char *why) {
    char list[1400];
    size_t at = 0;
    list[0] = '\0';
    for (int i = 0; i < n_classes && at < sizeof list - 40; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", names[i]);
    if (at >= sizeof list - 40) snprintf(list + sizeof list - 40, 40, ", ...");
    return lethe_fail(code, "%s class '%.200s'; valid classes: %s (or an index 0..%d)", why, what, list,
                      n_classes - 1);
}

lethe_status class_index_from_names(const char names[][32], int n_classes, const char *name_or_index, int *out) {
    if (!name_or_index) return lethe_fail(LETHE_ERR_ARG, "no class given");
    if (n_classes < 1) return lethe_fail(LETHE_ERR_ARG, "class '%s': the model or dataset has no classes", name_or_index);
    const char *s = name_or_index;
    size_t len = strlen(s);
    while (len && isspace((unsigned char)*s)) { s++; len--; }
    while (len && isspace((unsigned char)s[len - 1])) len--;
    if (len == 0) return class_unknown(names, n_classes, "", LETHE_ERR_ARG, "empty");

    // A decimal index.
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    int digits = i < len;
    for (size_t k = i; k < len; k++)
        if (!isdigit((unsigned char)s[k])) digits = 0;
    if (digits) {
        long long v = 0;
        for (size_t k = i; k < len && v <= INT_MAX; k++) v = v * 10 + (s[k] - '0');
        if (s[0] == '-') v = -v;
        if (v < 0 || v >= n_classes)
            return lethe_fail(LETHE_ERR_ARG, "class index %.*s out of range 0..%d", (int)(len > 40 ? 40 : len), s,
                              n_classes - 1);
        // A class literally named like an index ("0".."9") is the same thing.
        *out = (int)v;
        return LETHE_OK;
    }
    // Exact (case-insensitive), then ignoring '-', '_' and spaces, then the part before '/'
    // (Fashion-MNIST's own "T-shirt/top").
    for (int c = 0; c < n_classes; c++)
        if (strlen(names[c]) == len && strncasecmp(names[c], s, len) == 0) { *out = c; return LETHE_OK; }
    char want[256], have[64];
    for (int pass = 0; pass < 2; pass++) {
        size_t use = len;
        if (pass == 1) {
            const char *slash = memchr(s, '/', len);
            if (!slash) break;
            use = (size_t)(slash - s);
        }
        class_norm(s, use, want, sizeof want);
        if (!want[0]) continue;
        for (int c = 0; c < n_classes; c++) {
            class_norm(names[c], strlen(names[c]), have, sizeof have);
            if (strcmp(have, want) == 0) { *out = c; return LETHE_OK; }
        }
    }
    char shown[256];
    snprintf(shown, sizeof shown, "%.*s", (int)(len > 200 ? 200 : len), s);
    return class_unknown(names, n_classes, shown, LETHE_ERR_ARG, "unknown");
}

lethe_status dataset_class_index(const lethe_dataset *ds, const char *name_or_index, int *out) {
    return class_index_from_names(ds->class_names, ds->n_classes, name_or_index, out);
}

lethe_status dataset_parse_classes(const lethe_dataset *ds, const char *list, int *out, int cap, int *count) {
    return class_list_from_names(ds->class_names, ds->n_classes, list, out, cap, count);
}

lethe_status class_list_from_names(const char names[][32], int n_classes, const char *list, int *out, int cap, int *count) {
    *count = 0;
    if (!list) return lethe_fail(LETHE_ERR_ARG, "no class list given");
    const char *p = list;
    int n = 0, any = 0;
    for (const char *q = list; *q; q++)
        if (!isspace((unsigned char)*q)) any = 1;
    if (!any) return lethe_fail(LETHE_ERR_ARG, "empty class list");
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *b = p, *e = p + len;
        while (b < e && isspace((unsigned char)*b)) b++;
        while (e > b && isspace((unsigned char)e[-1])) e--;
        if (e == b) return lethe_fail(LETHE_ERR_ARG, "empty item in class list '%.200s'", list);
        char item[256];
        if ((size_t)(e - b) >= sizeof item) return lethe_fail(LETHE_ERR_ARG, "class name too long in '%.200s'", list);
        memcpy(item, b, (size_t)(e - b));
        item[e - b] = '\0';
        int c;
        lethe_status st = class_index_from_names(names, n_classes, item, &c);
        if (st) return st;
        for (int k = 0; k < n; k++)
            if (out[k] == c)
                return lethe_fail(LETHE_ERR_ARG, "class '%s' (%s) is listed twice in '%.200s'", item, names[c], list);
        if (n >= cap) return lethe_fail(LETHE_ERR_ARG, "more than %d classes in '%.200s'", cap, list);
        out[n++] = c;
        if (!comma) break;
        p = comma + 1;
    }
    *count = n;
    return LETHE_OK;
}

// ----------------------------------------------------------------------------
// subsets and batches

lethe_status dataset_subset(lethe_dataset *dst, const lethe_dataset *src, const int *classes, int k, int keep) {
    memset(dst, 0, sizeof *dst);
    if (k < 0 || (k > 0 && !classes)) return lethe_fail(LETHE_ERR_ARG, "dataset_subset: bad class list");
    uint8_t in_set[LETHE_MAX_CLASSES] = {0};
    for (int i = 0; i < k; i++) {
        if (classes[i] < 0 || classes[i] >= src->n_classes)
            return lethe_fail(LETHE_ERR_ARG, "dataset %s: class %d out of range 0..%d", src->name, classes[i],
                              src->n_classes - 1);
        in_set[classes[i]] = 1;
    }
    int m = 0;
    for (int i = 0; i < src->n; i++)
        if (in_set[src->labels[i]] == (keep ? 1 : 0)) m++;
    if (m == 0)
        return lethe_fail(LETHE_ERR_ARG, "dataset %s: %s the %d given classes leaves no images", src->name,
                          keep ? "keeping" : "excluding", k);
    size_t chw = (size_t)src->c * src->h * src->w;
    dst->pixels = malloc((size_t)m * chw);
    dst->labels = malloc((size_t)m * sizeof *dst->labels);
    if (!dst->pixels || !dst->labels) {
        dataset_free(dst);
        return lethe_fail(LETHE_ERR_NOMEM, "dataset %s: out of memory for a subset of %d images", src->name, m);
    }
    memcpy(dst->name, src->name, sizeof dst->name);
    dst->source = src->source;
    memcpy(dst->class_names, src->class_names, sizeof dst->class_names);
    dst->n_classes = src->n_classes;
    dst->c = src->c;
    dst->h = src->h;
    dst->w = src->w;
    int j = 0;
    for (int i = 0; i < src->n; i++) {
        if (in_set[src->labels[i]] != (keep ? 1 : 0)) continue;
        memcpy(dst->pixels + (size_t)j * chw, src->pixels + (size_t)i * chw, chw);
        dst->labels[j++] = src->labels[i];
    }
    dst->n = m;
    return LETHE_OK;
}

void dataset_batch(const lethe_dataset *ds, const int *idx, int m, float *out, int *labels) {
    size_t chw = (size_t)ds->c * ds->h * ds->w;
    for (int i = 0; i < m; i++) {
        const uint8_t *px = ds->pixels + (size_t)idx[i] * chw;
        float *o = out + (size_t)i * chw;
        for (size_t j = 0; j < chw; j++) o[j] = px[j] / 127.5f - 1.0f;
        if (labels) labels[i] = ds->labels[idx[i]];
    }
}
