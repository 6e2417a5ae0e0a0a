/* schedule.c: betas, cumulative alphas and timestep spacing (see schedule.h). */
#include "diffusion/schedule.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/numfmt.h"
#include "core/rng.h"
#include "ops/ops.h"

void schedule_config_default(schedule_config *c) {
    *c = (schedule_config){.num_train_timesteps = 1000, .beta_start = 1e-4f, .beta_end = 0.02f,
                           .schedule = BETA_LINEAR, .clip_sample = 1, .clip_sample_range = 1.0f,
                           .spacing = SPACING_LEADING, .steps_offset = 0, .set_alpha_to_one = 1};
}

static double abar_cos(double s) {
    double v = cos((s + 0.008) / 1.008 * M_PI / 2);
    return v * v;
}

lethe_status schedule_init(lethe_schedule *s, const schedule_config *c) {
    int T = c->num_train_timesteps;
    if (T < 2 || T > 100000) return lethe_fail(LETHE_ERR_ARG, "num_train_timesteps %d out of range [2, 100000]", T);
    memset(s, 0, sizeof *s);
    s->cfg = *c;
    s->betas = malloc((size_t)T * sizeof(float));
    s->alphas_cumprod = malloc((size_t)T * sizeof(float));
    if (!s->betas || !s->alphas_cumprod) {
        schedule_free(s);
        return lethe_fail(LETHE_ERR_NOMEM, "out of memory for the noise schedule");
    }
    for (int i = 0; i < T; i++) {
        double f = (double)i / (T - 1), beta;
        switch (c->schedule) {
        case BETA_LINEAR: beta = c->beta_start + f * (c->beta_end - c->beta_start); break;
        case BETA_SCALED_LINEAR: {
            double r = sqrt(c->beta_start) + f * (sqrt(c->beta_end) - sqrt(c->beta_start));
            beta = r * r;
            break;
        }
        default: beta = fmin(1.0 - abar_cos((double)(i + 1) / T) / abar_cos((double)i / T), 0.999); break;
        }
        s->betas[i] = (float)beta;
    }
    // diffusers: alphas = 1 - betas (float32), alphas_cumprod = cumprod in float32.
    float acc = 1.0f;
    for (int i = 0; i < T; i++) {
        acc *= 1.0f - s->betas[i];
        s->alphas_cumprod[i] = acc;
    }
    return LETHE_OK;
}

void schedule_free(lethe_schedule *s) {
    free(s->betas);
    free(s->alphas_cumprod);
    s->betas = s->alphas_cumprod = NULL;
}

void schedule_noise_coefs(const lethe_schedule *s, int t, float *ca, float *cb) {
    const double abar = s->alphas_cumprod[t];
    *ca = (float)sqrt(abar);
    *cb = (float)sqrt(1.0 - abar);
}

void schedule_elbo_weights(const lethe_schedule *s, double *w) {
    const int T = s->cfg.num_train_timesteps;
    double sum = 0;
    for (int t = 0; t < T; t++) {
        const double beta = s->betas[t];
        sum += w[t] = beta / (2.0 * (1.0 - beta) * (1.0 - (double)s->alphas_cumprod[t]));
    }
    for (int t = 0; t < T; t++) w[t] *= (double)T / sum;
}

// Rows per axpbz_rows call: the coefficients live on the stack (each row is independent, so
// the split does not change a value).
#define NOISE_ROWS 64

void schedule_add_noise_at(const lethe_schedule *s, float *xt, const float *x0, const float *eps, const float *t,
                           int n, size_t numel) {
    float ca[NOISE_ROWS], cb[NOISE_ROWS];
    for (int r0 = 0; r0 < n; r0 += NOISE_ROWS) {
        const int m = n - r0 < NOISE_ROWS ? n - r0 : NOISE_ROWS;
        for (int i = 0; i < m; i++) schedule_noise_coefs(s, (int)t[r0 + i], &ca[i], &cb[i]);
        const size_t off = (size_t)r0 * numel;
        ops()->axpbz_rows(xt + off, ca, x0 + off, cb, eps + off, m, numel);
    }
}

void schedule_add_noise(const lethe_schedule *s, float *xt, float *t, float *eps, const float *x0, int n, size_t numel,
                        int t_lo, int t_hi, uint64_t seed, uint64_t t_stream, uint64_t noise_stream) {
    for (int i = 0; i < n; i++) t[i] = (float)(t_lo + (int)lethe_rand_below(seed, t_stream, (uint64_t)i, (uint32_t)(t_hi - t_lo)));
    ops()->randn(eps, (size_t)n * numel, seed, noise_stream, 0);
    schedule_add_noise_at(s, xt, x0, eps, t, n, numel);
}

lethe_status schedule_timesteps(const lethe_schedule *s, int n, int *out) {
    int T = s->cfg.num_train_timesteps;
    if (n < 1 || n > T) return lethe_fail(LETHE_ERR_ARG, "number of sampling steps %d must be in [1, %d]", n, T);
    for (int m = 0; m < n; m++) {
        int t;
        switch (s->cfg.spacing) {
        case SPACING_LEADING: t = (n - 1 - m) * (T / n) + s->cfg.steps_offset; break;
        case SPACING_TRAILING: t = (int)lround((double)T - m * ((double)T / n)) - 1; break;
        default: t = (int)lround((double)(T - 1) * (n - 1 - m) / (n > 1 ? n - 1 : 1)); break;
        }
        if (t > T - 1) t = T - 1;
        if (t < 0) t = 0;
        out[m] = t;
    }
    return LETHE_OK;
}

