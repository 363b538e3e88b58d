/*
 * test_hmap.c - unit tests for hub/lib/hmap.c, the hub's one hash map:
 * insert and get, key 0, growth (and the first size), iteration, deletion
 * against a reference (backward shift through probe chains and around the
 * end of the table), keys sharing a home slot, entries sharing a hash in a
 * keyed map, value sizes and alignment, and a million keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../hub/lib/hmap.h"

/* ---- helpers ---- */

static uint64_t
splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The home slot of key in m at capacity cap (as hmap.c computes it). */
static size_t
home_in(const struct nv_hmap *m, uint64_t key, size_t cap)
{
    unsigned bits = 0;

    while (((size_t)1 << bits) < cap)
        bits++;
    key ^= m->seed;
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ULL;
    key ^= key >> 33;
    return (size_t)(key >> (64 - bits));
}

/* The longest distance of an entry of m from its home. */
static size_t
max_displacement(const struct nv_hmap *m)
{
    size_t worst = 0;

    for (size_t i = 0; i < m->cap; i++) {
        uint64_t k;
        size_t h;
        memcpy(&k, m->slot + i * m->stride, sizeof(k));
        if (k == 0)
            continue;
        h = home_in(m, k, m->cap);
        if ((i - h) % m->cap > worst)
            worst = (i - h) % m->cap;
    }
    return worst;
}

static uint32_t *
put32(struct nv_hmap *m, uint64_t key, uint32_t v, int want_new)
{
    int isnew = -1;
    uint32_t *p = nv_hmap_put(m, key, &isnew);

    assert_non_null(p);
    assert_int_equal(isnew, want_new);
    if (want_new)
        assert_int_equal(*p, 0); /* a new value is zeroed */
    *p = v;
    return p;
}

static void
has32(const struct nv_hmap *m, uint64_t key, uint32_t want)
{
    uint32_t *p = nv_hmap_get(m, key);

    if (p == NULL)
        fail_msg("key %llx is missing", (unsigned long long)key);
    if (*p != want)
        fail_msg("key %llx: value %u, want %u", (unsigned long long)key, *p, want);
}

/* ---- tests ---- */

static void
test_insert_get(void **state)
{
    struct nv_hmap m;
    uint32_t *p;

    (void)state;
    nv_hmap_init(&m, sizeof(uint32_t), 0);
    assert_null(nv_hmap_get(&m, 1)); /* nothing allocated yet */
    assert_int_equal(nv_hmap_del(&m, 1), 0);
    for (uint32_t i = 1; i <= 1000; i++)
        put32(&m, i, i * 3, 1);
    assert_int_equal(nv_hmap_count(&m), 1000);
    for (uint32_t i = 1; i <= 1000; i++)
        has32(&m, i, i * 3);
    assert_null(nv_hmap_get(&m, 1001));
    assert_null(nv_hmap_get(&m, UINT64_MAX));
    /* put of a present key: the same value, not new */
    p = nv_hmap_put(&m, 500, NULL);
    assert_non_null(p);
    assert_int_equal(*p, 1500);
    *p = 7;
    put32(&m, 500, 8, 0);
    has32(&m, 500, 8);
    assert_int_equal(nv_hmap_count(&m), 1000);
    nv_hmap_release(&m);
    assert_int_equal(nv_hmap_count(&m), 0);
    assert_null(nv_hmap_get(&m, 500));
    /* usable again after release, same value size */
    put32(&m, 500, 9, 1);
    has32(&m, 500, 9);
    nv_hmap_release(&m);
}

static void
test_zero_key(void **state)
{
    struct nv_hmap m;
    size_t it = 0, seen = 0;
    uint64_t k;
    uint32_t *v;

    (void)state;
    nv_hmap_init(&m, sizeof(uint32_t), 0);
    assert_null(nv_hmap_get(&m, 0));
    put32(&m, 0, 11, 1);
    put32(&m, 1, 12, 1);
    has32(&m, 0, 11);
    has32(&m, 1, 12);
    put32(&m, 0, 13, 0);
    assert_int_equal(nv_hmap_count(&m), 2);
    for (uint32_t i = 2; i < 100; i++) /* growth carries key 0 along */
        put32(&m, i, i, 1);
    has32(&m, 0, 13);
    while ((v = nv_hmap_next(&m, &it, &k)) != NULL) {
        assert_int_equal(*v, k == 0 ? 13 : k == 1 ? 12 : k);
        seen++;
    }
    assert_int_equal(seen, 100);
    assert_int_equal(nv_hmap_del(&m, 0), 1);
    assert_int_equal(nv_hmap_del(&m, 0), 0);
    assert_null(nv_hmap_get(&m, 0));
    has32(&m, 1, 12);
    assert_int_equal(nv_hmap_count(&m), 99);
    nv_hmap_release(&m);
}

