/* canvas_eval.c: the answer-set evaluation of text-to-image models (see canvas_eval.h). */
#include "eval/canvas_eval.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"
#include "data/canvas_set.h"
#include "diffusion/cond.h"
#include "diffusion/generate.h"
#include "diffusion/model.h"
#include "eval/classifier_model.h"
#include "eval/clip_model.h"
#include "eval/fid.h"
#include "io/png.h"
#include "ops/ops.h"

#define PROMPT_TEMPLATE 0   // "a {object} in {style} style"

void canvas_eval_opts_default(canvas_eval_opts *o) {
    memset(o, 0, sizeof *o);
    o->seeds = 2;
    o->sampler = SAMPLER_DDIM;
    o->steps = 25;
    o->guidance = 5.0f;
    o->clipped_eps = 1;
    o->batch = 112;
    o->real_per_style = 100;
    o->style_classifier = "models/fashion-canvas-style-classifier";
    o->object_classifier = "models/fashion-canvas-object-classifier";
    o->clip = "models/fashion-canvas-clip";
}

// ---- forget concepts and the metrics ----------------------------------------------------------------

int canvas_forget_involves(const canvas_forget *f, int style, int object) {
    const int v = f->domain == CANVAS_FORGET_STYLE ? style : object;
    for (int j = 0; j < f->n; j++)
        if (f->concepts[j] == v) return 1;
    return 0;
}

