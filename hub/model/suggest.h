/*
 * suggest.h - propose a mapping (hub/mapping.h) from a sample CSV export.
 */
#ifndef NOVA_SUGGEST_H
#define NOVA_SUGGEST_H

#include "../../formats/buf.h"

/* Read up to 2,000 rows of the CSV export on fd (delimiter detected;
 * encoding an enum nv_encoding, 0 for UTF-8) and append to out a mapping
 * text for entity: columns placed by their names (French and English;
 * accents, case and separators ignored) and by the shapes of their values
 * (e-mail, phone, postal code, dates, yes/no); a key column with unique
 * values; inverse lines for the fields people correct.  Columns it could
 * not place become extension fields, and their names are appended to
 * unplaced (may be NULL), one per line. */
int nv_mapping_suggest(const char *entity, int fd, int encoding, struct nv_buf *out,
                       struct nv_buf *unplaced) __attribute__((warn_unused_result));

#endif
