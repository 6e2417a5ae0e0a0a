/*
 * classes.h: the limit on class counts, shared by datasets, networks and models (so
 * nn/ need not include data/).
 */
#ifndef LETHE_CORE_CLASSES_H
#define LETHE_CORE_CLASSES_H

#define LETHE_MAX_CLASSES 1024   // Fashion-Canvas's 560 prompts are the classes of text-to-image unlearning

#endif
