/*
 * hmap.h - the hub's one hash map: open addressing (linear probing,
 * backward-shift deletion, no tombstones) keyed by a 64-bit hash, with
 * values of a size given at init stored inline beside their key.  libc
 * only; the lowest room of the hub (mk/layers.sh).
 *
 * Two kinds of map:
 *
 *  - Exact (nv_hmap_init): the 64-bit key is the whole key (a rid, a
 *    term-frequency key, a hash the caller is content to trust).  Every
 *    64-bit value is a key, 0 included.  nv_hmap_get / put / del.
 *
 *  - Keyed (nv_hmap_init_eq): the 64-bit key is a hash of a longer key the
 *    caller keeps inside the value (an RCU string, a record key, a pointer
 *    to one).  Entries may share a hash; eq(value, key) tells them apart.
 *    nv_hmap_find / insert / remove, with the full key.  (A hash of 0 is
 *    kept as 1 there: eq decides anyway.)
 *
 * A pointer to a value is good until the next insertion or deletion in the
 * map (either may move the entries).  A new value is zeroed.  The map
 * keeps its load at most one half and doubles when it would pass it.
 * Each map places keys with its own seed, so that filling one map from
 * another's iteration does not pile the keys up (hmap.c).
 */
#ifndef NOVA_HMAP_H
#define NOVA_HMAP_H

#include <stddef.h>
#include <stdint.h>

/* Does value (in the map) hold key (as given to find/insert/remove)? */
typedef int (*nv_hmap_eq_fn)(const void *value, const void *key);

struct nv_hmap {
    unsigned char *slot; /* cap + 1 entries of stride bytes: key, value */
    size_t cap;          /* a power of two; 0 until the first insertion */
    size_t n;            /* entries */
    size_t vsize, stride;
    size_t first_cap;    /* the capacity of the first allocation */
    unsigned shift;      /* 64 - log2(cap) */
    uint64_t seed;       /* mixed into each key's home (hmap.c) */
    int zero;            /* exact maps: key 0 is held, in the last entry */
    nv_hmap_eq_fn eq;    /* NULL: an exact map */
};

/* An empty exact map of values of value_size bytes (0: a set); expected_n
 * sizes the first allocation (made by the first insertion). */
void nv_hmap_init(struct nv_hmap *m, size_t value_size, size_t expected_n);
/* An empty keyed map: eq compares a value with a full key. */
void nv_hmap_init_eq(struct nv_hmap *m, size_t value_size, size_t expected_n,
                     nv_hmap_eq_fn eq);
/* Free the memory; the map is empty again, same value size and eq. */
void nv_hmap_release(struct nv_hmap *m);

/* Exact maps.  The value of key, or NULL. */
void *nv_hmap_get(const struct nv_hmap *m, uint64_t key);
/* The value of key, added (zeroed, *isnew = 1) if absent; NULL if out of
 * memory.  isnew may be NULL. */
void *nv_hmap_put(struct nv_hmap *m, uint64_t key, int *isnew);
/* Remove key: 1 if it was there, 0 if not. */
int nv_hmap_del(struct nv_hmap *m, uint64_t key);

/* Keyed maps: the same, for the entry of hash h whose value holds key.  A
 * new entry's value is zeroed: the caller writes the key into it. */
void *nv_hmap_find(const struct nv_hmap *m, uint64_t h, const void *key);
void *nv_hmap_insert(struct nv_hmap *m, uint64_t h, const void *key, int *isnew);
int nv_hmap_remove(struct nv_hmap *m, uint64_t h, const void *key);

/* Iteration, in no particular order: start with *it = 0; each call gives
 * the next value (and its key or hash in *key, if not NULL), NULL at the
 * end.  Values may be changed on the way, entries not added or removed. */
void *nv_hmap_next(const struct nv_hmap *m, size_t *it, uint64_t *key);

/* FNV-1a, 64-bit: the hub's hash of strings and byte runs for map keys,
 * continued from h.  Two starts are in use and stay as they are, since
 * some values are stored (link.c's term keys in LMDB) and map orders are
 * seen in outputs: NV_FNV_OFFSET, FNV's own offset basis, and
 * NV_FNV_OFFSET_LINK, the one link.c began with (the basis a digit
 * short). */
#define NV_FNV_OFFSET 0xcbf29ce484222325ULL
#define NV_FNV_OFFSET_LINK 1469598103934665603ULL
#define NV_FNV_PRIME 0x100000001b3ULL

static inline uint64_t
nv_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * NV_FNV_PRIME;
    return h;
}

static inline uint64_t
nv_fnv1a_str(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * NV_FNV_PRIME;
    return h;
}

static inline size_t
nv_hmap_count(const struct nv_hmap *m)
{
    return m->n;
}

#endif
