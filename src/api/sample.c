/*
 * sample.c: lethe_sample and lethe_images, `lethe sample` by option names
 * (diffusion/sample_job.h).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "diffusion/sample_job.h"
#include "lethe.h"

struct lethe_images {
    sample_images s;
};

typedef struct {
    sample_job j;
    const char *sampler;
    int progress;
} sample_args;

#define O(name, type, field) {name, type, offsetof(sample_args, field)}
static const api_opt table[] = {
    O("class", API_STRING, j.classes),
    O("n", API_INT, j.n),
    O("sampler", API_STRING, sampler),
    O("steps", API_INT, j.steps),
    O("eta", API_FLOAT, j.eta),
    O("guidance", API_FLOAT, j.guidance),
    O("seed", API_U64, j.seed),
    O("batch", API_INT, j.batch),
    O("timestep-spacing", API_STRING, j.spacing),
    O("noise", API_STRING, j.noise_path),
    O("progress", API_FLAG, progress),
};

lethe_status lethe_sample(lethe_model *m, const lethe_options *opts, lethe_images **out) {
    if (!m || !out) return lethe_fail(LETHE_ERR_ARG, "lethe_sample: NULL argument");
    *out = NULL;
    sample_args a = {.sampler = "ddim"};
    sample_job_default(&a.j);
    lethe_status st = api_apply(table, (int)(sizeof table / sizeof table[0]), &a, opts, "lethe_sample");
    if (st) return st;
    if (!strcmp(a.sampler, "ddim")) a.j.kind = SAMPLER_DDIM;
    else if (!strcmp(a.sampler, "ddpm")) a.j.kind = SAMPLER_DDPM;
    else return lethe_fail(LETHE_ERR_ARG, "lethe_sample: sampler must be ddim or ddpm (got '%s')", a.sampler);
    a.j.quiet = !a.progress;
    lethe_images *im = calloc(1, sizeof *im);
    if (!im) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    if ((st = sample_job_run(m, &a.j, &im->s))) { free(im); return st; }
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