lethe_status canvas_forget_parse(canvas_forget *f, canvas_forget_domain domain, const char *list,
                                 const char (*object_names)[32]) {
    memset(f, 0, sizeof *f);
    if (!list || !list[0]) return LETHE_OK;
    f->domain = domain;
    char *copy = strdup(list), *save = NULL;
    if (!copy) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = LETHE_OK;
    const int cap = domain == CANVAS_FORGET_STYLE ? CANVAS_N_STYLES : CANVAS_N_OBJECTS;
    for (char *tok = strtok_r(copy, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        int idx = -1;
        if (domain == CANVAS_FORGET_STYLE) {
            st = canvas_style_index(tok, &idx);
        } else {
            for (int o = 0; o < CANVAS_N_OBJECTS; o++)
                if (!strcasecmp(tok, object_names[o])) idx = o;
            if (idx < 0) {
                char known[400] = "";
                for (int o = 0; o < CANVAS_N_OBJECTS; o++)
                    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", o ? ", " : "", object_names[o]);
                st = lethe_fail(LETHE_ERR_ARG, "unknown object '%s' (the objects: %s)", tok, known);
            }
        }
        if (st) break;
        for (int j = 0; j < f->n; j++)
            if (f->concepts[j] == idx) st = lethe_fail(LETHE_ERR_ARG, "'%s' is given twice", tok);
        if (!st && f->n == cap - 1)
            st = lethe_fail(LETHE_ERR_ARG, "every %s would be forgotten: nothing is retained",
                            domain == CANVAS_FORGET_STYLE ? "style" : "object");
        if (!st) f->concepts[f->n++] = idx;
    }
    free(copy);
    return st;
}

void canvas_metrics_compute(const int *style, const int *object, const int *pred_style, const int *pred_object, int n,
                            const canvas_forget *f, canvas_metrics *m) {
    long ss[CANVAS_N_STYLES] = {0}, so[CANVAS_N_STYLES] = {0}, ns[CANVAS_N_STYLES] = {0};
    long os[CANVAS_N_OBJECTS] = {0}, oo[CANVAS_N_OBJECTS] = {0}, no[CANVAS_N_OBJECTS] = {0};
    long hit_s = 0, hit_o = 0;
    long ret_n = 0, ret_in = 0, ret_cross = 0, fg_n = 0, fg_cross = 0;
    long c_n[CANVAS_N_STYLES] = {0}, c_kept[CANVAS_N_STYLES] = {0};
    const int by_style = f->domain == CANVAS_FORGET_STYLE;
    for (int i = 0; i < n; i++) {
        const int s = style[i], o = object[i], oks = pred_style[i] == s, oko = pred_object[i] == o;
        ns[s]++, ss[s] += oks, so[s] += oko;
        no[o]++, os[o] += oks, oo[o] += oko;
        hit_s += oks, hit_o += oko;
        if (f->domain == CANVAS_FORGET_NONE) continue;
        const int in = by_style ? oks : oko, cross = by_style ? oko : oks;
        if (canvas_forget_involves(f, s, o)) {
            fg_n++, fg_cross += cross;
            for (int j = 0; j < f->n; j++)
                if (f->concepts[j] == (by_style ? s : o)) c_n[j]++, c_kept[j] += in;
        } else {
            ret_n++, ret_in += in, ret_cross += cross;
        }
    }
    m->style_accuracy = n ? (double)hit_s / n : NAN;
    m->object_accuracy = n ? (double)hit_o / n : NAN;
    for (int s = 0; s < CANVAS_N_STYLES; s++) {
        m->style_acc_by_style[s] = ns[s] ? (double)ss[s] / ns[s] : NAN;
        m->object_acc_by_style[s] = ns[s] ? (double)so[s] / ns[s] : NAN;
        m->ua_concept[s] = NAN;
    }
    for (int o = 0; o < CANVAS_N_OBJECTS; o++) {
        m->style_acc_by_object[o] = no[o] ? (double)os[o] / no[o] : NAN;
        m->object_acc_by_object[o] = no[o] ? (double)oo[o] / no[o] : NAN;
    }
    m->ua = m->ira = m->cra = m->forget_cross_accuracy = NAN;
    if (f->domain == CANVAS_FORGET_NONE) return;
    double ua = 0;
    int k = 0;
    for (int j = 0; j < f->n; j++)
        if (c_n[j]) {
            m->ua_concept[j] = 1.0 - (double)c_kept[j] / c_n[j];
            ua += m->ua_concept[j];
            k++;
        }
    if (k) m->ua = ua / k;
    if (ret_n) m->ira = (double)ret_in / ret_n, m->cra = (double)ret_cross / ret_n;
    if (fg_n) m->forget_cross_accuracy = (double)fg_cross / fg_n;
}

// ---- helpers ----------------------------------------------------------------------------------------

static void warn(canvas_eval_report *r, const char *fmt, ...) {
    if (r->n_warnings == CANVAS_EVAL_MAX_WARNINGS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->warnings[r->n_warnings], sizeof r->warnings[0], fmt, ap);
    va_end(ap);
    for (int i = 0; i < r->n_warnings; i++)
        if (!strcmp(r->warnings[i], r->warnings[r->n_warnings])) return;
    if (!r->opts.quiet) fprintf(stderr, "lethe eval: warning: %s\n", r->warnings[r->n_warnings]);
    r->n_warnings++;
}

static void answer_prompt(const canvas_eval_report *r, int p, char *out, size_t cap) {
    canvas_prompt(PROMPT_TEMPLATE, r->object_names[p % CANVAS_N_OBJECTS], canvas_style_name(p / CANVAS_N_OBJECTS), out,
                  cap);
}

// The judges: the style classifier must know the 56 styles by name, the object classifier the objects.
static lethe_status load_judges(canvas_eval_report *r, eval_classifier *sty, eval_classifier *obj) {
    const canvas_eval_opts *o = &r->opts;
    lethe_status st = eval_classifier_load(sty, o->style_classifier);
    if (st) return lethe_fail_context(st, "the style judge (--style-classifier)");
    if ((st = eval_classifier_load(obj, o->object_classifier))) {
        eval_classifier_free(sty);
        return lethe_fail_context(st, "the object judge (--object-classifier; `lethe classifier --data fashion-canvas-object`)");
    }
    const classifier_config *cs = &sty->net.cfg, *co = &obj->net.cfg;
    if (cs->num_classes != CANVAS_N_STYLES || cs->in_channels != CANVAS_CHANNELS || cs->sample_size != CANVAS_SIZE)
        st = lethe_fail(LETHE_ERR_ARG, "%s is not a Fashion-Canvas style judge (%d classes of %dx%dx%d images; want %d "
                        "styles of 3x32x32)", o->style_classifier, cs->num_classes, cs->in_channels, cs->sample_size,
                        cs->sample_size, CANVAS_N_STYLES);
    for (int s = 0; !st && s < CANVAS_N_STYLES; s++)
        if (strcmp(cs->class_names[s], canvas_style_name(s)))
            st = lethe_fail(LETHE_ERR_ARG, "%s calls class %d '%s', but style %d is '%s': not this benchmark's style judge",
                            o->style_classifier, s, cs->class_names[s], s, canvas_style_name(s));
    if (!st && (co->num_classes != CANVAS_N_OBJECTS || co->in_channels != CANVAS_CHANNELS || co->sample_size != CANVAS_SIZE))
        st = lethe_fail(LETHE_ERR_ARG, "%s is not a Fashion-Canvas object judge (%d classes of %dx%dx%d images; want %d "
                        "objects of 3x32x32)", o->object_classifier, co->num_classes, co->in_channels, co->sample_size,
                        co->sample_size, CANVAS_N_OBJECTS);
    if (st) {
        eval_classifier_free(sty);
        eval_classifier_free(obj);
        return st;
    }
    for (int k = 0; k < CANVAS_N_OBJECTS; k++) snprintf(r->object_names[k], 32, "%s", co->class_names[k]);
    memcpy(r->style_classifier_hash, sty->hash, 65);
    memcpy(r->object_classifier_hash, obj->hash, 65);
    r->style_classifier_accuracy = sty->test_accuracy;
    r->object_classifier_accuracy = obj->test_accuracy;
    return LETHE_OK;
}

// ---- the real images: R test images in every style -------------------------------------------------

typedef struct {
    feature_stats style[CANVAS_N_STYLES];     // style-judge features of the real images in style s
    feature_stats object[CANVAS_N_OBJECTS];   // object-judge features of the real images of object o (all styles)
    feature_stats object_by_style[CANVAS_N_STYLES];   // object-judge features in style s (retained FID)
    int ready;
} real_stats;

static void real_free(real_stats *d) {
    if (!d->ready) return;
    for (int s = 0; s < CANVAS_N_STYLES; s++) feature_stats_free(&d->style[s]), feature_stats_free(&d->object_by_style[s]);
    for (int o = 0; o < CANVAS_N_OBJECTS; o++) feature_stats_free(&d->object[o]);
}

static lethe_status real_load(canvas_eval_report *r, real_stats *d, eval_classifier *sty, eval_classifier *obj) {
    memset(d, 0, sizeof *d);
    const int R = r->opts.real_per_style;
    if (R <= 0) return LETHE_OK;
    double t0 = lethe_now();
    canvas_set set;
    lethe_status st = canvas_set_load(&set, "fashion-mnist", LETHE_SPLIT_TEST, 0);
    if (st) return lethe_fail_context(st, "the real images of the FID");
    const int fs = classifier_feature_dim(&sty->net), fo = classifier_feature_dim(&obj->net);
    d->ready = 1;
    for (int s = 0; !st && s < CANVAS_N_STYLES; s++)
        if ((st = feature_stats_init(&d->style[s], fs)) || (st = feature_stats_init(&d->object_by_style[s], fo))) break;
    for (int o = 0; !st && o < CANVAS_N_OBJECTS; o++) st = feature_stats_init(&d->object[o], fo);
    const int n = R < set.objects.n ? R : set.objects.n;
    size_t *items = malloc((size_t)n * sizeof(size_t));
    int *objects = malloc((size_t)n * sizeof(int));
    float *x = malloc((size_t)n * CANVAS_NUMEL * sizeof(float)), *ffs = malloc((size_t)n * fs * sizeof(float));
    float *ffo = malloc((size_t)n * fo * sizeof(float)), *xd = ops()->alloc((size_t)n * CANVAS_NUMEL * sizeof(float));
    if (!st && (!items || !objects || !x || !ffs || !ffo || !xd)) st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    for (int e = 0; !st && e < r->n_styles; e++) {   // the same n test images (keys = indices) in style s
        const int s = r->styles[e];
        for (int i = 0; i < n; i++) items[i] = (size_t)i * CANVAS_N_STYLES + (size_t)s;
        canvas_set_batch(&set, items, n, x, NULL, objects, NULL, 0);
        ops()->to_device(xd, x, (size_t)n * CANVAS_NUMEL * sizeof(float));
        if ((st = eval_classifier_predict(sty, xd, n, NULL, ffs, 256)) ||
            (st = eval_classifier_predict(obj, xd, n, NULL, ffo, 256)))
            break;
        feature_stats_add(&d->style[s], ffs, n);
        feature_stats_add(&d->object_by_style[s], ffo, n);
        for (int i = 0; i < n; i++) feature_stats_add(&d->object[objects[i]], ffo + (size_t)i * fo, 1);
    }
    free(items), free(objects), free(x), free(ffs), free(ffo);
    ops()->release(xd);
    canvas_set_free(&set);
    r->t_real = lethe_now() - t0;
    return st;
}

// ---- one model ---------------------------------------------------------------------------------------

// Prompt q of the evaluated ones (q < n_styles * 10) as an answer-set prompt index.
static int eval_prompt(const canvas_eval_report *r, int q) {
    return r->styles[q / CANVAS_N_OBJECTS] * CANVAS_N_OBJECTS + q % CANVAS_N_OBJECTS;
}

typedef struct {
    int n;                 // P * seeds, P = the evaluated prompts; image i = seed i / P, prompt eval_prompt(i % P)
    uint8_t *u8;
    int *style, *object, *pred_style, *pred_object;
    float *feat_style, *feat_object, *clip;
} answer_set;

static void answers_free(answer_set *a) {
    free(a->u8), free(a->style), free(a->object), free(a->pred_style), free(a->pred_object);
    free(a->feat_style), free(a->feat_object), free(a->clip);
}

typedef struct {
    lethe_progress *bar;
    long base;
} step_progress;

static void on_step(void *user, int step, int total) {
    step_progress *p = user;
    (void)total;
    progress_update(p->bar, p->base + step, 1.0, NULL);
}

static lethe_status generate(canvas_eval_report *r, canvas_eval_model *res, lethe_model *m, answer_set *a) {
    const canvas_eval_opts *o = &r->opts;
    const size_t numel = CANVAS_NUMEL, row = (size_t)m->text->seq * m->text->width;
    const int P = r->n_styles * CANVAS_N_OBJECTS, B = o->batch < P ? o->batch : P;
    char (*prompts)[CANVAS_PROMPT_MAX] = malloc((size_t)P * CANVAS_PROMPT_MAX);
    float *enc = ops()->alloc((size_t)P * row * sizeof(float)), *x = ops()->alloc((size_t)B * numel * sizeof(float));
    float *x_T = ops()->alloc(numel * sizeof(float));
    float *host = malloc((size_t)B * numel * sizeof(float));
    int *labels = malloc((size_t)B * sizeof(int));
    lethe_cond cond = {0};
    lethe_schedule sched = {0};
    denoiser_infer den = {0};
    lethe_status st = LETHE_OK;
    if (!prompts || !enc || !x || !x_T || !host || !labels) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int q = 0; q < P; q++) answer_prompt(r, eval_prompt(r, q), prompts[q], CANVAS_PROMPT_MAX);
    if ((st = text_cond_encode(m->text, &prompts[0][0], CANVAS_PROMPT_MAX, P, enc))) {
        st = lethe_fail_context(st, "model %s cannot read the answer set's prompts", res->dir);
        goto done;
    }
    lethe_cond_spec spec = m->net.cond;   // evaluated prompt q is "class" q
    spec.class_tokens = enc;
    spec.n_classes = P;
    if ((st = cond_alloc(&cond, &spec, B)) || (st = schedule_init(&sched, &m->sched))) goto done;
    denoiser_infer_init(&den, &m->net, m->params);
    sampler_opts so = {.kind = o->sampler, .steps = o->steps, .eta = o->eta, .guidance = o->guidance, .seed = o->seed,
                       .clipped_eps = o->clipped_eps};
    const int chunks = (P + B - 1) / B;
    lethe_progress bar;
    progress_start(&bar, "sample", (long)o->seeds * chunks * o->steps, 0, "step/s");
    bar.enabled = bar.enabled && !o->quiet;
    double t0 = lethe_now();
    for (int j = 0; j < o->seeds && !st; j++) {
        sampler_initial_noise(x_T, 1, numel, o->seed, j);   // x_T number j, for every prompt
        for (int c = 0; c < chunks && !st; c++) {
            const int p0 = c * B, cnt = P - p0 < B ? P - p0 : B;
            for (int i = 0; i < cnt; i++) {
                ops()->copy(x + (size_t)i * numel, x_T, numel);
                labels[i] = p0 + i;
            }
            cond_set_classes(&cond, labels, cnt);
            so.first_index = j * P + p0;
            step_progress sp = {&bar, ((long)j * chunks + c) * o->steps};
            if ((st = sampler_run(&sched, &so, &den, x, &cond, cnt, on_step, &sp))) break;
            ops()->to_host(host, x, (size_t)cnt * numel * sizeof(float));
            images_to_u8(a->u8 + ((size_t)j * P + p0) * numel, host, (size_t)cnt * numel);
        }
    }
    res->t_sample = lethe_now() - t0;
    res->images_per_s = res->t_sample > 0 ? a->n / res->t_sample : 0;
    char extra[64];
    snprintf(extra, sizeof extra, "%.1f img/s", res->images_per_s);
    progress_finish(&bar, extra);
done:
    denoiser_infer_free(&den);
    schedule_free(&sched);
    cond_free(&cond);
    free(prompts), free(host), free(labels);
    ops()->release(enc);
    ops()->release(x);
    ops()->release(x_T);
    return st;
}

