/*
 * track.c - alerts across looks (ops.h): what fired at the last look is
 * kept in DIR/ops/alerts.json; an alert not there has started, one there
 * and no longer firing has ended, and the alert hook runs for each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/hook.h"
#include "../../formats/log.h"
#include "../../formats/util.h"
#include "ops.h"

#define STATE_FILE "ops/alerts.json"
#define STATE_MAX (16u << 20)

/* DIR/ops/alerts.json, or {} when there is none yet. */
static int
state_load(const char *dir, json_t **out)
{
    char *p = nv_path_join(dir, STATE_FILE);
    struct nv_buf b = NV_BUF_INIT;
    json_error_t je;
    int r = 0;

    *out = NULL;
    if (!nv_exists(p)) {
        *out = json_object();
    } else if ((r = nv_read_file(p, STATE_MAX, &b)) == 0 &&
               ((*out = json_loadb((char *)b.data, b.len, 0, &je)) == NULL ||
                !json_is_object(*out))) {
        json_decref(*out);
        *out = NULL;
        r = nv_fail(NV_ECORRUPT, "'%s' is damaged (%s): remove it to start afresh (the "
                                "alerts firing now will be announced again)", p, je.text);
    }
    nv_buf_release(&b);
    free(p);
    return r;
}

static int
state_save(const char *dir, const json_t *state)
{
    char *p = nv_path_join(dir, STATE_FILE), *t = json_dumps(state, JSON_COMPACT | JSON_SORT_KEYS);
    int r = t ? nv_write_file(p, t, strlen(t), 0640) : nv_fail(NV_ENOMEM, "out of memory");

    free(t);
    free(p);
    return r;
}

/* Run the hook for one change (c: an alert with "state"). */
static void
run_hook(const json_t *argv, unsigned timeout, const char *hub, const json_t *c, int64_t now)
{
    static const struct {
        const char *var, *field;
    } vars[] = { { "NOVA_ALERT", "alert" },
                 { "NOVA_ALERT_STATE", "state" },
                 { "NOVA_ALERT_KEY", "key" },
                 { "NOVA_ALERT_ENTITY", "entity" },
                 { "NOVA_ALERT_SEVERITY", "severity" },
                 { "NOVA_ALERT_SINCE", "since" },
                 { "NOVA_ALERT_SUMMARY", "summary" },
                 { "NOVA_ALERT_ACTION", "action" } };
    enum { NV = sizeof(vars) / sizeof(vars[0]) };
    char *env[NV + 3] = { NULL }, *av[33] = { NULL }, why[512], when[21], ks[256];
    size_t n = json_array_size(argv), i;
    struct nv_hook_out *out = calloc(1, sizeof(*out));
    int status, ok = out != NULL;
    const char *state = json_string_value(json_object_get(c, "state"));

    for (i = 0; i < NV && ok; i++) {
        const char *v = json_string_value(json_object_get(c, vars[i].field));
        ok = asprintf(&env[i], "%s=%s", vars[i].var, v ? v : "") >= 0;
    }
    if (ok)
        ok = asprintf(&env[NV], "NOVA_ALERT_ENDED=%s",
                      strcmp(state, "resolved") == 0 ? nv_time_format(now, when) : "") >= 0 &&
             asprintf(&env[NV + 1], "NOVA_HUB=%s", hub) >= 0;
    for (i = 0; i < n && i < 32; i++)
        av[i] = (char *)json_string_value(json_array_get(argv, i));
    nv_log_escape(json_string_value(json_object_get(c, "key")), ks, sizeof(ks));
    if (!ok) {
        nv_err("alerts", "alert hook for %s (%s) not run: out of memory", ks, state);
    } else if (nv_hook_run(av, env, timeout, "alert hook", out, &status, why, sizeof(why)) < 0) {
        nv_err("alerts", "alert hook for %s (%s): %s", ks, state, why);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        nv_hook_failure("alert hook", status, out, NULL, why, sizeof(why));
        nv_err("alerts", "alert hook for %s (%s): %s", ks, state, why);
    } else {
        nv_info("alerts", "alert hook ran for %s (%s)", ks, state);
    }
    for (i = 0; i < NV + 2; i++)
        free(env[i]);
    free(out);
}

int
nv_ops_alerts_track(const char *dir, const char *hub, const json_t *expect,
                    const json_t *alerts, int64_t now, json_t **changes)
{
    char *od = nv_path_join(dir, "ops");
    json_t *old = NULL, *cur = json_object(), *ch = json_array(), *x;
    const json_t *argv = json_object_get(expect, "alert_hook");
    const char *k;
    size_t i;
    int r, lock;

    if (changes != NULL)
        *changes = NULL;
    if ((r = nv_mkdir_p(od, 0750)) < 0 || (lock = r = nv_dir_lock(od, "alerts.lock", "look at the alerts")) < 0) {
        free(od);
        json_decref(cur);
        json_decref(ch);
        if (r == NV_EEXIST) { /* another look keeps the state */
            nv_info("alerts", "%s", nv_errmsg(r));
            nv_error_clear();
            return 0;
        }
        return r;
    }
    free(od);
    if ((r = state_load(dir, &old)) < 0)
        goto out;
    json_array_foreach(alerts, i, x) {
        const char *key = json_string_value(json_object_get(x, "key"));
        if (key == NULL)
            continue;
        json_object_set(cur, key, x);
        if (json_object_get(old, key) == NULL) {
            json_t *c = json_deep_copy(x);
            json_object_set_new(c, "state", json_string("firing"));
            json_array_append_new(ch, c);
        }
    }
    json_object_foreach(old, k, x)
        if (json_object_get(cur, k) == NULL) {
            json_t *c = json_deep_copy(x);
            json_object_set_new(c, "state", json_string("resolved"));
            json_array_append_new(ch, c);
        }
    /* the state first: a look that dies before the hook ran loses that
     * notice rather than sending it twice */
    if (json_array_size(ch) > 0 && (r = state_save(dir, cur)) < 0)
        goto out;
    if (json_array_size(argv) > 0) {
        unsigned t = (unsigned)json_integer_value(json_object_get(expect, "alert_hook_timeout"));
        json_array_foreach(ch, i, x)
            run_hook(argv, t ? t : 30, hub, x, now);
    }
out:
    close(lock);
    json_decref(old);
    json_decref(cur);
    if (r == 0 && changes != NULL)
        *changes = ch;
    else
        json_decref(ch);
    return r;
}
