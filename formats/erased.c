/*
 * erased.c - the receipt left of an erased bundle file (erased.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>

#include "errors.h"
#include "erased.h"
#include "fileio.h"
#include "util.h"

/* libarchive writes into an nv_buf */
static la_ssize_t
to_buf(struct archive *a, void *ctx, const void *p, size_t n)
{
    (void)a;
    return nv_buf_add(ctx, p, n) < 0 ? -1 : (la_ssize_t)n;
}

static int
add_member(struct archive *a, const char *name, const void *p, size_t n)
{
    struct archive_entry *e = archive_entry_new();
    int ok;

    if (e == NULL)
        return -1;
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 0, 0);
    ok = archive_write_header(a, e) == ARCHIVE_OK &&
         archive_write_data(a, p, n) == (la_ssize_t)n;
    archive_entry_free(e);
    return ok ? 0 : -1;
}

int
nv_erased_replace(const char *path, const struct nv_buf *manifest, const struct nv_buf *sig,
                  const uint8_t file_sha[32], const char *why)
{
    struct archive *a = archive_write_new();
    struct nv_buf out = NV_BUF_INIT, note = NV_BUF_INIT;
    char hex[65], when[21], *dst = NULL;
    int r = 0;

    if (a == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    nv_hex(file_sha, 32, hex);
    if ((r = nv_buf_addf(&note, "nova-erased: 1\nbundle-sha256: %s\nerased: %s\nreason: %s\n",
                         hex, nv_time_format(nv_now(), when), why)) < 0)
        goto out;
    if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open(a, &out, NULL, to_buf, NULL) != ARCHIVE_OK ||
        add_member(a, "manifest", manifest->data, manifest->len) < 0 ||
        add_member(a, "manifest.minisig", sig->data, sig->len) < 0 ||
        add_member(a, "erased", note.data, note.len) < 0 ||
        archive_write_close(a) != ARCHIVE_OK) {
        r = nv_fail(NV_ESYS, "cannot write the receipt of '%s': %s", path,
                    archive_error_string(a) ? archive_error_string(a) : "libarchive");
        goto out;
    }
    if (asprintf(&dst, "%s%s", path, NV_ERASED_EXT) < 0) {
        dst = NULL;
        r = nv_fail(NV_ENOMEM, "out of memory");
        goto out;
    }
    if ((r = nv_write_file(dst, out.data, out.len, 0600)) < 0)
        goto out;
    if (unlink(path) < 0)
        r = nv_fail_errno("cannot remove '%s'", path);
out:
    archive_write_free(a);
    nv_buf_release(&out);
    nv_buf_release(&note);
    free(dst);
    return r;
}

int
nv_erased_read(const char *path, struct nv_buf *manifest, struct nv_buf *sig,
               uint8_t file_sha[32])
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    struct nv_buf note = NV_BUF_INIT;
    int r = 0, have = 0;

    if (a == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 16384) != ARCHIVE_OK) {
        r = nv_fail(NV_EFORMAT, "'%s' is not a receipt of an erased bundle", path);
        goto out;
    }
    while (r == 0 && archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        struct nv_buf *dst = strcmp(name, "manifest") == 0 ? manifest
                             : strcmp(name, "manifest.minisig") == 0 ? sig
                             : strcmp(name, "erased") == 0 ? &note : NULL;
        la_int64_t size = archive_entry_size(e);
        if (dst == NULL || size < 0 || size > 65536) {
            r = nv_fail(NV_EFORMAT, "'%s': unexpected member", path);
            break;
        }
        nv_buf_reset(dst);
        if ((r = nv_buf_reserve(dst, (size_t)size)) < 0)
            break;
        if (archive_read_data(a, dst->data, (size_t)size) != size) {
            r = nv_fail(NV_EFORMAT, "'%s': a member is cut", path);
            break;
        }
        dst->len = (size_t)size;
        dst->data[size] = '\0';
        have |= dst == manifest ? 1 : dst == sig ? 2 : 4;
    }
    if (r == 0 && have != 7)
        r = nv_fail(NV_EFORMAT, "'%s' lacks a member of an erased bundle's receipt", path);
    if (r == 0) {
        const char *h = strstr((const char *)note.data, "\nbundle-sha256: ");
        char hex[65];
        if (h != NULL)
            snprintf(hex, sizeof(hex), "%.64s", h + 16);
        if (strncmp((const char *)note.data, "nova-erased: 1\n", 15) != 0 || h == NULL ||
            nv_unhex(hex, file_sha, 32) < 0)
            r = nv_fail(NV_EFORMAT, "'%s': the note of an erased bundle does not parse", path);
    }
out:
    archive_read_free(a);
    nv_buf_release(&note);
    return r;
}
