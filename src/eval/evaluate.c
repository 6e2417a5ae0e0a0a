/* evaluate.c: the evaluation pipeline behind `lethe eval` (see evaluate.h). */
#include "eval/evaluate.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"
#include "diffusion/sampler.h"
#include "eval/classifier_model.h"
#include "eval/fid.h"
#include "diffusion/generate.h"
#include "eval/mia.h"
#include "eval/roc.h"
#include "diffusion/model.h"
#include "ops/ops.h"

void eval_opts_default(eval_opts *o) {
    memset(o, 0, sizeof *o);
    o->per_class = 100;
    o->sampler = SAMPLER_DDIM;
    o->steps = 25;
    o->eta = 0.0f;
    o->guidance = 2.0f;
    o->clipped_eps = 1;
    o->seed = 0;
    o->batch = 100;
    o->grid_cols = 10;
    o->nll_images = 12;
    nll_opts_default(&o->nll);
    o->nll.timesteps = 20;
    o->nll.batch = 200;
    o->mia_images = 100;
    o->mia_pairs = 4;
}

#define ROW(name, type, field, help) {name, NULL, type, offsetof(eval_request, field), {0}, help, NULL, NULL, 0}
static const opt_spec eval_rows[] = {
    ROW("data", OPT_STRING, o.data, "dataset of the real images (default: the folder the first model was trained on, "
        "from its lethe.json, else the classifier's dataset)"),
    ROW("classes", OPT_STRING, o.classes, "evaluate only these classes (e.g. those the models were trained on; default: all)"),
    ROW("n", OPT_INT, o.per_class, "samples per class (headline tables: 500)"),
    {"sampler", NULL, OPT_CHOICE, offsetof(eval_request, sampler), {0}, "ddim or ddpm", NULL, "ddim|ddpm", 0},
    ROW("steps", OPT_INT, o.steps, "sampling steps"),
    ROW("eta", OPT_FLOAT, o.eta, "DDIM eta"),
    ROW("guidance", OPT_FLOAT, o.guidance, "classifier-free guidance scale w (1: none)"),
    ROW("network-eps", OPT_FLAG, network_eps, "DDIM: step along the network's noise prediction (diffusers' default) "
        "instead of the one re-derived from the clipped x0 prediction (use_clipped_model_output, lethe's default)"),
    ROW("seed", OPT_U64, o.seed, "seed of the sampling noise, the bits/dim estimator and the MIA pairs"),
    ROW("batch", OPT_INT, o.batch, "samples per chain (guidance doubles the network batch)"),
    ROW("grid-cols", OPT_INT, o.grid_cols, "samples per class in the PNG grid"),
    ROW("nll-images", OPT_INT, o.nll_images, "real test images per class for bits/dim (0: skip)"),
    ROW("nll-timesteps", OPT_INT, o.nll.timesteps, "bits/dim: timestep strata (one t each); 999: all T, exact"),
    {"nll-variance", NULL, OPT_CHOICE, offsetof(eval_request, variance), {0},
     "bits/dim: decoder variance fixed_small (beta tilde) or fixed_large (beta)", NULL, "fixed_small|fixed_large", 0},
    ROW("no-nll", OPT_FLAG, no_nll, "skip bits/dim"),
    ROW("mia-images", OPT_INT, o.mia_images, "membership inference: training images (members) and as many test images"),
    ROW("mia-pairs", OPT_INT, o.mia_pairs, "membership inference: (t, noise) pairs per image"),
    ROW("no-mia", OPT_FLAG, no_mia, "skip membership inference"),
    ROW("no-fid", OPT_FLAG, o.no_fid, "skip FID"),
};
const opt_table eval_request_options = {eval_rows, (int)(sizeof eval_rows / sizeof eval_rows[0])};

void eval_request_default(eval_request *r) {
    *r = (eval_request){.sampler = 0, .variance = 0};
    eval_opts_default(&r->o);
}

void eval_request_check(eval_request *r) {
    r->o.sampler = r->sampler == 0 ? SAMPLER_DDIM : SAMPLER_DDPM;
    r->o.nll.variance = r->variance == 0 ? NLL_FIXED_SMALL : NLL_FIXED_LARGE;
    if (r->no_nll) r->o.nll_images = 0;
    if (r->no_mia) r->o.mia_images = 0;
    if (r->network_eps) r->o.clipped_eps = 0;
}

static void warn(eval_report *r, const char *fmt, ...) {
    if (r->n_warnings == EVAL_MAX_WARNINGS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warnings[r->n_warnings], sizeof r->warnings[0], fmt, ap);
    va_end(ap);
    for (int i = 0; i < r->n_warnings; i++)   // the same warning for the next model: once is enough
        if (!strcmp(r->warnings[i], r->warnings[r->n_warnings])) return;
    if (!r->opts.quiet) fprintf(stderr, "lethe eval: warning: %s\n", r->warnings[r->n_warnings]);
    r->n_warnings++;
}

