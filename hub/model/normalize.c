/*
 * normalize.c - normalisation of contact values before matching.
 *
 * Every function appends to the caller's buffer and, on failure, cuts it
 * back to where it was (rollback()), so a caller can build a record's
 * normalised fields one after the other in one buffer.  Error details name
 * the field kind and the reason, never the value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <utf8proc.h>

#include "../../formats/errors.h"
#include "normalize.h"

#define PHONE_MAX_DIGITS 20
#define PHON_WORD_MAX 64

/* ---- helpers ---- */

static void
rollback(struct nv_buf *out, size_t base)
{
    out->len = base;
    if (out->data != NULL)
        out->data[base] = '\0';
}

static int
is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
           c == '\f';
}

/* c is one of the characters of set (never NUL, unlike strchr). */
static int
in_set(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static unsigned char
ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static unsigned char
ascii_upper(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
}

/* Trim ASCII blanks from both ends of in/len, in place. */
static void
trim(const char **in, size_t *len)
{
    const unsigned char *p = (const unsigned char *)*in;
    size_t n = *len;

    while (n > 0 && is_blank(p[0])) {
        p++;
        n--;
    }
    while (n > 0 && is_blank(p[n - 1]))
        n--;
    *in = (const char *)p;
    *len = n;
}

static int
utf8_valid(const char *s, size_t len)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_int32_t c;
    utf8proc_ssize_t r;

    while (len > 0) {
        r = utf8proc_iterate(p, (utf8proc_ssize_t)len, &c);
        if (r <= 0)
            return 0;
        p += r;
        len -= (size_t)r;
    }
    return 1;
}

static int
check_len(const char *what, size_t len)
{
    if (len > NV_NORM_MAX_BYTES)
        return nv_fail(NV_EFORMAT, "%s: longer than %d bytes", what,
                       NV_NORM_MAX_BYTES);
    return 0;
}

/* utf8proc_map on in/len, result in *dst (free() it). */
static int
map_utf8(const char *what, const char *in, size_t len, int flags,
         utf8proc_uint8_t **dst, size_t *dlen)
{
    utf8proc_ssize_t r;

    *dst = NULL;
    r = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)len, dst,
                     (utf8proc_option_t)flags);
    if (r < 0) {
        *dst = NULL;
        if (r == UTF8PROC_ERROR_NOMEM)
            return nv_fail(NV_ENOMEM, "out of memory");
        if (r == UTF8PROC_ERROR_OVERFLOW)
            return nv_fail(NV_ETOOBIG, "%s: too long", what);
        return nv_fail(NV_EFORMAT, "%s: not valid UTF-8", what);
    }
    *dlen = (size_t)r;
    return 0;
}

/* ---- names ---- */

/* Characters that separate the parts of a name. */
static int
is_name_sep(utf8proc_int32_t c)
{
    const utf8proc_property_t *p;

    switch (c) {
    case '-': case '\'': case '.': case '`':
    case 0x02BC: /* modifier letter apostrophe */
    case 0x2018: case 0x2019: /* quotation marks used as apostrophes */
    case 0x2212: /* minus */
        return 1;
    default:
        break;
    }
    if (c >= 0x2010 && c <= 0x2015) /* hyphens and dashes */
        return 1;
    if (c < 0x80)
        return is_blank((unsigned char)c);
    p = utf8proc_get_property(c);
    return p->category == UTF8PROC_CATEGORY_ZS ||
           p->category == UTF8PROC_CATEGORY_ZL ||
           p->category == UTF8PROC_CATEGORY_ZP;
}

int
nv_norm_name(const char *in, size_t len, struct nv_buf *out)
{
    const int flags = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                      UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK |
                      UTF8PROC_IGNORE | UTF8PROC_LUMP | UTF8PROC_STRIPCC;
    size_t base = out->len, mlen = 0, i = 0;
    utf8proc_uint8_t *m = NULL;
    utf8proc_uint8_t enc[4];
    utf8proc_int32_t c;
    utf8proc_ssize_t k;
    int pending = 0, any = 0, r;

    if ((r = check_len("name", len)) < 0)
        goto out;
    if (!utf8_valid(in, len)) {
        r = nv_fail(NV_EFORMAT, "name: not valid UTF-8");
        goto out;
    }
    if ((r = map_utf8("name", in, len, flags, &m, &mlen)) < 0)
        goto out;
    while (i < mlen) {
        k = utf8proc_iterate(m + i, (utf8proc_ssize_t)(mlen - i), &c);
        if (k <= 0) { /* utf8proc wrote it: cannot happen */
            r = nv_fail(NV_EFORMAT, "name: not valid UTF-8");
            goto out;
        }
        i += (size_t)k;
        if (is_name_sep(c)) {
            pending = 1;
            continue;
        }
        if (pending && any && (r = nv_buf_add(out, " ", 1)) < 0)
            goto out;
        pending = 0;
        any = 1;
        /* œ and æ are letters of their own in Unicode: no decomposition */
        if (c == 0x0153)
            r = nv_buf_add(out, "oe", 2);
        else if (c == 0x00E6)
            r = nv_buf_add(out, "ae", 2);
        else
            r = nv_buf_add(out, enc, (size_t)utf8proc_encode_char(c, enc));
        if (r < 0)
            goto out;
    }
    r = 0;
out:
    free(m);
    if (r < 0)
        rollback(out, base);
    return r;
}

/* ---- phones ---- */

struct overseas {
    char prefix[4]; /* first 3 of the 9 significant digits */
    char cc[4];
};

static const struct overseas overseas[] = {
    { "262", "262" }, { "263", "262" }, { "692", "262" }, { "693", "262" },
    { "269", "262" }, { "639", "262" },
    { "590", "590" }, { "690", "590" }, { "691", "590" },
    { "594", "594" }, { "694", "594" },
    { "596", "596" }, { "696", "596" }, { "697", "596" },
    { "508", "508" },
};

/* A word of letters at in[i..]: 1 if it is an extension marker. */
static int
is_ext_marker(const char *in, size_t len, size_t i)
{
    static const char *const words[] = { "poste", "ext", "extension", "x" };
    char w[12];
    size_t n = 0;

    while (i < len && ((in[i] >= 'a' && in[i] <= 'z') ||
                       (in[i] >= 'A' && in[i] <= 'Z'))) {
        if (n + 1 >= sizeof(w))
            return 0;
        w[n++] = (char)ascii_lower((unsigned char)in[i++]);
    }
    w[n] = '\0';
    for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++)
        if (strcmp(w, words[k]) == 0)
            return 1;
    return 0;
}

/* Separator at in[i..]: its length in bytes, or 0. */
static size_t
phone_sep(const unsigned char *p, size_t len, size_t i)
{
    if (p[i] == ' ' || p[i] == '\t' || p[i] == '.' || p[i] == '-' ||
        p[i] == '/' || p[i] == '(' || p[i] == ')')
        return 1;
    if (p[i] == 0xC2 && i + 1 < len && p[i + 1] == 0xA0) /* NBSP */
        return 2;
    /* U+2007 figure, U+2009 thin, U+202F narrow no-break space */
    if (p[i] == 0xE2 && i + 2 < len && p[i + 1] == 0x80 &&
        (p[i + 2] == 0x87 || p[i + 2] == 0x89 || p[i + 2] == 0xAF))
        return 3;
    return 0;
}

/* Collect the digits of a phone number into dig; *plus set if it starts
 * with '+'. */
