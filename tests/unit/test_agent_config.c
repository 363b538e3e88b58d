/*
 * test_agent_config.c - unit tests for agent/config.c: the template parses,
 * every setting is read, and each kind of mistake is refused with its line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../../agent/config.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"

static char dir[256];

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/nova-test-config-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
    (void)state;
    (void)nv_rm_rf(dir);
    return 0;
}

static int
load(const char *text, struct nv_agent_config *c)
{
    char *p = nv_path_join(dir, "agent.conf");
    int r = nv_write_file(p, text, strlen(text), 0600);

    free(p);
    assert_int_equal(r, 0);
    nv_error_clear();
    return nv_agent_config_load(c, dir);
}

static void
test_template_parses(void **state)
{
    struct nv_agent_config c;

    (void)state;
    assert_int_equal(load(nv_agent_config_template("acme"), &c), 0);
    assert_string_equal(c.entity, "acme");
    assert_int_equal(c.nsrc, 0);
    assert_int_equal(c.bundle_cap, 64u << 20);
    assert_int_equal(c.compression_level, 1);
    assert_int_equal(c.import_dialect.delim, ';');
    assert_non_null(strstr(c.outbox, "/outbox"));
    nv_agent_config_release(&c);
}

static void
test_full_config(void **state)
{
    struct nv_agent_config c;

    (void)state;
    assert_int_equal(load("entity = acme\n"
                          "hub = central\n"
                          "bundle_cap = 2M   # small\n"
                          "compression_level = 9\n"
                          "erase_hook = /bin/true\n"
                          "erase_timeout = 5\n"
                          "erase_confirm_days = 3\n"
                          "settle = 0\n"
                          "import_encoding = latin1\n"
                          "import_delimiter = tab\n"
                          "[source contacts]\n"
                          "dir = /srv/crm\n"
                          "pattern = contacts_*.csv\n"
                          "delimiter = auto\n"
                          "quote = none\n"
                          "encoding = Windows-1252\n"
                          "key = id, site\n"
                          "mode = delta\n"
                          "[source orders]\n"
                          "dir = rel/orders\n"
                          "key = no\n",
                          &c),
                     0);
    assert_string_equal(c.hub, "central");
    assert_int_equal(c.bundle_cap, 2u << 20);
    assert_int_equal(c.compression_level, 9);
    assert_string_equal(c.erase_hook, "/bin/true");
    assert_int_equal(c.erase_timeout, 5);
    assert_int_equal(c.erase_confirm_days, 3);
    assert_int_equal(c.settle_ms, 0);
    assert_int_equal(c.import_dialect.encoding, NV_ENC_LATIN1);
    assert_int_equal(c.import_dialect.delim, '\t');
    assert_int_equal(c.nsrc, 2);
    assert_string_equal(c.src[0].pattern, "contacts_*.csv");
    assert_int_equal(c.src[0].dialect.delim, 0);
    assert_int_equal(c.src[0].dialect.quote, 0);
    assert_int_equal(c.src[0].dialect.encoding, NV_ENC_CP1252);
    assert_int_equal(c.src[0].nkeycols, 2);
    assert_string_equal(c.src[0].keycols[1], "site");
    assert_int_equal(c.src[0].mode, NV_MODE_DELTA);
    assert_string_equal(c.src[1].pattern, "*.csv");
    assert_int_equal(c.src[1].mode, NV_MODE_FULL);
    assert_non_null(strstr(c.src[1].dir, "/rel/orders"));
    assert_true(c.src[1].dir[0] == '/');
    nv_agent_config_release(&c);
}

static void
expect_error(const char *text, const char *needle)
{
    struct nv_agent_config c;
    int r = load(text, &c);

    assert_int_equal(r, NV_ECONFIG);
    if (strstr(nv_errmsg(r), needle) == NULL)
        fail_msg("message '%s' does not name '%s'", nv_errmsg(r), needle);
}

static void
test_errors_name_the_line(void **state)
{
    (void)state;
    expect_error("entity = acme\nbogus = 1\n", "line 2: unknown setting 'bogus'");
    expect_error("entity = acme\nnovalue\n", "line 2: expected 'name = value'");
    expect_error("entity = acme\nbundle_cap = 12Q\n", "line 2: bundle_cap");
    expect_error("entity = acme\ncompression_level = 25\n", "compression_level must be 1..19");
    expect_error("entity = Acme Corp\n", "line 1: invalid entity name");
    expect_error("entity = a\n[source]\n", "line 2: a section is written [source NAME]");
    expect_error("entity = a\n[source s]\ndir = /x\nkey = id\n[source s]\n", "line 5: source 's' is defined twice");
    expect_error("entity = a\n[source s]\nkey = id\n", "source 's' has no 'dir'");
    expect_error("entity = a\n[source s]\ndir = /x\n", "source 's' has no 'key' column");
    expect_error("entity = a\n[source s]\ndir = /x\nkey = id\nencoding = ebcdic\n", "line 5: unknown encoding");
    expect_error("entity = a\n[source s]\ndir = /x\nkey = id\nmode = sometimes\n", "line 5: mode must be full or delta");
    expect_error("entity = a\n[source s]\ndir = /x\nkey = id\ndelimiter = ;;\n", "line 5: delimiter");
    expect_error("entity = a\n[source s]\ndir = /x\nkey = id\nheader = no\n", "without a header row");
    expect_error("entity = a\n[source s]\ndir = /x\nkey = id\nbogus = 2\n", "line 5: unknown setting 'bogus' in a source section");
    /* issue 13: repeats name both lines; patterns stay in 'dir' */
    expect_error("entity = a\nsettle = 0\nhub = h\nsettle = 5\n", "line 4: 'settle' is already set on line 2");
    expect_error("entity = a\n[source s]\ndir = /x\nkey = id\nkey = no\n",
                 "line 5: 'key' is already set on line 4 in source s");
    expect_error("entity = a\n[source s]\ndir = /x\nkey = id\npattern = ../*.csv\n", "line 5: pattern");
    expect_error("entity = a\n[source s]\ndir = /x\nkey = id\npattern = sub/*.csv\n", "no '/'");
    expect_error("entity = a\nmax_delete_share = 150%\n", "line 2: max_delete_share");
    expect_error("entity = a\n[source s]\ndir = /x\nkey = id\nsnapshot = some\n", "line 5: snapshot must be file or multi");
    expect_error("entity = a\nimport_unrepresentable = drop\n", "line 2: import_unrepresentable");
}