static void
test_grow(void **state)
{
    struct nv_hmap m;
    size_t cap;

    (void)state;
    nv_hmap_init(&m, sizeof(uint64_t), 0);
    for (uint64_t i = 1; i <= 100000; i++) {
        uint64_t *p = nv_hmap_put(&m, i * 0x10001, NULL);
        assert_non_null(p);
        *p = ~i;
        assert_true(m.n * 2 <= m.cap); /* load at most one half */
    }
    for (uint64_t i = 1; i <= 100000; i++) {
        uint64_t *p = nv_hmap_get(&m, i * 0x10001);
        assert_non_null(p);
        assert_true(*p == ~i);
    }
    nv_hmap_release(&m);
    /* expected_n: the first allocation holds that many without growing */
    nv_hmap_init(&m, sizeof(uint32_t), 5000);
    put32(&m, 1, 1, 1);
    cap = m.cap;
    assert_true(cap >= 10000);
    for (uint32_t i = 2; i <= cap / 2; i++) /* a power of two, half full */
        put32(&m, i, i, 1);
    assert_int_equal(m.cap, cap);
    put32(&m, cap / 2 + 1, 0, 1);
    assert_int_equal(m.cap, 2 * cap);
    for (uint32_t i = 1; i <= cap / 2; i++)
        has32(&m, i, i);
    nv_hmap_release(&m);
}

static void
test_iterate(void **state)
{
    struct nv_hmap m;
    enum { N = 20000 };
    uint8_t *seen = calloc(N + 1, 1);
    size_t it = 0, n = 0;
    uint64_t k;
    uint32_t *v;

    (void)state;
    assert_non_null(seen);
    nv_hmap_init(&m, sizeof(uint32_t), 0);
    it = 0;
    assert_null(nv_hmap_next(&m, &it, &k)); /* empty */
    for (uint32_t i = 1; i <= N; i++)
        put32(&m, i, i + 1, 1);
    it = 0;
    while ((v = nv_hmap_next(&m, &it, &k)) != NULL) {
        assert_true(k >= 1 && k <= N);
        assert_int_equal(seen[k], 0);
        seen[k] = 1;
        assert_int_equal(*v, k + 1);
        *v = 0; /* values may change on the way */
        n++;
    }
    assert_int_equal(n, N);
    assert_null(nv_hmap_next(&m, &it, &k)); /* stays at the end */
    for (uint32_t i = 1; i <= N; i++)
        has32(&m, i, 0);
    /* without the key */
    it = 0;
    n = 0;
    while (nv_hmap_next(&m, &it, NULL) != NULL)
        n++;
    assert_int_equal(n, N);
    nv_hmap_release(&m);
    free(seen);
}

/* Deletion against a reference, keys chosen to make long probe chains:
 * random inserts and deletes over a small key space. */
static void
test_delete(void **state)
{
    struct nv_hmap m;
    enum { KEYS = 3000, STEPS = 200000 };
    int64_t *ref = malloc(KEYS * sizeof(*ref)); /* -1: absent */
    uint64_t s = 7;
    size_t live = 0;

    (void)state;
    assert_non_null(ref);
    for (size_t i = 0; i < KEYS; i++)
        ref[i] = -1;
    nv_hmap_init(&m, sizeof(uint32_t), 0);
    for (size_t step = 0; step < STEPS; step++) {
        uint64_t r = splitmix(&s);
        size_t i = (size_t)(r % KEYS);
        uint64_t key = i * 0x100000001ULL; /* key 0 included */
        if (r >> 63) {
            int isnew;
            uint32_t *p = nv_hmap_put(&m, key, &isnew);
            assert_non_null(p);
            assert_int_equal(isnew, ref[i] < 0);
            live += ref[i] < 0;
            *p = (uint32_t)step;
            ref[i] = (int64_t)step;
        } else {
            assert_int_equal(nv_hmap_del(&m, key), ref[i] >= 0);
            live -= ref[i] >= 0;
            ref[i] = -1;
        }
        if (step % 10000 == 0 || step == STEPS - 1) {
            assert_int_equal(nv_hmap_count(&m), live);
            for (size_t j = 0; j < KEYS; j++) {
                uint32_t *p = nv_hmap_get(&m, j * 0x100000001ULL);
                if (ref[j] < 0)
                    assert_null(p);
                else
                    has32(&m, j * 0x100000001ULL, (uint32_t)ref[j]);
            }
        }
    }
    nv_hmap_release(&m);
    free(ref);
}