static int
phone_digits(const char *in, size_t len, char *dig, size_t *nd, int *plus)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, n = 0, s;
    int intl;

    *plus = 0;
    while (i < len) {
        intl = *plus || (n >= 2 && dig[0] == '0' && dig[1] == '0');
        if (is_digit(p[i])) {
            if (n >= PHONE_MAX_DIGITS)
                return nv_fail(NV_EFORMAT, "phone number: too many digits");
            dig[n++] = (char)p[i++];
        } else if (p[i] == '(' && intl && n > 0 && i + 2 < len &&
                   p[i + 1] == '0' && p[i + 2] == ')') {
            i += 3; /* "+33 (0)6…": the national trunk prefix */
        } else if ((s = phone_sep(p, len, i)) > 0) {
            i += s;
        } else if (p[i] == '+') {
            if (n > 0 || *plus)
                return nv_fail(NV_EFORMAT, "phone number: '+' not in front");
            *plus = 1;
            i++;
        } else if (p[i] == '#' || is_ext_marker(in, len, i)) {
            if (n == 0)
                return nv_fail(NV_EFORMAT,
                               "phone number: extension without a number");
            break;
        } else if ((p[i] >= 'a' && p[i] <= 'z') ||
                   (p[i] >= 'A' && p[i] <= 'Z')) {
            return nv_fail(NV_EFORMAT, "phone number: unexpected letter");
        } else {
            return nv_fail(NV_EFORMAT, "phone number: unexpected character");
        }
    }
    *nd = n;
    return 0;
}

/* Emit a French number from its 9 significant digits. */
static int
phone_french(const char *sig, struct nv_buf *out)
{
    const char *cc = "33";

    if (sig[0] == '0')
        return nv_fail(NV_EFORMAT, "phone number: not a French number");
    for (size_t k = 0; k < sizeof(overseas) / sizeof(overseas[0]); k++) {
        if (memcmp(sig, overseas[k].prefix, 3) == 0) {
            cc = overseas[k].cc;
            break;
        }
    }
    return nv_buf_addf(out, "+%s%.9s", cc, sig);
}

/*
 * National dialling plans of the countries whose numbers are written
 * without their country code: the calling code, the trunk prefix dialled
 * before a national number ('0', '1' for North America, 0 for none: the
 * number is dialled as written) and the significant digits it then has.
 * Sorted by ISO code (bsearch).  The countries that share France's plan
 * (overseas departments and collectivities) are in french_plan.
 */
struct dial {
    char iso[3];
    char cc[4];
    char trunk;
    unsigned char min, max;
};

static const struct dial dials[] = {
    { "AT", "43", '0', 4, 13 },  { "AU", "61", '0', 9, 9 },   { "BE", "32", '0', 8, 9 },
    { "BR", "55", '0', 10, 11 }, { "CA", "1", '1', 10, 10 },  { "CH", "41", '0', 9, 9 },
    { "CI", "225", 0, 10, 10 },  { "CZ", "420", 0, 9, 9 },    { "DE", "49", '0', 6, 13 },
    { "DK", "45", 0, 8, 8 },     { "DZ", "213", '0', 8, 9 },  { "ES", "34", 0, 9, 9 },
    { "FI", "358", '0', 5, 12 }, { "GB", "44", '0', 9, 10 },  { "GR", "30", 0, 10, 10 },
    { "IE", "353", '0', 7, 9 },  { "IN", "91", '0', 10, 10 }, { "IT", "39", 0, 6, 11 },
    { "JP", "81", '0', 9, 10 },  { "LU", "352", 0, 4, 11 },   { "MA", "212", '0', 9, 9 },
    { "MC", "377", 0, 8, 9 },    { "NC", "687", 0, 6, 6 },    { "NL", "31", '0', 9, 9 },
    { "NO", "47", 0, 8, 8 },     { "NZ", "64", '0', 8, 10 },  { "PF", "689", 0, 8, 8 },
    { "PL", "48", 0, 9, 9 },     { "PT", "351", 0, 9, 9 },    { "SE", "46", '0', 7, 9 },
    { "SN", "221", 0, 9, 9 },    { "TN", "216", 0, 8, 8 },    { "US", "1", '1', 10, 10 },
};

static int
dial_cmp(const void *key, const void *entry)
{
    return strcmp(key, ((const struct dial *)entry)->iso);
}

/* France, and the places that dial as France does (0 + 9 digits). */
static int
french_plan(const char *country)
{
    static const char *const fr[] = { "FR", "RE", "GP", "MQ", "GF", "YT", "PM", "BL", "MF" };

    if (country == NULL || country[0] == '\0')
        return 1;
    for (size_t k = 0; k < sizeof(fr) / sizeof(fr[0]); k++)
        if (strcasecmp(country, fr[k]) == 0)
            return 1;
    return 0;
}

/* A national number (n digits d, no country code) of country. */
static int
phone_national(const char *d, size_t n, const char *country, struct nv_buf *out)
{
    const struct dial *p;
    char iso[3];

    if (french_plan(country)) {
        if (n == 10 && d[0] == '0')
            return phone_french(d + 1, out);
        if (n == 9 && d[0] != '0')
            return phone_french(d, out);
        return nv_fail(NV_EFORMAT, "phone number: a French national number needs 10 digits");
    }
    if (strlen(country) != 2)
        return nv_fail(NV_EFORMAT, "phone number: a national number of an unknown country");
    iso[0] = (char)ascii_upper((unsigned char)country[0]);
    iso[1] = (char)ascii_upper((unsigned char)country[1]);
    iso[2] = '\0';
    p = bsearch(iso, dials, sizeof(dials) / sizeof(dials[0]), sizeof(dials[0]), dial_cmp);
    if (p == NULL)
        return nv_fail(NV_EFORMAT, "phone number: a national number from a country without a "
                                   "dialling plan here (write it with + and the country code)");
    if (p->trunk && n > p->min && d[0] == p->trunk) {
        d++;
        n--;
    }
    if (n < p->min || n > p->max) {
        /* counted as written: with a trunk '0' */
        unsigned lo = p->min + (p->trunk == '0'), hi = p->max + (p->trunk == '0');
        if (lo == hi)
            return nv_fail(NV_EFORMAT, "phone number: a national number of %s needs %u digits",
                           iso, lo);
        return nv_fail(NV_EFORMAT, "phone number: a national number of %s needs %u to %u "
                                   "digits", iso, lo, hi);
    }
    return nv_buf_addf(out, "+%s%.*s", p->cc, (int)n, d);
}

int
nv_norm_phone(const char *in, size_t len, struct nv_buf *out)
{
    return nv_norm_phone_in(in, len, NULL, out);
}

int
nv_norm_phone_in(const char *in, size_t len, const char *country, struct nv_buf *out)
{
    char dig[PHONE_MAX_DIGITS];
    const char *d = dig;
    size_t base = out->len, n = 0;
    int plus = 0, r;

    if ((r = check_len("phone number", len)) < 0)
        goto out;
    if ((r = phone_digits(in, len, dig, &n, &plus)) < 0)
        goto out;
    if (n == 0 && !plus) { /* nothing but separators */
        r = 0;
        goto out;
    }
    if (plus || (n >= 2 && dig[0] == '0' && dig[1] == '0')) {
        if (!plus) {
            d += 2;
            n -= 2;
        }
        if (n >= 2 && d[0] == '3' && d[1] == '3') {
            d += 2;
            n -= 2;
            if (n == 10 && d[0] == '0') { /* "+33 06…" */
                d++;
                n--;
            }
            if (n != 9) {
                r = nv_fail(NV_EFORMAT,
                            "phone number: a +33 number needs 9 digits after 33");
                goto out;
            }
            r = phone_french(d, out);
            goto out;
        }
        if (n < 8 || n > 15) {
            r = nv_fail(NV_EFORMAT,
                        "phone number: an international number needs 8 to 15 digits");
            goto out;
        }
        if (d[0] == '0') {
            r = nv_fail(NV_EFORMAT,
                        "phone number: country code cannot start with 0");
            goto out;
        }
        r = nv_buf_addf(out, "+%.*s", (int)n, d);
        goto out;
    }
    r = phone_national(dig, n, country, out);
out:
    if (r < 0)
        rollback(out, base);
    return r < 0 ? r : 0;
}

/* ---- e-mail ---- */

