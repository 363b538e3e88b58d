#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "errors.h"
#include "manifest.h"

static const char *kinds[] = { NULL, "changes", "acks", "updates", "erasure", "rebase" };

const char *
nv_kind_name(int kind)
{
    return kind >= NV_KIND_CHANGES && kind <= NV_KIND_REBASE ? kinds[kind]
                                                              : "unknown";
}

int
nv_kind_parse(const char *s)
{
    for (int k = NV_KIND_CHANGES; k <= NV_KIND_REBASE; k++)
        if (strcmp(s, kinds[k]) == 0)
            return k;
    return 0;
}

int
nv_manifest_format(const struct nv_manifest *m, struct nv_buf *out)
{
    char kid[17], rcpt[NV_AGE_RECIPIENT_LEN + 1], prev[65], when[21],
        hash[65];

    if (nv_kind_parse(nv_kind_name(m->kind)) == 0 || !nv_name_valid(m->sender) ||
        !nv_name_valid(m->recipient) || m->seq == 0 || m->part == 0 || (m->seq == 1) == (m->has_prev != 0) ||
        m->created < 0 || (m->ledger_head[0] != '\0' && strlen(m->ledger_head) != 40))
        return nv_fail(NV_EINVAL, "invalid manifest fields");
    nv_keyid_hex(m->sender_key, kid);
    nv_age_recipient_encode(m->recipient_key, rcpt);
    if (m->has_prev)
        nv_hex(m->prev, 32, prev);
    else
        strcpy(prev, "none");
    int r = nv_buf_addf(out,
                       "nova-bundle: %d\nkind: %s\nsender: %s\nsender-key: %s\n"
                       "recipient: %s\nrecipient-key: %s\nseq: %llu\nprev: %s\n"
                       "created: %s\npart: %u\nfinal: %s\nrecords: %llu\nupserts: %llu\n"
                       "deletes: %llu\nrejects: %llu\npayload-size: %llu\n"
                       "payload-sha256: %s\n",
                       NV_MANIFEST_VERSION, nv_kind_name(m->kind), m->sender, kid,
                       m->recipient, rcpt, (unsigned long long)m->seq, prev,
                       nv_time_format(m->created, when), m->part,
                       m->final ? "yes" : "no",
                       (unsigned long long)m->records,
                       (unsigned long long)m->upserts,
                       (unsigned long long)m->deletes,
                       (unsigned long long)m->rejects,
                       (unsigned long long)m->payload_size,
                       nv_hex(m->payload_sha256, 32, hash));
    if (r == 0 && m->epoch > 0)
        r = nv_buf_addf(out, "epoch: %llu\n", (unsigned long long)m->epoch);
    if (r == 0 && m->snapshot)
        r = nv_buf_addf(out, "snapshot: yes\n");
    if (r == 0 && m->has_acked)
        r = nv_buf_addf(out, "acked: %llu\n", (unsigned long long)m->acked);
    if (r == 0 && m->ledger_head[0] != '\0')
        r = nv_buf_addf(out, "ledger-head: %s\n", m->ledger_head);
    return r;
}

/* Take the next line "key: value"; value points into a copy in val. */
static int
next_field(const char **p, const char *end, int lineno, const char *key,
           char *val, size_t valsz)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t klen = strlen(key), vlen;

    if (nl == NULL)
        return nv_fail(*p == end ? NV_ETRUNCATED : NV_EFORMAT,
                       "manifest line %d: missing '%s' line", lineno, key);
    if ((size_t)(nl - *p) < klen + 2 || memcmp(*p, key, klen) != 0 ||
        (*p)[klen] != ':' || (*p)[klen + 1] != ' ')
        return nv_fail(NV_EFORMAT, "manifest line %d: expected '%s: '", lineno,
                       key);
    vlen = (size_t)(nl - *p) - klen - 2;
    if (vlen == 0 || vlen >= valsz)
        return nv_fail(NV_EFORMAT, "manifest line %d: bad length of '%s'",
                       lineno, key);
    memcpy(val, *p + klen + 2, vlen);
    val[vlen] = '\0';
    if (memchr(val, '\0', vlen) != NULL)
        return nv_fail(NV_EFORMAT, "manifest line %d: NUL byte", lineno);
    *p = nl + 1;
    return 0;
}

#define FIELD(key)                                                           \
    do {                                                                     \
        if ((r = next_field(&p, end, ++line, key, v, sizeof(v))) < 0)        \
            return r;                                                        \
    } while (0)
#define BAD(key) nv_fail(NV_EFORMAT, "manifest line %d: bad %s", line, key)