static lethe_status judge(canvas_eval_report *r, answer_set *a, eval_classifier *sty, eval_classifier *obj,
                          clip_model *clip) {
    const int n = a->n, fs = classifier_feature_dim(&sty->net), fo = classifier_feature_dim(&obj->net);
    float *ps = malloc((size_t)n * CANVAS_N_STYLES * sizeof(float)), *po = malloc((size_t)n * CANVAS_N_OBJECTS * sizeof(float));
    float *host = malloc((size_t)n * CANVAS_NUMEL * sizeof(float)), *dev = ops()->alloc((size_t)n * CANVAS_NUMEL * sizeof(float));
    char (*prompts)[CANVAS_PROMPT_MAX] = clip ? malloc((size_t)n * CANVAS_PROMPT_MAX) : NULL;
    a->feat_style = malloc((size_t)n * fs * sizeof(float));
    a->feat_object = malloc((size_t)n * fo * sizeof(float));
    a->clip = clip ? malloc((size_t)n * sizeof(float)) : NULL;
    lethe_status st = LETHE_OK;
    if (!ps || !po || !host || !dev || !a->feat_style || !a->feat_object || (clip && (!prompts || !a->clip))) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d images' judgements", n);
        goto done;
    }
    u8_to_unit_range(host, a->u8, (size_t)n * CANVAS_NUMEL);
    ops()->to_device(dev, host, (size_t)n * CANVAS_NUMEL * sizeof(float));
    if ((st = eval_classifier_predict(sty, dev, n, ps, a->feat_style, 256)) ||
        (st = eval_classifier_predict(obj, dev, n, po, a->feat_object, 256)))
        goto done;
    for (int i = 0; i < n; i++) {
        a->pred_style[i] = argmax_row(ps + (size_t)i * CANVAS_N_STYLES, CANVAS_N_STYLES);
        a->pred_object[i] = argmax_row(po + (size_t)i * CANVAS_N_OBJECTS, CANVAS_N_OBJECTS);
    }
    if (clip) {
        const int P = r->n_styles * CANVAS_N_OBJECTS;
        for (int i = 0; i < n; i++) answer_prompt(r, eval_prompt(r, i % P), prompts[i], CANVAS_PROMPT_MAX);
        st = clip_score(clip, dev, &prompts[0][0], CANVAS_PROMPT_MAX, n, a->clip);
    }
