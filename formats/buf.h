/*
 * buf.h - growable byte buffers.
 *
 * Invariants: data is NULL only when cap == 0; otherwise data[len] == '\0'
 * (one spare byte is always kept), so a buffer holding text is a C string.
 * A buffer never grows past NV_BUF_MAX; growth past it fails with NV_ETOOBIG
 * and leaves the buffer unchanged.  A buffer marked secret is wiped with
 * sodium_memzero() whenever its storage is moved or released.
 */
#ifndef NOVA_BUF_H
#define NOVA_BUF_H

#include <stddef.h>
#include <stdint.h>

#define NV_BUF_MAX ((size_t)1 << 30)

struct nv_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int secret;
};

#define NV_BUF_INIT { NULL, 0, 0, 0 }

void nv_buf_init(struct nv_buf *b);
/* Make sure len + extra bytes fit. */
int nv_buf_reserve(struct nv_buf *b, size_t extra)
    __attribute__((warn_unused_result));
int nv_buf_add(struct nv_buf *b, const void *p, size_t n)
    __attribute__((warn_unused_result));
int nv_buf_adds(struct nv_buf *b, const char *s)
    __attribute__((warn_unused_result));
int nv_buf_addf(struct nv_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), warn_unused_result));
void nv_buf_reset(struct nv_buf *b); /* len = 0, keeps storage */
/* Free the storage (wiping it if secret); the buffer is then empty and usable. */
void nv_buf_release(struct nv_buf *b);
/* Hand the storage to the caller (free() it; NUL-terminated); b becomes empty. */
char *nv_buf_detach(struct nv_buf *b, size_t *len);

#endif
