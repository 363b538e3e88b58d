/*
 * hmap.c - the hub's hash map (hmap.h).
 *
 * An entry is the 64-bit key (read and written with memcpy: with a 4-byte
 * value the stride is 12) and the value right after it, so that a lookup
 * touches one place in memory.  Key 0 marks a free entry; an exact map
 * keeps key 0 itself in one more entry past the table.
 *
 * The home of a key is the top bits of a mix of the key and the map's own
 * seed (murmur3's finaliser): rids, which come in sequence, spread as well
 * as hashes do, and two maps order the same keys differently.  With one
 * hash for all maps, copying a big map into a small one in iteration order
 * (lc_tfadd over a bundle's term-frequency changes) fed it keys sorted by
 * home, which piled up into one run of entries: the first bundle of the
 * 200,000-record benchmark spent 6 s more in its store step.
 */
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

#define MIN_CAP 16

static uint64_t
key_at(const unsigned char *e)
{
    uint64_t k;

    memcpy(&k, e, sizeof(k));
    return k;
}

static void
key_set(unsigned char *e, uint64_t k)
{
    memcpy(e, &k, sizeof(k));
}

static unsigned char *
entry(const struct nv_hmap *m, size_t i)
{
    return m->slot + i * m->stride;
}

static size_t
home(const struct nv_hmap *m, uint64_t k)
{
    k ^= m->seed;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return (size_t)(k >> m->shift);
}

/* A seed per map, the same from run to run (a counter, spread out). */
static uint64_t
next_seed(void)
{
    static uint64_t maps;

    return (__atomic_add_fetch(&maps, 1, __ATOMIC_RELAXED)) * 0x9e3779b97f4a7c15ULL;
}

static size_t
cap_for(size_t n)
{
    size_t cap = MIN_CAP;

    while (cap / 2 < n && cap < ((size_t)1 << (sizeof(size_t) * 8 - 2)))
        cap <<= 1;
    return cap;
}

void
nv_hmap_init_eq(struct nv_hmap *m, size_t value_size, size_t expected_n, nv_hmap_eq_fn eq)
{
    /* the stride keeps the value aligned as its size allows (a struct's
     * size is a multiple of its alignment) */
    size_t a = value_size & -value_size;

    if (a == 0 || a > 8)
        a = 8;
    memset(m, 0, sizeof(*m));
    m->vsize = value_size;
    m->stride = (8 + value_size + a - 1) / a * a;
    m->first_cap = cap_for(expected_n);
    m->seed = next_seed();
    m->eq = eq;
}

void
nv_hmap_init(struct nv_hmap *m, size_t value_size, size_t expected_n)
{
    nv_hmap_init_eq(m, value_size, expected_n, NULL);
}

void
nv_hmap_release(struct nv_hmap *m)
{
    free(m->slot);
    m->slot = NULL;
    m->cap = 0;
    m->n = 0;
    m->shift = 0;
    m->zero = 0;
}

/* A keyed map keeps hash 0 as 1 (eq tells the entries apart). */
static uint64_t
fold(const struct nv_hmap *m, uint64_t h)
{
    return m->eq != NULL && h == 0 ? 1 : h;
}

static int
same(const struct nv_hmap *m, const unsigned char *e, const void *key)
{
    return m->eq == NULL || key == NULL || m->eq(e + 8, key);
}

/* The entry of key (k != 0), or the free entry that ends its probe. */
static unsigned char *
probe(const struct nv_hmap *m, uint64_t k, const void *key, int *found)
{
    size_t mask = m->cap - 1;

    for (size_t i = home(m, k);; i = (i + 1) & mask) {
        unsigned char *e = entry(m, i);
        uint64_t ek = key_at(e);
        if (ek == 0) {
            *found = 0;
            return e;
        }
        if (ek == k && same(m, e, key)) {
            *found = 1;
            return e;
        }
    }
}