/* Keys whose home is the same slot, and a chain that wraps around the end
 * of the table: each is found, and deleting from the middle of the chain
 * keeps the rest reachable. */
static void
test_collisions(void **state)
{
    struct nv_hmap m;
    uint64_t keys[7], wrap[7];
    size_t nk = 0, nw = 0;

    (void)state;
    nv_hmap_init(&m, sizeof(uint32_t), 8); /* 16 entries, 8 at most */
    for (uint64_t k = 1; nk < 7 || nw < 7; k++) {
        size_t h = home_in(&m, k, 16);
        if (h == 5 && nk < 7)
            keys[nk++] = k;
        else if (h == 15 && nw < 7)
            wrap[nw++] = k;
    }
    for (size_t i = 0; i < 7; i++)
        put32(&m, keys[i], (uint32_t)i, 1);
    assert_int_equal(m.cap, 16);
    for (size_t i = 0; i < 7; i++)
        has32(&m, keys[i], (uint32_t)i);
    assert_int_equal(nv_hmap_del(&m, keys[1]), 1);
    assert_int_equal(nv_hmap_del(&m, keys[4]), 1);
    assert_null(nv_hmap_get(&m, keys[1]));
    assert_null(nv_hmap_get(&m, keys[4]));
    for (size_t i = 0; i < 7; i++)
        if (i != 1 && i != 4)
            has32(&m, keys[i], (uint32_t)i);
    nv_hmap_release(&m); /* same seed: the same homes */
    for (size_t i = 0; i < 7; i++) /* 15, then 0, 1, ... */
        put32(&m, wrap[i], (uint32_t)i + 100, 1);
    assert_int_equal(m.cap, 16);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(nv_hmap_del(&m, wrap[i]), 1);
        for (size_t j = i + 1; j < 7; j++)
            has32(&m, wrap[j], (uint32_t)j + 100);
    }
    assert_int_equal(nv_hmap_count(&m), 0);
    nv_hmap_release(&m);
}

/* One map filled from another's iteration: the keys must not arrive in
 * the order of their homes (with one hash for both, the first eighth of
 * a big map's keys took the first eighth of the small map's homes). */
static void
test_copy_in_iteration_order(void **state)
{
    struct nv_hmap a, b;
    enum { N = 1 << 17 };
    uint64_t s = 3, k;
    size_t it = 0;

    (void)state;
    nv_hmap_init(&a, 0, N);
    for (size_t i = 0; i < N; i++)
        assert_non_null(nv_hmap_put(&a, splitmix(&s), NULL));
    nv_hmap_init(&b, 0, N / 8);
    for (size_t i = 0; i < N / 8 && nv_hmap_next(&a, &it, &k) != NULL; i++)
        assert_non_null(nv_hmap_put(&b, k, NULL));
    assert_int_equal(nv_hmap_count(&b), N / 8);
    assert_int_equal(b.cap, N / 4); /* no growth to hide a pile-up */
    if (max_displacement(&b) > 200)
        fail_msg("keys piled up: an entry %zu slots from its home", max_displacement(&b));
    nv_hmap_release(&a);
    nv_hmap_release(&b);
}

/* A keyed map: the full key lives in the value, entries share hashes. */
struct named {
    char name[24];
    int v;
};

static int
named_eq(const void *value, const void *key)
{
    return strcmp(((const struct named *)value)->name, key) == 0;
}

static uint64_t
weak_hash(const char *s)
{
    return strlen(s) % 3; /* 0, 1 or 2: nearly every entry shares one */
}

