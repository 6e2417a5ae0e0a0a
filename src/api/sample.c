/*
 * sample.c: lethe_sample and lethe_images, `lethe sample` by option names
 * (diffusion/sample_job.h).
 */
#include <stdlib.h>

#include "api/api.h"
#include "diffusion/sample_job.h"
#include "lethe.h"

struct lethe_images {
    sample_images s;
};

lethe_status lethe_sample(lethe_model *m, const lethe_options *opts, lethe_images **out) {
    if (!m || !out) return lethe_fail(LETHE_ERR_ARG, "lethe_sample: NULL argument");
    *out = NULL;
    sample_request r;
    sample_request_default(&r);
    int progress = 0;
    lethe_status st = api_apply(&sample_request_options, &r, &progress, opts, "lethe_sample");
    if (st) return st;
    if ((st = sample_request_check(&r))) return lethe_fail_context(st, "lethe_sample");
    r.job.quiet = !progress;
    lethe_images *im = calloc(1, sizeof *im);
    if (!im) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    if ((st = sample_job_run(m, &r.job, &im->s))) { free(im); return st; }
    *out = im;
    return LETHE_OK;
}

int lethe_images_count(const lethe_images *im) { return im->s.total; }
const float *lethe_images_data(const lethe_images *im) { return im->s.images; }
const int *lethe_images_labels(const lethe_images *im) { return im->s.labels; }
int lethe_images_channels(const lethe_images *im) { return im->s.channels; }
int lethe_images_size(const lethe_images *im) { return im->s.size; }

lethe_status lethe_images_write_png(const lethe_images *im, const char *path) {
    return path ? sample_images_write_png(&im->s, path) : lethe_fail(LETHE_ERR_ARG, "lethe_images_write_png: NULL path");
}

lethe_status lethe_images_write_npy(const lethe_images *im, const char *path) {
    return path ? sample_images_write_npy(&im->s, path) : lethe_fail(LETHE_ERR_ARG, "lethe_images_write_npy: NULL path");
}

lethe_status lethe_images_write_idx(const lethe_images *im, const char *prefix) {
    return prefix ? sample_images_write_idx(&im->s, prefix) : lethe_fail(LETHE_ERR_ARG, "lethe_images_write_idx: NULL prefix");
}

void lethe_images_free(lethe_images *im) {
    if (!im) return;
    sample_images_free(&im->s);
    free(im);
}
