#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/util.h"
#include "maprepo.h"

#define REF "refs/heads/main"

struct nv_maprepo {
    git_repository *repo;
};

static const char readme_text[] =
    "nova mappings\n"
    "=============\n"
    "\n"
    "One file per entity, <entity>.map: how that entity's export columns map\n"
    "to nova's common contact model (format: see nova-hub mapping --help and\n"
    "the README).  Change them with `nova-hub mapping set`, which validates a\n"
    "file before committing it; every bundle the hub applies records the\n"
    "commit it was mapped with.  survivorship.rules (when present) says\n"
    "which entity's value a golden record keeps, field by field; change it\n"
    "with `nova-hub rules set`.\n";

static int
git_fail(const char *what)
{
    const git_error *e = git_error_last();

    return nv_fail(NV_ESYS, "mappings: %s: %s", what,
                   e != NULL && e->message != NULL ? e->message : "libgit2 error");
}

static int
commit(struct nv_maprepo *r, const git_oid *tree_oid, const char *aname,
       const char *aemail, const char *msg, git_oid *out)
{
    git_oid tip;
    git_commit *parent = NULL;
    git_tree *tree = NULL;
    git_signature *author = NULL, *committer = NULL;
    const git_commit *parents[1];
    int have_tip, rc;

    have_tip = git_reference_name_to_id(&tip, r->repo, REF) == 0;
    if (have_tip && git_commit_lookup(&parent, r->repo, &tip) < 0) {
        rc = git_fail("cannot read the tip of main");
        goto out;
    }
    parents[0] = parent;
    if (git_tree_lookup(&tree, r->repo, tree_oid) < 0) {
        rc = git_fail("cannot read the new tree");
        goto out;
    }
    if (git_signature_new(&author, aname, aemail, (git_time_t)nv_now(), 0) < 0 ||
        git_signature_new(&committer, "nova-hub", "nova-hub@localhost",
                          (git_time_t)nv_now(), 0) < 0) {
        rc = nv_fail(NV_EINVAL, "mappings: invalid author name or e-mail");
        goto out;
    }
    if (git_commit_create(out, r->repo, NULL, author, committer, NULL, msg, tree,
                          have_tip ? 1 : 0, parents) < 0) {
        rc = git_fail("cannot write the commit");
        goto out;
    }
    {
        git_reference *ref = NULL;
        if (have_tip)
            rc = git_reference_create_matching(&ref, r->repo, REF, out, 1, &tip, msg);
        else
            rc = git_reference_create(&ref, r->repo, REF, out, 0, msg);
        git_reference_free(ref);
        if (rc < 0) {
            rc = git_fail(rc == GIT_EMODIFIED ? "main moved while committing"
                                              : "cannot move main");
            goto out;
        }
    }
    rc = 0;
out:
    git_signature_free(author);
    git_signature_free(committer);
    git_tree_free(tree);
    git_commit_free(parent);
    return rc;
}