static void
test_nul_byte(void **state)
{
    struct nv_agent_config c;
    char *p = nv_path_join(dir, "agent.conf");
    static const char text[] = "entity = a\nsettle = 0\nhub\0 = x\n";

    (void)state;
    assert_int_equal(nv_write_file(p, text, sizeof(text) - 1, 0600), 0);
    free(p);
    assert_int_equal(nv_agent_config_load(&c, dir), NV_ECONFIG);
    assert_non_null(strstr(nv_errmsg(NV_ECONFIG), "line 3: NUL byte"));
}

static void
test_guards(void **state)
{
    struct nv_agent_config c;

    (void)state;
    assert_int_equal(load("entity = a\n[source s]\ndir = /x\nkey = id\n", &c), 0);
    assert_true(c.src[0].max_delete_share > 0.19 && c.src[0].max_delete_share < 0.21);
    assert_int_equal(c.src[0].max_delete_count, 10000);
    assert_int_equal(c.src[0].snapshot, NV_SNAP_FILE);
    assert_int_equal(c.import_dialect.formula_guard, 1);
    assert_int_equal(c.import_unrepresentable, NV_UNREP_TRANSLITERATE);
    nv_agent_config_release(&c);
    assert_int_equal(load("entity = a\nmax_delete_share = 0.5\nmax_delete_count = 7\n"
                          "import_formula_guard = no\nimport_unrepresentable = utf8-file\n"
                          "incomplete_wait = 10\n"
                          "[source s]\ndir = /x\nkey = id\nsnapshot = multi\nsnapshot_window = 60\n"
                          "snapshot_parts = 2\nmax_field_lines = 5\n"
                          "[source t]\ndir = /x\nkey = id\nmax_delete_share = 5%\nmax_delete_count = 0\n",
                          &c),
                     0);
    assert_true(c.src[0].max_delete_share > 0.49 && c.src[0].max_delete_share < 0.51);
    assert_int_equal(c.src[0].max_delete_count, 7);
    assert_int_equal(c.src[0].snapshot, NV_SNAP_MULTI);
    assert_int_equal(c.src[0].snapshot_window, 60);
    assert_int_equal(c.src[0].snapshot_parts, 2);
    assert_int_equal(c.src[0].dialect.max_field_lines, 5);
    assert_true(c.src[1].max_delete_share > 0.049 && c.src[1].max_delete_share < 0.051);
    assert_int_equal(c.src[1].max_delete_count, 0);
    assert_int_equal(c.import_dialect.formula_guard, 0);
    assert_int_equal(c.import_unrepresentable, NV_UNREP_UTF8_FILE);
    assert_int_equal(c.incomplete_wait_ms, 10);
    nv_agent_config_release(&c);
}

