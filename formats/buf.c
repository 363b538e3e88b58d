#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "errors.h"

void
nv_buf_init(struct nv_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->secret = 0;
}

int
nv_buf_reserve(struct nv_buf *b, size_t extra)
{
    size_t need, ncap;
    uint8_t *nd;

    if (extra > NV_BUF_MAX || b->len > NV_BUF_MAX - extra)
        return nv_fail(NV_ETOOBIG, "buffer would exceed %zu bytes", NV_BUF_MAX);
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap < NV_BUF_MAX / 2 ? ncap * 2 : NV_BUF_MAX + 1;
    if (b->secret) {
        nd = malloc(ncap);
        if (nd == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
        if (b->data != NULL) {
            memcpy(nd, b->data, b->len + 1);
            sodium_memzero(b->data, b->cap);
            free(b->data);
        }
    } else {
        nd = realloc(b->data, ncap);
        if (nd == NULL)
            return nv_fail(NV_ENOMEM, "out of memory");
    }
    if (b->data == NULL)
        nd[0] = '\0';
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int
nv_buf_add(struct nv_buf *b, const void *p, size_t n)
{
    int r = nv_buf_reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
nv_buf_adds(struct nv_buf *b, const char *s)
{
    return nv_buf_add(b, s, strlen(s));
}

int
nv_buf_addf(struct nv_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, r;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return nv_fail(NV_EINVAL, "bad format");
    if ((r = nv_buf_reserve(b, (size_t)n)) < 0)
        return r;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void
nv_buf_reset(struct nv_buf *b)
{
    if (b->data != NULL) {
        if (b->secret)
            sodium_memzero(b->data, b->len);
        b->data[0] = '\0';
    }
    b->len = 0;
}

void
nv_buf_release(struct nv_buf *b)
{
    if (b->data != NULL && b->secret)
        sodium_memzero(b->data, b->cap);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *
nv_buf_detach(struct nv_buf *b, size_t *len)
{
    char *p = (char *)b->data;

    if (p == NULL) {
        p = calloc(1, 1);
        if (p == NULL)
            return NULL;
    }
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