// ---- progress --------------------------------------------------------------------------------------

typedef struct {
    lethe_progress bar;
    long base;        // units done by earlier calls
} part_progress;

static void part_start(part_progress *p, const char *label, long total, const char *unit, int quiet) {
    progress_start(&p->bar, label, total, 0, unit);
    p->bar.enabled = p->bar.enabled && !quiet;
    p->base = 0;
}

static void on_units(void *user, int done, int total) {
    part_progress *p = user;
    (void)total;
    progress_update(&p->bar, p->base + done, 1.0, NULL);
}

// ---- the real images: labels, per-class indices and feature statistics ----------------------------

typedef struct {
    lethe_dataset train, test;
    int *test_idx[LETHE_MAX_CLASSES], n_test[LETHE_MAX_CLASSES];    // test images of each class, in file order
    int *train_idx[LETHE_MAX_CLASSES], n_train[LETHE_MAX_CLASSES];
    feature_stats real[LETHE_MAX_CLASSES];                          // test features per class
    int have_stats;
} real_data;

static void real_free(real_data *d, int K) {
    for (int c = 0; c < K; c++) {
        free(d->test_idx[c]);
        free(d->train_idx[c]);
        if (d->have_stats) feature_stats_free(&d->real[c]);
    }
    dataset_free(&d->train);
    dataset_free(&d->test);
}

static lethe_status index_by_class(const lethe_dataset *ds, int K, int **idx, int *count) {
    for (int c = 0; c < K; c++) {
        count[c] = 0;
        idx[c] = malloc((size_t)(ds->n > 0 ? ds->n : 1) * sizeof(int));
        if (!idx[c]) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] >= 0 && ds->labels[i] < K) idx[ds->labels[i]][count[ds->labels[i]]++] = i;
    return LETHE_OK;
}

static lethe_status real_load(real_data *d, eval_report *r, eval_classifier *cls) {
    lethe_status st;
    memset(d, 0, sizeof *d);
    if (r->data.dir[0]) {   // a model's record: its folder, the train files checked against the fingerprint
        char whose[1100];
        snprintf(whose, sizeof whose, "model %s", r->data_model);
        if ((st = dataset_load_recorded(&d->test, &r->data, r->dataset, LETHE_SPLIT_TEST, whose)) ||
            (st = dataset_load_recorded(&d->train, &r->data, r->dataset, LETHE_SPLIT_TRAIN, whose)))
            return st;
    } else {
        if ((st = dataset_load(&d->test, r->dataset, LETHE_SPLIT_TEST))) return st;
        if ((st = dataset_load(&d->train, r->dataset, LETHE_SPLIT_TRAIN))) return st;
    }
    if (d->test.n_classes != r->K)
        return lethe_fail(LETHE_ERR_ARG, "dataset %s has %d classes, the classifier %d", r->dataset, d->test.n_classes, r->K);
    if ((st = index_by_class(&d->test, r->K, d->test_idx, d->n_test)) ||
        (st = index_by_class(&d->train, r->K, d->train_idx, d->n_train)))
        return st;
    if (r->opts.no_fid) return LETHE_OK;

    double t0 = lethe_now();
    const int fd = r->feature_dim;
    float *feat = malloc((size_t)d->test.n * fd * sizeof(float));
    if (!feat) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d feature rows", d->test.n);
    st = eval_classifier_predict_dataset(cls, &d->test, NULL, d->test.n, NULL, feat);
    d->have_stats = 1;   // zeroed stats free safely
    for (int c = 0; !st && c < r->K; c++) st = feature_stats_init(&d->real[c], fd);
    if (!st) {
        for (int i = 0; i < d->test.n; i++) feature_stats_add(&d->real[d->test.labels[i]], feat + (size_t)i * fd, 1);
    }
    free(feat);
    r->t_real = lethe_now() - t0;
    return st;
}

// ---- one model ------------------------------------------------------------------------------------

static lethe_status result_alloc(eval_model_result *m, int K, int n_forget) {
    m->gen_accuracy = malloc((size_t)K * sizeof(double));
    m->confusion = calloc((size_t)K * K, sizeof(long));
    m->class_fraction = calloc((size_t)K, sizeof(double));
    m->fid_class = malloc((size_t)K * sizeof(double));
    m->bpd = malloc((size_t)K * sizeof(double));
    m->bpd_se = malloc((size_t)K * sizeof(double));
    int nf = n_forget > 0 ? n_forget : 1;
    m->ua = malloc((size_t)nf * sizeof(double));
    m->forget_confidence = malloc((size_t)nf * sizeof(double));
    m->pul = malloc((size_t)nf * sizeof(double));
    if (!m->gen_accuracy || !m->confusion || !m->class_fraction || !m->fid_class || !m->bpd || !m->bpd_se || !m->ua ||
        !m->forget_confidence || !m->pul)
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    for (int c = 0; c < K; c++) m->gen_accuracy[c] = m->fid_class[c] = m->bpd[c] = m->bpd_se[c] = NAN;
    for (int j = 0; j < nf; j++) m->ua[j] = m->forget_confidence[j] = m->pul[j] = NAN;
    m->fid_all = m->fid_retained = m->mia_auc = m->mia_auc_se = NAN;
    m->bpd_forget = m->bpd_retained = m->retained_accuracy = m->inception_score = m->mean_entropy = NAN;
    return LETHE_OK;
}