done:
    free(ps), free(po), free(host), free(prompts);
    ops()->release(dev);
    return st;
}

static lethe_status fid_of(canvas_eval_report *r, const float *feat, int dim, const int *take, int n,
                           const feature_stats *const *real, int n_real, double *out, const char *what) {
    feature_stats gen = {0}, ref = {0};
    lethe_status st;
    *out = NAN;
    if ((st = feature_stats_init(&gen, dim)) || (st = feature_stats_init(&ref, dim))) goto done;
    for (int i = 0; i < n; i++)
        if (take[i]) feature_stats_add(&gen, feat + (size_t)i * dim, 1);
    for (int k = 0; k < n_real; k++) feature_stats_merge(&ref, real[k]);
    if (gen.n < 2 || ref.n < 2) {
        warn(r, "FID %s: %ld generated and %ld real images; at least 2 of each are needed", what, gen.n, ref.n);
        goto done;
    }
    st = frechet_distance(&gen, &ref, out);
done:
    feature_stats_free(&gen);
    feature_stats_free(&ref);
    return st;
}

static lethe_status fid_metrics(canvas_eval_report *r, canvas_eval_model *res, const answer_set *a,
                                const real_stats *d, int fs, int fo) {
    const canvas_forget *f = &r->forget;
    int *take = malloc((size_t)a->n * sizeof(int));
    const feature_stats *real[CANVAS_N_STYLES];
    if (!take) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = LETHE_OK;
    char what[80];
    for (int e = 0; e < r->n_styles && !st; e++) {
        const int s = r->styles[e];
        for (int i = 0; i < a->n; i++) take[i] = a->style[i] == s;
        real[0] = &d->style[s];
        snprintf(what, sizeof what, "of style %s", canvas_style_name(s));
        st = fid_of(r, a->feat_style, fs, take, a->n, real, 1, &res->fid_by_style[s], what);
    }
    for (int o = 0; o < CANVAS_N_OBJECTS && !st; o++) {
        for (int i = 0; i < a->n; i++) take[i] = a->object[i] == o;
        real[0] = &d->object[o];
        snprintf(what, sizeof what, "of object %s", r->object_names[o]);
        st = fid_of(r, a->feat_object, fo, take, a->n, real, 1, &res->fid_by_object[o], what);
    }
    // overall and retained: every image (the retained ones) against the real images of every
    // style (of the retained styles; an object target keeps every style's real images for the
    // style features and drops its object's for the object features)
    for (int pass = 0; pass < 2 && !st; pass++) {
        if (pass == 1 && f->domain == CANVAS_FORGET_NONE) {
            res->fid_style_retained = res->fid_style, res->fid_object_retained = res->fid_object;
            break;
        }
        const feature_stats *robj[CANVAS_N_STYLES];
        int nr = 0, no = 0;
        for (int i = 0; i < a->n; i++) take[i] = pass == 0 || !canvas_forget_involves(f, a->style[i], a->object[i]);
        for (int e = 0; e < r->n_styles; e++) {
            const int s = r->styles[e];
            if (pass == 0 || f->domain != CANVAS_FORGET_STYLE || !canvas_forget_involves(f, s, -1)) {
                real[nr++] = &d->style[s];
                if (pass == 0 || f->domain == CANVAS_FORGET_STYLE) robj[no++] = &d->object_by_style[s];
            }
        }
        if (pass == 1 && f->domain == CANVAS_FORGET_OBJECT)   // d->object: the evaluated styles' real images
            for (int o = 0; o < CANVAS_N_OBJECTS; o++)
                if (!canvas_forget_involves(f, -1, o)) robj[no++] = &d->object[o];
        if ((st = fid_of(r, a->feat_style, fs, take, a->n, real, nr, pass ? &res->fid_style_retained : &res->fid_style,
                         pass ? "(style features, retained)" : "(style features)")))
            break;
        st = fid_of(r, a->feat_object, fo, take, a->n, robj, no, pass ? &res->fid_object_retained : &res->fid_object,
                    pass ? "(object features, retained)" : "(object features)");
    }
    free(take);
    return st;
}