int
nv_norm_email(const char *in, size_t len, struct nv_buf *out)
{
    const unsigned char *p;
    utf8proc_uint8_t *dom = NULL;
    size_t base = out->len, at = 0, nat = 0, llen, dlen = 0, i;
    int r, gmail;

    trim(&in, &len);
    p = (const unsigned char *)in;
    if ((r = check_len("email", len)) < 0)
        goto out;
    if (len == 0)
        goto out;
    if (!utf8_valid(in, len)) {
        r = nv_fail(NV_EFORMAT, "email: not valid UTF-8");
        goto out;
    }
    for (i = 0; i < len; i++) {
        if (p[i] <= ' ' || p[i] == 0x7f || in_set((char)p[i], ",;:<>()[]\\\"")) {
            r = nv_fail(NV_EFORMAT, "email: blank or forbidden character");
            goto out;
        }
        if (p[i] == '@') {
            at = i;
            nat++;
        }
    }
    if (nat != 1) {
        r = nv_fail(NV_EFORMAT, "email: needs exactly one '@'");
        goto out;
    }
    llen = at;
    for (i = 0; i < at; i++) {
        if (p[i] == '+') {
            llen = i;
            break;
        }
    }
    if ((r = map_utf8("email", in + at + 1, len - at - 1,
                      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD,
                      &dom, &dlen)) < 0)
        goto out;
    if (dlen == 0 || memchr(dom, '.', dlen) == NULL || dom[0] == '.' ||
        dom[dlen - 1] == '.' ||
        memmem(dom, dlen, "..", 2) != NULL) {
        r = nv_fail(NV_EFORMAT, "email: domain needs a dot and no empty label");
        goto out;
    }
    gmail = (dlen == 9 && memcmp(dom, "gmail.com", 9) == 0) ||
            (dlen == 14 && memcmp(dom, "googlemail.com", 14) == 0);
    for (i = 0; i < llen; i++) {
        unsigned char c = ascii_lower(p[i]);

        if (gmail && c == '.')
            continue;
        if ((r = nv_buf_add(out, &c, 1)) < 0)
            goto out;
    }
    if (out->len == base) {
        r = nv_fail(NV_EFORMAT, "email: empty local part");
        goto out;
    }
    if (gmail)
        r = nv_buf_adds(out, "@gmail.com");
    else if ((r = nv_buf_add(out, "@", 1)) == 0)
        r = nv_buf_add(out, dom, dlen);
out:
    free(dom);
    if (r < 0)
        rollback(out, base);
    return r;
}

int
nv_email_is_role(const char *norm)
{
    /* a word alone, or followed by '.', '-', '_' or a digit */
    static const char *const words[] = {
        "abuse", "accueil", "admin", "administratif", "administration",
        "agence", "billing", "bonjour", "boutique", "bureau", "cabinet",
        "comm", "commande", "commandes", "commercial", "communication",
        "compta", "comptabilite", "contact", "contacts", "courrier",
        "direction", "email", "equipe", "facturation", "factures", "hello",
        "help", "info", "infos", "information", "informations", "magasin",
        "mail", "mairie", "marketing", "newsletter", "office", "postmaster",
        "presse", "recrutement", "reservation", "reservations", "rh",
        "sales", "sav", "secretariat", "service", "serviceclient", "support",
        "team", "webmaster",
    };
    /* a prefix, whatever follows */
    static const char *const prefixes[] = {
        "famille", "family", "noreply", "no-reply", "no_reply", "no.reply",
        "donotreply", "do-not-reply", "nepasrepondre", "ne-pas-repondre",
    };
    const char *at;
    size_t n, w;

    if (norm == NULL)
        return 0;
    at = strchr(norm, '@');
    n = at != NULL ? (size_t)(at - norm) : strlen(norm);
    for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
        w = strlen(prefixes[k]);
        if (n >= w && memcmp(norm, prefixes[k], w) == 0)
            return 1;
    }
    for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
        w = strlen(words[k]);
        if (n < w || memcmp(norm, words[k], w) != 0)
            continue;
        if (n == w || norm[w] == '.' || norm[w] == '-' || norm[w] == '_' ||
            is_digit((unsigned char)norm[w]))
            return 1;
    }
    return 0;
}

/* ---- postal codes ---- */

static int
is_france(const char *country)
{
    const char *c = country;
    size_t n;

    if (c == NULL)
        return 1;
    n = strlen(c);
    trim(&c, &n);
    return n == 0 || (n == 2 && strncasecmp(c, "fr", 2) == 0) ||
           (n == 3 && strncasecmp(c, "fra", 3) == 0) ||
           (n == 6 && strncasecmp(c, "france", 6) == 0);
}

static int
postcode_fr(const char *in, size_t len, struct nv_buf *out)
{
    const unsigned char *p = (const unsigned char *)in;
    char s[16], *c = s;
    size_t n = 0, i = 0;

    while (i < len) {
        if (is_blank(p[i])) {
            i++;
        } else if (p[i] == 0xC2 && i + 1 < len && p[i + 1] == 0xA0) {
            i += 2;
        } else {
            if (n + 1 >= sizeof(s))
                return nv_fail(NV_EFORMAT, "postal code: too long for France");
            s[n++] = (char)ascii_upper(p[i++]);
        }
    }
    s[n] = '\0';
    if (n == 0)
        return 0;
    if (c[0] == 'F' && c[1] == 'R' && (c[2] == '-' || is_digit((unsigned char)c[2])))
        c += 2;
    else if (c[0] == 'F' && (c[1] == '-' || is_digit((unsigned char)c[1])))
        c += 1;
    if (*c == '-')
        c++;
    n = strlen(c);
    if (n == 5 && c[0] == '2' && (c[1] == 'A' || c[1] == 'B') &&
        strspn(c + 2, "0123456789") == 3)
        return nv_buf_add(out, c, 5);
    if ((n == 4 || n == 5) && strspn(c, "0123456789") == n) {
        if ((n == 5 && c[0] == '0' && c[1] == '0') || (n == 4 && c[0] == '0'))
            return nv_fail(NV_EFORMAT, "postal code: no French department 00");
        return nv_buf_addf(out, "%s%s", n == 4 ? "0" : "", c);
    }
    return nv_fail(NV_EFORMAT, "postal code: not a French postal code");
}

static int
postcode_other(const char *in, size_t len, struct nv_buf *out)
{
    const unsigned char *p = (const unsigned char *)in;
    char s[11];
    size_t n = 0;
    int pending = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = ascii_upper(p[i]);

        if (is_blank(c)) {
            pending = 1;
            continue;
        }
        if (!is_digit(c) && !(c >= 'A' && c <= 'Z') && c != '-')
            return nv_fail(NV_EFORMAT, "postal code: unexpected character");
        if (n + (pending && n > 0) + 1 >= sizeof(s))
            return nv_fail(NV_EFORMAT, "postal code: longer than 10 characters");
        if (pending && n > 0)
            s[n++] = ' ';
        pending = 0;
        s[n++] = (char)c;
    }
    return nv_buf_add(out, s, n);
}

int
nv_norm_postcode(const char *in, size_t len, const char *country,
                 struct nv_buf *out)
{
    size_t base = out->len;
    int r;

    if ((r = check_len("postal code", len)) < 0)
        return r;
    trim(&in, &len);
    if (is_france(country))
        r = postcode_fr(in, len, out);
    else
        r = postcode_other(in, len, out);
    if (r < 0)
        rollback(out, base);
    return r < 0 ? r : 0;
}

/* ---- dates ---- */

static int
days_in_month(int y, int m)
{
    static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dim[m - 1];
}

/* Parse a run of at most 8 digits at s[*i]; its length in *n. */
static int
digit_run(const char *s, size_t len, size_t *i, size_t *n)
{
    int v = 0;

    *n = 0;
    while (*i < len && is_digit((unsigned char)s[*i])) {
        if (*n == 8)
            return -1;
        v = v * 10 + (s[*i] - '0');
        (*i)++;
        (*n)++;
    }
    return v;
}