static void result_free(eval_model_result *m) {
    free(m->gen_accuracy);
    free(m->confusion);
    free(m->class_fraction);
    free(m->fid_class);
    free(m->bpd);
    free(m->bpd_se);
    free(m->ua);
    free(m->forget_confidence);
    free(m->pul);
    free(m->grid);
    memset(m, 0, sizeof *m);
}

// Everything one model's samples give: what was generated (u8), with which label (-1 for
// unconditional), and the classifier's view of it.
typedef struct {
    int n, numel;
    uint8_t *u8;
    int *requested;
    float *probs, *features;
} sample_set;

static void samples_free(sample_set *s) {
    free(s->u8);
    free(s->requested);
    free(s->probs);
    free(s->features);
}

static lethe_status generate_all(eval_report *r, eval_model_result *res, const lethe_model *m,
                                 const lethe_schedule *sched, denoiser_infer *den, sample_set *s) {
    const eval_opts *o = &r->opts;
    const int N = o->per_class, conditional = m->n_classes > 0;
    s->numel = r->channels * r->size * r->size;
    s->n = N * r->n_classes;   // unconditional: as many samples in all
    s->u8 = malloc((size_t)s->n * s->numel);
    s->requested = malloc((size_t)s->n * sizeof(int));
    if (!s->u8 || !s->requested) return lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d samples", s->n);
    sampler_opts so = {.kind = o->sampler, .steps = o->steps, .eta = o->eta, .guidance = o->guidance, .seed = o->seed,
                       .clipped_eps = o->clipped_eps};
    if (m->one_step_t > 0) {   // SFD's generator: the same initial noise, one evaluation
        so.kind = SAMPLER_ONE_STEP;
        so.one_step_t = m->one_step_t;
        so.steps = 1;
    }
    part_progress pp;
    int chains = conditional ? r->n_classes : 1, per_chain = conditional ? N : s->n;
    int batches_per = (per_chain + o->batch - 1) / o->batch;
    part_start(&pp, "sample", (long)chains * batches_per * so.steps, "step/s", o->quiet);
    double t0 = lethe_now();
    lethe_status st = LETHE_OK;
    for (int c = 0; c < chains && !st; c++) {
        int label = conditional ? r->classes[c] : -1;
        pp.base = (long)c * batches_per * so.steps;
        st = eval_generate(sched, &so, den, label, per_chain, o->batch, s->u8 + (size_t)c * per_chain * s->numel,
                           on_units, &pp);
        for (int i = 0; i < per_chain; i++) s->requested[c * per_chain + i] = label;
    }
    res->t_sample = lethe_now() - t0;
    progress_finish(&pp.bar, NULL);
    res->n_samples = s->n;
    res->sample_images_per_s = res->t_sample > 0 ? s->n / res->t_sample : 0;
    return st;
}

static lethe_status classify_samples(eval_report *r, eval_classifier *cls, sample_set *s) {
    const int K = r->K, fd = r->feature_dim;
    s->probs = malloc((size_t)s->n * K * sizeof(float));
    s->features = malloc((size_t)s->n * fd * sizeof(float));
    float *host = malloc((size_t)s->n * s->numel * sizeof(float));
    float *dev = ops()->alloc((size_t)s->n * s->numel * sizeof(float));
    lethe_status st = LETHE_OK;
    if (!s->probs || !s->features || !host || !dev) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    if (!st) {
        u8_to_unit_range(host, s->u8, (size_t)s->n * s->numel);
        ops()->to_device(dev, host, (size_t)s->n * s->numel * sizeof(float));
        st = eval_classifier_predict(cls, dev, s->n, s->probs, s->features, 256);
    }
    free(host);
    ops()->release(dev);
    return st;
}