static void clip_metrics(const canvas_eval_report *r, canvas_eval_model *res, const answer_set *a) {
    double sum = 0, sr = 0, sf = 0, ss[CANVAS_N_STYLES] = {0};
    long nr = 0, nf = 0, ns[CANVAS_N_STYLES] = {0};
    for (int i = 0; i < a->n; i++) {
        const double v = a->clip[i];
        sum += v;
        ss[a->style[i]] += v, ns[a->style[i]]++;
        if (r->forget.domain != CANVAS_FORGET_NONE && canvas_forget_involves(&r->forget, a->style[i], a->object[i]))
            sf += v, nf++;
        else
            sr += v, nr++;
    }
    res->clip_score = a->n ? sum / a->n : NAN;
    res->clip_score_retained = nr ? sr / nr : NAN;
    res->clip_score_forget = nf ? sf / nf : NAN;
    for (int s = 0; s < CANVAS_N_STYLES; s++) res->clip_by_style[s] = ns[s] ? ss[s] / ns[s] : NAN;
}

static lethe_status eval_model(canvas_eval_report *r, int k, const char *dir, eval_classifier *sty,
                               eval_classifier *obj, clip_model *clip, const real_stats *d) {
    canvas_eval_model *res = &r->models[k];
    const canvas_eval_opts *o = &r->opts;
    double t0 = lethe_now();
    for (int s = 0; s < CANVAS_N_STYLES; s++) res->fid_by_style[s] = res->clip_by_style[s] = NAN;
    for (int c = 0; c < CANVAS_N_OBJECTS; c++) res->fid_by_object[c] = NAN;
    res->fid_style = res->fid_style_retained = res->fid_object = res->fid_object_retained = NAN;
    res->clip_score = res->clip_score_retained = res->clip_score_forget = NAN;
    snprintf(res->dir, sizeof res->dir, "%s", dir);
    lethe_model m;
    lethe_status st = model_load(&m, dir);
    if (st) return st;
    answer_set a = {0};
    snprintf(res->method, sizeof res->method, "%s", m.method);
    if (!model_is_text(&m)) {
        st = lethe_fail(LETHE_ERR_ARG, "model %s is not a text-to-image model: evaluate it with --classifier (and the "
                        "other models of the comparison must be text-to-image models too)", dir);
        goto done;
    }
    if (m.net.channels != CANVAS_CHANNELS || m.net.size != CANVAS_SIZE) {
        st = lethe_fail(LETHE_ERR_ARG, "model %s makes %dx%dx%d images; the Fashion-Canvas judges take 3x32x32", dir,
                        m.net.channels, m.net.size, m.net.size);
        goto done;
    }
    if ((st = model_weights_sha256(&m, res->hash))) goto done;
    res->t_load = lethe_now() - t0;
    if (!o->quiet) fprintf(stderr, "lethe eval: model %d/%d: %s\n", k + 1, r->n_models, dir);
    const int P = r->n_styles * CANVAS_N_OBJECTS;
    a.n = P * o->seeds;
    a.u8 = malloc((size_t)a.n * CANVAS_NUMEL);
    a.style = malloc((size_t)a.n * sizeof(int)), a.object = malloc((size_t)a.n * sizeof(int));
    a.pred_style = malloc((size_t)a.n * sizeof(int)), a.pred_object = malloc((size_t)a.n * sizeof(int));
    if (!a.u8 || !a.style || !a.object || !a.pred_style || !a.pred_object) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory for %d images", a.n);
        goto done;
    }
    for (int i = 0; i < a.n; i++) {
        a.style[i] = eval_prompt(r, i % P) / CANVAS_N_OBJECTS;
        a.object[i] = i % CANVAS_N_OBJECTS;
    }
    if ((st = generate(r, res, &m, &a))) goto done;
    double t1 = lethe_now();
    if ((st = judge(r, &a, sty, obj, clip))) goto done;
    canvas_metrics_compute(a.style, a.object, a.pred_style, a.pred_object, a.n, &r->forget, &res->m);
    if (clip) clip_metrics(r, res, &a);
    if (d->ready &&
        (st = fid_metrics(r, res, &a, d, classifier_feature_dim(&sty->net), classifier_feature_dim(&obj->net))))
        goto done;
    res->t_judge = lethe_now() - t1;
    if (!(res->grid = calloc((size_t)CANVAS_N_PROMPTS, CANVAS_NUMEL))) {
        st = lethe_fail(LETHE_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int q = 0; q < P; q++)   // seed 0, at its place in the answer set
        memcpy(res->grid + (size_t)eval_prompt(r, q) * CANVAS_NUMEL, a.u8 + (size_t)q * CANVAS_NUMEL, CANVAS_NUMEL);
    res->t_total = lethe_now() - t0;
done:
    answers_free(&a);
    model_free(&m);
    return st;
}

