/*
 * forget_class.c: make a diffusion model forget a class through lethe.h alone.
 *
 *   forget_class MODEL CLASS OUT [METHOD [STEPS]]
 *
 * Unlearns CLASS from the model folder MODEL with METHOD (default salun) into OUT, then
 * loads the result and writes OUT/samples.png, one row per class: the forgotten row should
 * no longer show the class. Build: cc forget_class.c $(pkg-config --cflags --libs lethe)
 */
#include <stdio.h>
#include <stdlib.h>

#include <lethe.h>

// Prints the library's message for a failed call and exits.
static void check(lethe_status st, const char *what) {
    if (st == LETHE_OK) return;
    fprintf(stderr, "forget_class: %s: %s (%s)\n", what, lethe_last_error(), lethe_status_name(st));
    exit(1);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: forget_class MODEL CLASS OUT [METHOD [STEPS]]\nmethods: %s\n", lethe_unlearn_methods());
        return 2;
    }
    const char *method = argc > 4 ? argv[4] : "salun";

    lethe_options *opts;
    check(lethe_options_new(&opts), "options");
    if (argc > 5) {   // a small budget: a few steps of a few images
        check(lethe_options_set(opts, "steps", argv[5]), "steps");
        check(lethe_options_set(opts, "batch", "4"), "batch");
        check(lethe_options_set(opts, "forget-images", "8"), "forget-images");
    }
    check(lethe_options_set(opts, "seed", "1"), "seed");
    check(lethe_unlearn(argv[1], method, argv[2], argv[3], opts), "unlearn");
    lethe_options_free(opts);

    lethe_model *m;
    check(lethe_model_load(&m, argv[3]), "load");
    printf("forgot %s with %s: %s, %d classes\n", argv[2], lethe_model_method(m), argv[3], lethe_model_num_classes(m));

    lethe_options *so;
    lethe_images *im;
    check(lethe_options_new(&so), "options");
    check(lethe_options_set(so, "n", "4"), "n");
    check(lethe_options_set(so, "steps", "10"), "sampling steps");
    check(lethe_sample(m, so, &im), "sample");
    char path[4096];
    snprintf(path, sizeof path, "%s/samples.png", argv[3]);
    check(lethe_images_write_png(im, path), "write");
    printf("%d samples in %s\n", lethe_images_count(im), path);

    lethe_images_free(im);
    lethe_options_free(so);
    lethe_model_free(m);
    return 0;
}