// accuracy, confusion, UA, confidence, entropy, IS, class fractions
static void class_metrics(eval_report *r, eval_model_result *res, const sample_set *s) {
    const int K = r->K;
    long *per_req = calloc((size_t)K, sizeof(long)), *hit = calloc((size_t)K, sizeof(long));
    long *pred_count = calloc((size_t)K, sizeof(long));
    double entropy = 0;
    if (!per_req || !hit || !pred_count) goto done;
    for (int i = 0; i < s->n; i++) {
        const float *p = s->probs + (size_t)i * K;
        int pred = argmax_row(p, K), req = s->requested[i];
        pred_count[pred]++;
        for (int j = 0; j < K; j++)
            if (p[j] > 0) entropy -= p[j] * log((double)p[j]);
        if (req >= 0) {
            per_req[req]++;
            hit[req] += pred == req;
            res->confusion[(size_t)req * K + pred]++;
        } else {
            res->confusion[pred]++;
        }
    }
    res->mean_entropy = s->n ? entropy / s->n : NAN;
    res->inception_score = inception_score(s->probs, s->n, K);
    for (int c = 0; c < K; c++) {
        res->class_fraction[c] = s->n ? (double)pred_count[c] / s->n : NAN;
        if (per_req[c]) res->gen_accuracy[c] = (double)hit[c] / per_req[c];
    }
    double acc = 0;
    int nr = 0;
    for (int c = 0; c < K; c++)
        if (!r->is_forget[c] && per_req[c]) {
            acc += res->gen_accuracy[c];
            nr++;
        }
    if (nr) res->retained_accuracy = acc / nr;
    for (int j = 0; j < r->n_forget; j++) {
        int f = r->forget[j];
        if (res->conditional) {
            double conf = 0;
            long cnt = 0;
            for (int i = 0; i < s->n; i++)
                if (s->requested[i] == f) {
                    conf += s->probs[(size_t)i * K + f];
                    cnt++;
                }
            res->ua[j] = cnt ? 1.0 - res->gen_accuracy[f] : NAN;
            res->forget_confidence[j] = cnt ? conf / cnt : NAN;
        } else {
            // unconditional: the share of samples that still look like the forget class
            double conf = 0;
            for (int i = 0; i < s->n; i++) conf += s->probs[(size_t)i * K + f];
            res->ua[j] = 1.0 - res->class_fraction[f];
            res->forget_confidence[j] = s->n ? conf / s->n : NAN;
        }
    }
done:
    free(per_req);
    free(hit);
    free(pred_count);
}

// FID of the sample rows selected by `take` against the merged real statistics of `classes`
static lethe_status fid_subset(eval_report *r, const real_data *d, const sample_set *s, const int *take,
                               const int *classes, int nc, double *fid, const char *what, int warn_small) {
    feature_stats gen = {0}, real = {0};
    lethe_status st;
    if ((st = feature_stats_init(&gen, r->feature_dim)) || (st = feature_stats_init(&real, r->feature_dim))) goto done;
    for (int i = 0; i < s->n; i++)
        if (take[i]) feature_stats_add(&gen, s->features + (size_t)i * r->feature_dim, 1);
    for (int j = 0; j < nc; j++) feature_stats_merge(&real, &d->real[classes[j]]);
    if (gen.n < 2 || real.n < 2) {
        *fid = NAN;
        warn(r, "FID %s: %ld generated and %ld real images; at least 2 of each are needed", what, gen.n, real.n);
        goto done;
    }
    if (warn_small && gen.n < 2 * r->feature_dim)
        warn(r, "FID %s from %ld samples, fewer than 2x the feature width %d: biased upward; compare only at equal n",
             what, gen.n, r->feature_dim);
    st = frechet_distance(&gen, &real, fid);
done:
    feature_stats_free(&gen);
    feature_stats_free(&real);
    return st;
}

static lethe_status fid_metrics(eval_report *r, eval_model_result *res, const real_data *d, const sample_set *s) {
    const int K = r->K;
    int *take = malloc((size_t)s->n * sizeof(int)), classes[LETHE_MAX_CLASSES], nc = 0;
    if (!take) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st;
    // all samples against all test images of the evaluated classes
    for (int i = 0; i < s->n; i++) take[i] = 1;
    if ((st = fid_subset(r, d, s, take, r->classes, r->n_classes, &res->fid_all, "(all classes)", 1))) goto done;
    // retained: samples of retained classes (unconditional: predicted as retained)
    for (int j = 0; j < r->n_classes; j++)
        if (!r->is_forget[r->classes[j]]) classes[nc++] = r->classes[j];
    for (int i = 0; i < s->n; i++) {
        int cls = res->conditional ? s->requested[i] : argmax_row(s->probs + (size_t)i * K, K);
        take[i] = r->evaluated[cls] && !r->is_forget[cls];
    }
    if (r->n_forget) {
        if ((st = fid_subset(r, d, s, take, classes, nc, &res->fid_retained, "(retained classes)", 1))) goto done;
    } else {
        res->fid_retained = res->fid_all;
    }
    if (res->conditional) {
        char what[64];
        // at the default n, per-class FID is below 2x the feature width: one warning for all
        if (r->opts.per_class < 2 * r->feature_dim)
            warn(r, "per-class FID from %d samples per class, fewer than 2x the feature width %d: biased upward; "
                    "compare only at equal n", r->opts.per_class, r->feature_dim);
        for (int c = 0; c < K && !st; c++) {
            if (!r->evaluated[c]) continue;
            for (int i = 0; i < s->n; i++) take[i] = s->requested[i] == c;
            snprintf(what, sizeof what, "of class %s", r->class_names[c]);
            st = fid_subset(r, d, s, take, &c, 1, &res->fid_class[c], what, 0);
        }
    }
done:
    free(take);
    return st;
}