static int
time_tail_ok(const char *s, size_t len)
{
    if (len == 0)
        return 1;
    if ((s[0] != 'T' && s[0] != ' ') || len < 2 || !is_digit((unsigned char)s[1]))
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!is_digit((unsigned char)s[i]) && !in_set(s[i], ":.,Z+- "))
            return 0;
    return 1;
}

int
nv_norm_date(const char *in, size_t len, struct nv_buf *out)
{
    size_t i = 0, na, nb = 0, nc = 0;
    int a, b = 0, c = 0, y, m, d;
    char s1 = 0, s2 = 0;

    trim(&in, &len);
    if (len == 0)
        return 0;
    if (len > 64)
        return nv_fail(NV_EFORMAT, "date: too long");
    a = digit_run(in, len, &i, &na);
    if (a < 0)
        return nv_fail(NV_EFORMAT, "date: unrecognised format");
    if (na != 8 && i < len && in_set(in[i], "/-.")) {
        s1 = in[i++];
        b = digit_run(in, len, &i, &nb);
        if (b >= 0 && i < len) {
            s2 = in[i++];
            c = digit_run(in, len, &i, &nc);
        }
        if (b < 0 || c < 0)
            return nv_fail(NV_EFORMAT, "date: unrecognised format");
    }
    if (!time_tail_ok(in + i, len - i))
        return nv_fail(NV_EFORMAT, "date: unrecognised format");
    if (na == 8 && s1 == 0) {
        y = a / 10000;
        m = a / 100 % 100;
        d = a % 100;
    } else if (na == 4 && (s1 == '-' || s1 == '/') && s2 == s1 &&
               nb >= 1 && nb <= 2 && nc >= 1 && nc <= 2) {
        y = a;
        m = b;
        d = c;
    } else if (na >= 1 && na <= 2 && s1 != 0 && s2 == s1 && nb >= 1 &&
               nb <= 2 && (nc == 2 || nc == 4)) {
        d = a;
        m = b;
        y = nc == 4 ? c : (c <= 30 ? 2000 + c : 1900 + c);
    } else {
        return nv_fail(NV_EFORMAT, "date: unrecognised format");
    }
    if (y < 1000 || y > 9999)
        return nv_fail(NV_EFORMAT, "date: year out of range");
    if (m < 1 || m > 12)
        return nv_fail(NV_EFORMAT, "date: month out of range");
    if (d < 1 || d > days_in_month(y, m))
        return nv_fail(NV_EFORMAT, "date: day out of range");
    return nv_buf_addf(out, "%04d-%02d-%02d", y, m, d);
}

/* ---- yes/no ---- */

int
nv_norm_bool(const char *in, size_t len, int *out)
{
    static const char *const yes[] = { "1", "oui", "o", "yes", "y", "true",
                                       "vrai", "x" };
    static const char *const no[] = { "0", "non", "n", "no", "false", "faux" };
    char w[8];

    trim(&in, &len);
    if (len == 0) {
        *out = -1;
        return 0;
    }
    if (len < sizeof(w)) {
        for (size_t i = 0; i < len; i++)
            w[i] = (char)ascii_lower((unsigned char)in[i]);
        w[len] = '\0';
        for (size_t k = 0; k < sizeof(yes) / sizeof(yes[0]); k++) {
            if (strcmp(w, yes[k]) == 0) {
                *out = 1;
                return 0;
            }
        }
        for (size_t k = 0; k < sizeof(no) / sizeof(no[0]); k++) {
            if (strcmp(w, no[k]) == 0) {
                *out = 0;
                return 0;
            }
        }
    }
    return nv_fail(NV_EFORMAT, "yes/no value: not recognised");
}

/* ---- countries ---- */

struct country {
    const char *key; /* nv_norm_name form without spaces */
    char code[3];
};

/* Country names and codes, as nv_norm_name writes them without blanks, sorted
 * by key for bsearch: every ISO 3166-1 country by its alpha-2 and alpha-3
 * codes and English name (from Debian's iso-codes, names in letters only),
 * and French and local names for the countries French CRMs see most. */
