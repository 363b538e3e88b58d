/*
 * expect.c - what the hub expects of each entity's flow (ops.h): the file
 * "expect" of the mapping repository, versioned like the mappings (every
 * change a commit with its author and message).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/errors.h"
#include "../../formats/util.h"
#include "ops.h"
#include "../core/hub.h"
#include "../store/maprepo.h"

#define REVIEW_MAX_AGE (24 * 3600)
#define REJECT_SHARE 0.2
#define HOOK_TIMEOUT 30
#define HOOK_WORDS 32

json_t *
nv_ops_hook_argv(const char *cmd)
{
    json_t *a = json_array();
    const char *p = cmd;

    if (a == NULL)
        abort();
    while (p != NULL && *p != '\0') {
        size_t l;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        for (l = 0; p[l] != '\0' && p[l] != ' ' && p[l] != '\t'; l++)
            if ((unsigned char)p[l] < 0x20 || p[l] == 0x7F) {
                json_decref(a);
                nv_fail(NV_EFORMAT, "the alert hook has a control character");
                return NULL;
            }
        if (json_array_size(a) == HOOK_WORDS || l > 1024) {
            json_decref(a);
            nv_fail(NV_EFORMAT, "the alert hook is too long (%d words of 1024 bytes at most)",
                    HOOK_WORDS);
            return NULL;
        }
        json_array_append_new(a, json_stringn(p, l));
        p += l;
    }
    if (json_array_size(a) == 0 || json_string_value(json_array_get(a, 0))[0] != '/') {
        json_decref(a);
        nv_fail(NV_EFORMAT, "the alert hook must start with the command's absolute path "
                            "(no shell runs it: /usr/local/bin/notify ARG...)");
        return NULL;
    }
    return a;
}

/* "30", "30s", "2m": 1 s to 1 h; -1 otherwise. */
static long
hook_timeout(const char *s)
{
    char *end;
    long n;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    n = strtol(s, &end, 10);
    if (*end == 'm' && end[1] == '\0')
        n *= 60;
    else if (!(*end == '\0' || (*end == 's' && end[1] == '\0')))
        return -1;
    return n >= 1 && n <= 3600 ? n : -1;
}

int64_t
nv_ops_duration(const char *s)
{
    char *end;
    unsigned long long n;
    int64_t mul;

    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    n = strtoull(s, &end, 10);
    switch (*end) {
    case 's': mul = 1; break;
    case 'm': mul = 60; break;
    case 'h': mul = 3600; break;
    case 'd': mul = 86400; break;
    default: return -1;
    }
    if (end[1] != '\0' || n == 0 || n > 90ULL * 86400)
        return -1;
    n *= (unsigned long long)mul;
    if (n < 60 || n > 90ULL * 86400)
        return -1;
    return (int64_t)n;
}

static void
fmt_duration(int64_t s, char *out, size_t n)
{
    if (s % 86400 == 0)
        snprintf(out, n, "%lldd", (long long)(s / 86400));
    else if (s % 3600 == 0)
        snprintf(out, n, "%lldh", (long long)(s / 3600));
    else if (s % 60 == 0)
        snprintf(out, n, "%lldm", (long long)(s / 60));
    else
        snprintf(out, n, "%llds", (long long)s);
}

int
nv_ops_expect_parse(const char *text, size_t len, json_t **out)
{
    json_t *doc = json_pack("{s:{},s:I,s:f,s:n,s:i,s:n}", "cadence", "review_max_age",
                            (json_int_t)REVIEW_MAX_AGE, "reject_share", REJECT_SHARE,
                            "alert_hook", "alert_hook_timeout", HOOK_TIMEOUT, "commit");
    char *copy = strndup(text, len), *save = NULL, *line;
    int lineno = 0, r = 0;

    if (doc == NULL || copy == NULL)
        abort();
    for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char a[128], b[128], c[128], d[128];
        int n;
        lineno++;
        while (isspace((unsigned char)*line))
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        n = sscanf(line, "%127s %127s %127s %127s", a, b, c, d);
        if (n == 2 && strcmp(a, "nova-expect") == 0 && strcmp(b, "1") == 0)
            continue;
        if (n >= 2 && strcmp(a, "alert_hook") == 0) {
            json_t *argv = nv_ops_hook_argv(line + strlen("alert_hook"));
            if (argv == NULL) {
                r = nv_fail_prefix(NV_EFORMAT, "expect line %d", lineno);
                break;
            }
            json_object_set_new(doc, "alert_hook", argv);
            continue;
        }
        if (n == 2 && strcmp(a, "alert_hook_timeout") == 0) {
            long t = hook_timeout(b);
            if (t < 0) {
                r = nv_fail(NV_EFORMAT, "expect line %d: alert_hook_timeout needs seconds "
                            "(1 to 3600: 30s, 2m)", lineno);
                break;
            }
            json_object_set_new(doc, "alert_hook_timeout", json_integer(t));
            continue;
        }
        if (n == 4 && strcmp(a, "expect") == 0 && strcmp(c, "every") == 0) {
            int64_t s = nv_ops_duration(d);
            if (!nv_name_valid(b) || s < 0) {
                r = nv_fail(NV_EFORMAT, "expect line %d: 'expect ENTITY every DURATION' "
                            "(a duration from 60s to 90d: 15m, 1h, 1d)", lineno);
                break;
            }
            json_object_set_new(json_object_get(doc, "cadence"), b, json_integer(s));
        } else if (n == 2 && strcmp(a, "review_max_age") == 0) {
            int64_t s = nv_ops_duration(b);
            if (s < 0) {
                r = nv_fail(NV_EFORMAT, "expect line %d: review_max_age needs a duration",
                            lineno);
                break;
            }
            json_object_set_new(doc, "review_max_age", json_integer(s));
        } else if (n == 2 && strcmp(a, "reject_share") == 0) {
            char *end;
            double f = strtod(b, &end);
            if (*end != '\0' || !(f > 0 && f <= 1)) {
                r = nv_fail(NV_EFORMAT, "expect line %d: reject_share needs a fraction "
                            "(0 to 1]", lineno);
                break;
            }
            json_object_set_new(doc, "reject_share", json_real(f));
        } else {
            r = nv_fail(NV_EFORMAT, "expect line %d: not understood", lineno);
            break;
        }
    }
    free(copy);
    if (r < 0) {
        json_decref(doc);
        return r;
    }
    *out = doc;
    return 0;
}