static lethe_status nll_metrics(eval_report *r, eval_model_result *res, const real_data *d, const lethe_model *m,
                                const lethe_schedule *sched, denoiser_infer *den) {
    const eval_opts *o = &r->opts;
    const int K = r->K, numel = r->channels * r->size * r->size;
    int per = o->nll_images;
    float *host = malloc((size_t)per * numel * sizeof(float));
    float *dev = ops()->alloc((size_t)per * numel * sizeof(float));
    int *lab_ds = malloc((size_t)per * sizeof(int));
    nll_terms *terms = malloc((size_t)per * sizeof(nll_terms));
    double *v = malloc((size_t)per * sizeof(double));
    lethe_cond cond = {0};   // class c for every image (class-conditional models)
    lethe_status st = m->n_classes ? denoiser_cond_alloc(den->net, &cond, per) : LETHE_OK;
    if (st) goto done;
    if (!host || !dev || !lab_ds || !terms || !v) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        goto done;
    }
    int steps = o->nll.timesteps > 0 && o->nll.timesteps < sched->cfg.num_train_timesteps - 1
                    ? o->nll.timesteps : sched->cfg.num_train_timesteps - 1;
    part_progress pp;
    part_start(&pp, "bits/dim", (long)r->n_classes * per * (steps + 1), "eval/s", o->quiet);
    double sf = 0, sr = 0;
    int nf = 0, nr = 0;
    for (int c = 0; c < K && !st; c++) {
        if (!r->evaluated[c]) continue;
        int n = d->n_test[c] < per ? d->n_test[c] : per;
        if (n < 1) continue;
        if (n < per) warn(r, "bits/dim of class %s from %d test images (asked for %d)", r->class_names[c], n, per);
        dataset_batch(&d->test, d->test_idx[c], n, host, lab_ds);
        ops()->to_device(dev, host, (size_t)n * numel * sizeof(float));
        if (m->n_classes) cond_fill_class(&cond, c, n);
        // global index: the test image's index, so the noise is the image's own
        // noise keyed by (class, i): the same x_t for every model compared
        st = nll_bits_per_dim(sched, den, &o->nll, dev, m->n_classes ? &cond : NULL, n, c * EVAL_CLASS_STRIDE, terms,
                              on_units, &pp);
        pp.base += (long)n * (steps + 1);
        if (st) break;
        for (int i = 0; i < n; i++) v[i] = terms[i].bpd;
        mean_stderr(v, n, &res->bpd[c], &res->bpd_se[c]);
        if (r->is_forget[c]) { sf += res->bpd[c]; nf++; }
        else { sr += res->bpd[c]; nr++; }
    }
    progress_finish(&pp.bar, NULL);
    if (nf) res->bpd_forget = sf / nf;
    if (nr) res->bpd_retained = sr / nr;
done:
    free(host);
    ops()->release(dev);
    cond_free(&cond);
    free(lab_ds);
    free(terms);
    free(v);
    return st;
}