static int
grow(struct nv_hmap *m)
{
    size_t ncap = m->cap ? 2 * m->cap : m->first_cap;
    struct nv_hmap g = *m;
    unsigned shift = 64;

    if (ncap < m->cap)
        return -1;
    for (size_t c = ncap; c > 1; c >>= 1)
        shift--;
    if ((g.slot = calloc(ncap + 1, m->stride)) == NULL)
        return -1;
    g.cap = ncap;
    g.shift = shift;
    for (size_t i = 0; i < m->cap; i++) {
        const unsigned char *e = entry(m, i);
        uint64_t k = key_at(e);
        size_t j;
        if (k == 0)
            continue;
        for (j = home(&g, k); key_at(entry(&g, j)) != 0; j = (j + 1) & (ncap - 1))
            ;
        memcpy(entry(&g, j), e, m->stride);
    }
    if (m->zero)
        memcpy(entry(&g, ncap), entry(m, m->cap), m->stride);
    free(m->slot);
    *m = g;
    return 0;
}

void *
nv_hmap_find(const struct nv_hmap *m, uint64_t h, const void *key)
{
    unsigned char *e;
    int found;

    if (m->cap == 0)
        return NULL;
    h = fold(m, h);
    if (h == 0)
        return m->zero ? entry(m, m->cap) + 8 : NULL;
    e = probe(m, h, key, &found);
    return found ? e + 8 : NULL;
}

void *
nv_hmap_insert(struct nv_hmap *m, uint64_t h, const void *key, int *isnew)
{
    unsigned char *e;
    int found;

    if (isnew != NULL)
        *isnew = 0;
    h = fold(m, h);
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return NULL;
    if (h == 0) {
        e = entry(m, m->cap);
        if (m->zero)
            return e + 8;
        m->zero = 1;
    } else {
        e = probe(m, h, key, &found);
        if (found)
            return e + 8;
        key_set(e, h);
    }
    memset(e + 8, 0, m->vsize);
    m->n++;
    if (isnew != NULL)
        *isnew = 1;
    return e + 8;
}

int
nv_hmap_remove(struct nv_hmap *m, uint64_t h, const void *key)
{
    size_t mask = m->cap - 1, i, j;
    unsigned char *e;
    int found;

    if (m->cap == 0)
        return 0;
    h = fold(m, h);
    if (h == 0) {
        if (!m->zero)
            return 0;
        m->zero = 0;
        m->n--;
        return 1;
    }
    e = probe(m, h, key, &found);
    if (!found)
        return 0;
    /* backward shift: an entry after the hole moves into it unless its
     * home lies in (hole, entry], cyclically */
    i = (size_t)(e - m->slot) / m->stride;
    for (j = (i + 1) & mask; key_at(entry(m, j)) != 0; j = (j + 1) & mask) {
        size_t hj = home(m, key_at(entry(m, j)));
        if (j > i ? (hj <= i || hj > j) : (hj <= i && hj > j)) {
            memcpy(entry(m, i), entry(m, j), m->stride);
            i = j;
        }
    }
    key_set(entry(m, i), 0);
    m->n--;
    return 1;
}

void *
nv_hmap_get(const struct nv_hmap *m, uint64_t key)
{
    return nv_hmap_find(m, key, NULL);
}

void *
nv_hmap_put(struct nv_hmap *m, uint64_t key, int *isnew)
{
    return nv_hmap_insert(m, key, NULL, isnew);
}

int
nv_hmap_del(struct nv_hmap *m, uint64_t key)
{
    return nv_hmap_remove(m, key, NULL);
}

void *
nv_hmap_next(const struct nv_hmap *m, size_t *it, uint64_t *key)
{
    for (size_t i = *it; i < m->cap; i++) {
        unsigned char *e = entry(m, i);
        uint64_t k = key_at(e);
        if (k == 0)
            continue;
        *it = i + 1;
        if (key != NULL)
            *key = k;
        return e + 8;
    }
    if (m->zero && *it <= m->cap) {
        *it = m->cap + 1;
        if (key != NULL)
            *key = 0;
        return entry(m, m->cap) + 8;
    }
    return NULL;
}
