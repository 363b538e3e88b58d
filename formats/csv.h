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
 * line end is returned with row->partial set (the caller decides: a file
 * cut mid-row is not a whole export).  A file starting with a UTF-16 byte
 * order mark (or whose first bytes are ASCII interleaved with NULs) is
 * refused at open with a reason naming the encoding.
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
 *
 * A quoted field that spans lines is accepted only when it is plausible; it
 * is taken for a stray quote that swallowed the rows after it (the row is
 * rejected with the reason and reading resumes at the line after the one
 * where the row started) when
 *   - its closing quote is followed by more text instead of the delimiter or
 *     the line end (the "closing" quote belonged to a later row), or
 *   - it runs over max_field_lines lines (dialect, default 100), or
 *   - with nv_csv_set_key, a line strictly inside it parses on its own as a
 *     whole row: the header's field count and key values of the same shape
 *     (letters, digits, punctuation) as the row's own key.
 * A legitimately quoted multi-line address or note passes all three.
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
    unsigned max_field_lines; /* reader: lines a quoted field may span; 0 = 100 */
    int formula_guard; /* writer: neutralise formula-like values (see below) */
};

#define NV_CSV_MAX_FIELD_LINES_DEFAULT 100

#define NV_CSV_MAX_FIELD_DEFAULT (1u << 20)
#define NV_CSV_MAX_ROW_DEFAULT (4u << 20)
#define NV_CSV_MAX_FIELDS 4096

struct nv_csv_row {
    size_t n;             /* number of fields */
    char **field;         /* field[i]: NUL-terminated UTF-8 */
    size_t *len;          /* len[i]: bytes, without the NUL */
    uint64_t line;        /* line (1-based) where the row starts */
    int partial;          /* 1: the row ended at end of file without a line end */
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
/* The key columns (indexes into the header), for the stray-quote check of
 * multi-line quoted fields.  Optional; at most NV_CSV_MAX_KEYS. */
#define NV_CSV_MAX_KEYS 8
void nv_csv_set_key(struct nv_csv *c, const size_t *idx, size_t n);
/* Bytes consumed so far. */
uint64_t nv_csv_offset(const struct nv_csv *c);
void nv_csv_free(struct nv_csv *c); /* NULL ok */

/* Writer: append one row (fields in UTF-8) to out in dialect d (d->delim 0
 * means ','), quoting fields that hold the delimiter, the quote, CR or LF,
 * or leading/trailing spaces, and converting to d->encoding.  Line end LF.
 * A character that the encoding cannot represent gives NV_EFORMAT with the
 * field index in the detail, and out is left unchanged.
 * With d->formula_guard (CSV meant to be opened in a spreadsheet), a value
 * starting with = + - @ TAB or CR is written with a leading ' (OWASP "CSV
 * injection"), except a value starting with + or - that is a plain number
 * or phone number (digits, spaces and . , / ( ) - only), which no
 * spreadsheet evaluates as a formula. */
int nv_csv_write_row(struct nv_buf *out, const struct nv_csv_dialect *d,
                     const char *const *fields, size_t n)
    __attribute__((warn_unused_result));
/* 1 if formula_guard would prefix s with a quote. */
int nv_csv_formula_like(const char *s);
/* 1 if enc can represent every character of the UTF-8 string s. */
int nv_csv_representable(const char *s, int enc);
/* s in enc where possible: each character enc cannot represent becomes its
 * base letter (accents stripped: r for r-caron) or '?' when it has none.
 * Appends the UTF-8 result to out; returns how many characters were
 * replaced, or a negative code. */
int nv_csv_transliterate(struct nv_buf *out, const char *s, int enc)
    __attribute__((warn_unused_result));

/* Parse an encoding name: "utf-8", "utf8", "windows-1252", "cp1252",
 * "iso-8859-1", "latin1" (case-insensitive). 0 if unknown. */
int nv_encoding_parse(const char *name);
const char *nv_encoding_name(int enc);

#endif
