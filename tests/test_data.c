/*
 * test_data.c: datasets: Fashion-MNIST from Debian's dataset-fashion-mnist (skipped if
 * absent), IDX and CIFAR-10 directories made here, $LETHE_DATA_DIR, class names and
 * indices, class lists, forget/retain subsets, batch scaling.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "data/dataset.h"
#include "io/cifar10.h"
#include "core/fsutil.h"
#include "io/hash.h"
#include "io/idx.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static int group_setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lethe-test-data-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    unsetenv("LETHE_DATA_DIR");
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *tpath(const char *name) {
    static char bufs[8][512];
    static int at = 0;
    char *b = bufs[at++ % 8];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

#define assert_msg_has(s) do { \
    const char *m_ = lethe_last_error(); \
    if (!strstr(m_, (s))) fail_msg("error message \"%s\" lacks \"%s\"", m_, (s)); \
} while (0)

static int have_fashion(void) {
    return fs_exists(FASHION_DIR "/train-images-idx3-ubyte.gz") || fs_exists(FASHION_DIR "/train-images-idx3-ubyte");
}

// The training split, loaded once for the tests that need it.
static lethe_dataset fashion_train;
static int fashion_loaded;

static const lethe_dataset *fashion(void) {
    if (!have_fashion()) skip();
    if (!fashion_loaded) {
        assert_int_equal(dataset_load(&fashion_train, "fashion-mnist", LETHE_SPLIT_TRAIN), LETHE_OK);
        fashion_loaded = 1;
    }
    return &fashion_train;
}

// Writes DIR/{prefix}-images-idx3-ubyte and -labels-idx1-ubyte with n images of h x w.
static void write_idx_pair(const char *dir, const char *prefix, int n, int h, int w, const uint8_t *labels, int nlabels) {
    assert_int_equal(fs_mkdir_p(dir), LETHE_OK);
    char p[600];
    uint8_t *px = malloc((size_t)n * h * w);
    for (int i = 0; i < n * h * w; i++) px[i] = (uint8_t)(i * 31);
    int d3[3] = {n, h, w};
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, prefix);
    assert_int_equal(idx_write_u8(p, px, 3, d3), LETHE_OK);
    free(px);
    int d1[1] = {nlabels};
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, prefix);
    assert_int_equal(idx_write_u8(p, labels, 1, d1), LETHE_OK);
}

// ----------------------------------------------------------------------------
// Fashion-MNIST

static void test_fashion_train_test(void **state) {
    (void)state;
    const lethe_dataset *ds = fashion();
    assert_string_equal(ds->name, "fashion-mnist");
    assert_int_equal(ds->n, 60000);
    assert_int_equal(ds->c, 1);
    assert_int_equal(ds->h, 28);
    assert_int_equal(ds->w, 28);
    assert_int_equal(ds->n_classes, 10);
    assert_string_equal(ds->class_names[0], "t-shirt");
    assert_string_equal(ds->class_names[9], "ankle-boot");
    int counts[10] = {0};
    for (int i = 0; i < ds->n; i++) {
        assert_true(ds->labels[i] >= 0 && ds->labels[i] < 10);
        counts[ds->labels[i]]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(counts[c], 6000);
    // Known first label of the Fashion-MNIST training set: 9 (ankle boot).
    assert_int_equal(ds->labels[0], 9);
    int maxpx = 0;
    for (int i = 0; i < 28 * 28; i++) if (ds->pixels[i] > maxpx) maxpx = ds->pixels[i];
    assert_true(maxpx > 200);

    lethe_dataset test;
    assert_int_equal(dataset_load(&test, FASHION_DIR, LETHE_SPLIT_TEST), LETHE_OK);
    assert_string_equal(test.name, "fashion-mnist");   // a directory with a known name
    assert_int_equal(test.n, 10000);
    assert_int_equal(test.h, 28);
    assert_int_equal(test.n_classes, 10);
    for (int i = 0; i < test.n; i++) assert_true(test.labels[i] >= 0 && test.labels[i] < 10);
    dataset_free(&test);
    assert_null(test.pixels);
}

static void test_class_index(void **state) {
    (void)state;
    const lethe_dataset *ds = fashion();
    int c = -1;
    assert_int_equal(dataset_class_index(ds, "trouser", &c), LETHE_OK);
    assert_int_equal(c, 1);
    assert_int_equal(dataset_class_index(ds, "TROUSER", &c), LETHE_OK);
    assert_int_equal(c, 1);
    assert_int_equal(dataset_class_index(ds, "6", &c), LETHE_OK);
    assert_int_equal(c, 6);
    assert_int_equal(dataset_class_index(ds, "0", &c), LETHE_OK);
    assert_int_equal(c, 0);
    assert_int_equal(dataset_class_index(ds, "tshirt", &c), LETHE_OK);
    assert_int_equal(c, 0);
    assert_int_equal(dataset_class_index(ds, "T-shirt/top", &c), LETHE_OK);
    assert_int_equal(c, 0);
    assert_int_equal(dataset_class_index(ds, "ankle_boot", &c), LETHE_OK);
    assert_int_equal(c, 9);
    assert_int_equal(dataset_class_index(ds, "Ankle boot", &c), LETHE_OK);
    assert_int_equal(c, 9);
    assert_int_equal(dataset_class_index(ds, "shirt", &c), LETHE_OK);   // not t-shirt
    assert_int_equal(c, 6);

    assert_int_equal(dataset_class_index(ds, "10", &c), LETHE_ERR_ARG);
    assert_msg_has("out of range 0..9");
    assert_int_equal(dataset_class_index(ds, "-1", &c), LETHE_ERR_ARG);
    assert_msg_has("out of range");
    assert_int_equal(dataset_class_index(ds, "99999999999999999999", &c), LETHE_ERR_ARG);
    assert_int_equal(dataset_class_index(ds, "hat", &c), LETHE_ERR_ARG);
    assert_msg_has("unknown class 'hat'");
    assert_msg_has("t-shirt, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle-boot");
    assert_int_equal(dataset_class_index(ds, "", &c), LETHE_ERR_ARG);

    // From a bare list of names (a model's classes).
    char names[3][32] = {"cat", "dog", "bird"};
    assert_int_equal(class_index_from_names(names, 3, "Dog", &c), LETHE_OK);
    assert_int_equal(c, 1);
    assert_int_equal(class_index_from_names(names, 3, "2", &c), LETHE_OK);
    assert_int_equal(c, 2);
    assert_int_equal(class_index_from_names(names, 3, "fish", &c), LETHE_ERR_ARG);
    assert_msg_has("cat, dog, bird");
}

static void test_parse_classes(void **state) {
    (void)state;
    const lethe_dataset *ds = fashion();
    int out[10], n = -1;
    assert_int_equal(dataset_parse_classes(ds, "trouser,6", out, 10, &n), LETHE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 6);
    assert_int_equal(dataset_parse_classes(ds, " sneaker , bag ,0 ", out, 10, &n), LETHE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out[0], 7);
    assert_int_equal(out[1], 8);
    assert_int_equal(out[2], 0);
    assert_int_equal(dataset_parse_classes(ds, "trouser,1", out, 10, &n), LETHE_ERR_ARG);
    assert_msg_has("listed twice");
    assert_int_equal(n, 0);
    assert_int_equal(dataset_parse_classes(ds, "trouser,,bag", out, 10, &n), LETHE_ERR_ARG);
    assert_msg_has("empty item");
    assert_int_equal(dataset_parse_classes(ds, "bag,", out, 10, &n), LETHE_ERR_ARG);
    assert_msg_has("empty item");
    assert_int_equal(dataset_parse_classes(ds, "  ", out, 10, &n), LETHE_ERR_ARG);
    assert_msg_has("empty class list");
    assert_int_equal(dataset_parse_classes(ds, "bag,hat", out, 10, &n), LETHE_ERR_ARG);
    assert_msg_has("unknown class 'hat'");
    assert_int_equal(dataset_parse_classes(ds, "1,2,3", out, 2, &n), LETHE_ERR_ARG);
    assert_msg_has("more than 2 classes");
}

static void test_subset(void **state) {
    (void)state;
    const lethe_dataset *ds = fashion();
    lethe_dataset sub;
    int one[1] = {1}, two[2] = {1, 6};
    assert_int_equal(dataset_subset(&sub, ds, one, 1, 1), LETHE_OK);
    assert_int_equal(sub.n, 6000);
    assert_int_equal(sub.n_classes, 10);
    assert_string_equal(sub.class_names[1], "trouser");
    for (int i = 0; i < sub.n; i++) assert_int_equal(sub.labels[i], 1);
    // The first trouser of the source is the first image of the subset.
    int first = 0;
    while (ds->labels[first] != 1) first++;
    assert_memory_equal(sub.pixels, ds->pixels + (size_t)first * 784, 784);
    dataset_free(&sub);

    assert_int_equal(dataset_subset(&sub, ds, one, 1, 0), LETHE_OK);
    assert_int_equal(sub.n, 54000);
    for (int i = 0; i < sub.n; i++) assert_int_not_equal(sub.labels[i], 1);
    dataset_free(&sub);

    assert_int_equal(dataset_subset(&sub, ds, two, 2, 1), LETHE_OK);
    assert_int_equal(sub.n, 12000);
    dataset_free(&sub);
    assert_int_equal(dataset_subset(&sub, ds, two, 2, 0), LETHE_OK);
    assert_int_equal(sub.n, 48000);
    dataset_free(&sub);

    int bad[1] = {10};
    assert_int_equal(dataset_subset(&sub, ds, bad, 1, 1), LETHE_ERR_ARG);
    assert_msg_has("class 10 out of range");
    assert_null(sub.pixels);
}

static void test_batch_scaling(void **state) {
    (void)state;
    lethe_dataset ds;
    memset(&ds, 0, sizeof ds);
    uint8_t px[2 * 3] = {0, 255, 127, 128, 1, 254};
    int labels[2] = {4, 7};
    ds.n = 2; ds.c = 3; ds.h = 1; ds.w = 1; ds.n_classes = 10;
    ds.pixels = px;
    ds.labels = labels;
    int idx[3] = {1, 0, 1};
    float out[9];
    int lb[4];
    dataset_batch(&ds, idx, 3, out, lb);
    assert_true(out[0] == 128 / 127.5f - 1);
    assert_true(out[3] == -1.0f);
    assert_true(out[4] == 1.0f);
    assert_true(fabsf(out[5] - (127 / 127.5f - 1)) < 1e-7f);
    assert_true(out[8] == 254 / 127.5f - 1);
    assert_int_equal(lb[0], 7);
    assert_int_equal(lb[1], 4);
    assert_int_equal(lb[2], 7);
    dataset_batch(&ds, idx, 1, out, NULL);   // labels optional

    // Real data lies in [-1, 1].
    const lethe_dataset *f = fashion();
    int fi[4] = {0, 1, 59998, 59999};
    float *fb = malloc(4 * 784 * sizeof *fb);
    dataset_batch(f, fi, 4, fb, lb);
    float lo = 1, hi = -1;
    for (int i = 0; i < 4 * 784; i++) { if (fb[i] < lo) lo = fb[i]; if (fb[i] > hi) hi = fb[i]; }
    assert_true(lo == -1.0f);
    assert_true(hi <= 1.0f && hi > 0.5f);
    assert_int_equal(lb[0], f->labels[0]);
    free(fb);
}

// ----------------------------------------------------------------------------
// directories made here

static void test_idx_dir_and_env(void **state) {
    (void)state;
    // Unknown name: classes "0".."max", via $LETHE_DATA_DIR.
    uint8_t labels[6] = {0, 2, 4, 2, 0, 4};
    write_idx_pair(tpath("data/tiny"), "train", 6, 3, 2, labels, 6);
    setenv("LETHE_DATA_DIR", tpath("data"), 1);
    lethe_dataset ds;
    assert_int_equal(dataset_load(&ds, "tiny", LETHE_SPLIT_TRAIN), LETHE_OK);
    assert_string_equal(ds.name, "tiny");
    assert_int_equal(ds.n, 6);
    assert_int_equal(ds.h, 3);
    assert_int_equal(ds.w, 2);
    assert_int_equal(ds.n_classes, 5);
    assert_string_equal(ds.class_names[0], "0");
    assert_string_equal(ds.class_names[4], "4");
    assert_int_equal(ds.labels[1], 2);
    assert_int_equal(ds.pixels[7], (uint8_t)(7 * 31));
    dataset_free(&ds);
    // The test split is absent: the error names the file.
    assert_int_equal(dataset_load(&ds, "tiny", LETHE_SPLIT_TEST), LETHE_ERR_IO);
    assert_msg_has("t10k-images-idx3-ubyte");

    // A single label class still gives 2 classes; a gzipped pair works the same.
    uint8_t zeros[2] = {0, 0};
    write_idx_pair(tpath("data/one"), "t10k", 2, 2, 2, zeros, 2);
    assert_int_equal(dataset_load(&ds, tpath("data/one"), LETHE_SPLIT_TEST), LETHE_OK);
    assert_int_equal(ds.n_classes, 2);
    assert_string_equal(ds.name, tpath("data/one"));
    dataset_free(&ds);

    // $LETHE_DATA_DIR/mnist overrides the system directory; names are digits.
    uint8_t ml[3] = {3, 9, 0};
    write_idx_pair(tpath("data/mnist"), "train", 3, 28, 28, ml, 3);
    assert_int_equal(dataset_load(&ds, "mnist", LETHE_SPLIT_TRAIN), LETHE_OK);
    assert_string_equal(ds.name, "mnist");
    assert_int_equal(ds.n_classes, 10);
    assert_string_equal(ds.class_names[9], "9");
    dataset_free(&ds);

    // Known dataset with an impossible label.
    uint8_t badl[3] = {3, 12, 0};
    write_idx_pair(tpath("data/mnist"), "train", 3, 28, 28, badl, 3);
    assert_int_equal(dataset_load(&ds, "mnist", LETHE_SPLIT_TRAIN), LETHE_ERR_FORMAT);
    assert_msg_has("image 1 has label 12");
    assert_null(ds.pixels);

    // Counts disagree.
    write_idx_pair(tpath("data/mismatch"), "train", 3, 2, 2, ml, 2);
    assert_int_equal(dataset_load(&ds, tpath("data/mismatch"), LETHE_SPLIT_TRAIN), LETHE_ERR_FORMAT);
    assert_msg_has("2 labels");
    assert_msg_has("3 images");

    // Not found anywhere.
    assert_int_equal(dataset_load(&ds, "no-such-dataset", LETHE_SPLIT_TRAIN), LETHE_ERR_IO);
    assert_msg_has("no-such-dataset");
    assert_msg_has("/usr/share/datasets/no-such-dataset");
    assert_msg_has(tpath("data/no-such-dataset"));
    // An empty directory.
    assert_int_equal(fs_mkdir_p(tpath("data/empty")), LETHE_OK);
    assert_int_equal(dataset_load(&ds, tpath("data/empty"), LETHE_SPLIT_TRAIN), LETHE_ERR_FORMAT);
    assert_msg_has("no dataset files found");
    unsetenv("LETHE_DATA_DIR");
}

static void test_cifar_dir(void **state) {
    (void)state;
    const char *dir = tpath("c10/cifar-10-batches-bin");
    assert_int_equal(fs_mkdir_p(dir), LETHE_OK);
    size_t size = (size_t)CIFAR10_FILE_BYTES;
    uint8_t *b = malloc(size);
    for (int i = 0; i < CIFAR10_RECORDS; i++) {
        uint8_t *r = b + (size_t)i * CIFAR10_RECORD_BYTES;
        r[0] = (uint8_t)((i * 7) % 10);
        memset(r + 1, (uint8_t)i, CIFAR10_PIXELS);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(b, 1, size, fp), size);
    fclose(fp);
    free(b);

    lethe_dataset ds;
    // The parent directory holds cifar-10-batches-bin/, as the tarball unpacks.
    assert_int_equal(dataset_load(&ds, tpath("c10"), LETHE_SPLIT_TEST), LETHE_OK);
    assert_string_equal(ds.name, "cifar10");
    assert_int_equal(ds.n, 10000);
    assert_int_equal(ds.c, 3);
    assert_int_equal(ds.h, 32);
    assert_int_equal(ds.w, 32);
    assert_int_equal(ds.n_classes, 10);
    assert_string_equal(ds.class_names[0], "airplane");
    assert_string_equal(ds.class_names[9], "truck");
    assert_int_equal(ds.labels[3], 1);
    assert_int_equal(ds.pixels[3 * 3072 + 2000], 3);
    int c;
    assert_int_equal(dataset_class_index(&ds, "Truck", &c), LETHE_OK);
    assert_int_equal(c, 9);
    dataset_free(&ds);
    assert_int_equal(dataset_load(&ds, dir, LETHE_SPLIT_TRAIN), LETHE_ERR_IO);
    assert_msg_has("data_batch_1.bin");
}

// ----------------------------------------------------------------------------
// the data record: where the files were read from, and their fingerprint

static void test_data_record(void **state) {
    (void)state;
    uint8_t labels[4] = {0, 1, 2, 1};
    write_idx_pair(tpath("rec/digits"), "train", 4, 2, 2, labels, 4);
    write_idx_pair(tpath("rec/digits"), "t10k", 4, 2, 2, labels, 4);
    lethe_dataset ds, sub, again;
    assert_int_equal(dataset_load(&ds, tpath("rec/digits"), LETHE_SPLIT_TRAIN), LETHE_OK);
    // the absolute folder and exactly the files the split read
    char abs[PATH_MAX];
    assert_non_null(realpath(tpath("rec/digits"), abs));
    assert_string_equal(ds.source.dir, abs);
    assert_int_equal(ds.source.n_files, 2);
    assert_string_equal(ds.source.files[0].name, "train-images-idx3-ubyte");
    assert_string_equal(ds.source.files[1].name, "train-labels-idx1-ubyte");
    assert_string_equal(ds.source.sha256, "");   // hashed only when asked
    assert_int_equal(data_record_hash(&ds.source), LETHE_OK);
    // each file's SHA-256 and size; the fingerprint hashes one "name bytes sha256" line per file
    char hex[65], lines[400];
    snprintf(lines, sizeof lines, "%s/train-labels-idx1-ubyte", abs);
    assert_int_equal(sha256_file(lines, hex), LETHE_OK);
    assert_string_equal(ds.source.files[1].sha256, hex);
    assert_int_equal(ds.source.files[1].bytes, 8 + 4);
    assert_int_equal(ds.source.files[0].bytes, 16 + 4 * 2 * 2);
    snprintf(lines, sizeof lines, "%s %lld %s\n%s %lld %s\n", ds.source.files[0].name, ds.source.files[0].bytes,
             ds.source.files[0].sha256, ds.source.files[1].name, ds.source.files[1].bytes, ds.source.files[1].sha256);
    sha256_hex(lines, strlen(lines), hex);
    assert_string_equal(ds.source.sha256, hex);
    // a class subset (a retain set) keeps the record
    int keep[1] = {1};
    assert_int_equal(dataset_subset(&sub, &ds, keep, 1, 1), LETHE_OK);
    assert_memory_equal(&sub.source, &ds.source, sizeof sub.source);
    dataset_free(&sub);
    lethe_data_record rec = ds.source;
    dataset_free(&ds);

    // the test split: its own files, from the same folder
    assert_int_equal(dataset_load(&ds, tpath("rec/digits"), LETHE_SPLIT_TEST), LETHE_OK);
    assert_string_equal(ds.source.files[0].name, "t10k-images-idx3-ubyte");
    dataset_free(&ds);

    // loading through the record: the same files pass, under the model's dataset name
    assert_int_equal(dataset_load_recorded(&again, &rec, "digits", LETHE_SPLIT_TRAIN, "model M"), LETHE_OK);
    assert_string_equal(again.name, "digits");
    assert_int_equal(again.n, 4);
    dataset_free(&again);

    // a changed file: the error names it, the folder and the way out
    uint8_t other[4] = {0, 1, 2, 2};
    write_idx_pair(tpath("rec/digits"), "train", 4, 2, 2, other, 4);
    assert_int_equal(dataset_load_recorded(&again, &rec, "digits", LETHE_SPLIT_TRAIN, "model M"), LETHE_ERR_IO);
    assert_msg_has("changed since model M was trained");
    assert_msg_has("train-labels-idx1-ubyte is now");
    assert_msg_has("--data");
    assert_null(again.pixels);
    // the test split is not covered by the record: it loads
    assert_int_equal(dataset_load_recorded(&again, &rec, "digits", LETHE_SPLIT_TEST, "model M"), LETHE_OK);
    dataset_free(&again);

    // the folder gone: the error names the recorded path and --data DIR
    assert_int_equal(rename(tpath("rec/digits"), tpath("rec/moved")), 0);
    assert_int_equal(dataset_load_recorded(&again, &rec, "digits", LETHE_SPLIT_TRAIN, "model M"), LETHE_ERR_IO);
    assert_msg_has(abs);
    assert_msg_has("gone");
    assert_msg_has("--data DIR");
}

static void test_known_names(void **state) {
    (void)state;
    char names[LETHE_MAX_CLASSES][32];
    assert_int_equal(dataset_known_class_names("fashion-mnist", names, LETHE_MAX_CLASSES), 10);
    assert_string_equal(names[2], "pullover");
    assert_string_equal(names[9], "ankle-boot");
    assert_int_equal(dataset_known_class_names("mnist", names, LETHE_MAX_CLASSES), 10);
    assert_string_equal(names[7], "7");
    assert_int_equal(dataset_known_class_names("cifar10", names, LETHE_MAX_CLASSES), 10);
    assert_string_equal(names[1], "automobile");
    assert_int_equal(dataset_known_class_names("imagenet", names, LETHE_MAX_CLASSES), 0);
    assert_int_equal(dataset_known_class_names("fashion-mnist", names, 3), 3);
}

static int free_fashion(void **state) {
    (void)state;
    if (fashion_loaded) dataset_free(&fashion_train);
    fashion_loaded = 0;
    return group_teardown(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fashion_train_test),
        cmocka_unit_test(test_class_index),
        cmocka_unit_test(test_parse_classes),
        cmocka_unit_test(test_subset),
        cmocka_unit_test(test_batch_scaling),
        cmocka_unit_test(test_idx_dir_and_env),
        cmocka_unit_test(test_cifar_dir),
        cmocka_unit_test(test_known_names),
        cmocka_unit_test(test_data_record),
    };
    return cmocka_run_group_tests(tests, group_setup, free_fashion);
}