/* No 'entity': left empty for nv_agent_open to take the keys' one; the
 * file named by NOVA_AGENT_CONFIG (/etc/nova/agent.conf for the service)
 * is read instead of DIR/agent.conf, its relative paths still from DIR. */
static void
test_entity_optional_config_elsewhere(void **state)
{
    struct nv_agent_config c;
    char *etc = nv_path_join(dir, "etc-agent.conf"), *out = nv_path_join(dir, "outbox");
    const char text[] = "settle = 5\n";

    (void)state;
    assert_int_equal(load("settle = 7\n", &c), 0);
    assert_string_equal(c.entity, "");
    assert_int_equal(c.settle_ms, 7);
    nv_agent_config_release(&c);
    assert_int_equal(nv_write_file(etc, text, strlen(text), 0600), 0);
    setenv("NOVA_AGENT_CONFIG", etc, 1);
    assert_int_equal(nv_agent_config_load(&c, dir), 0);
    unsetenv("NOVA_AGENT_CONFIG");
    assert_string_equal(c.path, etc);
    assert_int_equal(c.settle_ms, 5);
    assert_string_equal(c.outbox, out);
    nv_agent_config_release(&c);
    free(etc);
    free(out);
}

static void
test_missing_file(void **state)
{
    struct nv_agent_config c;
    char *p = nv_path_join(dir, "agent.conf");

    (void)state;
    unlink(p);
    free(p);
    assert_int_equal(nv_agent_config_load(&c, dir), NV_ECONFIG);
    assert_non_null(strstr(nv_errmsg(NV_ECONFIG), "cannot read the configuration"));
}

static void
test_check_finds_problems(void **state)
{
    struct nv_agent_config c;
    FILE *f = tmpfile();
    char out[2048];
    size_t n;

    (void)state;
    assert_int_equal(load("entity = a\nerase_hook = /nonexistent/hook\n"
                          "[source s]\ndir = /nonexistent/exports\nkey = id\n",
                          &c),
                     0);
    /* outbox, inbox, quarantine, import dir missing; hook; source dir */
    assert_int_equal(nv_agent_config_check(&c, f), 6);
    rewind(f);
    n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    assert_non_null(strstr(out, "erase_hook '/nonexistent/hook' is not executable"));
    assert_non_null(strstr(out, "source 's' dir '/nonexistent/exports'"));
    fclose(f);
    nv_agent_config_release(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_parses),
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_entity_optional_config_elsewhere),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_guards),
        cmocka_unit_test(test_check_finds_problems),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("agent_config", tests, setup, teardown);
}