static const struct country countries[] = {
    { "abw", "AW" }, { "ad", "AD" }, { "ae", "AE" }, { "af", "AF" }, { "afg", "AF" },
    { "afghanistan", "AF" }, { "ag", "AG" }, { "ago", "AO" }, { "ai", "AI" },
    { "aia", "AI" }, { "al", "AL" }, { "ala", "AX" }, { "alandislands", "AX" },
    { "alb", "AL" }, { "albania", "AL" }, { "algeria", "DZ" }, { "algerie", "DZ" },
    { "allemagne", "DE" }, { "am", "AM" }, { "americansamoa", "AS" }, { "and", "AD" },
    { "andorra", "AD" }, { "angleterre", "GB" }, { "angola", "AO" }, { "anguilla", "AI" },
    { "antarctica", "AQ" }, { "antiguaandbarbuda", "AG" }, { "ao", "AO" }, { "aq", "AQ" },
    { "ar", "AR" }, { "are", "AE" }, { "arg", "AR" }, { "argentina", "AR" },
    { "arm", "AM" }, { "armenia", "AM" }, { "aruba", "AW" }, { "as", "AS" },
    { "asm", "AS" }, { "at", "AT" }, { "ata", "AQ" }, { "atf", "TF" }, { "atg", "AG" },
    { "au", "AU" }, { "aus", "AU" }, { "australia", "AU" }, { "austria", "AT" },
    { "aut", "AT" }, { "autriche", "AT" }, { "aw", "AW" }, { "ax", "AX" }, { "az", "AZ" },
    { "aze", "AZ" }, { "azerbaijan", "AZ" }, { "ba", "BA" }, { "bahamas", "BS" },
    { "bahrain", "BH" }, { "bangladesh", "BD" }, { "barbados", "BB" }, { "bb", "BB" },
    { "bd", "BD" }, { "bdi", "BI" }, { "be", "BE" }, { "bel", "BE" }, { "belarus", "BY" },
    { "belgie", "BE" }, { "belgien", "BE" }, { "belgique", "BE" }, { "belgium", "BE" },
    { "belize", "BZ" }, { "ben", "BJ" }, { "benin", "BJ" }, { "bermuda", "BM" },
    { "bes", "BQ" }, { "bf", "BF" }, { "bfa", "BF" }, { "bg", "BG" }, { "bgd", "BD" },
    { "bgr", "BG" }, { "bh", "BH" }, { "bhr", "BH" }, { "bhs", "BS" }, { "bhutan", "BT" },
    { "bi", "BI" }, { "bih", "BA" }, { "bj", "BJ" }, { "bl", "BL" }, { "blm", "BL" },
    { "blr", "BY" }, { "blz", "BZ" }, { "bm", "BM" }, { "bmu", "BM" }, { "bn", "BN" },
    { "bo", "BO" }, { "bol", "BO" }, { "bolivia", "BO" }, { "bosniaandherzegovina", "BA" },
    { "botswana", "BW" }, { "bouvetisland", "BV" }, { "bq", "BQ" }, { "br", "BR" },
    { "bra", "BR" }, { "brazil", "BR" }, { "brb", "BB" },
    { "britishindianoceanterritory", "IO" }, { "brn", "BN" }, { "bruneidarussalam", "BN" },
    { "bs", "BS" }, { "bt", "BT" }, { "btn", "BT" }, { "bulgaria", "BG" },
    { "burkinafaso", "BF" }, { "burundi", "BI" }, { "bv", "BV" }, { "bvt", "BV" },
    { "bw", "BW" }, { "bwa", "BW" }, { "by", "BY" }, { "bz", "BZ" }, { "ca", "CA" },
    { "caboverde", "CV" }, { "caf", "CF" }, { "cambodia", "KH" }, { "cameroon", "CM" },
    { "can", "CA" }, { "canada", "CA" }, { "caymanislands", "KY" }, { "cc", "CC" },
    { "cck", "CC" }, { "cd", "CD" }, { "centralafricanrepublic", "CF" }, { "cf", "CF" },
    { "cg", "CG" }, { "ch", "CH" }, { "chad", "TD" }, { "che", "CH" }, { "chile", "CL" },
    { "china", "CN" }, { "chl", "CL" }, { "chn", "CN" }, { "christmasisland", "CX" },
    { "ci", "CI" }, { "civ", "CI" }, { "ck", "CK" }, { "cl", "CL" }, { "cm", "CM" },
    { "cmr", "CM" }, { "cn", "CN" }, { "co", "CO" }, { "cod", "CD" }, { "cog", "CG" },
    { "cok", "CK" }, { "col", "CO" }, { "colombia", "CO" }, { "com", "KM" },
    { "comoros", "KM" }, { "congo", "CG" }, { "cookislands", "CK" }, { "costarica", "CR" },
    { "cotedivoire", "CI" }, { "cpv", "CV" }, { "cr", "CR" }, { "cri", "CR" },
    { "croatia", "HR" }, { "cu", "CU" }, { "cub", "CU" }, { "cuba", "CU" },
    { "curacao", "CW" }, { "cuw", "CW" }, { "cv", "CV" }, { "cw", "CW" }, { "cx", "CX" },
    { "cxr", "CX" }, { "cy", "CY" }, { "cym", "KY" }, { "cyp", "CY" }, { "cyprus", "CY" },
    { "cz", "CZ" }, { "cze", "CZ" }, { "czechia", "CZ" }, { "de", "DE" },
    { "denmark", "DK" }, { "deu", "DE" }, { "deutschland", "DE" }, { "dj", "DJ" },
    { "dji", "DJ" }, { "djibouti", "DJ" }, { "dk", "DK" }, { "dm", "DM" }, { "dma", "DM" },
    { "dnk", "DK" }, { "do", "DO" }, { "dom", "DO" }, { "dominica", "DM" },
    { "dominicanrepublic", "DO" }, { "dz", "DZ" }, { "dza", "DZ" }, { "ec", "EC" },
    { "ecu", "EC" }, { "ecuador", "EC" }, { "ee", "EE" }, { "eg", "EG" }, { "egy", "EG" },
    { "egypt", "EG" }, { "eh", "EH" }, { "elsalvador", "SV" }, { "england", "GB" },
    { "equatorialguinea", "GQ" }, { "er", "ER" }, { "eri", "ER" }, { "eritrea", "ER" },
    { "es", "ES" }, { "esh", "EH" }, { "esp", "ES" }, { "espagne", "ES" },
    { "espana", "ES" }, { "est", "EE" }, { "estonia", "EE" }, { "eswatini", "SZ" },
    { "et", "ET" }, { "etatsunis", "US" }, { "etatsunisdamerique", "US" }, { "eth", "ET" },
    { "ethiopia", "ET" }, { "faroeislands", "FO" }, { "fi", "FI" }, { "fiji", "FJ" },
    { "fin", "FI" }, { "finland", "FI" }, { "fj", "FJ" }, { "fji", "FJ" }, { "fk", "FK" },
    { "flk", "FK" }, { "fm", "FM" }, { "fo", "FO" }, { "fr", "FR" }, { "fra", "FR" },
    { "france", "FR" }, { "francemetropolitaine", "FR" }, { "frenchguiana", "GF" },
    { "frenchpolynesia", "PF" }, { "frenchsouthernterritories", "TF" }, { "fro", "FO" },
    { "fsm", "FM" }, { "ga", "GA" }, { "gab", "GA" }, { "gabon", "GA" }, { "gambia", "GM" },
    { "gb", "GB" }, { "gbr", "GB" }, { "gd", "GD" }, { "ge", "GE" }, { "geo", "GE" },
    { "georgia", "GE" }, { "germany", "DE" }, { "gf", "GF" }, { "gg", "GG" },
    { "ggy", "GG" }, { "gh", "GH" }, { "gha", "GH" }, { "ghana", "GH" }, { "gi", "GI" },
    { "gib", "GI" }, { "gibraltar", "GI" }, { "gin", "GN" }, { "gl", "GL" },
    { "glp", "GP" }, { "gm", "GM" }, { "gmb", "GM" }, { "gn", "GN" }, { "gnb", "GW" },
    { "gnq", "GQ" }, { "gp", "GP" }, { "gq", "GQ" }, { "gr", "GR" },
    { "grandebretagne", "GB" }, { "grc", "GR" }, { "grd", "GD" }, { "greatbritain", "GB" },
    { "greece", "GR" }, { "greenland", "GL" }, { "grenada", "GD" }, { "grl", "GL" },
    { "gs", "GS" }, { "gt", "GT" }, { "gtm", "GT" }, { "gu", "GU" }, { "guadeloupe", "GP" },
    { "guam", "GU" }, { "guatemala", "GT" }, { "guernsey", "GG" }, { "guf", "GF" },
    { "guinea", "GN" }, { "gum", "GU" }, { "guy", "GY" }, { "guyana", "GY" },
    { "guyane", "GF" }, { "guyanefrancaise", "GF" }, { "gw", "GW" }, { "gy", "GY" },
    { "haiti", "HT" }, { "heardislandandmcdonaldislands", "HM" }, { "hk", "HK" },
    { "hkg", "HK" }, { "hm", "HM" }, { "hmd", "HM" }, { "hn", "HN" }, { "hnd", "HN" },
    { "holland", "NL" }, { "hollande", "NL" }, { "honduras", "HN" }, { "hongkong", "HK" },
    { "hr", "HR" }, { "hrv", "HR" }, { "ht", "HT" }, { "hti", "HT" }, { "hu", "HU" },
    { "hun", "HU" }, { "hungary", "HU" }, { "iceland", "IS" }, { "id", "ID" },
    { "idn", "ID" }, { "ie", "IE" }, { "il", "IL" }, { "im", "IM" }, { "imn", "IM" },
    { "in", "IN" }, { "ind", "IN" }, { "india", "IN" }, { "indonesia", "ID" },
    { "io", "IO" }, { "iot", "IO" }, { "iq", "IQ" }, { "ir", "IR" }, { "iran", "IR" },
    { "iraq", "IQ" }, { "ireland", "IE" }, { "irl", "IE" }, { "irlande", "IE" },
    { "irn", "IR" }, { "irq", "IQ" }, { "is", "IS" }, { "isl", "IS" },
    { "isleofman", "IM" }, { "isr", "IL" }, { "israel", "IL" }, { "it", "IT" },
    { "ita", "IT" }, { "italia", "IT" }, { "italie", "IT" }, { "italy", "IT" },
    { "jam", "JM" }, { "jamaica", "JM" }, { "japan", "JP" }, { "je", "JE" },
    { "jersey", "JE" }, { "jey", "JE" }, { "jm", "JM" }, { "jo", "JO" }, { "jor", "JO" },
    { "jordan", "JO" }, { "jp", "JP" }, { "jpn", "JP" }, { "kaz", "KZ" },
    { "kazakhstan", "KZ" }, { "ke", "KE" }, { "ken", "KE" }, { "kenya", "KE" },
    { "kg", "KG" }, { "kgz", "KG" }, { "kh", "KH" }, { "khm", "KH" }, { "ki", "KI" },
    { "kir", "KI" }, { "kiribati", "KI" }, { "km", "KM" }, { "kn", "KN" }, { "kna", "KN" },
    { "kor", "KR" }, { "kp", "KP" }, { "kr", "KR" }, { "kuwait", "KW" }, { "kw", "KW" },
    { "kwt", "KW" }, { "ky", "KY" }, { "kyrgyzstan", "KG" }, { "kz", "KZ" }, { "la", "LA" },
    { "lao", "LA" }, { "laos", "LA" }, { "lareunion", "RE" }, { "latvia", "LV" },
    { "lb", "LB" }, { "lbn", "LB" }, { "lbr", "LR" }, { "lby", "LY" }, { "lc", "LC" },
    { "lca", "LC" }, { "lebanon", "LB" }, { "lesotho", "LS" }, { "li", "LI" },
    { "liberia", "LR" }, { "libya", "LY" }, { "lie", "LI" }, { "liechtenstein", "LI" },
    { "lithuania", "LT" }, { "lk", "LK" }, { "lka", "LK" }, { "lr", "LR" }, { "ls", "LS" },
    { "lso", "LS" }, { "lt", "LT" }, { "ltu", "LT" }, { "lu", "LU" }, { "lux", "LU" },
    { "luxembourg", "LU" }, { "lv", "LV" }, { "lva", "LV" }, { "ly", "LY" }, { "ma", "MA" },
    { "mac", "MO" }, { "macao", "MO" }, { "madagascar", "MG" }, { "maf", "MF" },
    { "malawi", "MW" }, { "malaysia", "MY" }, { "maldives", "MV" }, { "mali", "ML" },
    { "malta", "MT" }, { "mar", "MA" }, { "maroc", "MA" }, { "marshallislands", "MH" },
    { "martinique", "MQ" }, { "mauritania", "MR" }, { "mauritius", "MU" },
    { "mayotte", "YT" }, { "mc", "MC" }, { "mco", "MC" }, { "md", "MD" }, { "mda", "MD" },
    { "mdg", "MG" }, { "mdv", "MV" }, { "me", "ME" }, { "mex", "MX" }, { "mexico", "MX" },
    { "mf", "MF" }, { "mg", "MG" }, { "mh", "MH" }, { "mhl", "MH" }, { "mk", "MK" },
    { "mkd", "MK" }, { "ml", "ML" }, { "mli", "ML" }, { "mlt", "MT" }, { "mm", "MM" },
    { "mmr", "MM" }, { "mn", "MN" }, { "mne", "ME" }, { "mng", "MN" }, { "mnp", "MP" },
    { "mo", "MO" }, { "moldova", "MD" }, { "monaco", "MC" }, { "mongolia", "MN" },
    { "montenegro", "ME" }, { "montserrat", "MS" }, { "morocco", "MA" }, { "moz", "MZ" },
    { "mozambique", "MZ" }, { "mp", "MP" }, { "mq", "MQ" }, { "mr", "MR" }, { "mrt", "MR" },
    { "ms", "MS" }, { "msr", "MS" }, { "mt", "MT" }, { "mtq", "MQ" }, { "mu", "MU" },
    { "mus", "MU" }, { "mv", "MV" }, { "mw", "MW" }, { "mwi", "MW" }, { "mx", "MX" },
    { "my", "MY" }, { "myanmar", "MM" }, { "mys", "MY" }, { "myt", "YT" }, { "mz", "MZ" },
    { "na", "NA" }, { "nam", "NA" }, { "namibia", "NA" }, { "nauru", "NR" }, { "nc", "NC" },
    { "ncl", "NC" }, { "ne", "NE" }, { "nederland", "NL" }, { "nepal", "NP" },
    { "ner", "NE" }, { "netherlands", "NL" }, { "newcaledonia", "NC" },
    { "newzealand", "NZ" }, { "nf", "NF" }, { "nfk", "NF" }, { "ng", "NG" },
    { "nga", "NG" }, { "ni", "NI" }, { "nic", "NI" }, { "nicaragua", "NI" },
    { "niger", "NE" }, { "nigeria", "NG" }, { "niu", "NU" }, { "niue", "NU" },
    { "nl", "NL" }, { "nld", "NL" }, { "no", "NO" }, { "nor", "NO" },
    { "norfolkisland", "NF" }, { "northernmarianaislands", "MP" }, { "northkorea", "KP" },
    { "northmacedonia", "MK" }, { "norway", "NO" }, { "nouvellecaledonie", "NC" },
    { "np", "NP" }, { "npl", "NP" }, { "nr", "NR" }, { "nru", "NR" }, { "nu", "NU" },
    { "nz", "NZ" }, { "nzl", "NZ" }, { "om", "OM" }, { "oman", "OM" }, { "omn", "OM" },
    { "pa", "PA" }, { "pak", "PK" }, { "pakistan", "PK" }, { "palau", "PW" },
    { "pan", "PA" }, { "panama", "PA" }, { "papuanewguinea", "PG" }, { "paraguay", "PY" },
    { "paysbas", "NL" }, { "pcn", "PN" }, { "pe", "PE" }, { "per", "PE" }, { "peru", "PE" },
    { "pf", "PF" }, { "pg", "PG" }, { "ph", "PH" }, { "philippines", "PH" },
    { "phl", "PH" }, { "pitcairn", "PN" }, { "pk", "PK" }, { "pl", "PL" }, { "plw", "PW" },
    { "pm", "PM" }, { "pn", "PN" }, { "png", "PG" }, { "pol", "PL" }, { "poland", "PL" },
    { "pologne", "PL" }, { "polynesiefrancaise", "PF" }, { "portugal", "PT" },
    { "pr", "PR" }, { "pri", "PR" }, { "prk", "KP" }, { "prt", "PT" }, { "pry", "PY" },
    { "ps", "PS" }, { "pse", "PS" }, { "pt", "PT" }, { "puertorico", "PR" }, { "pw", "PW" },
    { "py", "PY" }, { "pyf", "PF" }, { "qa", "QA" }, { "qat", "QA" }, { "qatar", "QA" },
    { "re", "RE" }, { "republiquefrancaise", "FR" }, { "reu", "RE" }, { "reunion", "RE" },
    { "ro", "RO" }, { "romania", "RO" }, { "rou", "RO" }, { "royaumeuni", "GB" },
    { "rs", "RS" }, { "ru", "RU" }, { "rus", "RU" }, { "russianfederation", "RU" },
    { "rw", "RW" }, { "rwa", "RW" }, { "rwanda", "RW" }, { "sa", "SA" },
    { "saintbarthelemy", "BL" }, { "saintkittsandnevis", "KN" }, { "saintlucia", "LC" },
    { "saintpierreandmiquelon", "PM" }, { "saintvincentandthegrenadines", "VC" },
    { "samoa", "WS" }, { "sanmarino", "SM" }, { "saotomeandprincipe", "ST" },
    { "sau", "SA" }, { "saudiarabia", "SA" }, { "sb", "SB" }, { "sc", "SC" },
    { "schweiz", "CH" }, { "sd", "SD" }, { "sdn", "SD" }, { "se", "SE" }, { "sen", "SN" },
    { "senegal", "SN" }, { "serbia", "RS" }, { "seychelles", "SC" }, { "sg", "SG" },
    { "sgp", "SG" }, { "sgs", "GS" }, { "sh", "SH" }, { "shn", "SH" }, { "si", "SI" },
    { "sierraleone", "SL" }, { "singapore", "SG" }, { "sj", "SJ" }, { "sjm", "SJ" },
    { "sk", "SK" }, { "sl", "SL" }, { "slb", "SB" }, { "sle", "SL" }, { "slovakia", "SK" },
    { "slovenia", "SI" }, { "slv", "SV" }, { "sm", "SM" }, { "smr", "SM" }, { "sn", "SN" },
    { "so", "SO" }, { "solomonislands", "SB" }, { "som", "SO" }, { "somalia", "SO" },
    { "southafrica", "ZA" }, { "southkorea", "KR" }, { "southsudan", "SS" },
    { "spain", "ES" }, { "spm", "PM" }, { "sr", "SR" }, { "srb", "RS" },
    { "srilanka", "LK" }, { "ss", "SS" }, { "ssd", "SS" }, { "st", "ST" }, { "stp", "ST" },
    { "sudan", "SD" }, { "suisse", "CH" }, { "sur", "SR" }, { "suriname", "SR" },
    { "sv", "SV" }, { "svalbardandjanmayen", "SJ" }, { "svizzera", "CH" }, { "svk", "SK" },
    { "svn", "SI" }, { "swe", "SE" }, { "sweden", "SE" }, { "switzerland", "CH" },
    { "swz", "SZ" }, { "sx", "SX" }, { "sxm", "SX" }, { "sy", "SY" }, { "syc", "SC" },
    { "syr", "SY" }, { "syria", "SY" }, { "syrianarabrepublic", "SY" }, { "sz", "SZ" },
    { "taiwan", "TW" }, { "tajikistan", "TJ" }, { "tanzania", "TZ" }, { "tc", "TC" },
    { "tca", "TC" }, { "tcd", "TD" }, { "td", "TD" }, { "tf", "TF" }, { "tg", "TG" },
    { "tgo", "TG" }, { "th", "TH" }, { "tha", "TH" }, { "thailand", "TH" },
    { "thenetherlands", "NL" }, { "tj", "TJ" }, { "tjk", "TJ" }, { "tk", "TK" },
    { "tkl", "TK" }, { "tkm", "TM" }, { "tl", "TL" }, { "tls", "TL" }, { "tm", "TM" },
    { "tn", "TN" }, { "to", "TO" }, { "togo", "TG" }, { "tokelau", "TK" }, { "ton", "TO" },
    { "tonga", "TO" }, { "tr", "TR" }, { "trinidadandtobago", "TT" }, { "tt", "TT" },
    { "tto", "TT" }, { "tun", "TN" }, { "tunisia", "TN" }, { "tunisie", "TN" },
    { "tur", "TR" }, { "turkiye", "TR" }, { "turkmenistan", "TM" },
    { "turksandcaicosislands", "TC" }, { "tuv", "TV" }, { "tuvalu", "TV" }, { "tv", "TV" },
    { "tw", "TW" }, { "twn", "TW" }, { "tz", "TZ" }, { "tza", "TZ" }, { "ua", "UA" },
    { "ug", "UG" }, { "uga", "UG" }, { "uganda", "UG" }, { "uk", "GB" }, { "ukr", "UA" },
    { "ukraine", "UA" }, { "um", "UM" }, { "umi", "UM" }, { "unitedarabemirates", "AE" },
    { "unitedkingdom", "GB" }, { "unitedstates", "US" }, { "unitedstatesofamerica", "US" },
    { "uruguay", "UY" }, { "ury", "UY" }, { "us", "US" }, { "usa", "US" }, { "uy", "UY" },
    { "uz", "UZ" }, { "uzb", "UZ" }, { "uzbekistan", "UZ" }, { "va", "VA" },
    { "vanuatu", "VU" }, { "vat", "VA" }, { "vc", "VC" }, { "vct", "VC" }, { "ve", "VE" },
    { "ven", "VE" }, { "venezuela", "VE" }, { "vg", "VG" }, { "vgb", "VG" }, { "vi", "VI" },
    { "vietnam", "VN" }, { "vir", "VI" }, { "vn", "VN" }, { "vnm", "VN" }, { "vu", "VU" },
    { "vut", "VU" }, { "wallisandfutuna", "WF" }, { "westernsahara", "EH" }, { "wf", "WF" },
    { "wlf", "WF" }, { "ws", "WS" }, { "wsm", "WS" }, { "ye", "YE" }, { "yem", "YE" },
    { "yemen", "YE" }, { "yt", "YT" }, { "za", "ZA" }, { "zaf", "ZA" }, { "zambia", "ZM" },
    { "zimbabwe", "ZW" }, { "zm", "ZM" }, { "zmb", "ZM" }, { "zw", "ZW" }, { "zwe", "ZW" },
};