static void
test_keyed_collisions(void **state)
{
    struct nv_hmap m;
    char name[24];
    struct named *e;
    int isnew;

    (void)state;
    nv_hmap_init_eq(&m, sizeof(struct named), 0, named_eq);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        e = nv_hmap_insert(&m, weak_hash(name), name, &isnew);
        assert_non_null(e);
        assert_int_equal(isnew, 1);
        assert_int_equal(e->name[0], '\0'); /* zeroed: the caller writes the key */
        snprintf(e->name, sizeof(e->name), "%s", name);
        e->v = i;
    }
    assert_int_equal(nv_hmap_count(&m), 300);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        e = nv_hmap_find(&m, weak_hash(name), name);
        assert_non_null(e);
        assert_string_equal(e->name, name);
        assert_int_equal(e->v, i);
        e = nv_hmap_insert(&m, weak_hash(name), name, &isnew);
        assert_int_equal(isnew, 0);
        assert_int_equal(e->v, i);
    }
    assert_null(nv_hmap_find(&m, weak_hash("n300"), "n300"));
    /* the right hash is needed too */
    assert_null(nv_hmap_find(&m, 12345, "n7"));
    for (int i = 0; i < 300; i += 2) {
        snprintf(name, sizeof(name), "n%d", i);
        assert_int_equal(nv_hmap_remove(&m, weak_hash(name), name), 1);
        assert_int_equal(nv_hmap_remove(&m, weak_hash(name), name), 0);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        e = nv_hmap_find(&m, weak_hash(name), name);
        if (i % 2 == 0) {
            assert_null(e);
        } else {
            assert_non_null(e);
            assert_int_equal(e->v, i);
        }
    }
    assert_int_equal(nv_hmap_count(&m), 150);
    nv_hmap_release(&m);
}

/* Values of any size, aligned as their size allows, intact through growth. */
static void
test_value_sizes(void **state)
{
    static const size_t sizes[] = { 0, 1, 3, 4, 8, 12, 24, 40 };

    (void)state;
    for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
        struct nv_hmap m;
        size_t vs = sizes[z], align = vs & -vs;
        if (align == 0 || align > 8)
            align = 8;
        nv_hmap_init(&m, vs, 0);
        for (uint64_t k = 1; k <= 5000; k++) {
            unsigned char *p = nv_hmap_put(&m, k, NULL);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % align, 0);
            memset(p, (int)(k & 0xff), vs);
        }
        assert_int_equal(nv_hmap_count(&m), 5000);
        for (uint64_t k = 1; k <= 5000; k++) {
            unsigned char *p = nv_hmap_get(&m, k);
            assert_non_null(p);
            for (size_t i = 0; i < vs; i++)
                assert_int_equal(p[i], k & 0xff);
        }
        assert_null(nv_hmap_get(&m, 5001));
        nv_hmap_release(&m);
    }
}

static void
test_million(void **state)
{
    struct nv_hmap m;
    enum { N = 1000000 };
    uint64_t s = 1, *keys = malloc(N * sizeof(uint64_t));

    (void)state;
    assert_non_null(keys);
    nv_hmap_init(&m, sizeof(uint32_t), 0);
    for (uint32_t i = 0; i < N; i++) {
        keys[i] = splitmix(&s);
        uint32_t *p = nv_hmap_put(&m, keys[i], NULL);
        assert_non_null(p);
        *p = i;
    }
    assert_int_equal(nv_hmap_count(&m), N); /* no two random keys alike */
    for (uint32_t i = 0; i < N; i++) {
        uint32_t *p = nv_hmap_get(&m, keys[i]);
        if (p == NULL || *p != i)
            fail_msg("key %u lost", i);
    }
    for (uint32_t i = 0; i < 1000; i++)
        assert_null(nv_hmap_get(&m, splitmix(&s)));
    for (uint32_t i = 0; i < N; i += 2)
        assert_int_equal(nv_hmap_del(&m, keys[i]), 1);
    assert_int_equal(nv_hmap_count(&m), N / 2);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t *p = nv_hmap_get(&m, keys[i]);
        if (i % 2 == 0 ? p != NULL : p == NULL || *p != i)
            fail_msg("key %u wrong after deletions", i);
    }
    nv_hmap_release(&m);
    free(keys);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_get),
        cmocka_unit_test(test_zero_key),
        cmocka_unit_test(test_grow),
        cmocka_unit_test(test_iterate),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_copy_in_iteration_order),
        cmocka_unit_test(test_keyed_collisions),
        cmocka_unit_test(test_value_sizes),
        cmocka_unit_test(test_million),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
