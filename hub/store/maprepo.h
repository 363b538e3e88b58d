/*
 * maprepo.h - the hub's mapping repository: DIR/mappings, a bare git
 * repository (branch main) holding one mapping file per entity,
 * "<entity>.map" (hub/mapping.h), and README.txt.  Every change is a commit
 * with its author and message, so `git log` tells who changed what and why;
 * every applied bundle records the commit it was mapped with.
 *
 * Revisions (rev arguments) are anything git understands: a commit id or
 * prefix, main, main~2, ...; NULL means the tip of main.
 */
#ifndef NOVA_MAPREPO_H
#define NOVA_MAPREPO_H

#include <stdint.h>

#include "../../formats/buf.h"

#define NV_MAPREPO_DIR "mappings"

struct nv_maprepo;

/* Open DIR/mappings, creating it (with a first commit holding README.txt)
 * when absent.  libgit2 failures are NV_ESYS "mappings: ...". */
int nv_maprepo_open(struct nv_maprepo **out, const char *hubdir)
    __attribute__((warn_unused_result));
void nv_maprepo_close(struct nv_maprepo *r); /* NULL ok */

/* The tip commit of main (41 bytes hex). */
int nv_maprepo_tip(struct nv_maprepo *r, char commit[41])
    __attribute__((warn_unused_result));

/* The mapping text of entity at rev (appended to text) and the commit it
 * was read from.  NV_ENOTFOUND when entity has no mapping there or rev is
 * unknown. */
int nv_maprepo_get(struct nv_maprepo *r, const char *entity, const char *rev,
                   struct nv_buf *text, char commit[41])
    __attribute__((warn_unused_result));

/* Commit text as entity's mapping on main.  author_name and author_email
 * make the author line; message the commit message.  Returns 0 and the new
 * commit, or 1 when the text is the same as the current one (no commit;
 * commit gets the tip). */
int nv_maprepo_set(struct nv_maprepo *r, const char *entity, const char *text,
                   size_t len, const char *author_name, const char *author_email,
                   const char *message, char commit[41])
    __attribute__((warn_unused_result));

struct nv_maprepo_change {
    char commit[41];
    int64_t time;
    char author[256];
    char message[1024];
    int removed;
};

/* The commits of main that changed entity's mapping, newest first. */
int nv_maprepo_log(struct nv_maprepo *r, const char *entity,
                   int (*fn)(void *ctx, const struct nv_maprepo_change *c),
                   void *ctx) __attribute__((warn_unused_result));

/* Unified diff of entity's mapping between rev a and rev b (b NULL: the
 * tip; a NULL: b's parent).  Appended to patch; empty when equal. */
int nv_maprepo_diff(struct nv_maprepo *r, const char *entity, const char *a,
                    const char *b, struct nv_buf *patch)
    __attribute__((warn_unused_result));

#endif