static int
country_cmp(const void *key, const void *entry)
{
    return strcmp(key, ((const struct country *)entry)->key);
}

int
nv_norm_country(const char *in, size_t len, struct nv_buf *out)
{
    const struct country *found;
    struct nv_buf name = NV_BUF_INIT;
    char key[32];
    size_t n = 0;
    int r;

    if ((r = check_len("country", len)) < 0)
        goto out;
    if (!utf8_valid(in, len)) {
        r = nv_fail(NV_EFORMAT, "country: not valid UTF-8");
        goto out;
    }
    if ((r = nv_norm_name(in, len, &name)) < 0)
        goto out;
    for (size_t i = 0; i < name.len; i++) {
        if (name.data[i] == ' ')
            continue;
        if (n + 1 >= sizeof(key)) {
            r = nv_fail(NV_EFORMAT, "country: unknown country");
            goto out;
        }
        key[n++] = (char)name.data[i];
    }
    key[n] = '\0';
    if (n == 0)
        goto out;
    found = bsearch(key, countries, sizeof(countries) / sizeof(countries[0]),
                    sizeof(countries[0]), country_cmp);
    if (found != NULL)
        r = nv_buf_add(out, found->code, 2);
    else
        r = nv_fail(NV_EFORMAT, "country: unknown country");
out:
    nv_buf_release(&name);
    return r;
}

