/*
 * numfmt.h: printing float32 settings in JSON the way a person wrote them.
 */
#ifndef LETHE_CORE_NUMFMT_H
#define LETHE_CORE_NUMFMT_H

#include <stdio.h>
#include <stdlib.h>

// The shortest decimal that reads back as the same float: 1e-05, not 9.9999997473787516e-06.
static inline double float_as_decimal(float f) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", (double)f);
    return strtod(buf, NULL);
}

#endif
