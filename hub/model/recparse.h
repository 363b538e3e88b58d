/*
 * recparse.h - the hub's fast reader of one change-record line (formats/
 * record.h): no tree, no allocation per record.  It takes the common shape
 * only -- one JSON object whose members are strings, null, or (fields) an
 * object of strings -- and answers NV_EFORMAT for anything else, valid JSON
 * or not; the caller then reads the line with a full JSON parser, which
 * either accepts an unusual but valid record or names the problem.
 *
 * Strings are unescaped into the scratch buffer; UTF-8 is validated
 * (overlong forms, surrogates and code points past U+10FFFF refused).  A
 * member name given twice, at the top or in fields, is NV_EFORMAT too.
 */
#ifndef NOVA_RECPARSE_H
#define NOVA_RECPARSE_H

#include <stddef.h>

#include "../../formats/buf.h"

#define NV_REC_MAX_FIELDS 1024

struct nv_rec_str {
    const char *s; /* NUL-terminated, in the scratch buffer; NULL if absent */
    size_t n;
};

struct nv_rec {
    struct nv_rec_str op, key, source, order, outcome, reason;
    int has_fields;
    const char *fields_raw; /* the fields object as it is in the line */
    size_t fields_raw_len;
    size_t nfields;
    struct nv_rec_str name[NV_REC_MAX_FIELDS], value[NV_REC_MAX_FIELDS];
};

/* Parse line[len] into r, strings into scratch (reset first).  0 or
 * NV_EFORMAT (no detail sentence: the caller falls back). */
int nv_rec_parse(const char *line, size_t len, struct nv_rec *r, struct nv_buf *scratch);

#endif