// Loss-threshold attack: members = training images of the forget classes (all classes when
// none is forgotten), non-members = as many test images of the same classes.
static lethe_status mia_metrics(eval_report *r, eval_model_result *res, const real_data *d, const lethe_model *m,
                                const lethe_schedule *sched, denoiser_infer *den) {
    const eval_opts *o = &r->opts;
    const int numel = r->channels * r->size * r->size;
    int classes[LETHE_MAX_CLASSES], nc = 0;
    if (r->n_forget) for (int j = 0; j < r->n_forget; j++) classes[nc++] = r->forget[j];
    else for (int j = 0; j < r->n_classes; j++) classes[nc++] = r->classes[j];
    // take images round-robin over the classes, in file order, until mia_images of each side
    int want = o->mia_images, *mem = malloc((size_t)want * sizeof(int)), *non = malloc((size_t)want * sizeof(int));
    int *mem_lab = malloc((size_t)want * sizeof(int)), *non_lab = malloc((size_t)want * sizeof(int));
    float *host = malloc((size_t)want * numel * sizeof(float));
    float *dev = ops()->alloc((size_t)want * numel * sizeof(float));
    double *loss_m = malloc((size_t)want * sizeof(double)), *loss_n = malloc((size_t)want * sizeof(double));
    lethe_status st = LETHE_OK;
    if (!mem || !non || !mem_lab || !non_lab || !host || !dev || !loss_m || !loss_n) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        goto done;
    }
    int nm = 0, nn = 0;
    for (int k = 0; nm < want || nn < want; k++) {
        int progress = 0;
        for (int j = 0; j < nc; j++) {
            int c = classes[j];
            if (nm < want && k < d->n_train[c]) { mem_lab[nm] = c; mem[nm++] = d->train_idx[c][k]; progress = 1; }
            if (nn < want && k < d->n_test[c]) { non_lab[nn] = c; non[nn++] = d->test_idx[c][k]; progress = 1; }
        }
        if (!progress) break;
    }
    int n = nm < nn ? nm : nn;
    if (n < 2) {
        warn(r, "membership inference skipped: the classes have fewer than 2 training or test images");
        goto done;
    }
    part_progress pp;
    part_start(&pp, "membership", 2L * n * o->mia_pairs, "eval/s", o->quiet);
    for (int side = 0; side < 2 && !st; side++) {
        const lethe_dataset *ds = side == 0 ? &d->train : &d->test;
        int *idx = side == 0 ? mem : non, *lab = side == 0 ? mem_lab : non_lab;
        int *ds_lab = malloc((size_t)n * sizeof(int));
        if (!ds_lab) { st = lethe_fail(LETHE_ERR_NOMEM, "out of memory"); break; }
        dataset_batch(ds, idx, n, host, ds_lab);
        free(ds_lab);
        ops()->to_device(dev, host, (size_t)n * numel * sizeof(float));
        pp.base = (long)side * n * o->mia_pairs;
        const lethe_cond cond = cond_class_view(&den->net->cond, lab, n);   // each image's class
        st = denoising_losses(sched, den, o->mia_pairs, o->seed, dev, m->n_classes ? &cond : NULL, n,
                              side == 0 ? loss_m : loss_n, 200, on_units, &pp);
    }
    progress_finish(&pp.bar, NULL);
    if (st) goto done;
    // members have LOWER loss: score = -loss
    for (int i = 0; i < n; i++) { loss_m[i] = -loss_m[i]; loss_n[i] = -loss_n[i]; }
    res->mia_auc = roc_auc(loss_m, n, loss_n, n);
    res->mia_auc_se = roc_auc_stderr(loss_m, n, loss_n, n, res->mia_auc);
    res->mia_members = n;
done:
    free(mem); free(non); free(mem_lab); free(non_lab); free(host); ops()->release(dev); free(loss_m); free(loss_n);
    return st;
}

// grid: the first grid_cols samples of each class (unconditional: rows of grid_cols)
static lethe_status keep_grid(eval_report *r, eval_model_result *res, const sample_set *s) {
    const int cols = r->opts.grid_cols < r->opts.per_class ? r->opts.grid_cols : r->opts.per_class;
    const int rows = r->n_classes;
    res->grid = malloc((size_t)rows * cols * s->numel);
    if (!res->grid) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    res->grid_rows = rows;
    for (int row = 0; row < rows; row++)
        for (int j = 0; j < cols; j++) {
            int src = res->conditional ? row * r->opts.per_class + j : row * cols + j;
            memcpy(res->grid + ((size_t)row * cols + j) * s->numel, s->u8 + (size_t)src * s->numel, (size_t)s->numel);
        }
    return LETHE_OK;
}

// 1 if two dataset names (or folders) name the same dataset: the same last path component.
static int same_dataset(const char *x, const char *y) {
    const char *a = strrchr(x, '/'), *b = strrchr(y, '/');
    return !strcmp(a ? a + 1 : x, b ? b + 1 : y);
}

// Without --data: the real images come from the folder the first model with a lethe.json "data"
// record was trained on (its MIA members are then its own training images), when that model's
// dataset is the classifier's; the other models' records should name the same files.
static lethe_status pick_model_data(eval_report *r, const char *const *dirs, int n) {
    for (int k = 0; k < n; k++) {
        char name[64];
        lethe_data_record rec;
        lethe_status st = model_data_source(dirs[k], name, &rec);
        if (st) return st;
        if (!rec.dir[0] || !same_dataset(name, r->dataset)) continue;
        if (!r->data.dir[0]) {
            r->data = rec;
            snprintf(r->data_model, sizeof r->data_model, "%s", dirs[k]);
        } else if (strcmp(rec.sha256, r->data.sha256)) {
            warn(r, "model %s was trained on other files (%s) than model %s (%s), whose are used: pass --data to choose",
                 dirs[k], rec.dir, r->data_model, r->data.dir);
        }
    }
    return LETHE_OK;
}