char *
nv_ops_expect_text(const json_t *doc)
{
    struct nv_buf b = NV_BUF_INIT;
    const char *ent;
    json_t *v;
    char d[32];
    char *s;

    int bad = 0;

    bad |= nv_buf_adds(&b, "nova-expect 1\n# what the hub expects of each entity "
                          "(nova-hub expect): a bundle at least this often\n");
    json_object_foreach(json_object_get(doc, "cadence"), ent, v) {
        fmt_duration(json_integer_value(v), d, sizeof(d));
        bad |= nv_buf_addf(&b, "expect %s every %s\n", ent, d);
    }
    fmt_duration(json_integer_value(json_object_get(doc, "review_max_age")), d, sizeof(d));
    bad |= nv_buf_addf(&b, "review_max_age %s\nreject_share %g\n", d,
                      json_real_value(json_object_get(doc, "reject_share")));
    if (json_array_size(json_object_get(doc, "alert_hook")) > 0) {
        size_t i;
        bad |= nv_buf_adds(&b, "# run when an alert starts and ends (no shell)\nalert_hook");
        json_array_foreach(json_object_get(doc, "alert_hook"), i, v)
            bad |= nv_buf_addf(&b, " %s", json_string_value(v));
        bad |= nv_buf_addf(&b, "\nalert_hook_timeout %llds\n",
                           (long long)json_integer_value(json_object_get(doc, "alert_hook_timeout")));
    }
    s = bad ? NULL : strndup((char *)b.data, b.len);
    nv_buf_release(&b);
    return s;
}

int
nv_ops_expect_load(struct nv_hub *h, json_t **out)
{
    struct nv_buf text = NV_BUF_INIT;
    char commit[41];
    int r = nv_maprepo_get(h->maps, NV_OPS_EXPECT_FILE, NULL, &text, commit);

    if (r == NV_ENOTFOUND) {
        nv_error_clear();
        nv_buf_release(&text);
        return nv_ops_expect_parse("", 0, out);
    }
    if (r == 0 && (r = nv_ops_expect_parse((char *)text.data, text.len, out)) == 0)
        json_object_set_new(*out, "commit", json_string(commit));
    nv_buf_release(&text);
    return r;
}

/* Commit doc (taken) as the expect file. */
static int
expect_save(struct nv_hub *h, json_t *doc, const char *aname, const char *aemail,
            const char *message, char commit[41])
{
    char *text;
    int r;

    text = nv_ops_expect_text(doc);
    json_decref(doc);
    if (text == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
    r = nv_maprepo_set(h->maps, NV_OPS_EXPECT_FILE, text, strlen(text), aname, aemail,
                       message, commit);
    free(text);
    return r;
}

int
nv_ops_expect_set(struct nv_hub *h, const char *entity, int64_t seconds, const char *aname,
                  const char *aemail, const char *message, char commit[41])
{
    json_t *doc;
    int r;

    if ((r = nv_ops_expect_load(h, &doc)) < 0)
        return r;
    if (seconds > 0)
        json_object_set_new(json_object_get(doc, "cadence"), entity, json_integer(seconds));
    else
        json_object_del(json_object_get(doc, "cadence"), entity);
    return expect_save(h, doc, aname, aemail, message, commit);
}

int
nv_ops_expect_set_hook(struct nv_hub *h, const char *cmd, unsigned timeout, const char *aname,
                       const char *aemail, const char *message, char commit[41])
{
    json_t *doc, *argv = NULL;
    int r;

    if (cmd != NULL && (argv = nv_ops_hook_argv(cmd)) == NULL)
        return NV_EFORMAT;
    if ((r = nv_ops_expect_load(h, &doc)) < 0) {
        json_decref(argv);
        return r;
    }
    json_object_set_new(doc, "alert_hook", argv ? argv : json_null());
    if (timeout > 0)
        json_object_set_new(doc, "alert_hook_timeout", json_integer(timeout));
    return expect_save(h, doc, aname, aemail, message, commit);
}