/* ---- French phonetic key ---- */

static int
is_vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u' || c == 'y';
}

/* 1 if w[k] starts a nasal ending: n or m, then the end of the word or a
 * consonant other than n or m. */
static int
nasal_at(const char *w, size_t n, size_t k)
{
    if (k >= n || (w[k] != 'n' && w[k] != 'm'))
        return 0;
    return k + 1 == n ||
           (!is_vowel(w[k + 1]) && w[k + 1] != 'n' && w[k + 1] != 'm');
}

/* Doubled letters made single, then (in a word of 3 letters or more) a
 * silent final s, t, x, d or z and a final e dropped; the new length. */
static inline size_t
phon_trim(char *w, size_t n)
{
    size_t i, j;

    for (i = 0, j = 0; i < n; i++) /* doubled letters are single */
        if (j == 0 || w[j - 1] != w[i])
            w[j++] = w[i];
    n = j;
    if (n >= 3 && in_set(w[n - 1], "stxdz"))
        n--;
    if (n >= 3 && w[n - 1] == 'e')
        n--;
    return n;
}

/* The vowel rules: the code of the vowel or vowel group at w[i] (ai, ay,
 * au, eau, ei, ey, eu, ou, oi, oy, and the nasals an, en, in, on, ain...)
 * appended at o[*k]; returns the letters it takes. */
static inline size_t
phon_vowel(const char *w, size_t n, size_t i, char *o, size_t *k)
{
    char c = w[i], nx = i + 1 < n ? w[i + 1] : 0, nx2 = i + 2 < n ? w[i + 2] : 0;

    switch (c) {
    case 'a':
        if (nx == 'i' || nx == 'y') {
            o[(*k)++] = nasal_at(w, n, i + 2) ? 'I' : 'e';
            return nasal_at(w, n, i + 2) ? 3 : 2;
        }
        if (nx == 'u') {
            o[(*k)++] = 'o';
            return 2;
        }
        if (nasal_at(w, n, i + 1)) {
            o[(*k)++] = 'A';
            return 2;
        }
        o[(*k)++] = 'a';
        return 1;
    case 'e':
        if (nx == 'a' && nx2 == 'u') {
            o[(*k)++] = 'o';
            return 3;
        }
        if (nx == 'i' || nx == 'y') {
            o[(*k)++] = nasal_at(w, n, i + 2) ? 'I' : 'e';
            return nasal_at(w, n, i + 2) ? 3 : 2;
        }
        if (nx == 'u') {
            o[(*k)++] = 'e';
            return 2;
        }
        if (nasal_at(w, n, i + 1)) {
            o[(*k)++] = 'A';
            return 2;
        }
        o[(*k)++] = 'e';
        return 1;
    case 'o':
        if (nx == 'u') {
            o[(*k)++] = 'u';
            return 2;
        }
        if (nx == 'i' || nx == 'y') {
            o[(*k)++] = 'W';
            return 2;
        }
        if (nasal_at(w, n, i + 1)) {
            o[(*k)++] = 'O';
            return 2;
        }
        o[(*k)++] = 'o';
        return 1;
    default: /* i, y, u */
        if (nasal_at(w, n, i + 1)) {
            o[(*k)++] = 'I';
            return 2;
        }
        o[(*k)++] = c == 'u' ? 'u' : 'i';
        return 1;
    }
}

/* The consonant rules: the code of the consonant or group at w[i] (bv, ch,
 * ck, c before e/i/y, gu, gn, g before e/i/y, h silent, ph, qu, sch, sh,
 * z, w, x as ks) appended at o[*k]; returns the letters it takes. */
