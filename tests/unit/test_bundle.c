/*
 * test_bundle.c - unit tests for formats/manifest.c, formats/bundle.c,
 * formats/stream.c and keys/keyring.c: round trip, exhaustive tamper tests
 * (every truncation, every byte flipped), wrong recipient, unknown, forged
 * and revoked signers, replay, gap, fork, oversized bundles, unsafe archive
 * entries and compression bombs.  Every refusal must also deliver nothing
 * unauthenticated to the sink.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>
#include <zstd.h>

#include "../../formats/bundle.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"
#include "../../formats/stream.h"
#include "../../keys/identity.h"
#include "../../keys/keyring.h"

static char tmp[256];
static struct nv_identity agent, hub, stranger, otherhub;
static struct nv_keyring kr; /* hub's view: knows agent */

/* ---- fixtures ---- */

static void
make_identity(const char *name, int role, struct nv_identity *out)
{
    char dir[512];

    snprintf(dir, sizeof(dir), "%s/%s", tmp, name);
    assert_int_equal(nv_identity_create(dir, name, role), 0);
    assert_int_equal(nv_identity_load(dir, out), 0);
}

static int
setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "%s/nova-test-bundle-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmp) == NULL)
        return -1;
    make_identity("acme", NV_ROLE_AGENT, &agent);
    make_identity("hub", NV_ROLE_HUB, &hub);
    make_identity("mallory", NV_ROLE_AGENT, &stranger);
    make_identity("hub2", NV_ROLE_HUB, &otherhub);
    memset(&kr, 0, sizeof(kr));
    assert_int_equal(nv_keyring_add(&kr, &agent.pub, NULL, 0, 0), 0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    nv_identity_release(&agent);
    nv_identity_release(&hub);
    nv_identity_release(&stranger);
    nv_identity_release(&otherhub);
    nv_keyring_release(&kr);
    (void)nv_rm_rf(tmp);
    return 0;
}

