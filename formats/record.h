/*
 * record.h - change records, the payload of "changes" bundles.
 *
 * One JSON object per line (NDJSON), UTF-8:
 *   {"op":"upsert","key":"C-1042","fields":{"Nom":"Dupont",...}}
 *   {"op":"delete","key":"C-1042"}
 * key is the entity's own record key; fields carries the source columns as
 * exported (decoded to UTF-8).  Records never appear in logs or manifests.
 */
#ifndef NOVA_RECORD_H
#define NOVA_RECORD_H

#include <stddef.h>

enum nv_op { NV_OP_UPSERT = 1, NV_OP_DELETE = 2 };

#define NV_RECORD_MAX (16u << 20) /* one record line, at most */

/* Check one record line and return its op (> 0) or NV_EFORMAT with the
 * reason (never quoting the record). */
int nv_record_check(const char *line, size_t len);

#endif