int
nv_maprepo_open(struct nv_maprepo **out, const char *hubdir)
{
    struct nv_maprepo *r;
    char *path = nv_path_join(hubdir, NV_MAPREPO_DIR);
    int rc = 0;

    *out = NULL;
    if (git_libgit2_init() < 0) {
        free(path);
        return git_fail("cannot initialise libgit2");
    }
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    if ((r = calloc(1, sizeof(*r))) == NULL)
        abort();
    if (nv_exists(path)) {
        if (git_repository_open_ext(&r->repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH,
                                    NULL) < 0)
            rc = git_fail("cannot open the mapping repository");
    } else {
        /* made complete under a temporary name, then renamed: a crash
         * never leaves half a repository */
        git_repository_init_options o = GIT_REPOSITORY_INIT_OPTIONS_INIT;
        char *tmp = nv_path_join(hubdir, NV_MAPREPO_DIR ".new");
        o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
                  GIT_REPOSITORY_INIT_NO_REINIT;
        o.initial_head = "main";
        o.description = "nova hub mappings";
        if ((rc = nv_rm_rf(tmp)) == 0 && git_repository_init_ext(&r->repo, tmp, &o) < 0)
            rc = git_fail("cannot create the mapping repository");
        if (rc == 0) {
            git_treebuilder *tb = NULL;
            git_oid blob, tree, c;
            if (git_blob_create_from_buffer(&blob, r->repo, readme_text,
                                            strlen(readme_text)) < 0 ||
                git_treebuilder_new(&tb, r->repo, NULL) < 0 ||
                git_treebuilder_insert(NULL, tb, "README.txt", &blob, GIT_FILEMODE_BLOB) < 0 ||
                git_treebuilder_write(&tree, tb) < 0)
                rc = git_fail("cannot build the first tree");
            git_treebuilder_free(tb);
            if (rc == 0)
                rc = commit(r, &tree, "nova-hub", "nova-hub@localhost", "mappings: start", &c);
            git_repository_free(r->repo);
            r->repo = NULL;
        }
        if (rc == 0 && (rename(tmp, path) < 0 || nv_fsync_dir(hubdir) < 0))
            rc = nv_fail_errno("cannot put the mapping repository in place");
        free(tmp);
        if (rc == 0 && git_repository_open_ext(&r->repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH,
                                               NULL) < 0)
            rc = git_fail("cannot open the mapping repository");
    }
    free(path);
    if (rc < 0) {
        nv_maprepo_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void
nv_maprepo_close(struct nv_maprepo *r)
{
    if (r == NULL)
        return;
    git_repository_free(r->repo);
    free(r);
    git_libgit2_shutdown();
}

int
nv_maprepo_tip(struct nv_maprepo *r, char hex[41])
{
    git_oid tip;

    if (git_reference_name_to_id(&tip, r->repo, REF) < 0)
        return git_fail("cannot read the tip of main");
    git_oid_tostr(hex, 41, &tip);
    return 0;
}

/* "<entity>.map"; a name starting with ':' is a file of its own (the
 * survivorship rules, hub/golden.h) */
static void
file_name(const char *entity, char *out, size_t n)
{
    if (entity[0] == ':')
        snprintf(out, n, "%s", entity + 1);
    else
        snprintf(out, n, "%s.map", entity);
}

/* How errors name what is missing. */
static const char *
what(const char *entity, char *buf, size_t n)
{
    if (entity[0] == ':')
        snprintf(buf, n, "the repository has no %s", entity + 1);
    else
        snprintf(buf, n, "entity '%s' has no mapping", entity);
    return buf;
}

static int
resolve(struct nv_maprepo *r, const char *rev, git_commit **out)
{
    git_object *o = NULL;

    *out = NULL;
    if (rev == NULL)
        rev = REF;
    if (git_revparse_single(&o, r->repo, rev) < 0)
        return nv_fail(NV_ENOTFOUND, "mappings: no revision '%s'", rev);
    if (git_object_peel((git_object **)out, o, GIT_OBJECT_COMMIT) < 0) {
        git_object_free(o);
        return nv_fail(NV_ENOTFOUND, "mappings: '%s' is not a commit", rev);
    }
    git_object_free(o);
    return 0;
}

/* The entity's blob in commit c, or NULL (not an error) when absent. */
static int
blob_in(struct nv_maprepo *r, git_commit *c, const char *entity, git_blob **out)
{
    git_tree *t = NULL;
    const git_tree_entry *e;
    char name[NV_NAME_MAX + 8];
    int rc = 0;

    *out = NULL;
    file_name(entity, name, sizeof(name));
    if (git_commit_tree(&t, c) < 0)
        return git_fail("cannot read a tree");
    e = git_tree_entry_byname(t, name);
    if (e != NULL && git_blob_lookup(out, r->repo, git_tree_entry_id(e)) < 0)
        rc = git_fail("cannot read a mapping");
    git_tree_free(t);
    return rc;
}

int
nv_maprepo_get(struct nv_maprepo *r, const char *entity, const char *rev,
               struct nv_buf *text, char hex[41])
{
    char wb[128];
    git_commit *c = NULL;
    git_blob *b = NULL;
    int rc;

    if ((rc = resolve(r, rev, &c)) < 0)
        return rc;
    if ((rc = blob_in(r, c, entity, &b)) < 0)
        goto out;
    if (b == NULL) {
        rc = nv_fail(NV_ENOTFOUND, "%s%s%s", what(entity, wb, sizeof(wb)),
                     rev ? " at " : "", rev ? rev : "");
        goto out;
    }
    rc = nv_buf_add(text, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b));
    if (hex != NULL)
        git_oid_tostr(hex, 41, git_commit_id(c));
out:
    git_blob_free(b);
    git_commit_free(c);
    return rc;
}

int
nv_maprepo_set(struct nv_maprepo *r, const char *entity, const char *text,
               size_t len, const char *aname, const char *aemail,
               const char *message, char hex[41])
{
    git_commit *tipc = NULL;
    git_tree *tree = NULL;
    git_treebuilder *tb = NULL;
    const git_tree_entry *e;
    git_oid blob, tree_oid, c;
    char name[NV_NAME_MAX + 8];
    int rc;

    file_name(entity, name, sizeof(name));
    if ((rc = resolve(r, NULL, &tipc)) < 0)
        return rc;
    if (git_commit_tree(&tree, tipc) < 0) {
        rc = git_fail("cannot read the tip's tree");
        goto out;
    }
    if (git_blob_create_from_buffer(&blob, r->repo, text, len) < 0) {
        rc = git_fail("cannot write the mapping");
        goto out;
    }
    e = git_tree_entry_byname(tree, name);
    if (e != NULL && git_oid_equal(git_tree_entry_id(e), &blob)) {
        git_oid_tostr(hex, 41, git_commit_id(tipc));
        rc = 1;
        goto out;
    }
    if (git_treebuilder_new(&tb, r->repo, tree) < 0 ||
        git_treebuilder_insert(NULL, tb, name, &blob, GIT_FILEMODE_BLOB) < 0 ||
        git_treebuilder_write(&tree_oid, tb) < 0) {
        rc = git_fail("cannot build the new tree");
        goto out;
    }
    if ((rc = commit(r, &tree_oid, aname, aemail, message, &c)) < 0)
        goto out;
    git_oid_tostr(hex, 41, &c);
out:
    git_treebuilder_free(tb);
    git_tree_free(tree);
    git_commit_free(tipc);
    return rc;
}

int
nv_maprepo_log(struct nv_maprepo *r, const char *entity,
               int (*fn)(void *, const struct nv_maprepo_change *), void *ctx)
{
    char wb[128];
    git_revwalk *w = NULL;
    git_oid o, tip;
    int rc, found = 0;

    if (git_reference_name_to_id(&tip, r->repo, REF) < 0)
        return git_fail("cannot read the tip of main");
    if (git_revwalk_new(&w, r->repo) < 0 || git_revwalk_push(w, &tip) < 0) {
        git_revwalk_free(w);
        return git_fail("cannot walk main");
    }
    git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
    while ((rc = git_revwalk_next(&o, w)) == 0) {
        git_commit *c = NULL, *p = NULL;
        git_blob *bc = NULL, *bp = NULL;
        int changed;
        if (git_commit_lookup(&c, r->repo, &o) < 0) {
            rc = git_fail("cannot read a commit");
            break;
        }
        if (git_commit_parentcount(c) > 0 && git_commit_parent(&p, c, 0) < 0) {
            git_commit_free(c);
            rc = git_fail("cannot read a commit");
            break;
        }
        rc = blob_in(r, c, entity, &bc);
        if (rc == 0 && p != NULL)
            rc = blob_in(r, p, entity, &bp);
        changed = (bc == NULL) != (bp == NULL) ||
                  (bc != NULL && !git_oid_equal(git_blob_id(bc), git_blob_id(bp)));
        if (rc == 0 && changed) {
            struct nv_maprepo_change ch;
            const git_signature *a = git_commit_author(c);
            memset(&ch, 0, sizeof(ch));
            git_oid_tostr(ch.commit, sizeof(ch.commit), &o);
            ch.time = (int64_t)a->when.time;
            snprintf(ch.author, sizeof(ch.author), "%s <%s>", a->name, a->email);
            snprintf(ch.message, sizeof(ch.message), "%s", git_commit_message(c));
            ch.removed = bc == NULL;
            found++;
            rc = fn(ctx, &ch);
        }
        git_blob_free(bc);
        git_blob_free(bp);
        git_commit_free(p);
        git_commit_free(c);
        if (rc != 0)
            break;
    }
    git_revwalk_free(w);
    if (rc == GIT_ITEROVER)
        rc = 0;
    if (rc == 0 && found == 0)
        rc = nv_fail(NV_ENOTFOUND, "%s", what(entity, wb, sizeof(wb)));
    return rc;
}

int
nv_maprepo_diff(struct nv_maprepo *r, const char *entity, const char *a,
                const char *b, struct nv_buf *patch)
{
    char wb[128];
    git_commit *ca = NULL, *cb = NULL;
    git_blob *ba = NULL, *bb = NULL;
    git_patch *p = NULL;
    git_buf out = { NULL, 0, 0 };
    char name[NV_NAME_MAX + 8];
    int rc;

    file_name(entity, name, sizeof(name));
    if ((rc = resolve(r, b, &cb)) < 0)
        return rc;
    if (a != NULL)
        rc = resolve(r, a, &ca);
    else if (git_commit_parentcount(cb) > 0 && git_commit_parent(&ca, cb, 0) < 0)
        rc = git_fail("cannot read a commit");
    if (rc < 0)
        goto out;
    if ((ca != NULL && (rc = blob_in(r, ca, entity, &ba)) < 0) ||
        (rc = blob_in(r, cb, entity, &bb)) < 0)
        goto out;
    if (ba == NULL && bb == NULL) {
        rc = nv_fail(NV_ENOTFOUND, "%s at either revision",
                     what(entity, wb, sizeof(wb)));
        goto out;
    }
    if (git_patch_from_blobs(&p, ba, name, bb, name, NULL) < 0 ||
        git_patch_to_buf(&out, p) < 0) {
        rc = git_fail("cannot compute the difference");
        goto out;
    }
    rc = nv_buf_add(patch, out.ptr, out.size);
out:
    git_buf_dispose(&out);
    git_patch_free(p);
    git_blob_free(ba);
    git_blob_free(bb);
    git_commit_free(ca);
    git_commit_free(cb);
    return rc;
}