int
nv_manifest_parse(const char *text, size_t len, struct nv_manifest *out)
{
    const char *p = text, *end = text + len;
    struct nv_manifest m;
    char v[128];
    int r, line = 0;
    uint64_t n;

    memset(&m, 0, sizeof(m));
    if (len > NV_MANIFEST_MAX)
        return nv_fail(NV_ETOOBIG, "manifest is %zu bytes, over %d", len,
                       NV_MANIFEST_MAX);
    FIELD("nova-bundle");
    if (strcmp(v, "1") != 0)
        return nv_fail(NV_EFORMAT, "manifest format version '%.8s' is not supported",
                       v);
    FIELD("kind");
    if ((m.kind = nv_kind_parse(v)) == 0)
        return BAD("kind");
    FIELD("sender");
    if (!nv_name_valid(v))
        return BAD("sender");
    strcpy(m.sender, v);
    FIELD("sender-key");
    if (nv_keyid_parse(v, m.sender_key) < 0)
        return BAD("sender-key");
    FIELD("recipient");
    if (!nv_name_valid(v))
        return BAD("recipient");
    strcpy(m.recipient, v);
    FIELD("recipient-key");
    if (nv_age_recipient_parse(v, m.recipient_key) < 0)
        return BAD("recipient-key");
    FIELD("seq");
    if (nv_parse_u64(v, &m.seq) < 0 || m.seq == 0)
        return BAD("seq");
    FIELD("prev");
    if (strcmp(v, "none") == 0) {
        if (m.seq != 1)
            return nv_fail(NV_EFORMAT, "manifest line %d: prev is none but seq is %llu",
                           line, (unsigned long long)m.seq);
    } else {
        if (nv_unhex(v, m.prev, 32) < 0 || m.seq == 1)
            return BAD("prev");
        for (int i = 0; i < 64; i++)
            if (v[i] >= 'A' && v[i] <= 'F')
                return BAD("prev");
        m.has_prev = 1;
    }
    FIELD("created");
    if (nv_time_parse(v, &m.created) < 0)
        return BAD("created");
    FIELD("part");
    if (nv_parse_u64(v, &n) < 0 || n == 0 || n > UINT32_MAX)
        return BAD("part");
    m.part = (uint32_t)n;
    FIELD("final");
    if (strcmp(v, "yes") == 0)
        m.final = 1;
    else if (strcmp(v, "no") != 0)
        return BAD("final");
    FIELD("records");
    if (nv_parse_u64(v, &m.records) < 0)
        return BAD("records");
    FIELD("upserts");
    if (nv_parse_u64(v, &m.upserts) < 0)
        return BAD("upserts");
    FIELD("deletes");
    if (nv_parse_u64(v, &m.deletes) < 0)
        return BAD("deletes");
    FIELD("rejects");
    if (nv_parse_u64(v, &m.rejects) < 0)
        return BAD("rejects");
    FIELD("payload-size");
    if (nv_parse_u64(v, &n) < 0)
        return BAD("payload-size");
    m.payload_size = n;
    FIELD("payload-sha256");
    if (nv_unhex(v, m.payload_sha256, 32) < 0)
        return BAD("payload-sha256");
    if (p != end && (size_t)(end - p) > 7 && memcmp(p, "epoch: ", 7) == 0) {
        FIELD("epoch");
        if (nv_parse_u64(v, &m.epoch) < 0 || m.epoch == 0)
            return BAD("epoch");
    }
    if (p != end && (size_t)(end - p) > 10 && memcmp(p, "snapshot: ", 10) == 0) {
        FIELD("snapshot");
        if (strcmp(v, "yes") != 0)
            return BAD("snapshot");
        m.snapshot = 1;
    }
    if (p != end && (size_t)(end - p) > 7 && memcmp(p, "acked: ", 7) == 0) {
        FIELD("acked");
        if (nv_parse_u64(v, &m.acked) < 0)
            return BAD("acked");
        m.has_acked = 1;
    }
    if (p != end && (size_t)(end - p) > 13 && memcmp(p, "ledger-head: ", 13) == 0) {
        uint8_t raw[20];
        FIELD("ledger-head");
        if (strlen(v) != 40 || nv_unhex(v, raw, 20) < 0)
            return BAD("ledger-head");
        memcpy(m.ledger_head, v, 41);
    }
    if (p != end)
        return nv_fail(NV_EFORMAT, "manifest: unexpected data after line %d", line);
    /* canonical form only: re-format and compare */
    {
        struct nv_buf b = NV_BUF_INIT;
        int same = nv_manifest_format(&m, &b) == 0 && b.len == len &&
                   memcmp(b.data, text, len) == 0;
        nv_buf_release(&b);
        if (!same)
            return nv_fail(NV_EFORMAT, "manifest is not in canonical form");
    }
    *out = m;
    return 0;
}

void
nv_manifest_id(const void *text, size_t len, uint8_t id[32])
{
    crypto_hash_sha256(id, text, len);
}