static inline size_t
phon_consonant(const char *w, size_t n, size_t i, char *o, size_t *k)
{
    char c = w[i], nx = i + 1 < n ? w[i + 1] : 0, nx2 = i + 2 < n ? w[i + 2] : 0;

    switch (c) {
    case 'b':
        if (nx != 'v')
            o[(*k)++] = 'b';
        return 1;
    case 'c':
        if (nx == 'h') {
            o[(*k)++] = 'C';
            return 2;
        }
        if (nx == 'k') {
            o[(*k)++] = 'k';
            return 2;
        }
        o[(*k)++] = (nx == 'e' || nx == 'i' || nx == 'y') ? 's' : 'k';
        return 1;
    case 'g':
        if (nx == 'u' && is_vowel(nx2)) {
            o[(*k)++] = 'g';
            return 2;
        }
        if (nx == 'n') {
            o[(*k)++] = 'N';
            return 2;
        }
        o[(*k)++] = (nx == 'e' || nx == 'i' || nx == 'y') ? 'j' : 'g';
        return 1;
    case 'h':
        return 1;
    case 'p':
        o[(*k)++] = nx == 'h' ? 'f' : 'p';
        return nx == 'h' ? 2 : 1;
    case 'q':
        o[(*k)++] = 'k';
        return nx == 'u' ? 2 : 1;
    case 's':
        if (nx == 'c' && nx2 == 'h') {
            o[(*k)++] = 'C';
            return 3;
        }
        if (nx == 'h') {
            o[(*k)++] = 'C';
            return 2;
        }
        o[(*k)++] = 's';
        return 1;
    case 'z':
        o[(*k)++] = 's';
        return 1;
    case 'w':
        o[(*k)++] = 'v';
        return 1;
    case 'x':
        o[(*k)++] = 'k';
        o[(*k)++] = 's';
        return 1;
    default:
        o[(*k)++] = c;
        return 1;
    }
}

/* Code of one word w[0..n) (a-z only, n <= PHON_WORD_MAX; rewritten) into
 * o; returns its length (at most 2 * n). */
static size_t
phon_word(char *w, size_t n, char *o)
{
    size_t i = 0, k = 0, j;

    n = phon_trim(w, n);
    while (i < n)
        i += is_vowel(w[i]) ? phon_vowel(w, n, i, o, &k) : phon_consonant(w, n, i, o, &k);
    /* collapse runs of one symbol */
    for (i = 0, j = 0; i < k; i++)
        if (j == 0 || o[j - 1] != o[i])
            o[j++] = o[i];
    return j;
}

int
nv_phonetic_fr(const char *norm_name, struct nv_buf *out)
{
    char w[PHON_WORD_MAX], code[2 * PHON_WORD_MAX];
    const char *p = norm_name;
    size_t base = out->len, n, k;
    int r = 0, any = 0;

    if (p == NULL)
        return 0;
    while (*p != '\0') {
        n = 0;
        while (*p != '\0' && *p != ' ') {
            char c = (char)ascii_lower((unsigned char)*p++);

            if (c >= 'a' && c <= 'z' && n < sizeof(w))
                w[n++] = c;
        }
        while (*p == ' ')
            p++;
        if (n == 0)
            continue;
        k = phon_word(w, n, code);
        if (k == 0)
            continue;
        if (any && (r = nv_buf_add(out, " ", 1)) < 0)
            goto out;
        if ((r = nv_buf_add(out, code, k)) < 0)
            goto out;
        any = 1;
    }
out:
    if (r < 0)
        rollback(out, base);
    return r;
}

/* ---- string similarity ---- */

/* Decode up to NV_CMP_MAX_CP code points of s; an invalid byte is U+FFFD. */
static size_t
decode_cp(const char *s, utf8proc_int32_t *cp)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)(s != NULL ? s : "");
    size_t len = strlen((const char *)p), n = 0;
    utf8proc_ssize_t r;

    while (len > 0 && n < NV_CMP_MAX_CP) {
        r = utf8proc_iterate(p, (utf8proc_ssize_t)len, &cp[n]);
        if (r <= 0) {
            cp[n] = 0xFFFD;
            r = 1;
        }
        n++;
        p += r;
        len -= (size_t)r;
    }
    return n;
}

/* Jaro-Winkler on two code-point arrays (ma, mb: la and lb zeroed flags). */
static double
jw_core(const utf8proc_int32_t *ca, size_t la, const utf8proc_int32_t *cb, size_t lb,
        unsigned char *ma, unsigned char *mb)
{
    size_t win, m = 0, t = 0, k = 0, pre = 0;
    double jaro;

    if (la == 0 && lb == 0)
        return 1.0;
    if (la == 0 || lb == 0)
        return 0.0;
    win = (la > lb ? la : lb) / 2;
    win = win > 0 ? win - 1 : 0;
    for (size_t i = 0; i < la; i++) {
        size_t lo = i > win ? i - win : 0;
        size_t hi = i + win + 1 < lb ? i + win + 1 : lb;

        for (size_t j = lo; j < hi; j++) {
            if (!mb[j] && ca[i] == cb[j]) {
                ma[i] = mb[j] = 1;
                m++;
                break;
            }
        }
    }
    if (m == 0)
        return 0.0;
    for (size_t i = 0; i < la; i++) {
        if (!ma[i])
            continue;
        while (!mb[k])
            k++;
        if (ca[i] != cb[k])
            t++;
        k++;
    }
    jaro = ((double)m / (double)la + (double)m / (double)lb +
            ((double)m - (double)t / 2.0) / (double)m) / 3.0;
    while (pre < 4 && pre < la && pre < lb && ca[pre] == cb[pre])
        pre++;
    return jaro + (double)pre * 0.1 * (1.0 - jaro);
}

double
nv_jaro_winkler(const char *a, const char *b)
{
    utf8proc_int32_t ca[NV_CMP_MAX_CP], cb[NV_CMP_MAX_CP];
    unsigned char ma[NV_CMP_MAX_CP] = { 0 }, mb[NV_CMP_MAX_CP] = { 0 };
    size_t la = decode_cp(a, ca), lb = decode_cp(b, cb);

    return jw_core(ca, la, cb, lb, ma, mb);
}

double
nv_jaro_winkler_n(const char *a, size_t la, const char *b, size_t lb)
{
    utf8proc_int32_t ca[64], cb[64];
    unsigned char ma[64] = { 0 }, mb[64] = { 0 }, acc = 0;

    if (la > 64 || lb > 64)
        return nv_jaro_winkler(a, b);
    for (size_t i = 0; i < la; i++)
        acc |= (unsigned char)(ca[i] = (unsigned char)a[i]);
    for (size_t i = 0; i < lb; i++)
        acc |= (unsigned char)(cb[i] = (unsigned char)b[i]);
    if (acc >= 0x80)
        return nv_jaro_winkler(a, b); /* not ASCII: code points */
    return jw_core(ca, la, cb, lb, ma, mb);
}

size_t
nv_levenshtein(const char *a, const char *b, size_t max)
{
    utf8proc_int32_t ca[NV_CMP_MAX_CP], cb[NV_CMP_MAX_CP];
    size_t rows[2][NV_CMP_MAX_CP + 1];
    size_t *prev = rows[0], *cur = rows[1], *tmp;
    size_t la = decode_cp(a, ca), lb = decode_cp(b, cb);
    size_t cap = max < SIZE_MAX ? max + 1 : SIZE_MAX;

    if ((la > lb ? la - lb : lb - la) > max)
        return cap;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t rowmin;

        cur[0] = i;
        rowmin = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t v = prev[j - 1] + (ca[i - 1] != cb[j - 1]);

            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            cur[j] = v;
            if (v < rowmin)
                rowmin = v;
        }
        if (rowmin > max)
            return cap;
        tmp = prev;
        prev = cur;
        cur = tmp;
    }
    return prev[lb] > max ? cap : prev[lb];
}