// ---- the whole run -----------------------------------------------------------------------------------

// "zebra,candy" -> evaluated[s] = 1 for each; unknown names list the styles.
static lethe_status parse_styles(const char *list, int *evaluated) {
    char *copy = strdup(list), *save = NULL;
    if (!copy) return lethe_fail(LETHE_ERR_NOMEM, "out of memory");
    lethe_status st = LETHE_OK;
    for (char *tok = strtok_r(copy, ",", &save); tok && !st; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        int s = -1;
        if (!(st = canvas_style_index(tok, &s)) && evaluated[s]) st = lethe_fail(LETHE_ERR_ARG, "'%s' is given twice", tok);
        if (!st) evaluated[s] = 1;
    }
    free(copy);
    return st;
}

lethe_status canvas_eval_run(canvas_eval_report *r, const char *const *model_dirs, int n_models,
                             const char *forget_styles, const char *forget_objects, const canvas_eval_opts *o) {
    memset(r, 0, sizeof *r);
    r->opts = *o;
    if (n_models < 1 || n_models > CANVAS_EVAL_MAX_MODELS)
        return lethe_fail(LETHE_ERR_ARG, "give 1 to %d models (got %d)", CANVAS_EVAL_MAX_MODELS, n_models);
    if (o->seeds < 1) return lethe_fail(LETHE_ERR_ARG, "--n must be at least 1 image per prompt");
    if (o->steps < 1 || o->batch < 1) return lethe_fail(LETHE_ERR_ARG, "--steps and --batch must be at least 1");
    if (o->real_per_style < 0) return lethe_fail(LETHE_ERR_ARG, "--real-per-style must be >= 0 (0: no FID)");
    if (o->real_per_style == 1) return lethe_fail(LETHE_ERR_ARG, "--real-per-style: FID needs at least 2 real images");
    const int fs_given = forget_styles && forget_styles[0], fo_given = forget_objects && forget_objects[0];
    if (fs_given && fo_given)
        return lethe_fail(LETHE_ERR_ARG, "give --forget-style or --forget-object, not both: UA, IRA and CRA are "
                          "defined for one domain at a time (UnlearnCanvas)");
    lethe_status st = LETHE_OK;
    if (o->styles && o->styles[0]) {
        if ((st = parse_styles(o->styles, r->evaluated))) return lethe_fail_context(st, "--styles");
    } else {
        for (int s = 0; s < CANVAS_N_STYLES; s++) r->evaluated[s] = 1;
    }
    for (int s = 0; s < CANVAS_N_STYLES; s++)
        if (r->evaluated[s]) r->styles[r->n_styles++] = s;
    eval_classifier sty, obj;
    if ((st = load_judges(r, &sty, &obj))) return st;
    const char (*names)[32] = (const char (*)[32])r->object_names;
    if (fs_given) st = canvas_forget_parse(&r->forget, CANVAS_FORGET_STYLE, forget_styles, names);
    else if (fo_given) st = canvas_forget_parse(&r->forget, CANVAS_FORGET_OBJECT, forget_objects, names);
    if (st) st = lethe_fail_context(st, fs_given ? "--forget-style" : "--forget-object");
    for (int j = 0; !st && fs_given && j < r->forget.n; j++)
        if (!r->evaluated[r->forget.concepts[j]])
            st = lethe_fail(LETHE_ERR_ARG, "--forget-style %s is not among --styles: its images would not be made",
                            canvas_style_name(r->forget.concepts[j]));
    clip_model clip;
    int have_clip = 0;
    if (!st && !o->no_clip) {
        if ((st = clip_model_load(&clip, o->clip))) st = lethe_fail_context(st, "the CLIP score's model (--clip; --no-clip to skip)");
        else have_clip = 1;
    }
    real_stats d = {0};
    if (!st) st = real_load(r, &d, &sty, &obj);
    if (!st && o->real_per_style > 0 && o->seeds * CANVAS_N_OBJECTS < 2 * classifier_feature_dim(&sty.net))
        warn(r, "per-style FID from %d images per style, fewer than 2x the feature width %d: biased upward; compare "
                "only at equal --n", o->seeds * CANVAS_N_OBJECTS, classifier_feature_dim(&sty.net));
    r->n_models = n_models;
    for (int k = 0; k < n_models && !st; k++)
        st = eval_model(r, k, model_dirs[k], &sty, &obj, have_clip ? &clip : NULL, &d);
    real_free(&d);
    if (have_clip) clip_model_free(&clip);
    eval_classifier_free(&sty);
    eval_classifier_free(&obj);
    return st;
}

void canvas_eval_report_free(canvas_eval_report *r) {
    for (int k = 0; k < CANVAS_EVAL_MAX_MODELS; k++) free(r->models[k].grid), r->models[k].grid = NULL;
    free(r->command);
    r->command = NULL;
}