static lethe_status check_model(eval_report *r, const lethe_model *m, const char *dir) {
    const lethe_denoiser *c = &m->net;
    if (c->channels != r->channels || c->size != r->size)
        return lethe_fail(LETHE_ERR_ARG, "model %s makes %dx%dx%d images but the classifier judges %dx%dx%d images (%s)", dir,
                          c->channels, c->size, c->size, r->channels, r->size, r->size, r->dataset);
    if (m->n_classes) {
        if (m->n_classes != r->K)
            return lethe_fail(LETHE_ERR_ARG, "model %s has %d classes but the classifier (%s) has %d", dir, m->n_classes,
                              r->dataset, r->K);
        for (int k = 0; k < r->K; k++)
            if (m->class_names[k][0] && strcmp(m->class_names[k], r->class_names[k]) != 0)
                return lethe_fail(LETHE_ERR_ARG, "model %s calls class %d '%s' but the classifier calls it '%s': "
                                  "they were trained on different datasets", dir, k, m->class_names[k], r->class_names[k]);
    }
    if (m->dataset[0]) {
        if (!same_dataset(m->dataset, r->dataset))
            return lethe_fail(LETHE_ERR_ARG, "model %s was trained on %s but the classifier on %s", dir, m->dataset, r->dataset);
    }
    return LETHE_OK;
}

static lethe_status eval_model(eval_report *r, int k, const char *dir, eval_classifier *cls, const real_data *d) {
    eval_model_result *res = &r->models[k];
    const eval_opts *o = &r->opts;
    double t0 = lethe_now();
    lethe_model m;
    lethe_status st = model_load(&m, dir);
    if (st) return st;
    sample_set s = {0};
    lethe_schedule sched = {0};
    denoiser_infer den = {0};
    snprintf(res->dir, sizeof res->dir, "%s", dir);
    snprintf(res->method, sizeof res->method, "%s", m.method);
    res->conditional = m.n_classes > 0;
    res->one_step_t = m.one_step_t;
    if ((st = check_model(r, &m, dir)) || (st = model_weights_sha256(&m, res->hash))) goto done;
    for (int j = 0; j < r->n_forget; j++)
        if (res->conditional && r->forget[j] >= m.n_classes) {
            st = lethe_fail(LETHE_ERR_ARG, "model %s does not know the forget class %d", dir, r->forget[j]);
            goto done;
        }
    if (m.n_trained_classes > 0) {   // classes it never learnt measure nothing about it
        char missing[160] = "";
        int n_missing = 0;
        for (int j = 0; j < r->n_classes; j++) {
            int c = r->classes[j];
            if (r->is_forget[c] || model_trained_on(&m, c)) continue;
            if (n_missing++ < 4)
                snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s", n_missing > 1 ? ", " : "",
                         r->class_names[c]);
        }
        if (n_missing)
            warn(r, "model %s was never trained on %d of the retained classes (%s%s): give --classes to judge it on "
                    "the classes it learnt", dir, n_missing, missing, n_missing > 4 ? ", ..." : "");
    }
    if ((st = schedule_init(&sched, &m.sched))) goto done;
    denoiser_infer_init(&den, &m.net, m.params);
    res->t_load = lethe_now() - t0;
    if (!o->quiet) fprintf(stderr, "lethe eval: model %d/%d: %s\n", k + 1, r->n_models, dir);

    if ((st = generate_all(r, res, &m, &sched, &den, &s))) goto done;
    double t1 = lethe_now();
    if ((st = classify_samples(r, cls, &s))) goto done;
    class_metrics(r, res, &s);
    if ((st = keep_grid(r, res, &s))) goto done;
    res->t_classify = lethe_now() - t1;
    if (!o->no_fid) {
        t1 = lethe_now();
        if ((st = fid_metrics(r, res, d, &s))) goto done;
        res->t_fid = lethe_now() - t1;
    }
    if (m.one_step_t > 0 && (o->nll_images > 0 || o->mia_images > 0) && !o->quiet)
        fprintf(stderr, "lethe eval: %s is a one-step generator: no likelihood, so no bits/dim or loss-based MIA\n", dir);
    if (o->nll_images > 0 && !m.one_step_t) {
        t1 = lethe_now();
        if ((st = nll_metrics(r, res, d, &m, &sched, &den))) goto done;
        res->t_nll = lethe_now() - t1;
    }
    if (o->mia_images > 0 && !m.one_step_t) {
        t1 = lethe_now();
        if ((st = mia_metrics(r, res, d, &m, &sched, &den))) goto done;
        res->t_mia = lethe_now() - t1;
    }
    // PUL against the first model, when both are unconditional (same seeds and noise)
    if (k > 0 && !res->conditional && !r->models[0].conditional)
        for (int j = 0; j < r->n_forget; j++) {
            double before = r->models[0].class_fraction[r->forget[j]], after = res->class_fraction[r->forget[j]];
            res->pul[j] = before > 0 ? 100.0 * (before - after) / before : NAN;
        }
    res->t_total = lethe_now() - t0;
