/*
 * csv.h - streaming CSV reader and writer for CRM exports and imports.
 *
 * Reader: bytes from an fd through a bounded window (memory never exceeds a
 * few times max_row, whatever the file size).  Dialect: delimiter (or
 * detection from the header line among , ; TAB |), quote character (RFC
 * 4180 doubling inside quoted fields; quoted fields may span lines), header
 * row, and encoding.  Fields come out as NUL-terminated UTF-8: UTF-8 input
 * is validated (a leading BOM is dropped), Windows-1252 and ISO-8859-1 are
 * converted.  CRLF and LF line ends are both accepted; a last row without a
 * line end is a normal row.
 *
 * A bad row is rejected, never fatal: nv_csv_next returns NV_EFORMAT with a
 * reason (nv_errmsg) that names the line and the problem but never quotes the
 * data (it is personal data), and the next call goes on with the following
 * row.  Reasons: ragged row (field count differs from the header's), field
 * over max_field, row over max_row, invalid byte for the encoding, NUL byte,
 * unbalanced quote (a quoted field still open at end of file or running past
 * max_row: the row is rejected and reading resumes at the line after the one
 * where the row started), stray quote inside an unquoted field is accepted
 * as data (as most CRMs write it).
 */
#ifndef NOVA_CSV_H
#define NOVA_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum nv_encoding { NV_ENC_UTF8 = 1, NV_ENC_CP1252, NV_ENC_LATIN1 };

struct nv_csv_dialect {
    char delim;   /* 0: detect from the first line */
    char quote;   /* usually '"'; 0: no quoting */
    int header;   /* 1: the first row names the columns */
    int encoding; /* enum nv_encoding; 0 means UTF-8 */
};

#define NV_CSV_MAX_FIELD_DEFAULT (1u << 20)
#define NV_CSV_MAX_ROW_DEFAULT (4u << 20)
#define NV_CSV_MAX_FIELDS 4096

struct nv_csv_row {
    size_t n;             /* number of fields */
    char **field;         /* field[i]: NUL-terminated UTF-8 */
    size_t *len;          /* len[i]: bytes, without the NUL */
    uint64_t line;        /* line (1-based) where the row starts */
};

struct nv_csv;

/* Start reading fd (not closed by the reader).  With d->header, the header
 * row is read now: an empty file gives NV_ENOTFOUND ("empty file"), a bad
 * header NV_EFORMAT.  max_field/max_row 0 = defaults. */
int nv_csv_open(struct nv_csv **out, int fd, const struct nv_csv_dialect *d,
                size_t max_field, size_t max_row)
    __attribute__((warn_unused_result));
/* The header row (NULL without d->header).  Borrowed; valid until free. */
const struct nv_csv_row *nv_csv_header(const struct nv_csv *c);
/* The delimiter in use (detected or given). */
char nv_csv_delim(const struct nv_csv *c);
/* Next row: 1 and *row set (borrowed until the next call), 0 at end of
 * file, NV_EFORMAT for a rejected row (reading may go on; nv_csv_reject_line
 * gives its line), other negative codes are I/O errors. */
int nv_csv_next(struct nv_csv *c, const struct nv_csv_row **row);
uint64_t nv_csv_reject_line(const struct nv_csv *c);
/* Bytes consumed so far. */
uint64_t nv_csv_offset(const struct nv_csv *c);
void nv_csv_free(struct nv_csv *c); /* NULL ok */

/* Writer: append one row (fields in UTF-8) to out in dialect d (d->delim 0
 * means ','), quoting fields that hold the delimiter, the quote, CR or LF,
 * or leading/trailing spaces, and converting to d->encoding.  Line end LF.
 * A character that the encoding cannot represent gives NV_EFORMAT with the
 * field index in the detail, and out is left unchanged. */
int nv_csv_write_row(struct nv_buf *out, const struct nv_csv_dialect *d,
                     const char *const *fields, size_t n)
    __attribute__((warn_unused_result));

/* Parse an encoding name: "utf-8", "utf8", "windows-1252", "cp1252",
 * "iso-8859-1", "latin1" (case-insensitive). 0 if unknown. */
int nv_encoding_parse(const char *name);
const char *nv_encoding_name(int enc);

#endif
