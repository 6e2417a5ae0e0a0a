/*
 * canvas.h: Fashion-Canvas, lethe's text-to-image benchmark in the spirit of UnlearnCanvas
 * (Zhang et al. 2024: 60 artistic styles x 20 objects, Stable Diffusion): every Fashion-MNIST
 * image rendered in CANVAS_N_STYLES named styles as a 3 x 32 x 32 RGB image with a prompt.
 *
 * - Styles have one-word names and come in families of similar styles (several stripe
 *   styles in different palettes, several flat tints, ...), so erasing one style while
 *   keeping its neighbour measures precision (ScaPre's Confuse benchmark). Style 0, `photo`,
 *   is the plain grayscale object (UnlearnCanvas's seed images).
 * - The 10 objects are Fashion-MNIST's classes, named as the dataset names them.
 * - A rendering is a pure function of (grayscale image, style, seed, key): the pattern's
 *   phase, grain and per-cell colours come from Philox streams keyed by (key, style). Callers
 *   use the image's index in its split as the key, so the benchmark is generated on the fly
 *   (nothing cached on disk) and the same everywhere.
 * - The 28 x 28 object sits in the middle of the 32 x 32 canvas (2 pixels of background on
 *   each side); the style paints the background too.
 * - Prompts come from CANVAS_N_TEMPLATES templates ("a trouser in zebra style", "zebra
 *   trouser", ...); the empty prompt is the unconditional one.
 */
#ifndef LETHE_DATA_CANVAS_H
#define LETHE_DATA_CANVAS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define CANVAS_SIZE 32
#define CANVAS_CHANNELS 3
#define CANVAS_NUMEL (CANVAS_CHANNELS * CANVAS_SIZE * CANVAS_SIZE)
#define CANVAS_OBJECT_SIZE 28   // the Fashion-MNIST image, centred
#define CANVAS_N_STYLES 56      // photo + 55 rendered styles
#define CANVAS_N_TEMPLATES 4
#define CANVAS_PROMPT_MAX 64    // bytes with the terminator: every prompt fits (the longest is 43)

int canvas_n_families(void);
const char *canvas_family_name(int family);
const char *canvas_style_name(int style);
int canvas_style_family(int style);
// "zebra" -> its index (case-insensitive); LETHE_ERR_ARG naming the families' styles otherwise.
lethe_status canvas_style_index(const char *name, int *out);

// Renders the 28 x 28 grayscale object `gray` (0 = background, as Fashion-MNIST) in `style`
// into rgb: CANVAS_NUMEL bytes, CHW (R plane, G plane, B plane). seed and key select the
// rendering's random elements (key: the image's index in its split).
void canvas_render(const uint8_t *gray, int style, uint64_t seed, uint64_t key, uint8_t *rgb);

// Template t of (object, style) into out, e.g. "an ankle-boot in zebra style". Returns the
// length, or -1 when it does not fit in cap or t is out of range.
int canvas_prompt(int template_index, const char *object, const char *style, char *out, size_t cap);

// Every word a canvas prompt can contain (template words, style names, the given object
// names), each once, in a fixed order: the tokenizer's vocabulary. Returns the count, or -1
// when more than cap. words[i] point to static strings or to objects[].
int canvas_vocabulary(const char *const *objects, int n_objects, const char **words, int cap);

#endif