done:
    samples_free(&s);
    denoiser_infer_free(&den);
    schedule_free(&sched);
    model_free(&m);
    return st;
}

// ---- the whole run ---------------------------------------------------------------------------------

static lethe_status check_opts(const eval_opts *o, int n_models) {
    if (n_models < 1 || n_models > EVAL_MAX_MODELS)
        return lethe_fail(LETHE_ERR_ARG, "give 1 to %d models (got %d)", EVAL_MAX_MODELS, n_models);
    if (o->per_class < 1) return lethe_fail(LETHE_ERR_ARG, "--n must be at least 1 sample per class");
    if (o->steps < 1) return lethe_fail(LETHE_ERR_ARG, "--steps must be at least 1");
    if (o->batch < 1) return lethe_fail(LETHE_ERR_ARG, "--batch must be at least 1");
    if (o->nll_images < 0 || o->mia_images < 0 || o->mia_pairs < 1)
        return lethe_fail(LETHE_ERR_ARG, "--nll-images and --mia-images must be >= 0 and --mia-pairs >= 1");
    if (!o->no_fid && o->per_class < 2)
        return lethe_fail(LETHE_ERR_ARG, "FID needs at least 2 samples per class (--n 2 or more, or --no-fid)");
    return LETHE_OK;
}

lethe_status eval_run(eval_report *r, const char *const *model_dirs, int n_models, const char *classifier_dir,
                      const char *forget, const eval_opts *o) {
    memset(r, 0, sizeof *r);
    r->opts = *o;
    lethe_status st = check_opts(o, n_models);
    if (st) return st;
    eval_classifier cls;
    if ((st = eval_classifier_load(&cls, classifier_dir))) return st;
    const classifier_config *cc = &cls.net.cfg;
    r->K = cc->num_classes;
    memcpy(r->class_names, cc->class_names, sizeof r->class_names);
    r->channels = cc->in_channels;
    r->size = cc->sample_size;
    r->feature_dim = classifier_feature_dim(&cls.net);
    snprintf(r->classifier_dir, sizeof r->classifier_dir, "%s", classifier_dir);
    memcpy(r->classifier_hash, cls.hash, sizeof r->classifier_hash);
    r->classifier_test_accuracy = cls.test_accuracy;
    snprintf(r->dataset, sizeof r->dataset, "%s", o->data ? o->data : cc->dataset);
    if (!r->dataset[0]) {
        eval_classifier_free(&cls);
        return lethe_fail(LETHE_ERR_ARG, "the classifier does not name its dataset: give --data");
    }
    const char (*names)[32] = (const char (*)[32])r->class_names;
    int list[LETHE_MAX_CLASSES], n = r->K;
    for (int c = 0; c < r->K; c++) list[c] = c;
    if (o->classes && o->classes[0] && (st = class_list_from_names(names, r->K, o->classes, list, LETHE_MAX_CLASSES, &n)))
        st = lethe_fail_context(st, "--classes");
    for (int j = 0; !st && j < n; j++) r->evaluated[list[j]] = 1;
    for (int c = 0; c < r->K; c++)
        if (r->evaluated[c]) r->classes[r->n_classes++] = c;
    if (!st && forget && forget[0] && !(st = class_list_from_names(names, r->K, forget, r->forget, LETHE_MAX_CLASSES, &n))) {
        r->n_forget = n;
        for (int j = 0; j < n && !st; j++) {
            r->is_forget[r->forget[j]] = 1;
            if (!r->evaluated[r->forget[j]])
                st = lethe_fail(LETHE_ERR_ARG, "forget class '%s' is not among --classes", r->class_names[r->forget[j]]);
        }
        if (!st && r->n_forget == r->n_classes)
            st = lethe_fail(LETHE_ERR_ARG, "every class is a forget class: nothing is retained");
    }
    if (!st && !o->data) st = pick_model_data(r, model_dirs, n_models);
    if (st) { eval_classifier_free(&cls); return st; }
    real_data d;
    for (int k = 0; k < n_models; k++)
        if ((st = result_alloc(&r->models[k], r->K, r->n_forget))) goto out;
    r->n_models = n_models;
    if ((st = real_load(&d, r, &cls))) { real_free(&d, r->K); goto out; }
    if (r->classifier_test_accuracy < 0) warn(r, "the classifier's test accuracy is unknown (no classifier.json)");
    for (int k = 0; k < n_models && !st; k++) st = eval_model(r, k, model_dirs[k], &cls, &d);
    real_free(&d, r->K);
out:
    eval_classifier_free(&cls);
    return st;
}

void eval_report_free(eval_report *r) {
    for (int k = 0; k < EVAL_MAX_MODELS; k++) result_free(&r->models[k]);
    free(r->command);
    r->command = NULL;
}