static const char *spacing_name(timestep_spacing s) {
    return s == SPACING_TRAILING ? "trailing" : s == SPACING_LINSPACE ? "linspace" : "leading";
}

char *schedule_config_to_json(const schedule_config *c, const char *class_name) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "_class_name", class_name);
    cJSON_AddStringToObject(r, "_diffusers_version", "0.30.0");
    cJSON_AddNumberToObject(r, "beta_end", float_as_decimal(c->beta_end));
    cJSON_AddStringToObject(r, "beta_schedule", c->schedule == BETA_LINEAR ? "linear"
                                                : c->schedule == BETA_SCALED_LINEAR ? "scaled_linear" : "squaredcos_cap_v2");
    cJSON_AddNumberToObject(r, "beta_start", float_as_decimal(c->beta_start));
    cJSON_AddBoolToObject(r, "clip_sample", c->clip_sample);
    cJSON_AddNumberToObject(r, "clip_sample_range", float_as_decimal(c->clip_sample_range));
    cJSON_AddNumberToObject(r, "dynamic_thresholding_ratio", 0.995);
    cJSON_AddNumberToObject(r, "num_train_timesteps", c->num_train_timesteps);
    cJSON_AddStringToObject(r, "prediction_type", "epsilon");
    cJSON_AddBoolToObject(r, "rescale_betas_zero_snr", 0);
    cJSON_AddNumberToObject(r, "sample_max_value", 1.0);
    if (strcmp(class_name, "DDIMScheduler") == 0) cJSON_AddBoolToObject(r, "set_alpha_to_one", c->set_alpha_to_one);
    cJSON_AddNumberToObject(r, "steps_offset", c->steps_offset);
    cJSON_AddBoolToObject(r, "thresholding", 0);
    cJSON_AddStringToObject(r, "timestep_spacing", spacing_name(c->spacing));
    cJSON_AddNullToObject(r, "trained_betas");
    if (strcmp(class_name, "DDPMScheduler") == 0) cJSON_AddStringToObject(r, "variance_type", "fixed_small");
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    return s;
}

lethe_status schedule_config_from_json(schedule_config *c, const char *text, const char *what) {
    schedule_config_default(c);
    cJSON *r = cJSON_Parse(text);
    lethe_status st = LETHE_OK;
    if (!r || !cJSON_IsObject(r)) { st = lethe_fail(LETHE_ERR_FORMAT, "%s: not a JSON object", what); goto done; }
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "num_train_timesteps")) && cJSON_IsNumber(v)) c->num_train_timesteps = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "beta_start")) && cJSON_IsNumber(v)) c->beta_start = (float)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "beta_end")) && cJSON_IsNumber(v)) c->beta_end = (float)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "clip_sample")) && cJSON_IsBool(v)) c->clip_sample = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "clip_sample_range")) && cJSON_IsNumber(v)) c->clip_sample_range = (float)v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "steps_offset")) && cJSON_IsNumber(v)) c->steps_offset = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "set_alpha_to_one")) && cJSON_IsBool(v)) c->set_alpha_to_one = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "beta_schedule")) && cJSON_IsString(v)) {
        if (!strcmp(v->valuestring, "linear")) c->schedule = BETA_LINEAR;
        else if (!strcmp(v->valuestring, "scaled_linear")) c->schedule = BETA_SCALED_LINEAR;
        else if (!strcmp(v->valuestring, "squaredcos_cap_v2")) c->schedule = BETA_SQUAREDCOS_CAP_V2;
        else { st = lethe_fail(LETHE_ERR_FORMAT, "%s: beta_schedule '%s' is not supported", what, v->valuestring); goto done; }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "timestep_spacing")) && cJSON_IsString(v)) {
        if (!strcmp(v->valuestring, "leading")) c->spacing = SPACING_LEADING;
        else if (!strcmp(v->valuestring, "trailing")) c->spacing = SPACING_TRAILING;
        else if (!strcmp(v->valuestring, "linspace")) c->spacing = SPACING_LINSPACE;
        else { st = lethe_fail(LETHE_ERR_FORMAT, "%s: timestep_spacing '%s' is not supported", what, v->valuestring); goto done; }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "prediction_type")) && cJSON_IsString(v) && strcmp(v->valuestring, "epsilon")) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: prediction_type '%s' is not supported (lethe models predict epsilon)", what, v->valuestring);
        goto done;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "thresholding")) && cJSON_IsTrue(v)) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: dynamic thresholding is not supported", what);
        goto done;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(r, "trained_betas")) && v && !cJSON_IsNull(v)) {
        st = lethe_fail(LETHE_ERR_FORMAT, "%s: trained_betas are not supported", what);
        goto done;
    }
done:
    cJSON_Delete(r);
    return st;
}