static char *
tpath(const char *name)
{
    static char p[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", tmp, name);
    return p[i];
}

/* Seal records into path; id and manifest out. */
static void
seal(const char *path, const struct nv_identity *from, const uint8_t *to_pk,
     uint64_t seq, const uint8_t *prev, int nrec, uint8_t id[32],
     struct nv_manifest *m)
{
    struct nv_bundle_params p;
    struct nv_bundle_writer *w;
    char line[128];

    memset(&p, 0, sizeof(p));
    p.kind = NV_KIND_CHANGES;
    p.sender = from->pub.entity;
    p.recipient = "hub";
    p.sign_key = from->sign;
    p.recipient_pk = to_pk;
    p.seq = seq;
    p.prev = prev;
    p.part = 1;
    p.final = 1;
    p.created = 1700000000;
    p.zstd_threads = 1;
    p.tmp_dir = tmp;
    unlink(path);
    assert_int_equal(nv_bundle_writer_new(&w, &p), 0);
    for (int i = 0; i < nrec; i++) {
        int n = snprintf(line, sizeof(line),
                         "{\"op\":\"upsert\",\"key\":\"K%d\",\"fields\":{\"a\":\"%d\"}}",
                         i, i);
        assert_int_equal(nv_bundle_add_record(w, line, (size_t)n), 0);
    }
    nv_bundle_set_counts(w, (uint64_t)nrec, (uint64_t)nrec, 0, 0);
    assert_int_equal(nv_bundle_writer_finish(w, path, id, m), 0);
    nv_bundle_writer_free(w);
}

struct collect {
    struct nv_buf names;
    struct nv_buf data;
    uint64_t delivered;
};

static int
c_entry(void *ctx, const char *name, uint64_t size)
{
    struct collect *c = ctx;
    (void)size;
    return nv_buf_addf(&c->names, "%s\n", name);
}

static int
c_data(void *ctx, const void *p, size_t n)
{
    struct collect *c = ctx;
    c->delivered += n;
    return c->data.len < (1u << 20) ? nv_buf_add(&c->data, p, n) : 0;
}

static int
c_end(void *ctx)
{
    (void)ctx;
    return 0;
}

/* The whole reader pipeline, as the hub runs it. */
static int
open_all(const char *path, struct nv_keyring *ring, struct nv_identity *as,
         uint64_t max_payload, const struct nv_open_limits *lim,
         struct collect *c)
{
    struct nv_bundle b;
    struct nv_payload_sink sink = { c_entry, c_data, c_end, c };
    int r;

    if ((r = nv_bundle_read(&b, path, max_payload)) < 0)
        return r;
    r = nv_bundle_verify(&b, nv_keyring_lookup, ring);
    if (r == 0)
        r = nv_bundle_open_payload(&b, as->age, as->nage, &sink, lim);
    nv_bundle_release(&b);
    return r;
}

static void
collect_init(struct collect *c)
{
    memset(c, 0, sizeof(*c));
}

static void
collect_release(struct collect *c)
{
    nv_buf_release(&c->names);
    nv_buf_release(&c->data);
}

static void
read_all(const char *path, struct nv_buf *b)
{
    nv_buf_init(b);
    assert_int_equal(nv_read_file(path, 1u << 30, b), 0);
}

/* ---- tests ---- */

static void
test_round_trip(void **state)
{
    struct collect c;
    struct nv_manifest m;
    uint8_t id[32];

    (void)state;
    seal(tpath("rt.nova"), &agent, hub.pub.age, 1, NULL, 3, id, &m);
    collect_init(&c);
    assert_int_equal(open_all(tpath("rt.nova"), &kr, &hub, 0, NULL, &c), 0);
    assert_string_equal((char *)c.names.data, "changes-000001.ndjson\n");
    assert_non_null(strstr((char *)c.data.data, "\"key\":\"K2\""));
    assert_int_equal(m.records, 3);
    assert_int_equal(m.seq, 1);
    assert_false(m.has_prev);
    collect_release(&c);
}

static void
test_manifest_canonical(void **state)
{
    struct nv_bundle b;
    struct nv_manifest m, m2;
    struct nv_buf text = NV_BUF_INIT, bad = NV_BUF_INIT;
    uint8_t id[32];
    char *p;

    (void)state;
    seal(tpath("m.nova"), &agent, hub.pub.age, 1, NULL, 1, id, &m);
    assert_int_equal(nv_bundle_read(&b, tpath("m.nova"), 0), 0);
    assert_int_equal(nv_manifest_format(&b.m, &text), 0);
    assert_int_equal(text.len, b.manifest_text.len);
    assert_memory_equal(text.data, b.manifest_text.data, text.len);
    assert_int_equal(nv_manifest_parse((char *)text.data, text.len, &m2), 0);
    /* a leading zero in seq is not canonical */
    assert_int_equal(nv_buf_add(&bad, text.data, text.len), 0);
    p = strstr((char *)bad.data, "seq: 1\n");
    assert_non_null(p);
    nv_buf_reset(&bad);
    assert_int_equal(nv_buf_add(&bad, text.data, (size_t)(p - (char *)bad.data)), 0);
    assert_int_equal(nv_buf_adds(&bad, "seq: 01\n"), 0);
    assert_int_equal(nv_buf_adds(&bad, p + strlen("seq: 1\n")), 0);
    assert_int_equal(nv_manifest_parse((char *)bad.data, bad.len, &m2), NV_EFORMAT);
    /* unsupported version */
    nv_buf_reset(&bad);
    assert_int_equal(nv_buf_adds(&bad, "nova-bundle: 2\n"), 0);
    assert_int_equal(nv_buf_adds(&bad, (char *)text.data + strlen("nova-bundle: 1\n")), 0);
    assert_int_equal(nv_manifest_parse((char *)bad.data, bad.len, &m2), NV_EFORMAT);
    assert_non_null(strstr(nv_errmsg(NV_EFORMAT), "version"));
    /* missing last line */
    assert_int_not_equal(nv_manifest_parse((char *)text.data, text.len - 80, &m2), 0);
    /* the optional acked line: before ledger-head, canonical, round trip */
    {
        struct nv_manifest ma = b.m;
        struct nv_buf t2 = NV_BUF_INIT, t3 = NV_BUF_INIT;
        ma.has_acked = 1;
        ma.acked = 41;
        memset(ma.ledger_head, 'a', 40);
        ma.ledger_head[40] = '\0';
        assert_int_equal(nv_manifest_format(&ma, &t2), 0);
        assert_non_null(strstr((char *)t2.data, "acked: 41\nledger-head: aaaa"));
        assert_int_equal(nv_manifest_parse((char *)t2.data, t2.len, &m2), 0);
        assert_int_equal(m2.has_acked, 1);
        assert_int_equal(m2.acked, 41);
        /* acked 0 is a value, not an absent line */
        ma.acked = 0;
        assert_int_equal(nv_manifest_format(&ma, &t3), 0);
        assert_int_equal(nv_manifest_parse((char *)t3.data, t3.len, &m2), 0);
        assert_int_equal(m2.has_acked, 1);
        assert_int_equal(m2.acked, 0);
        /* "acked: 041" and acked after ledger-head are refused */
        p = strstr((char *)t2.data, "acked: 41");
        p[7] = '0';
        nv_buf_reset(&bad);
        assert_int_equal(nv_buf_add(&bad, t2.data, (size_t)(p + 7 - (char *)t2.data)), 0);
        assert_int_equal(nv_buf_adds(&bad, "041"), 0);
        assert_int_equal(nv_buf_adds(&bad, p + 9), 0);
        assert_int_equal(nv_manifest_parse((char *)bad.data, bad.len, &m2), NV_EFORMAT);
        nv_buf_reset(&bad);
        assert_int_equal(nv_buf_add(&bad, text.data, text.len), 0);
        assert_int_equal(nv_buf_adds(&bad, "ledger-head: "), 0);
        for (int i = 0; i < 40; i++)
            assert_int_equal(nv_buf_adds(&bad, "a"), 0);
        assert_int_equal(nv_buf_adds(&bad, "\nacked: 3\n"), 0);
        assert_int_equal(nv_manifest_parse((char *)bad.data, bad.len, &m2), NV_EFORMAT);
        nv_buf_release(&t2);
        nv_buf_release(&t3);
    }
    /* the optional epoch and snapshot lines (a rebase): before acked, in
     * that order; absent they are epoch 0 and no snapshot, so a manifest
     * written before them reads as it did; kind rebase round trips */
    {
        struct nv_manifest me = b.m;
        struct nv_buf t2 = NV_BUF_INIT;
        assert_int_equal(b.m.epoch, 0);
        assert_int_equal(b.m.snapshot, 0);
        assert_null(strstr((char *)text.data, "epoch:"));
        me.epoch = 2;
        me.snapshot = 1;
        me.has_acked = 1;
        me.acked = 7;
        assert_int_equal(nv_manifest_format(&me, &t2), 0);
        assert_non_null(strstr((char *)t2.data, "\nepoch: 2\nsnapshot: yes\nacked: 7\n"));
        assert_int_equal(nv_manifest_parse((char *)t2.data, t2.len, &m2), 0);
        assert_int_equal(m2.epoch, 2);
        assert_int_equal(m2.snapshot, 1);
        /* "epoch: 0" is not canonical (absent is 0), "snapshot: no" is refused */
        nv_buf_reset(&bad);
        assert_int_equal(nv_buf_add(&bad, text.data, text.len), 0);
        assert_int_equal(nv_buf_adds(&bad, "epoch: 0\n"), 0);
        assert_int_equal(nv_manifest_parse((char *)bad.data, bad.len, &m2), NV_EFORMAT);
        nv_buf_reset(&bad);
        assert_int_equal(nv_buf_add(&bad, text.data, text.len), 0);
        assert_int_equal(nv_buf_adds(&bad, "snapshot: no\n"), 0);
        assert_int_equal(nv_manifest_parse((char *)bad.data, bad.len, &m2), NV_EFORMAT);
        /* snapshot before epoch is refused */
        nv_buf_reset(&bad);
        assert_int_equal(nv_buf_add(&bad, text.data, text.len), 0);
        assert_int_equal(nv_buf_adds(&bad, "snapshot: yes\nepoch: 2\n"), 0);
        assert_int_equal(nv_manifest_parse((char *)bad.data, bad.len, &m2), NV_EFORMAT);
        me.kind = NV_KIND_REBASE;
        nv_buf_reset(&t2);
        assert_int_equal(nv_manifest_format(&me, &t2), 0);
        assert_non_null(strstr((char *)t2.data, "kind: rebase\n"));
        assert_int_equal(nv_manifest_parse((char *)t2.data, t2.len, &m2), 0);
        assert_int_equal(m2.kind, NV_KIND_REBASE);
        nv_buf_release(&t2);
    }
    nv_bundle_release(&b);
    nv_buf_release(&text);
    nv_buf_release(&bad);
}

/* Every truncation of a small bundle is refused as truncated. */
static void
test_every_truncation(void **state)
{
    struct nv_buf whole;
    struct nv_manifest m;
    uint8_t id[32];
    const char *cut = tpath("cut.nova");

    (void)state;
    seal(tpath("t.nova"), &agent, hub.pub.age, 1, NULL, 2, id, &m);
    read_all(tpath("t.nova"), &whole);
    for (size_t len = 0; len < whole.len; len++) {
        struct collect c;
        int r;
        unlink(cut);
        assert_int_equal(nv_write_file(cut, whole.data, len, 0600), 0);
        collect_init(&c);
        r = open_all(cut, &kr, &hub, 0, NULL, &c);
        if (r != NV_ETRUNCATED)
            fail_msg("truncated to %zu of %zu bytes: got %d (%s)", len, whole.len,
                     r, nv_errmsg(r));
        assert_int_equal(c.delivered, 0);
        collect_release(&c);
    }
    nv_buf_release(&whole);
}

/* Every single byte flipped is refused, with a code that names the part
 * that was altered, and nothing reaches the sink. */
static void
test_every_byte_flip(void **state)
{
    struct nv_buf whole;
    struct nv_manifest m;
    struct nv_bundle b;
    uint8_t id[32];
    uint64_t payload_off, payload_end;
    const char *flip = tpath("flip.nova");
    int seen_sig = 0, seen_hash = 0, seen_fmt = 0;

    (void)state;
    seal(tpath("f.nova"), &agent, hub.pub.age, 1, NULL, 2, id, &m);
    assert_int_equal(nv_bundle_read(&b, tpath("f.nova"), 0), 0);
    payload_off = b.payload_off;
    payload_end = payload_off + b.m.payload_size;
    nv_bundle_release(&b);
    read_all(tpath("f.nova"), &whole);
    /* two patterns: 0xff (every bit) and 0x01 (stays printable, so base64
     * and text stay well-formed and the signature itself must catch it) */
    for (size_t k = 0; k < 2 * whole.len; k++) {
        struct collect c;
        size_t i = k % whole.len;
        uint8_t x = k < whole.len ? 0xff : 0x01;
        int r;
        whole.data[i] ^= x;
        unlink(flip);
        assert_int_equal(nv_write_file(flip, whole.data, whole.len, 0600), 0);
        whole.data[i] ^= x;
        collect_init(&c);
        r = open_all(flip, &kr, &hub, 0, NULL, &c);
        if (r >= 0)
            fail_msg("byte %zu flipped with %02x: accepted", i, x);
        if (i >= payload_off && i < payload_end) {
            /* payload bytes: caught by the signed hash, before decryption */
            if (r != NV_EHASH)
                fail_msg("payload byte %zu flipped: got %d (%s)", i, r, nv_errmsg(r));
            seen_hash++;
        } else if (r != NV_EFORMAT && r != NV_ESIG && r != NV_EUNKNOWNKEY &&
                   r != NV_EHASH && r != NV_ETRUNCATED && r != NV_ETOOBIG) {
            fail_msg("byte %zu flipped: unexpected code %d (%s)", i, r, nv_errmsg(r));
        }
        seen_sig += r == NV_ESIG;
        seen_fmt += r == NV_EFORMAT;
        assert_int_equal(c.delivered, 0);
        collect_release(&c);
    }
    assert_true(seen_sig > 0 && seen_hash > 0 && seen_fmt > 0);
    nv_buf_release(&whole);
}

static void
test_wrong_recipient(void **state)
{
    struct collect c;
    struct nv_manifest m;
    uint8_t id[32];

    (void)state;
    seal(tpath("wr.nova"), &agent, otherhub.pub.age, 1, NULL, 1, id, &m);
    collect_init(&c);
    assert_int_equal(open_all(tpath("wr.nova"), &kr, &hub, 0, NULL, &c),
                     NV_EWRONGRCPT);
    assert_non_null(strstr(nv_errmsg(NV_EWRONGRCPT), "acme->hub bundle 1"));
    assert_int_equal(c.delivered, 0);
    /* the right hub opens it */
    assert_int_equal(open_all(tpath("wr.nova"), &kr, &otherhub, 0, NULL, &c), 0);
    collect_release(&c);
}

static void
test_unknown_signer(void **state)
{
    struct collect c;
    struct nv_manifest m;
    uint8_t id[32];

    (void)state;
    /* mallory is not enrolled */
    seal(tpath("un.nova"), &stranger, hub.pub.age, 1, NULL, 1, id, &m);
    collect_init(&c);
    assert_int_equal(open_all(tpath("un.nova"), &kr, &hub, 0, NULL, &c),
                     NV_EUNKNOWNKEY);
    assert_non_null(strstr(nv_errmsg(NV_EUNKNOWNKEY), "not enrolled"));
    assert_int_equal(c.delivered, 0);
    collect_release(&c);
}

/* A stranger who claims to be acme and forges acme's key id. */
static void
test_forged_signer(void **state)
{
    struct nv_identity fake;
    struct nv_sign_key *k;
    struct collect c;
    struct nv_manifest m;
    uint8_t id[32];

    (void)state;
    fake = stranger;
    assert_int_equal(nv_sign_key_from_seed(stranger.sign->sk, agent.sign->keyid, &k), 0);
    fake.sign = k;
    strcpy(fake.pub.entity, "acme");
    seal(tpath("fg.nova"), &fake, hub.pub.age, 1, NULL, 1, id, &m);
    nv_sign_key_free(k);
    collect_init(&c);
    assert_int_equal(open_all(tpath("fg.nova"), &kr, &hub, 0, NULL, &c), NV_ESIG);
    assert_int_equal(c.delivered, 0);
    collect_release(&c);
}

static void
test_revoked(void **state)
{
    struct nv_keyring ring;
    struct collect c;
    struct nv_manifest m;
    uint8_t id[32];
    char kid[17];

    (void)state;
    memset(&ring, 0, sizeof(ring));
    assert_int_equal(nv_keyring_add(&ring, &agent.pub, NULL, 0, 0), 0);
    seal(tpath("rv.nova"), &agent, hub.pub.age, 1, NULL, 1, id, &m);
    nv_keyid_hex(agent.pub.sign.keyid, kid);
    assert_int_equal(nv_keyring_revoke(&ring, kid, "laptop stolen"), 0);
    collect_init(&c);
    assert_int_equal(open_all(tpath("rv.nova"), &ring, &hub, 0, NULL, &c),
                     NV_EREVOKED);
    assert_non_null(strstr(nv_errmsg(NV_EREVOKED), "laptop stolen"));
    assert_int_equal(c.delivered, 0);
    /* a revoked key cannot be enrolled again */
    assert_int_equal(nv_keyring_add(&ring, &agent.pub, NULL, 0, 1), NV_EREVOKED);
    assert_int_equal(nv_keyring_revoke(&ring, "nobody", "x"), NV_ENOTFOUND);
    collect_release(&c);
    nv_keyring_release(&ring);
}

/* A new key for a known entity needs proof signed by its current key. */
static void
test_key_rotation_proof(void **state)
{
    struct nv_keyring ring;
    struct nv_identity_pub newid = agent.pub;
    struct nv_buf text = NV_BUF_INIT, sig = NV_BUF_INIT;

    (void)state;
    memset(&ring, 0, sizeof(ring));
    assert_int_equal(nv_keyring_add(&ring, &agent.pub, NULL, 0, 0), 0);
    newid.sign = stranger.pub.sign;
    assert_int_equal(nv_keyring_add(&ring, &newid, NULL, 0, 0), NV_EUNKNOWNKEY);
    /* signed by the wrong key */
    assert_int_equal(nv_identity_pub_format(&newid, &text), 0);
    assert_int_equal(nv_minisign_sign(stranger.sign, text.data, text.len, NULL,
                                      "rotation", &sig), 0);
    assert_int_not_equal(nv_keyring_add(&ring, &newid, (char *)sig.data, sig.len, 0), 0);
    nv_buf_reset(&sig);
    assert_int_equal(nv_minisign_sign(agent.sign, text.data, text.len, NULL,
                                      "rotation", &sig), 0);
    assert_int_equal(nv_keyring_add(&ring, &newid, (char *)sig.data, sig.len, 0), 0);
    assert_memory_equal(nv_keyring_active(&ring, "acme")->id.sign.keyid,
                        stranger.pub.sign.keyid, NV_KEYID_LEN);
    assert_int_equal(ring.e[0].state, NV_KEY_RETIRED);
    nv_buf_release(&text);
    nv_buf_release(&sig);
    nv_keyring_release(&ring);
}

static void
test_stream_rules(void **state)
{
    struct nv_manifest m1, m2, m3, f2;
    uint8_t id1[32], id2[32], id3[32], idf[32], bogus[32];
    struct nv_stream_state st;

    (void)state;
    seal(tpath("s1.nova"), &agent, hub.pub.age, 1, NULL, 1, id1, &m1);
    seal(tpath("s2.nova"), &agent, hub.pub.age, 2, id1, 1, id2, &m2);
    seal(tpath("s3.nova"), &agent, hub.pub.age, 3, id2, 1, id3, &m3);
    memset(bogus, 7, sizeof(bogus));
    seal(tpath("f2.nova"), &agent, hub.pub.age, 2, bogus, 1, idf, &f2);
    memset(&st, 0, sizeof(st));
    /* reordered: 3 before 2 is a gap */
    assert_int_equal(nv_stream_check(&st, &m2), NV_ESEQGAP);
    assert_int_equal(nv_stream_check(&st, &m1), 0);
    nv_stream_advance(&st, &m1, id1);
    assert_int_equal(nv_stream_check(&st, &m3), NV_ESEQGAP);
    assert_non_null(strstr(nv_errmsg(NV_ESEQGAP), "2 is missing"));
    assert_int_equal(nv_stream_check(&st, &m1), NV_EREPLAY);
    assert_int_equal(nv_stream_check(&st, &f2), NV_EFORK);
    assert_int_equal(nv_stream_check(&st, &m2), 0);
    nv_stream_advance(&st, &m2, id2);
    assert_int_equal(nv_stream_check(&st, &m2), NV_EREPLAY);
    assert_int_equal(nv_stream_check(&st, &m3), 0);
    /* storage form round trip */
    {
        uint8_t enc[NV_STREAM_STATE_LEN];
        struct nv_stream_state back;
        nv_stream_encode(&st, enc);
        nv_stream_decode(enc, &back);
        assert_int_equal(back.seq, 2);
        assert_memory_equal(back.last_id, id2, 32);
    }
}

static void
test_oversized(void **state)
{
    struct collect c;
    struct nv_manifest m;
    uint8_t id[32];

    (void)state;
    seal(tpath("big.nova"), &agent, hub.pub.age, 1, NULL, 50, id, &m);
    collect_init(&c);
    assert_int_equal(open_all(tpath("big.nova"), &kr, &hub, 64, NULL, &c),
                     NV_ETOOBIG);
    assert_int_equal(open_all(tpath("big.nova"), &kr, &hub, 1u << 20, NULL, &c), 0);
    collect_release(&c);
}

/* Build a bundle whose payload tar holds the given raw entries. */
struct raw_entry {
    const char *name;
    int type; /* AE_IFREG, AE_IFLNK, AE_IFDIR, or 0 for a hardlink */
    const char *link;
};

static void
craft(const char *path, const struct raw_entry *ents, size_t n)
{
    struct archive *a = archive_write_new();
    size_t cap = 1u << 20, used = 0, zcap;
    uint8_t *tarbuf = malloc(cap), *zbuf;
    struct nv_buf enc = NV_BUF_INIT, mtext = NV_BUF_INIT, sig = NV_BUF_INIT;
    struct nv_age_enc *e;
    struct nv_manifest m;
    size_t zlen;
    int fd;

    assert_non_null(tarbuf);
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_open_memory(a, tarbuf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *en = archive_entry_new();
        archive_entry_set_pathname(en, ents[i].name);
        archive_entry_set_perm(en, 0644);
        if (ents[i].type == 0) {
            archive_entry_set_filetype(en, AE_IFREG);
            archive_entry_set_hardlink(en, ents[i].link);
            archive_entry_set_size(en, 0);
        } else {
            archive_entry_set_filetype(en, (unsigned)ents[i].type);
            if (ents[i].type == AE_IFLNK)
                archive_entry_set_symlink(en, ents[i].link);
            archive_entry_set_size(en, ents[i].type == AE_IFREG ? 5 : 0);
        }
        assert_int_equal(archive_write_header(a, en), ARCHIVE_OK);
        if (ents[i].type == AE_IFREG)
            assert_int_equal(archive_write_data(a, "evil\n", 5), 5);
        archive_entry_free(en);
    }
    archive_write_close(a);
    archive_write_free(a);
    zcap = ZSTD_compressBound(used);
    zbuf = malloc(zcap);
    zlen = ZSTD_compress(zbuf, zcap, tarbuf, used, 3);
    assert_false(ZSTD_isError(zlen));
    assert_int_equal(nv_age_enc_new(&e, (const uint8_t(*)[32])hub.pub.age, 1,
                                    (nv_write_fn)nv_buf_add, &enc), 0);
    assert_int_equal(nv_age_enc_write(e, zbuf, zlen), 0);
    assert_int_equal(nv_age_enc_finish(e), 0);
    nv_age_enc_free(e);
    memset(&m, 0, sizeof(m));
    m.kind = NV_KIND_CHANGES;
    strcpy(m.sender, "acme");
    memcpy(m.sender_key, agent.sign->keyid, NV_KEYID_LEN);
    strcpy(m.recipient, "hub");
    memcpy(m.recipient_key, hub.pub.age, 32);
    m.seq = 1;
    m.created = 1700000000;
    m.part = 1;
    m.final = 1;
    m.payload_size = enc.len;
    crypto_hash_sha256(m.payload_sha256, enc.data, enc.len);
    assert_int_equal(nv_manifest_format(&m, &mtext), 0);
    assert_int_equal(nv_minisign_sign(agent.sign, mtext.data, mtext.len,
                                      NV_SIG_COMMENT, "crafted", &sig), 0);
    unlink(path);
    fd = open(tpath("craft.payload"), O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(nv_write_all(fd, enc.data, enc.len), 0);
    assert_int_equal(nv_bundle_write_container(path, &mtext, &sig, fd, enc.len), 0);
    close(fd);
    free(tarbuf);
    free(zbuf);
    nv_buf_release(&enc);
    nv_buf_release(&mtext);
    nv_buf_release(&sig);
}

static void
test_unsafe_entries(void **state)
{
    static const struct raw_entry cases[][2] = {
        { { "../evil", AE_IFREG, NULL } },
        { { "/etc/cron.d/evil", AE_IFREG, NULL } },
        { { "sub/evil", AE_IFREG, NULL } },
        { { ".hidden", AE_IFREG, NULL } },
        { { "link", AE_IFLNK, "/etc/passwd" } },
        { { "dir", AE_IFDIR, NULL } },
        { { "ok.ndjson", AE_IFREG, NULL }, { "hard", 0, "ok.ndjson" } },
    };
    static const size_t counts[] = { 1, 1, 1, 1, 1, 1, 2 };

    (void)state;
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        struct collect c;
        int r;
        craft(tpath("evil.nova"), cases[i], counts[i]);
        collect_init(&c);
        r = open_all(tpath("evil.nova"), &kr, &hub, 0, NULL, &c);
        if (r != NV_EUNSAFE)
            fail_msg("case %zu (%s): got %d (%s)", i, cases[i][counts[i] - 1].name,
                     r, nv_errmsg(r));
        assert_null(c.names.data == NULL ? NULL : strstr((char *)c.names.data, "evil"));
        collect_release(&c);
    }
    /* the crafted path itself works for a safe entry */
    {
        static const struct raw_entry good[] = { { "fine.ndjson", AE_IFREG, NULL } };
        struct collect c;
        craft(tpath("good.nova"), good, 1);
        collect_init(&c);
        assert_int_equal(open_all(tpath("good.nova"), &kr, &hub, 0, NULL, &c), 0);
        assert_string_equal((char *)c.names.data, "fine.ndjson\n");
        collect_release(&c);
    }
}

static void
test_compression_bomb(void **state)
{
    struct nv_bundle_params p;
    struct nv_bundle_writer *w;
    struct nv_manifest m;
    struct nv_open_limits lim;
    struct collect c;
    uint8_t id[32];
    size_t big = 200u << 20;
    uint8_t *zeros = calloc(1, big);
    struct stat_like { uint64_t size; } st;

    (void)state;
    assert_non_null(zeros);
    memset(&p, 0, sizeof(p));
    p.kind = NV_KIND_CHANGES;
    p.sender = "acme";
    p.recipient = "hub";
    p.sign_key = agent.sign;
    p.recipient_pk = hub.pub.age;
    p.seq = 1;
    p.part = 1;
    p.final = 1;
    p.created = 1700000000;
    p.tmp_dir = tmp;
    unlink(tpath("bomb.nova"));
    assert_int_equal(nv_bundle_writer_new(&w, &p), 0);
    assert_int_equal(nv_bundle_add_file(w, "zeros.ndjson", zeros, big), 0);
    assert_int_equal(nv_bundle_writer_finish(w, tpath("bomb.nova"), id, &m), 0);
    nv_bundle_writer_free(w);
    free(zeros);
    st.size = m.payload_size;
    assert_true(st.size < (1u << 20)); /* 200 MiB became a few KiB */
    /* default limits: the ratio stops it */
    collect_init(&c);
    assert_int_equal(open_all(tpath("bomb.nova"), &kr, &hub, 0, NULL, &c), NV_EBOMB);
    assert_non_null(strstr(nv_errmsg(NV_EBOMB), "compression bomb"));
    assert_true(c.delivered < (80u << 20));
    collect_release(&c);
    /* an absolute cap stops it earlier */
    memset(&lim, 0, sizeof(lim));
    lim.max_unpacked = 1u << 20;
    collect_init(&c);
    assert_int_equal(open_all(tpath("bomb.nova"), &kr, &hub, 0, &lim, &c), NV_EBOMB);
    assert_true(c.delivered <= (1u << 20));
    collect_release(&c);
}

static void
test_splitting_records_into_entries(void **state)
{
    struct nv_bundle_params p;
    struct nv_bundle_writer *w;
    struct nv_manifest m;
    struct collect c;
    uint8_t id[32];
    char *line = malloc(1u << 20);

    (void)state;
    assert_non_null(line);
    memset(line, 'x', 1u << 20);
    memcpy(line, "{\"op\":\"delete\",\"key\":\"", 22);
    memcpy(line + (1u << 20) - 2, "\"}", 2);
    memset(&p, 0, sizeof(p));
    p.kind = NV_KIND_CHANGES;
    p.sender = "acme";
    p.recipient = "hub";
    p.sign_key = agent.sign;
    p.recipient_pk = hub.pub.age;
    p.seq = 1;
    p.part = 1;
    p.created = 1700000000;
    p.tmp_dir = tmp;
    unlink(tpath("split.nova"));
    assert_int_equal(nv_bundle_writer_new(&w, &p), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(nv_bundle_add_record(w, line, 1u << 20), 0);
    assert_int_equal(nv_bundle_raw_bytes(w), 10 * ((1u << 20) + 1));
    assert_int_equal(nv_bundle_writer_finish(w, tpath("split.nova"), id, &m), 0);
    nv_bundle_writer_free(w);
    assert_false(m.final);
    collect_init(&c);
    assert_int_equal(open_all(tpath("split.nova"), &kr, &hub, 0, NULL, &c), 0);
    assert_string_equal((char *)c.names.data,
                        "changes-000001.ndjson\nchanges-000002.ndjson\n"
                        "changes-000003.ndjson\nchanges-000004.ndjson\n");
    assert_int_equal(c.delivered, 10 * ((1u << 20) + 1));
    collect_release(&c);
    free(line);
}

/* Record i of the parallel test: n bytes of a pool of random letters (so
 * that the records are quick to make, slow to compress), from an offset
 * of its own. */
#define POOL (8u << 20)

static void
record_line(char *line, size_t n, int i)
{
    static char *pool;

    if (pool == NULL) {
        uint32_t x = 12345;
        assert_non_null(pool = malloc(POOL));
        for (size_t k = 0; k < POOL; k++) {
            x = x * 1103515245u + 12345u;
            pool[k] = (char)('a' + (x >> 16) % 26);
        }
    }
    memcpy(line, pool + (size_t)i * 40009u % (POOL - n), n);
    snprintf(line, 16, "%08d", i);
    line[8] = '-';
}

/* A hash of everything the payload delivers, in order. */
struct hashsink {
    crypto_generichash_state h;
    struct nv_buf names;
};

static int
h_entry(void *ctx, const char *name, uint64_t size)
{
    struct hashsink *hs = ctx;
    (void)size;
    return nv_buf_addf(&hs->names, "%s\n", name);
}

static int
h_data(void *ctx, const void *p, size_t n)
{
    struct hashsink *hs = ctx;
    crypto_generichash_update(&hs->h, p, n);
    return 0;
}

static int
h_end(void *ctx)
{
    (void)ctx;
    return 0;
}

/* Four packers compress entries in parallel (records come faster than one
 * packer compresses them): the payload still holds every entry, a whole
 * file added between records included, in order. */
static void
test_parallel_packers_keep_order(void **state)
{
    struct nv_bundle_params p;
    struct nv_bundle_writer *w;
    struct nv_manifest m;
    struct nv_bundle b;
    struct hashsink hs;
    struct nv_payload_sink sink = { h_entry, h_data, h_end, &hs };
    crypto_generichash_state want;
    uint8_t id[32], h1[32], h2[32];
    size_t n = 200u << 10;
    char *line = malloc(n);

    (void)state;
    assert_non_null(line);
    memset(&p, 0, sizeof(p));
    p.kind = NV_KIND_CHANGES;
    p.sender = "acme";
    p.recipient = "hub";
    p.sign_key = agent.sign;
    p.recipient_pk = hub.pub.age;
    p.seq = 1;
    p.part = 1;
    p.created = 1700000000;
    p.zstd_threads = 4;
    p.tmp_dir = tmp;
    unlink(tpath("par.nova"));
    crypto_generichash_init(&want, NULL, 0, sizeof(h1));
    assert_int_equal(nv_bundle_writer_new(&w, &p), 0);
    for (int i = 0; i < 150; i++) {
        record_line(line, n, i);
        assert_int_equal(nv_bundle_add_record(w, line, n), 0);
        if (i == 99)
            assert_int_equal(nv_bundle_add_file(w, "extra.txt", "hello", 5), 0);
    }
    assert_int_equal(nv_bundle_writer_finish(w, tpath("par.nova"), id, &m), 0);
    nv_bundle_writer_free(w);
    /* 20 records of 200 KiB fill an entry; the file comes before the
     * entry being filled when it was added (records 81 to 100) */
    for (int i = 0; i < 150; i++) {
        if (i == 80)
            crypto_generichash_update(&want, (const uint8_t *)"hello", 5);
        record_line(line, n, i);
        crypto_generichash_update(&want, (const uint8_t *)line, n);
        crypto_generichash_update(&want, (const uint8_t *)"\n", 1);
    }
    crypto_generichash_final(&want, h1, sizeof(h1));

    memset(&hs, 0, sizeof(hs));
    crypto_generichash_init(&hs.h, NULL, 0, sizeof(h2));
    assert_int_equal(nv_bundle_read(&b, tpath("par.nova"), 0), 0);
    assert_int_equal(nv_bundle_verify(&b, nv_keyring_lookup, &kr), 0);
    assert_int_equal(nv_bundle_open_payload(&b, hub.age, hub.nage, &sink, NULL), 0);
    nv_bundle_release(&b);
    crypto_generichash_final(&hs.h, h2, sizeof(h2));
    assert_string_equal((char *)hs.names.data,
                        "changes-000001.ndjson\nchanges-000002.ndjson\n"
                        "changes-000003.ndjson\nchanges-000004.ndjson\n"
                        "extra.txt\nchanges-000005.ndjson\n"
                        "changes-000006.ndjson\nchanges-000007.ndjson\n"
                        "changes-000008.ndjson\n");
    assert_memory_equal(h1, h2, sizeof(h1));
    nv_buf_release(&hs.names);
    free(line);
}

static void
test_stock_tar_layout(void **state)
{
    struct nv_manifest m;
    uint8_t id[32];
    struct nv_buf whole;

    (void)state;
    seal(tpath("lay.nova"), &agent, hub.pub.age, 1, NULL, 1, id, &m);
    read_all(tpath("lay.nova"), &whole);
    /* ustar magic, the three member names, 512-byte alignment */
    assert_memory_equal(whole.data, "manifest", 9);
    assert_memory_equal(whole.data + 257, "ustar", 6);
    assert_int_equal(whole.len % 512, 0);
    nv_buf_release(&whole);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_manifest_canonical),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_every_byte_flip),
        cmocka_unit_test(test_wrong_recipient),
        cmocka_unit_test(test_unknown_signer),
        cmocka_unit_test(test_forged_signer),
        cmocka_unit_test(test_revoked),
        cmocka_unit_test(test_key_rotation_proof),
        cmocka_unit_test(test_stream_rules),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_unsafe_entries),
        cmocka_unit_test(test_compression_bomb),
        cmocka_unit_test(test_splitting_records_into_entries),
        cmocka_unit_test(test_parallel_packers_keep_order),
        cmocka_unit_test(test_stock_tar_layout),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("bundle", tests, setup, teardown);
}
