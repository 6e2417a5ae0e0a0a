/*
 * font.h: a 5 x 7 bitmap font (upper-case letters, digits, - . ( ) % + space) for labels on
 * PNG sheets: a person reading a grid should not need a second file to know what a row is.
 * Lower-case letters are drawn as upper-case; other characters as a blank.
 */
#ifndef LETHE_IO_FONT_H
#define LETHE_IO_FONT_H

#include <stdint.h>

#define FONT_ADVANCE 6   // pixels per character at scale 1 (5 wide + 1 gap)
#define FONT_HEIGHT 7

// Width in pixels of text at `scale`.
int font_text_width(const char *text, int scale);
// Draws text with its top-left corner at (x, y) into a CHW image of `channels` planes of
// w x h bytes, in colour[0..channels); pixels outside the image are skipped.
void font_draw(uint8_t *img, int channels, int w, int h, int x, int y, const char *text, const uint8_t *colour,
               int scale);

#endif
