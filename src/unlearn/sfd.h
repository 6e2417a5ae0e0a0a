/*
 * sfd.h: what the tests reach inside SFD (src/unlearn/sfd.c); the method itself is
 * registered as unlearn_sfd.
 */
#ifndef LETHE_UNLEARN_SFD_H
#define LETHE_UNLEARN_SFD_H

#include "unlearn/unlearn.h"

// After setup: the generator terms of step `step`, l_gr L_G(retain) + l_gf L_G(forget), for
// the current generator weights; the gradient is accumulated into the generator's slice of
// u->train_grads. With freeze_omega, omega is the previous call's (the gradient holds omega
// constant, so a finite-difference check must too).
lethe_status sfd_generator_objective(unlearn_ctx *u, int step, int freeze_omega, double *loss);
// The generator (0), fake score (1) or generator EMA (2) weights, u->n_params floats each.
float *sfd_network(unlearn_ctx *u, int which);

#endif
