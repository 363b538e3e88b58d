/*
 * match.c - identity resolution core: prepared records, blocking keys,
 * graded comparison, Fellegi–Sunter model fitted by EM, term frequencies,
 * and the batch pipeline with its clustering.  Contract in match.h.
 *
 * Speed: the hub compares hundreds of millions of pairs, so everything a
 * comparison needs is computed once per record (match_rec_init) and a
 * comparison only reads the record's arena: no allocation, no Unicode
 * decoding for ASCII values (the common case after nv_norm_name), early
 * exits on equality.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "../../formats/errors.h"
#include "../lib/hmap.h"
#include "match.h"
#include "../model/normalize.h"

/* ---- record slots ---- */

/* Where each value and derived form lives in a record's arena. */
enum slot {
    S_ENTITY,
    S_FIRST,     /* "jean pierre" */
    S_FIRST_C,   /* "jeanpierre" */
    S_FIRST_PH,  /* phonetic of every word */
    S_FIRST_PH1, /* phonetic of the first word */
    S_LAST,      /* words without particles: "fontaine" */
    S_LAST_C,    /* the same without spaces */
    S_LAST_G,    /* every word glued: "delafontaine" */
    S_LAST_PH,
    S_BIRTH,
    S_BIRTH_C,
    S_BIRTH_G,
    S_BIRTH_PH,
    S_EMAIL0,
    S_PHONE0 = S_EMAIL0 + MATCH_MAX_EMAILS,
    S_POSTCODE = S_PHONE0 + MATCH_MAX_PHONES,
    S_CITY,
    S_STREET, /* street name without its number, without spaces */
    S_NATID,
    S_NSLOTS
};

_Static_assert(S_NSLOTS <= 24, "struct match_rec has 24 slots");
_Static_assert(MATCH_ARENA_MAX <= 65535, "slot offsets are 16-bit");
_Static_assert(MATCH_VALUE_MAX <= 255, "slot lengths are 8-bit");

#define SP(r, s) ((r)->arena + (r)->off[s])
#define SL(r, s) ((size_t)(r)->len[s])

/* A name seen four ways (first names have no particles: c == g). */
struct nview {
    const char *sp, *c, *g, *ph;
    size_t lsp, lc, lg, lph;
    uint32_t mask; /* letters of c (see letters()) */
};

static struct nview
view(const struct match_rec *r, int sp, int c, int g, int ph, int m)
{
    struct nview v;

    v.sp = SP(r, sp), v.lsp = SL(r, sp);
    v.c = SP(r, c), v.lc = SL(r, c);
    v.g = SP(r, g), v.lg = SL(r, g);
    v.ph = SP(r, ph), v.lph = SL(r, ph);
    v.mask = r->mask[m];
    return v;
}

/* Slots whose letters are kept as a mask in the record (struct
 * match_rec.mask), to skip Jaro-Winkler on values far apart. */
enum { M_FIRST, M_LAST, M_BIRTH, M_CITY, M_STREET };

#define FIRST_VIEW(r) view(r, S_FIRST, S_FIRST_C, S_FIRST_C, S_FIRST_PH, M_FIRST)
#define LAST_VIEW(r) view(r, S_LAST, S_LAST_C, S_LAST_G, S_LAST_PH, M_LAST)
#define BIRTH_VIEW(r) view(r, S_BIRTH, S_BIRTH_C, S_BIRTH_G, S_BIRTH_PH, M_BIRTH)

/* ---- small string tools (bytes, no allocation) ---- */

static uint64_t
load8(const char *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

/* Equal and not empty; 8 bytes at a time (names and e-mails are short, and
 * a call to memcmp costs more than the comparison). */
static int
eq(const char *a, size_t la, const char *b, size_t lb)
{
    size_t i = 0;

    if (la != lb || la == 0)
        return 0;
    for (; i + 8 <= la; i += 8)
        if (load8(a + i) != load8(b + i))
            return 0;
    for (; i < la; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}



/*
 * The letters of s as a mask: bit c - 'a' for a..z, bits 26..30 for other
 * bytes (by value), bit 31 when s is not ASCII.
 */
static uint32_t
letters(const char *s, size_t n)
{
    uint32_t m = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 'a' && c <= 'z')
            m |= 1u << (c - 'a');
        else if (c < 0x80)
            m |= 1u << (26 + c % 5);
        else
            m |= 1u << 31;
    }
    return m;
}

/*
 * Jaro-Winkler of a and b when it may reach lo, else 0 without computing
 * it.  Each letter of a that b lacks costs a at least one unmatched
 * position, so the matches m are at most la - |letters(a) \ letters(b)|
 * (and the same from b), which bounds the score.  Most values compared are
 * far apart, and this is a few operations where Jaro-Winkler is a
 * quadratic loop.
 */
static double
jw_min(const char *a, size_t la, uint32_t ma, const char *b, size_t lb, uint32_t mb,
       double lo)
{
    size_t xa = (size_t)__builtin_popcount(ma & ~mb & 0x7FFFFFFFu);
    size_t xb = (size_t)__builtin_popcount(mb & ~ma & 0x7FFFFFFFu);
    size_t m, pre = 0;
    double j;

    if (la == 0 || lb == 0)
        return nv_jaro_winkler_n(a, la, b, lb);
    if ((ma | mb) & 0x80000000u)
        return nv_jaro_winkler_n(a, la, b, lb); /* not ASCII: the bound counts bytes */
    m = la - (xa < la ? xa : la);
    m = m < lb - (xb < lb ? xb : lb) ? m : lb - (xb < lb ? xb : lb);
    while (pre < 4 && pre < la && pre < lb && a[pre] == b[pre])
        pre++;
    j = ((double)m / (double)la + (double)m / (double)lb + 1.0) / 3.0;
    if (m == 0 || j + (double)pre * 0.1 * (1.0 - j) < lo)
        return 0.0;
    return nv_jaro_winkler_n(a, la, b, lb);
}

/* 1 when a and b differ by one insertion, deletion, substitution or swap of
 * two adjacent bytes (0 when equal). */
static int
one_edit(const char *a, size_t la, const char *b, size_t lb)
{
    size_t i = 0;

    if (la == lb) {
        while (i < la && a[i] == b[i])
            i++;
        if (i == la)
            return 0;
        if (memcmp(a + i + 1, b + i + 1, la - i - 1) == 0)
            return 1;
        return i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] &&
               memcmp(a + i + 2, b + i + 2, la - i - 2) == 0;
    }
    if (la + 1 == lb || lb + 1 == la) {
        const char *s = la < lb ? a : b, *l = la < lb ? b : a;
        size_t ls = la < lb ? la : lb;

        while (i < ls && s[i] == l[i])
            i++;
        return memcmp(s + i, l + i + 1, ls - i) == 0;
    }
    return 0;
}

/* Split a space-separated string into at most max words. */
static size_t
words(const char *s, size_t n, const char **w, size_t *wl, size_t max)
{
    size_t k = 0, i = 0;

    while (i < n && k < max) {
        size_t j;

        while (i < n && s[i] == ' ')
            i++;
        j = i;
        while (j < n && s[j] != ' ')
            j++;
        if (j > i) {
            w[k] = s + i;
            wl[k] = j - i;
            k++;
        }
        i = j;
    }
    return k;
}

/* ---- names: particles, nicknames ---- */

static const char *const particles[] = {
    "d", "da", "das", "de", "del", "della", "der", "des", "di", "do", "dos",
    "du", "l", "la", "le", "les", "van", "von", "zu",
};

static int
is_particle(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof(particles) / sizeof(particles[0]); i++)
        if (strlen(particles[i]) == n && memcmp(particles[i], w, n) == 0)
            return 1;
    return 0;
}

/* 1 when s[0..n) is one or more particles glued together ("dela"). */
static int
particle_run(const char *s, size_t n)
{
    if (n == 0)
        return 1;
    for (size_t k = 1; k <= n && k <= 5; k++)
        if (is_particle(s, k) && particle_run(s + k, n - k))
            return 1;
    return 0;
}

/* 1 when the longer of a, b is particles followed by the shorter. */
static int
particle_suffix(const char *a, size_t la, const char *b, size_t lb)
{
    const char *s = la < lb ? a : b, *l = la < lb ? b : a;
    size_t ls = la < lb ? la : lb, ll = la < lb ? lb : la;

    if (ls == 0 || ls == ll || (l[0] != 'd' && l[0] != 'l' && l[0] != 'v' && l[0] != 'z'))
        return 0; /* every particle starts with d, l, v or z */
    return memcmp(l + (ll - ls), s, ls) == 0 && particle_run(l, ll - ls);
}

/*
 * Common diminutives, French and English: a full name, then its short
 * forms.  Two first names agree through the table (level CLOSE) when they
 * belong to one group: "bob" and "robert", "manu" and "emmanuel".  A short
 * form may be in several groups ("alex", "chris").  Names are as
 * nv_norm_name writes them, compound names glued ("jeanpierre").
 */
static const char *const nicknames[] = {
    "abigail abby",
    "alexander alex sasha sandy",
    "alexandra alex sandra sasha sandy",
    "alexandre alex",
    "alexis alex",
    "andrew andy drew",
    "anthony tony",
    "antoine toine toinou",
    "benjamin ben benji",
    "benoit ben",
    "aurelien aurel",
    "bernard nanard",
    "bernadette bernie",
    "catherine cathy kate katie cat",
    "caroline caro carol",
    "charles charlie chuck",
    "charlotte charly lottie",
    "christian chris",
    "christine chris tina",
    "christelle chris",
    "christophe chris",
    "christopher chris kit",
    "daniel dan danny",
    "david dave davy",
    "deborah debbie deb",
    "dominique dom",
    "dorothee doro",
    "edward ed eddie ted",
    "elisabeth babette babeth lisa zabeth",
    "elizabeth liz lizzie beth betty eliza libby",
    "emmanuel manu",
    "emmanuelle manue manu",
    "florence flo",
    "florian flo",
    "francois fanfan",
    "francoise fanfan",
    "frederic fred",
    "frederick fred freddie",
    "frederique fred",
    "gabriel gaby",
    "gerard gege",
    "gabrielle gaby",
    "gregory greg",
    "guillaume guigui will",
    "henry harry hank",
    "isabelle isa babette",
    "jacques jacquot jacky",
    "jacqueline jackie jacky",
    "james jim jimmy jamie",
    "jean jeannot",
    "jeanbaptiste jb",
    "jennifer jen jenny",
    "jonathan jon jonny",
    "joseph joe joey jo jojo",
    "josephine jo josy",
    "josiane josy",
    "josette josy",
    "katherine kate katie kathy kat",
    "kenneth ken kenny",
    "laurent lolo",
    "laurence lolo",
    "lawrence larry",
    "margaret maggie meg peggy",
    "marguerite margot",
    "matthew matt",
    "maxime max",
    "mathieu math",
    "matthieu math",
    "margaux margot",
    "maximilien max",
    "michael mike mick mickey",
    "michel michou",
    "nathalie nath",
    "nicholas nick nicky",
    "nicolas nico",
    "patricia pat patty trish",
    "patrick pat",
    "peter pete",
    "philippe phil",
    "pierre pierrot",
    "raphael raph",
    "rebecca becky",
    "richard rick dick rich richie",
    "robert bob rob bobby robbie",
    "ronald ron ronnie",
    "samuel sam",
    "sebastien seb",
    "stephane steph",
    "stephanie steph",
    "steven steve",
    "stephen steve",
    "susan sue susie",
    "thomas tom tommy",
    "timothy tim",
    "timothee tim",
    "valentin val",
    "valerie val",
    "veronique vero",
    "victoria vicky tori",
    "william bill will billy willy liam",
};

#define NICK_GROUPS (sizeof(nicknames) / sizeof(nicknames[0]))
_Static_assert(NICK_GROUPS < 65535, "nickname groups fit 16 bits");

/* Record the groups (index + 1) the word w belongs to, at most 4. */
static void
nick_groups_scan(const char *w, size_t n, uint16_t out[4])
{
    size_t k = 0;

    out[0] = out[1] = out[2] = out[3] = 0;
    for (size_t g = 0; g < NICK_GROUPS && k < 4; g++) {
        const char *p = nicknames[g];

        while (*p != '\0') {
            const char *e = strchr(p, ' ');
            size_t l = e != NULL ? (size_t)(e - p) : strlen(p);

            if (l == n && memcmp(p, w, n) == 0) {
                out[k++] = (uint16_t)(g + 1);
                break;
            }
            p += l;
            while (*p == ' ')
                p++;
        }
    }
}

/* The table's names, each with the groups nick_groups_scan gives it, in a
 * hash map built once: a record's first name is looked up once instead of
 * read against every group (a million records at a hub's first bundle). */
struct nick_entry {
    const char *w; /* in nicknames[]: n bytes */
    size_t n;
    uint16_t g[4];
};
struct nick_key {
    const char *w;
    size_t n;
};
static struct nv_hmap nick_tab;
static int nick_ready; /* nick_tab was built (else: scan the table) */
static pthread_once_t nick_once = PTHREAD_ONCE_INIT;

static uint64_t
nick_hash(const char *w, size_t n)
{
    return nv_fnv1a(NV_FNV_OFFSET, w, n);
}

static int
nick_eq(const void *value, const void *key)
{
    const struct nick_entry *e = value;
    const struct nick_key *k = key;

    return e->n == k->n && memcmp(e->w, k->w, k->n) == 0;
}

static void
nick_build(void)
{
    nv_hmap_init_eq(&nick_tab, sizeof(struct nick_entry), 0, nick_eq);
    for (size_t g = 0; g < NICK_GROUPS; g++) {
        const char *p = nicknames[g];
        while (*p != '\0') {
            const char *e = strchr(p, ' ');
            struct nick_key k = { p, e != NULL ? (size_t)(e - p) : strlen(p) };
            struct nick_entry *v;
            int isnew;
            if ((v = nv_hmap_insert(&nick_tab, nick_hash(k.w, k.n), &k, &isnew)) == NULL) {
                nv_hmap_release(&nick_tab); /* out of memory: scan instead */
                return;
            }
            if (isnew) {
                v->w = k.w;
                v->n = k.n;
                nick_groups_scan(k.w, k.n, v->g);
            }
            p += k.n;
            while (*p == ' ')
                p++;
        }
    }
    nick_ready = 1;
}

/* The nickname groups (+ 1) of first name w (n bytes), at most 4, in table
 * order; zeros after them. */
static void
nick_groups(const char *w, size_t n, uint16_t out[4])
{
    struct nick_key k = { w, n };
    const struct nick_entry *e;

    pthread_once(&nick_once, nick_build);
    if (!nick_ready) {
        nick_groups_scan(w, n, out);
        return;
    }
    if ((e = nv_hmap_find(&nick_tab, nick_hash(w, n), &k)) != NULL)
        memcpy(out, e->g, sizeof(e->g));
    else
        out[0] = out[1] = out[2] = out[3] = 0;
}

static int
nick_agree(const struct match_rec *a, const struct match_rec *b)
{
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            if (a->nick[i] != 0 && a->nick[i] == b->nick[j])
                return 1;
    return 0;
}

/* ---- record construction ---- */

struct arena {
    char buf[MATCH_ARENA_MAX];
    size_t len;
};

/* Cut n to at most max bytes without splitting a UTF-8 sequence. */
static size_t
cut_utf8(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* Put s[0..n) in a slot; an over-long value is cut, a full arena drops it. */
static void
put(struct match_rec *r, struct arena *ar, int slot, const char *s, size_t n)
{
    n = cut_utf8(s, n, MATCH_VALUE_MAX);
    r->off[slot] = 0;
    r->len[slot] = 0;
    if (n == 0 || ar->len + n + 1 > sizeof(ar->buf))
        return;
    memcpy(ar->buf + ar->len, s, n);
    ar->buf[ar->len + n] = '\0';
    r->off[slot] = (uint16_t)ar->len;
    r->len[slot] = (uint8_t)n;
    ar->len += n + 1;
}

static size_t
slen(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

/* Put a name without its particles (sp), without spaces (c), glued with
 * its particles (g) and its phonetic key (ph). */
static int
put_name(struct match_rec *r, struct arena *ar, const char *name, int with_particles,
         int s_sp, int s_c, int s_g, int s_ph, struct nv_buf *tmp)
{
    const char *w[16];
    size_t wl[16], nw, n = cut_utf8(name, slen(name), MATCH_VALUE_MAX);
    char sp[MATCH_VALUE_MAX + 1], c[MATCH_VALUE_MAX + 1], g[MATCH_VALUE_MAX + 1];
    size_t lsp = 0, lc = 0, lg = 0, kept = 0;
    int r2;

    nw = words(name != NULL ? name : "", n, w, wl, 16);
    if (with_particles)
        for (size_t i = 0; i < nw; i++)
            kept += !is_particle(w[i], wl[i]);
    for (size_t i = 0; i < nw; i++) {
        memcpy(g + lg, w[i], wl[i]);
        lg += wl[i];
        if (with_particles && kept > 0 && is_particle(w[i], wl[i]))
            continue;
        if (lsp > 0)
            sp[lsp++] = ' ';
        memcpy(sp + lsp, w[i], wl[i]);
        lsp += wl[i];
        memcpy(c + lc, w[i], wl[i]);
        lc += wl[i];
    }
    sp[lsp] = c[lc] = g[lg] = '\0';
    put(r, ar, s_sp, sp, lsp);
    put(r, ar, s_c, c, lc);
    if (s_g != s_c)
        put(r, ar, s_g, g, lg);
    nv_buf_reset(tmp);
    if (lsp > 0 && (r2 = nv_phonetic_fr(sp, tmp)) < 0)
        return r2;
    put(r, ar, s_ph, (const char *)tmp->data, tmp->len);
    return 0;
}

/* "YYYY-MM-DD" -> YYYYMMDD, 0 for missing, -1 for anything else. */
static long
parse_iso(const char *s)
{
    long v = 0;

    if (s == NULL || *s == '\0')
        return 0;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++) {
        if (i == 4 || i == 7)
            continue;
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v % 100 == 0 || v % 100 > 31 || v / 100 % 100 == 0 || v / 100 % 100 > 12)
        return -1;
    return v;
}

/*
 * Street types: French ones lead the street name ("bd des lilas"), English
 * ones end it ("stanley st").  Each row is a canonical type and its forms;
 * the row number (+1) is the record's street_type.
 */
static const char *const street_types_fr[] = {
    "rue r", "avenue av ave aven avn", "boulevard bd bld boul blvd",
    "allee all al", "chemin ch chem che", "place pl", "impasse imp",
    "route rte", "square sq", "quai qu", "cours crs", "passage pass psg",
    "faubourg fbg fg", "residence res resid", "lotissement lot lotis",
    "hameau ham", "voie", "sentier sent", "promenade prom",
};
static const char *const street_types_en[] = {
    "street st str", "road rd", "drive dr", "crescent cres cr",
    "circuit cct", "court ct", "lane ln", "close cl", "parade pde", "way",
    "terrace tce", "grove gr", "highway hwy", "esplanade esp",
    "avenue av ave", "place pl", "boulevard bvd blvd",
};

/* Row (+1) of the table holding the word w, or 0. */
static int
in_table(const char *const *t, size_t nt, const char *w, size_t n)
{
    for (size_t i = 0; i < nt; i++) {
        const char *p = t[i];

        while (*p != '\0') {
            const char *e = strchr(p, ' ');
            size_t l = e != NULL ? (size_t)(e - p) : strlen(p);

            if (l == n && memcmp(p, w, n) == 0)
                return (int)i + 1;
            p += l;
            while (*p == ' ')
                p++;
        }
    }
    return 0;
}

#define NTYPES_FR (sizeof(street_types_fr) / sizeof(street_types_fr[0]))
#define NTYPES_EN (sizeof(street_types_en) / sizeof(street_types_en[0]))

/*
 * Street.  French addresses carry complements before or after the street,
 * with or without a comma ("porte 5, 28 impasse du mal foch", "52 rue de
 * strasbourg lieu dit kerleo", "escalier c, 3e etage 84 place principale"),
 * and La Poste's abbreviations inside the street's name (mal, st, ste, dr,
 * gal, pdt...).  The street starts at the first number followed by a
 * French street type, else at the first comma-separated part that starts
 * with a number, else at the start.  A leading number becomes street_no
 * (with "bis", "ter", "quater", "b", "t" after it ignored); a street type
 * (rue, bd, av., street, st...) becomes street_type; the name runs to the
 * next comma or complement (residence, lieu-dit, escalier C, bat B, appt
 * 12, porte 5, 2e etage...), its abbreviations written out, without
 * particles, glued ("101 bd du mal foch, apt 3" -> 101, boulevard,
 * "marechalfoch").
 */
#define STREET_TOKENS 32

static const char *const street_suffixes[] = { "bis", "ter", "quater", "b", "t" };

/* La Poste's abbreviations of words in street names (row: the word, then
 * its abbreviations). */
static const char *const street_abbrev[] = {
    "marechal mal", "saint st", "sainte ste", "saints sts", "saintes stes",
    "docteur dr doct", "general gal gen gl", "president pdt pres",
    "commandant cdt cmdt", "lieutenant lt", "capitaine cne", "colonel cel",
    "monseigneur mgr", "professeur pr prof", "notre nte", "grande gde",
    "vieux vx",
};

static int
is_number(const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (w[i] < '0' || w[i] > '9')
            return 0;
    return n > 0;
}

/* A short designation after a complement word: "5", "12", "b", "c2". */
static int
designation(const char *w, size_t n)
{
    if (n == 1)
        return 1;
    if (n > 4)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (w[i] >= '0' && w[i] <= '9')
            return 1;
    return 0;
}

/* Does word i of w start an address complement (the name stops there)?
 * named: name words taken so far. */
static int
complement_at(const char *const *w, const size_t *wl, size_t nw, size_t i, size_t named)
{
    static const char *const with_designation[] = {
        "escalier esc", "batiment bat bt", "appartement appt app apt", "porte",
        "entree", "logement log", "bp", "cs", "cedex", "boite",
    };
    static const char *const with_name[] = { "residence res resid", "immeuble imm" };
    const char *x = w[i];
    size_t l = wl[i], k;

    if ((l == 7 && memcmp(x, "lieudit", 7) == 0) ||
        (l == 4 && memcmp(x, "lieu", 4) == 0 && i + 1 < nw && wl[i + 1] == 3 &&
         memcmp(w[i + 1], "dit", 3) == 0))
        return 1;
    if (named > 0 && l >= 3 && l <= 9 &&
        in_table(with_name, sizeof(with_name) / sizeof(with_name[0]), x, l))
        return 1;
    if (i + 1 < nw && designation(w[i + 1], wl[i + 1]) &&
        in_table(with_designation, sizeof(with_designation) / sizeof(with_designation[0]), x,
                 l))
        return 1;
    /* an ordinal before "etage": 2e, 3eme, 1er */
    for (k = 0; k < l && x[k] >= '0' && x[k] <= '9'; k++)
        ;
    return k > 0 && k < l && i + 1 < nw && wl[i + 1] == 5 && memcmp(w[i + 1], "etage", 5) == 0;
}

static void
put_street(struct match_rec *r, struct arena *ar, const char *s)
{
    const char *w[STREET_TOKENS];
    size_t wl[STREET_TOKENS], nw = 0, n = slen(s), k = 0, start = SIZE_MAX, end, first;
    uint8_t comma[STREET_TOKENS]; /* a comma before word i */
    uint32_t no = 0;
    char c[MATCH_VALUE_MAX + 1];
    int pending = 0;

    /* words, split on spaces and commas */
    for (size_t i = 0; i < n && nw < STREET_TOKENS;) {
        size_t j;
        if (s[i] == ' ' || s[i] == ',') {
            pending |= s[i] == ',';
            i++;
            continue;
        }
        for (j = i; j < n && s[j] != ' ' && s[j] != ','; j++)
            ;
        w[nw] = s + i;
        wl[nw] = j - i;
        comma[nw++] = (uint8_t)pending;
        pending = 0;
        i = j;
    }
    /* where the street starts: a number and a French street type */
    for (size_t i = 0; i + 2 < nw && start == SIZE_MAX; i++) {
        size_t j = i + 1;
        if (!is_number(w[i], wl[i]))
            continue;
        if (!comma[j] && in_table(street_suffixes, 5, w[j], wl[j]))
            j++;
        if (j + 1 < nw && !comma[j] && !comma[j + 1] &&
            in_table(street_types_fr, NTYPES_FR, w[j], wl[j]))
            start = i;
    }
    /* else the first part that starts with a digit, else the first */
    for (size_t i = 0; i < nw && start == SIZE_MAX; i++)
        if ((i == 0 || comma[i]) && w[i][0] >= '0' && w[i][0] <= '9')
            start = i;
    if (start == SIZE_MAX)
        start = 0;
    for (end = nw > 0 ? start + 1 : 0; end < nw && !comma[end]; end++)
        ;
    first = start;
    if (first < end && w[first][0] >= '0' && w[first][0] <= '9') {
        for (size_t i = 0; i < wl[first] && w[first][i] >= '0' && w[first][i] <= '9'; i++)
            if (no < 100000000)
                no = no * 10 + (uint32_t)(w[first][i] - '0');
        first++;
        if (first < end && in_table(street_suffixes, 5, w[first], wl[first]))
            first++;
    }
    r->street_no = no;
    r->street_type = 0;
    if (first < end && end - first >= 2 &&
        (r->street_type =
             (uint8_t)in_table(street_types_fr, NTYPES_FR, w[first], wl[first])) != 0) {
        first++;
    } else if (first < end && end - first >= 2 &&
               (r->street_type = (uint8_t)in_table(street_types_en, NTYPES_EN, w[end - 1],
                                                   wl[end - 1])) != 0) {
        r->street_type = (uint8_t)(r->street_type + NTYPES_FR);
        end--;
    }
    for (size_t i = first, named = 0; i < end; i++) {
        const char *x = w[i];
        size_t l = wl[i];
        int row;
        if (i > first && complement_at(w, wl, end, i, named))
            break;
        named++;
        if (end - first > 1 && is_particle(x, l))
            continue;
        if (l <= 4 && (row = in_table(street_abbrev,
                                      sizeof(street_abbrev) / sizeof(street_abbrev[0]), x, l)) !=
                          0) {
            x = street_abbrev[row - 1];
            l = strcspn(x, " ");
        }
        if (k + l > MATCH_VALUE_MAX)
            break;
        memcpy(c + k, x, l);
        k += l;
    }
    c[k] = '\0';
    put(r, ar, S_STREET, c, k);
}

/* City: "st"/"ste" are "saint"/"sainte", "cedex" and numbers (Paris
 * arrondissements, cedex numbers) are dropped. */
static void
put_city(struct match_rec *r, struct arena *ar, const char *s)
{
    const char *w[16];
    size_t wl[16], nw, k = 0;
    char c[MATCH_VALUE_MAX + 1];

    nw = words(s != NULL ? s : "", cut_utf8(s, slen(s), MATCH_VALUE_MAX), w, wl, 16);
    for (size_t i = 0; i < nw; i++) {
        const char *x = w[i];
        size_t l = wl[i];

        if ((l == 5 && memcmp(x, "cedex", 5) == 0) || (x[0] >= '0' && x[0] <= '9'))
            continue;
        if (l == 2 && memcmp(x, "st", 2) == 0)
            x = "saint", l = 5;
        else if (l == 3 && memcmp(x, "ste", 3) == 0)
            x = "sainte", l = 6;
        if (k + l + 1 > MATCH_VALUE_MAX)
            break;
        if (k > 0)
            c[k++] = ' ';
        memcpy(c + k, x, l);
        k += l;
    }
    c[k] = '\0';
    put(r, ar, S_CITY, c, k);
}

int
match_rec_init(struct match_rec *r, const struct match_person *p)
{
    struct arena stack, *ar = &stack; /* 4 KiB, then copied to its size */
    struct nv_buf tmp = NV_BUF_INIT;
    const char *w[1];
    size_t wl[1];
    long dob;
    int rc;

    memset(r, 0, sizeof(*r));
    dob = parse_iso(p->birth_date);
    if (dob < 0)
        return nv_fail(NV_EINVAL, "match record: birth date is not YYYY-MM-DD");
    ar->buf[0] = '\0';
    ar->len = 1; /* offset 0 is the empty string of every missing slot */
    r->arena = ar->buf; /* while building; replaced by a copy at the end */
    /* a date systems put for "unknown" is missing: 1900-01-01 in a CRM,
     * the zero dates of spreadsheets and databases (1899-12-30/31,
     * 1753-01-01, 0001-01-01), 9999-12-31 (compared, it contradicted
     * every record of the person that has the real date) */
    if (dob == 19000101 || dob == 18991230 || dob == 18991231 || dob == 18000101 ||
        dob == 17530101 || dob == 10101 || dob == 99991231)
        dob = 0;
    r->birth_date = (uint32_t)dob;
    put(r, ar, S_ENTITY, p->entity, slen(p->entity));
    if ((rc = put_name(r, ar, p->first, 0, S_FIRST, S_FIRST_C, S_FIRST_C,
                       S_FIRST_PH, &tmp)) < 0 ||
        (rc = put_name(r, ar, p->last, 1, S_LAST, S_LAST_C, S_LAST_G,
                       S_LAST_PH, &tmp)) < 0 ||
        (rc = put_name(r, ar, p->birth_name, 1, S_BIRTH, S_BIRTH_C,
                       S_BIRTH_G, S_BIRTH_PH, &tmp)) < 0)
        goto out;
    /* the first word's phonetic code, for blocking, and its nicknames */
    if (words(SP(r, S_FIRST), SL(r, S_FIRST), w, wl, 1) == 1) {
        const char *ph = SP(r, S_FIRST_PH), *e = strchr(ph, ' ');

        put(r, ar, S_FIRST_PH1, ph, e != NULL ? (size_t)(e - ph) : SL(r, S_FIRST_PH));
        nick_groups(w[0], wl[0], r->nick);
        if (r->nick[0] == 0)
            nick_groups(SP(r, S_FIRST_C), SL(r, S_FIRST_C), r->nick);
    }
    for (int i = 0; i < MATCH_MAX_EMAILS; i++) {
        put(r, ar, S_EMAIL0 + i, p->emails[i], slen(p->emails[i]));
        if (r->len[S_EMAIL0 + i] > 0 && nv_email_is_role(SP(r, S_EMAIL0 + i)))
            r->role_emails |= (uint8_t)(1u << i);
    }
    for (int i = 0; i < MATCH_MAX_PHONES; i++)
        put(r, ar, S_PHONE0 + i, p->phones[i], slen(p->phones[i]));
    put(r, ar, S_POSTCODE, p->postcode, slen(p->postcode));
    put_city(r, ar, p->city);
    put_street(r, ar, p->street);
    put(r, ar, S_NATID, p->national_id, slen(p->national_id));
    r->mask[M_FIRST] = letters(SP(r, S_FIRST_C), SL(r, S_FIRST_C));
    r->mask[M_LAST] = letters(SP(r, S_LAST_C), SL(r, S_LAST_C));
    r->mask[M_BIRTH] = letters(SP(r, S_BIRTH_C), SL(r, S_BIRTH_C));
    r->mask[M_CITY] = letters(SP(r, S_CITY), SL(r, S_CITY));
    r->mask[M_STREET] = letters(SP(r, S_STREET), SL(r, S_STREET));
    if ((r->arena = malloc(ar->len)) == NULL) {
        rc = nv_fail(NV_ENOMEM, "match record: out of memory");
        goto out;
    }
    memcpy(r->arena, ar->buf, ar->len);
    rc = 0;
out:
    nv_buf_release(&tmp);
    if (rc < 0)
        memset(r, 0, sizeof(*r));
    return rc;
}

void
match_rec_release(struct match_rec *r)
{
    if (r == NULL)
        return;
    free(r->arena);
    memset(r, 0, sizeof(*r));
}

const char *
match_rec_entity(const struct match_rec *r)
{
    return r->arena != NULL ? SP(r, S_ENTITY) : "";
}

/* ---- hashing and blocking keys ---- */

static uint64_t
mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

struct keyb {
    uint64_t h;
};

static void
kb_start(struct keyb *k, int kind)
{
    unsigned char c = (unsigned char)kind;

    k->h = nv_fnv1a(NV_FNV_OFFSET, &c, 1);
}

static void
kb_add(struct keyb *k, const char *s, size_t n)
{
    static const unsigned char sep = 0x1f;

    k->h = nv_fnv1a(nv_fnv1a(k->h, s, n), &sep, 1);
}

static void
kb_add_u32(struct keyb *k, uint32_t v)
{
    unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8),
                           (unsigned char)(v >> 16), (unsigned char)(v >> 24) };

    k->h = nv_fnv1a(k->h, b, 4);
}

static void
emit(struct match_key *keys, size_t max, size_t *n, struct keyb *k, int kind)
{
    uint64_t h = mix64(k->h);

    if (h == 0)
        h = 1;
    for (size_t i = 0; i < *n; i++)
        if (keys[i].hash == h && keys[i].kind == kind)
            return;
    if (*n < max) {
        keys[*n].hash = h;
        keys[*n].kind = (uint8_t)kind;
        (*n)++;
    }
}

/* Two short strings in sorted order into the key. */
static void
kb_add_sorted(struct keyb *k, const char *a, size_t la, const char *b, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);

    if (c > 0 || (c == 0 && la > lb)) {
        kb_add(k, b, lb);
        kb_add(k, a, la);
    } else {
        kb_add(k, a, la);
        kb_add(k, b, lb);
    }
}

size_t
match_rec_keys(const struct match_rec *r, struct match_key *keys, size_t max)
{
    static const int lasts[2][2] = { { S_LAST_C, S_LAST_PH },
                                     { S_BIRTH_C, S_BIRTH_PH } };
    struct keyb k;
    size_t n = 0;
    char dob[8];
    size_t lf = SL(r, S_FIRST_C), lpc = SL(r, S_POSTCODE), lst = SL(r, S_STREET);
    size_t lph1 = SL(r, S_FIRST_PH1), lcity = SL(r, S_CITY);

    if (r->arena == NULL)
        return 0;
    for (uint32_t i = 0, v = r->birth_date; i < 8; i++, v /= 10)
        dob[7 - i] = (char)('0' + v % 10);
    for (int i = 0; i < MATCH_MAX_EMAILS; i++) {
        if (SL(r, S_EMAIL0 + i) == 0)
            continue;
        kb_start(&k, MATCH_K_EMAIL);
        kb_add(&k, SP(r, S_EMAIL0 + i), SL(r, S_EMAIL0 + i));
        emit(keys, max, &n, &k, MATCH_K_EMAIL);
    }
    for (int i = 0; i < MATCH_MAX_PHONES; i++) {
        if (SL(r, S_PHONE0 + i) == 0)
            continue;
        kb_start(&k, MATCH_K_PHONE);
        kb_add(&k, SP(r, S_PHONE0 + i), SL(r, S_PHONE0 + i));
        emit(keys, max, &n, &k, MATCH_K_PHONE);
    }
    for (int i = 0; i < 2; i++) {
        const char *lc = SP(r, lasts[i][0]), *lp = SP(r, lasts[i][1]);
        size_t llc = SL(r, lasts[i][0]), llp = SL(r, lasts[i][1]);

        if (llc == 0)
            continue;
        if (llp > 0 && lpc > 0) {
            kb_start(&k, MATCH_K_LASTPH_POSTCODE);
            kb_add(&k, lp, llp);
            kb_add(&k, SP(r, S_POSTCODE), lpc);
            emit(keys, max, &n, &k, MATCH_K_LASTPH_POSTCODE);
        }
        if (lf > 0 && (lpc >= 2 || lcity > 0)) {
            kb_start(&k, MATCH_K_NAME3);
            kb_add_sorted(&k, lc, llc < 3 ? llc : 3, SP(r, S_FIRST_C), lf < 3 ? lf : 3);
            if (lpc >= 2)
                kb_add(&k, SP(r, S_POSTCODE), 2);
            else
                kb_add(&k, SP(r, S_CITY), lcity);
            emit(keys, max, &n, &k, MATCH_K_NAME3);
        }
        if (llp > 0 && r->birth_date != 0) {
            kb_start(&k, MATCH_K_LASTPH_DOB);
            kb_add(&k, lp, llp);
            kb_add(&k, dob, 8);
            emit(keys, max, &n, &k, MATCH_K_LASTPH_DOB);
        }
        if (llp > 0 && lcity > 0) {
            kb_start(&k, MATCH_K_LASTPH_CITY);
            kb_add(&k, lp, llp);
            kb_add(&k, SP(r, S_CITY), lcity);
            emit(keys, max, &n, &k, MATCH_K_LASTPH_CITY);
        }
        if (lst > 0 && r->street_no != 0) {
            kb_start(&k, MATCH_K_LAST_STREET);
            kb_add(&k, lc, llc < 3 ? llc : 3);
            kb_add_u32(&k, r->street_no);
            kb_add(&k, SP(r, S_STREET), lst < 4 ? lst : 4);
            emit(keys, max, &n, &k, MATCH_K_LAST_STREET);
        }
        if (llp > 0 && lph1 > 0) {
            kb_start(&k, MATCH_K_NAMEPH);
            kb_add_sorted(&k, lp, llp, SP(r, S_FIRST_PH1), lph1);
            emit(keys, max, &n, &k, MATCH_K_NAMEPH);
        }
    }
    if (lph1 > 0 && r->birth_date != 0) {
        kb_start(&k, MATCH_K_FIRSTPH_DOB);
        kb_add(&k, SP(r, S_FIRST_PH1), lph1);
        kb_add(&k, dob, 8);
        emit(keys, max, &n, &k, MATCH_K_FIRSTPH_DOB);
    }
    if (lph1 > 0 && lpc > 0) {
        kb_start(&k, MATCH_K_FIRSTPH_POSTCODE);
        kb_add(&k, SP(r, S_FIRST_PH1), lph1);
        kb_add(&k, SP(r, S_LAST_C), SL(r, S_LAST_C) > 0 ? 1 : 0);
        kb_add(&k, SP(r, S_POSTCODE), lpc);
        emit(keys, max, &n, &k, MATCH_K_FIRSTPH_POSTCODE);
    }
    if (SL(r, S_NATID) > 0) {
        kb_start(&k, MATCH_K_NATIONAL_ID);
        kb_add(&k, SP(r, S_NATID), SL(r, S_NATID));
        emit(keys, max, &n, &k, MATCH_K_NATIONAL_ID);
    }
    if (r->birth_date != 0 && lpc > 0) {
        kb_start(&k, MATCH_K_DOB_POSTCODE);
        kb_add(&k, dob, 8);
        kb_add(&k, SP(r, S_POSTCODE), lpc);
        emit(keys, max, &n, &k, MATCH_K_DOB_POSTCODE);
    }
    if (lst > 0 && r->street_no != 0) {
        if (lpc > 0) {
            kb_start(&k, MATCH_K_STREET_POSTCODE);
            kb_add_u32(&k, r->street_no);
            kb_add(&k, SP(r, S_STREET), lst < 4 ? lst : 4);
            kb_add(&k, SP(r, S_POSTCODE), lpc);
            emit(keys, max, &n, &k, MATCH_K_STREET_POSTCODE);
        }
        if (lf > 0) {
            kb_start(&k, MATCH_K_FIRST_STREET);
            kb_add(&k, SP(r, S_FIRST_C), lf < 3 ? lf : 3);
            kb_add_u32(&k, r->street_no);
            kb_add(&k, SP(r, S_STREET), lst < 4 ? lst : 4);
            emit(keys, max, &n, &k, MATCH_K_FIRST_STREET);
        }
    }
    return n;
}

const char *
match_key_kind_name(int kind)
{
    static const char *const names[MATCH_K_MAX] = {
        "?", "email", "phone", "lastph+postcode", "name3", "firstph+dob",
        "lastph+dob", "nameph", "national_id", "dob+postcode",
        "street+postcode", "first+street", "lastph+city", "last+street",
        "firstph+postcode",
    };

    return kind > 0 && kind < MATCH_K_MAX ? names[kind] : "?";
}

/* ---- comparison ---- */

/* All words of the one with fewer words appear in the other. */
static int
words_contained(const char *a, size_t la, const char *b, size_t lb)
{
    const char *w[2][8];
    size_t wl[2][8], n[2];
    int s, g;

    n[0] = words(a, la, w[0], wl[0], 8);
    n[1] = words(b, lb, w[1], wl[1], 8);
    if (n[0] == 0 || n[1] == 0 || (n[0] == 1 && n[1] == 1))
        return 0;
    s = n[0] <= n[1] ? 0 : 1; /* the smaller */
    g = 1 - s;
    for (size_t i = 0; i < n[s]; i++) {
        size_t j = 0;

        while (j < n[g] && !eq(w[s][i], wl[s][i], w[g][j], wl[g][j]))
            j++;
        if (j == n[g])
            return 0;
    }
    return 1;
}

#define JW_CLOSE 0.92
#define JW_PARTIAL 0.85

/*
 * French first names that differ by a feminine ending are two people, often
 * a couple: Jean/Jeanne, Christian/Christiane, Daniel/Danielle, Paul/
 * Pauline, Antoine/Antoinette, Julien/Julienne, and Julie/Julien.
 */
/* Given names whose feminine adds an ending (Jean / Jeanne): only these
 * make a gendered pair, so that a shortened name (Mart / Martine, Côm /
 * Côme) is not taken for one. */
static const char *const masculine_names[] = {
    "adrien albert antoine augustin bastien bernard celestin christian claud clement",
    "damien daniel denis emmanuel ernest eugen fabien florentin francois gabriel",
    "gilbert henri hubert jean joseph jose julien justin leon lionel louis lucien",
    "manuel marcel martin michel noel norbert pascal paul pierre raphael rene robert",
    "sebastien simon valentin vivien yvon",
};

static int
gendered(const char *a, size_t la, const char *b, size_t lb)
{
    static const char *const endings[] = { "e", "ne", "le", "te", "tte", "ette", "ine" };
    const char *s = la < lb ? a : b, *l = la < lb ? b : a;
    size_t ls = la < lb ? la : lb, ll = la < lb ? lb : la, d = ll - ls;

    if (ls < 3 || d == 0 || d > 4 || memcmp(s, l, ls) != 0)
        return 0;
    if (d == 1 && l[ls] == 'n' && s[ls - 2] == 'i' && s[ls - 1] == 'e')
        return 1;
    if (!in_table(masculine_names, sizeof(masculine_names) / sizeof(masculine_names[0]), s,
                  ls))
        return 0;
    for (size_t i = 0; i < sizeof(endings) / sizeof(endings[0]); i++)
        if (strlen(endings[i]) == d && memcmp(l + ls, endings[i], d) == 0)
            return s[ls - 1] != 'e' || d > 1;
    return 0;
}

/* Level of two names; *contained is set when they agree only because the
 * words of one are among the other's (Jean / Jean-Pierre). */
static int
name_level2(const struct nview *x, const struct nview *y, int strict, int *contained)
{
    double s;

    if (x->lc == 0 || y->lc == 0)
        return MATCH_MISSING;
    if (eq(x->c, x->lc, y->c, y->lc))
        return MATCH_EXACT;
    if (eq(x->g, x->lg, y->g, y->lg) || particle_suffix(x->c, x->lc, y->c, y->lc) ||
        (x->g != x->c && particle_suffix(x->g, x->lg, y->g, y->lg)))
        return MATCH_CLOSE;
    if ((x->lsp > x->lc || y->lsp > y->lc) && /* a name of several words */
        words_contained(x->sp, x->lsp, y->sp, y->lsp)) {
        *contained = 1;
        return MATCH_CLOSE;
    }
    s = jw_min(x->c, x->lc, x->mask, y->c, y->lc, y->mask, JW_PARTIAL);
    /* a typo: one edit, or (last names) two in a long name; Jaro-Winkler
     * alone is too kind to names that share a prefix (Martine/Marie), and
     * first names two edits apart are mostly two names (Christine/
     * Christian, Laurent/Laurence) */
    if ((x->lc >= 4 && y->lc >= 4 && one_edit(x->c, x->lc, y->c, y->lc)) ||
        (!strict && s >= JW_CLOSE && x->lc >= 7 && y->lc >= 7 &&
         nv_levenshtein(x->c, y->c, 2) <= 2))
        return MATCH_CLOSE;
    if (eq(x->ph, x->lph, y->ph, y->lph) || s >= JW_PARTIAL)
        return MATCH_PARTIAL;
    return MATCH_DIFFERENT;
}

static int
name_level(const struct nview *x, const struct nview *y, int strict)
{
    int contained = 0;

    return name_level2(x, y, strict, &contained);
}

/*
 * An initial or a shortened first name and the name it may stand for: the
 * words of one are all single letters (J, J P, or one token of two letters:
 * JP) that begin the other's words in order (J / Jacques, J P / Jean-Pierre,
 * J / Jean-Pierre, J P / Jean), or one word of three letters or more begins
 * the other's first word (Rom / Romain, Christ / Christophe).  Two
 * letters with a vowel are initials only beside a compound name (AS /
 * Anne-Sophie); alone they are a name (Jo, Al).  Jean / Jeanne
 * are two names (gendered, checked before).
 */
static int
initial_of(const struct nview *x, const struct nview *y)
{
    const char *w[2][8];
    size_t wl[2][8], n[2];
    char ini[2][8];
    size_t ni[2];

    n[0] = words(x->sp, x->lsp, w[0], wl[0], 8);
    n[1] = words(y->sp, y->lsp, w[1], wl[1], 8);
    if (n[0] == 0 || n[1] == 0)
        return 0;
    for (int s = 0; s < 2; s++) {
        int all_single = 1;
        ni[s] = 0;
        for (size_t i = 0; i < n[s]; i++) {
            all_single &= wl[s][i] == 1;
            ini[s][ni[s]++] = w[s][i][0];
        }
        if (all_single)
            continue;
        if (n[s] == 1 && wl[s][0] == 2 &&
            ((!strchr("aeiouy", w[s][0][0]) && !strchr("aeiouy", w[s][0][1])) ||
             n[1 - s] >= 2)) { /* "jp", "as" for Anne-Sophie; not "jo" alone */
            ini[s][0] = w[s][0][0];
            ini[s][1] = w[s][0][1];
            ni[s] = 2;
            continue;
        }
        ni[s] = 0; /* not initials: compare by word starts below */
    }
    for (int s = 0; s < 2; s++) {
        int g = 1 - s;
        size_t k;
        if (ni[s] == 0)
            continue;
        /* the other's initials, whatever it is */
        if (ni[g] == 0) {
            ni[g] = n[g];
            for (size_t i = 0; i < n[g]; i++)
                ini[g][i] = w[g][i][0];
        }
        k = ni[s] < ni[g] ? ni[s] : ni[g];
        return memcmp(ini[s], ini[g], k) == 0 && !(ni[s] == ni[g] && n[s] == n[g] &&
                                                   wl[s][0] == wl[g][0]);
    }
    /* a shortened form: one word, a strict prefix of the other's first */
    for (int s = 0; s < 2; s++) {
        int g = 1 - s;
        if (n[s] == 1 && wl[s][0] >= 3 && wl[s][0] < wl[g][0] &&
            memcmp(w[s][0], w[g][0], wl[s][0]) == 0)
            return 1;
    }
    return 0;
}

/* The shorter name (two letters or more) begins the longer within one
 * edit, first letters equal: Is / Isabelle, Ca / Caroline, Jena / Jean
 * Michel, Beb / Benjamin (MATCH_CMP_NEAR_FIRST). */
static int
near_start(const struct nview *x, const struct nview *y)
{
    const struct nview *s = x->lc <= y->lc ? x : y, *l = s == x ? y : x;

    if (s->lc < 2 || s->c[0] != l->c[0])
        return 0;
    return memcmp(s->c, l->c, s->lc) == 0 || one_edit(s->c, s->lc, l->c, s->lc);
}

static int
first_level(const struct match_rec *a, const struct match_rec *b, const struct nview *x,
            const struct nview *y, struct match_cmp *c)
{
    int contained = 0, l = name_level2(x, y, 1, &contained);

    if (l == MATCH_EXACT || l == MATCH_MISSING)
        return l;
    if (contained) {
        c->flags |= MATCH_CMP_COMPOUND;
        return l;
    }
    if (gendered(x->c, x->lc, y->c, y->lc)) {
        if (x->lc + 1 == y->lc || y->lc + 1 == x->lc)
            c->flags |= MATCH_CMP_NEAR_FIRST;
        return MATCH_DIFFERENT;
    }
    if (l > MATCH_CLOSE && nick_agree(a, b)) {
        c->flags |= MATCH_CMP_NICKNAME;
        return MATCH_CLOSE;
    }
    if (l >= MATCH_PARTIAL && initial_of(x, y)) {
        c->flags |= MATCH_CMP_INITIAL;
        return MATCH_PARTIAL;
    }
    if (l == MATCH_DIFFERENT && near_start(x, y))
        c->flags |= MATCH_CMP_NEAR_FIRST;
    return l;
}

/* Better of two levels (MISSING is worse than any present level here only
 * when the other is present). */
static int
better(int a, int b)
{
    return a < b ? a : b;
}

static int
worse_than_close(int l)
{
    return l > MATCH_CLOSE;
}

static int name_built(const char *e, size_t le, const struct match_rec *r);
static int local_has_name(const char *e, size_t le, const char *n, size_t ln);

/* One of a's own mailboxes (not a role or family one) is built from b's
 * first and last names and does not hold a's last name. */
static int
mailbox_names(const struct match_rec *a, const struct match_rec *b)
{
    if (SL(b, S_LAST_C) < 4)
        return 0;
    for (int i = 0; i < MATCH_MAX_EMAILS; i++) {
        const char *e = SP(a, S_EMAIL0 + i);
        size_t le = SL(a, S_EMAIL0 + i);
        if (le == 0 || ((a->role_emails >> i) & 1))
            continue;
        if (name_built(e, le, b) && local_has_name(e, le, SP(b, S_LAST_C), SL(b, S_LAST_C)) &&
            !local_has_name(e, le, SP(a, S_LAST_C), SL(a, S_LAST_C)))
            return 1;
    }
    return 0;
}

static void
cmp_names(const struct match_rec *a, const struct match_rec *b, struct match_cmp *c)
{
    struct nview fa = FIRST_VIEW(a), fb = FIRST_VIEW(b);
    struct nview la = LAST_VIEW(a), lb = LAST_VIEW(b);
    struct nview ba = BIRTH_VIEW(a), bb = BIRTH_VIEW(b);
    int ff, ll, x;

    ff = first_level(a, b, &fa, &fb, c);
    ll = name_level(&la, &lb, 0);
    if (ll != MATCH_EXACT && (ba.lc > 0 || bb.lc > 0)) {
        /* married names: a birth name against the other's name, at best
         * CLOSE (the name did change) */
        x = better(better(name_level(&ba, &lb, 0), name_level(&la, &bb, 0)),
                   name_level(&ba, &bb, 0));
        if (x != MATCH_MISSING && x < MATCH_DIFFERENT) {
            x = x < MATCH_CLOSE ? MATCH_CLOSE : x;
            if (x < ll || ll == MATCH_MISSING) {
                ll = x;
                c->flags |= MATCH_CMP_MARRIED;
            }
        }
    }
    /* swapped names: only worth a look when the crossed names start alike */
    if ((worse_than_close(ff) || worse_than_close(ll)) && fa.lc > 0 && fb.lc > 0 &&
        la.lc > 0 && lb.lc > 0 && fa.c[0] == lb.c[0] && la.c[0] == fb.c[0]) {
        int fl = name_level(&fa, &lb, 0), lf = name_level(&la, &fb, 0);

        if (fl <= MATCH_CLOSE && lf <= MATCH_CLOSE && fl + lf < ff + ll) {
            ff = fl < MATCH_CLOSE ? MATCH_CLOSE : fl;
            ll = lf < MATCH_CLOSE ? MATCH_CLOSE : lf;
            c->flags |= MATCH_CMP_SWAPPED;
            c->flags &= (uint16_t)~(MATCH_CMP_MARRIED | MATCH_CMP_NICKNAME | MATCH_CMP_COMPOUND |
                                    MATCH_CMP_INITIAL);
        }
    }
    /* a mailbox under the other's names: a birth name the file lacks */
    if (ll >= MATCH_PARTIAL && ll != MATCH_MISSING && ff <= MATCH_CLOSE &&
        !(c->flags & MATCH_CMP_SWAPPED) && (mailbox_names(a, b) || mailbox_names(b, a))) {
        ll = MATCH_CLOSE;
        c->flags |= MATCH_CMP_MAILBOX_NAME;
    }
    c->level[MATCH_F_FIRST] = (uint8_t)ff;
    c->level[MATCH_F_LAST] = (uint8_t)ll;
}

static int
date_level(uint32_t a, uint32_t b)
{
    uint32_t ya = a / 10000, yb = b / 10000, ma = a / 100 % 100, mb = b / 100 % 100;
    uint32_t da = a % 100, db = b % 100;
    char sa[8], sb[8];

    if (a == 0 || b == 0)
        return MATCH_MISSING;
    if (a == b)
        return MATCH_EXACT;
    if ((ya != yb) + (ma != mb) + (da != db) == 1)
        return MATCH_CLOSE;
    if (ya == yb && ma == db && da == mb)
        return MATCH_CLOSE;
    for (int i = 0; i < 8; i++) {
        sa[7 - i] = (char)('0' + a % 10), a /= 10;
        sb[7 - i] = (char)('0' + b % 10), b /= 10;
    }
    if (one_edit(sa, 8, sb, 8))
        return MATCH_CLOSE;
    return MATCH_DIFFERENT;
}

static int
email_level(const char *a, size_t la, int role_a, const char *b, size_t lb, int role_b)
{
    const char *at_a = memchr(a, '@', la), *at_b = memchr(b, '@', lb);
    size_t pa = at_a != NULL ? (size_t)(at_a - a) : la;
    size_t pb = at_b != NULL ? (size_t)(at_b - b) : lb;

    if (eq(a, la, b, lb))
        return role_a ? MATCH_PARTIAL : MATCH_EXACT;
    if (role_a || role_b)
        return MATCH_DIFFERENT;
    if (eq(a, pa, b, pb))
        return MATCH_CLOSE; /* same local part, another domain */
    if (eq(a + pa, la - pa, b + pb, lb - pb) && pa >= 4 && pb >= 4 &&
        one_edit(a, pa, b, pb))
        return MATCH_CLOSE;
    return MATCH_DIFFERENT;
}

/* Does the local part of e-mail e (letters only) hold the last name n
 * ("jean.dupont", "jdupont75")?  Then it says what the names say. */
static int
local_has_name(const char *e, size_t le, const char *n, size_t ln)
{
    char l[MATCH_VALUE_MAX + 1];
    size_t k = 0;

    if (ln < 3)
        return 0;
    for (size_t i = 0; i < le && e[i] != '@'; i++)
        if ((e[i] >= 'a' && e[i] <= 'z') || (unsigned char)e[i] >= 0x80)
            l[k++] = e[i];
    for (size_t i = 0; i + ln <= k; i++)
        if (memcmp(l + i, n, ln) == 0)
            return 1;
    return 0;
}

/* Is e-mail e (an address of record r) built from r's names: its local
 * part holds the last name (or the birth name) and the first name's first
 * word, or starts with its initial ("jean.dupont", "jdupont", "dupont.j")? */
static int
name_built(const char *e, size_t le, const struct match_rec *r)
{
    const char *w[1];
    size_t wl[1];
    char c0;

    if (!(local_has_name(e, le, SP(r, S_LAST_C), SL(r, S_LAST_C)) ||
          (SL(r, S_BIRTH_C) > 0 && local_has_name(e, le, SP(r, S_BIRTH_C), SL(r, S_BIRTH_C)))))
        return 0;
    if (words(SP(r, S_FIRST), SL(r, S_FIRST), w, wl, 1) != 1)
        return 0;
    if (wl[0] >= 3 && local_has_name(e, le, w[0], wl[0]))
        return 1;
    c0 = w[0][0];
    return le > 0 && e[0] == c0;
}

static void
cmp_emails(const struct match_rec *a, const struct match_rec *b, struct match_cmp *c)
{
    int best = MATCH_MISSING, role = 0;
    /* two people of the same name often have the same local part at two
     * providers (or one edit apart at one): when the names agree and the
     * local part is made of the last name, CLOSE is no evidence beyond the
     * names (weighed as such, namesakes were linked at a million records) */
    int namesakes = c->level[MATCH_F_FIRST] <= MATCH_CLOSE && c->level[MATCH_F_LAST] <= MATCH_CLOSE;

    for (int i = 0; i < MATCH_MAX_EMAILS; i++) {
        if (SL(a, S_EMAIL0 + i) == 0)
            continue;
        for (int j = 0; j < MATCH_MAX_EMAILS; j++) {
            int l;

            if (SL(b, S_EMAIL0 + j) == 0)
                continue;
            l = email_level(SP(a, S_EMAIL0 + i), SL(a, S_EMAIL0 + i),
                            (a->role_emails >> i) & 1, SP(b, S_EMAIL0 + j),
                            SL(b, S_EMAIL0 + j), (b->role_emails >> j) & 1);
            if (l == MATCH_CLOSE && namesakes &&
                (local_has_name(SP(a, S_EMAIL0 + i), SL(a, S_EMAIL0 + i), SP(a, S_LAST_C),
                                SL(a, S_LAST_C)) ||
                 local_has_name(SP(b, S_EMAIL0 + j), SL(b, S_EMAIL0 + j), SP(b, S_LAST_C),
                                SL(b, S_LAST_C)))) {
                c->flags |= MATCH_CMP_NAME_EMAIL;
                continue;
            }
            if (l < best) {
                best = l;
                role = l == MATCH_PARTIAL;
            }
        }
    }
    /* two mailboxes each built from the same person's names (a personal
     * and a work address, or two providers): people keep several, so that
     * they differ says nothing; when the first names agree, taken as
     * missing rather than as a disagreement */
    if (best == MATCH_DIFFERENT && c->level[MATCH_F_FIRST] <= MATCH_PARTIAL &&
        c->level[MATCH_F_LAST] <= MATCH_CLOSE) {
        int built_a = 0, built_b = 0;
        for (int i = 0; i < MATCH_MAX_EMAILS; i++) {
            if (SL(a, S_EMAIL0 + i) > 0 && !((a->role_emails >> i) & 1) &&
                name_built(SP(a, S_EMAIL0 + i), SL(a, S_EMAIL0 + i), a))
                built_a = 1;
            if (SL(b, S_EMAIL0 + i) > 0 && !((b->role_emails >> i) & 1) &&
                name_built(SP(b, S_EMAIL0 + i), SL(b, S_EMAIL0 + i), b))
                built_b = 1;
        }
        if (built_a && built_b) {
            best = MATCH_MISSING;
            c->flags |= MATCH_CMP_OWN_MAILBOXES;
        }
    }
    c->level[MATCH_F_EMAIL] = (uint8_t)best;
    if (role)
        c->flags |= MATCH_CMP_ROLE_EMAIL;
}

static int
phone_level(const char *a, size_t la, const char *b, size_t lb)
{
    if (eq(a, la, b, lb))
        return MATCH_EXACT;
    /* the same national number under another country code */
    if (la >= 9 && lb >= 9 && memcmp(a + la - 9, b + lb - 9, 9) == 0)
        return MATCH_CLOSE;
    if (la == lb && one_edit(a, la, b, lb))
        return MATCH_CLOSE;
    return MATCH_DIFFERENT;
}

/* A mobile number (E.164, as nv_norm_phone writes it): a person's own,
 * where a landline is the household's.  Numbering plans that tell them
 * apart by their first digits; elsewhere (North America) none is. */
static int
is_mobile(const char *p, size_t n)
{
    static const char *const prefixes[] = {
        "+336", "+337",                                   /* France */
        "+26269", "+262639", "+590690", "+590691", "+594694", "+596696",
        "+596697", "+689", "+687",                        /* overseas */
        "+324", "+417", "+447", "+4915", "+4916", "+4917", "+346", "+347",
        "+393", "+3519", "+316", "+3526", "+3538", "+614", "+2126", "+2127",
        "+2135", "+2136", "+2137", "+2162", "+2165", "+2169",
    };

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t l = strlen(prefixes[i]);
        if (n > l + 4 && memcmp(p, prefixes[i], l) == 0)
            return 1;
    }
    return 0;
}

static void
cmp_phones(const struct match_rec *a, const struct match_rec *b, struct match_cmp *c)
{
    int best = MATCH_MISSING, mobile = 0;

    for (int i = 0; i < MATCH_MAX_PHONES; i++) {
        if (SL(a, S_PHONE0 + i) == 0)
            continue;
        for (int j = 0; j < MATCH_MAX_PHONES; j++) {
            int l;

            if (SL(b, S_PHONE0 + j) == 0)
                continue;
            l = phone_level(SP(a, S_PHONE0 + i), SL(a, S_PHONE0 + i),
                            SP(b, S_PHONE0 + j), SL(b, S_PHONE0 + j));
            if (l == MATCH_EXACT && is_mobile(SP(a, S_PHONE0 + i), SL(a, S_PHONE0 + i)))
                mobile = 1;
            best = better(best, l);
        }
    }
    c->level[MATCH_F_PHONE] = (uint8_t)best;
    if (mobile)
        c->flags |= MATCH_CMP_MOBILE;
}

static int
postcode_level(const char *a, size_t la, const char *b, size_t lb)
{
    if (la == 0 || lb == 0)
        return MATCH_MISSING;
    if (eq(a, la, b, lb))
        return MATCH_EXACT;
    if (la == lb && one_edit(a, la, b, lb))
        return MATCH_CLOSE;
    if (la >= 2 && lb >= 2 && a[0] == b[0] && a[1] == b[1])
        return MATCH_PARTIAL; /* same French department */
    return MATCH_DIFFERENT;
}

static int
city_level(const struct match_rec *ra, const struct match_rec *rb)
{
    const char *a = SP(ra, S_CITY), *b = SP(rb, S_CITY);
    size_t la = SL(ra, S_CITY), lb = SL(rb, S_CITY);
    double s;

    if (la == 0 || lb == 0)
        return MATCH_MISSING;
    if (eq(a, la, b, lb))
        return MATCH_EXACT;
    s = jw_min(a, la, ra->mask[M_CITY], b, lb, rb->mask[M_CITY], JW_PARTIAL);
    if (s >= JW_CLOSE)
        return MATCH_CLOSE;
    return s >= JW_PARTIAL ? MATCH_PARTIAL : MATCH_DIFFERENT;
}

static int
number_one_edit(uint32_t a, uint32_t b)
{
    char sa[12], sb[12];
    size_t la = 0, lb = 0;
    char ta[12], tb[12];

    do {
        ta[la++] = (char)('0' + a % 10);
    } while ((a /= 10) != 0);
    do {
        tb[lb++] = (char)('0' + b % 10);
    } while ((b /= 10) != 0);
    for (size_t i = 0; i < la; i++)
        sa[i] = ta[la - 1 - i];
    for (size_t i = 0; i < lb; i++)
        sb[i] = tb[lb - 1 - i];
    return one_edit(sa, la, sb, lb);
}

static int
street_level(const struct match_rec *a, const struct match_rec *b)
{
    const char *sa = SP(a, S_STREET), *sb = SP(b, S_STREET);
    size_t la = SL(a, S_STREET), lb = SL(b, S_STREET);
    uint32_t na = a->street_no, nb = b->street_no;
    int name_eq, name_close, num_eq, num_near;
    double s;

    if (la == 0 || lb == 0)
        return MATCH_MISSING;
    name_eq = eq(sa, la, sb, lb);
    s = name_eq ? 1.0 : jw_min(sa, la, a->mask[M_STREET], sb, lb, b->mask[M_STREET], 0.75);
    name_close = name_eq || s >= 0.9 || (la >= 5 && lb >= 5 && one_edit(sa, la, sb, lb));
    num_eq = na == nb;
    num_near = na == 0 || nb == 0 || number_one_edit(na, nb);
    if (name_eq && num_eq &&
        (a->street_type == b->street_type || a->street_type == 0 || b->street_type == 0))
        return MATCH_EXACT;
    if ((name_eq && (num_near || num_eq)) || (name_close && num_eq))
        return MATCH_CLOSE;
    if (name_close || (num_eq && na != 0 && s >= 0.75))
        return MATCH_PARTIAL;
    return MATCH_DIFFERENT;
}

static int
id_level(const char *a, size_t la, const char *b, size_t lb)
{
    if (la == 0 || lb == 0)
        return MATCH_MISSING;
    if (eq(a, la, b, lb))
        return MATCH_EXACT;
    return one_edit(a, la, b, lb) ? MATCH_CLOSE : MATCH_DIFFERENT;
}

/*
 * Postcode, city and street are one field of the model: they are far from
 * independent (a record that moved disagrees on all three; neighbours agree
 * on two), and three weights would count one fact three times.
 */
static int
address_level(const uint8_t *part)
{
    int pc = part[MATCH_A_POSTCODE], ci = part[MATCH_A_CITY], st = part[MATCH_A_STREET];
    int unknown = pc == MATCH_MISSING && ci == MATCH_MISSING;
    int same = pc == MATCH_EXACT || ci == MATCH_EXACT;
    int near = pc == MATCH_CLOSE || ci == MATCH_CLOSE || pc == MATCH_PARTIAL;

    if (unknown && st == MATCH_MISSING)
        return MATCH_MISSING;
    /* a postcode that disagrees outright is another place, whatever the city */
    if (pc == MATCH_DIFFERENT && ci != MATCH_EXACT)
        same = near = 0;
    if (st == MATCH_EXACT && (same || unknown))
        return MATCH_EXACT;
    if ((st == MATCH_EXACT || st == MATCH_CLOSE) && (same || near || unknown))
        return MATCH_CLOSE;
    if (same || (near && st <= MATCH_PARTIAL))
        return MATCH_PARTIAL;
    return MATCH_DIFFERENT;
}

/* The fields no rule of the names touches: birth date, phones, address,
 * national id (match_compare, match_score_bound). */
static void
cmp_plain(const struct match_rec *a, const struct match_rec *b, struct match_cmp *c)
{
    c->level[MATCH_F_BIRTH_DATE] = (uint8_t)date_level(a->birth_date, b->birth_date);
    if (c->level[MATCH_F_BIRTH_DATE] == MATCH_DIFFERENT &&
        (a->birth_date > b->birth_date ? a->birth_date - b->birth_date
                                       : b->birth_date - a->birth_date) >=
            MATCH_GENERATION_YEARS * 10000)
        c->flags |= MATCH_CMP_GENERATION;
    cmp_phones(a, b, c);
    c->address[MATCH_A_POSTCODE] = (uint8_t)postcode_level(
        SP(a, S_POSTCODE), SL(a, S_POSTCODE), SP(b, S_POSTCODE), SL(b, S_POSTCODE));
    c->address[MATCH_A_CITY] = (uint8_t)city_level(a, b);
    c->address[MATCH_A_STREET] = (uint8_t)street_level(a, b);
    c->level[MATCH_F_ADDRESS] = (uint8_t)address_level(c->address);
    c->level[MATCH_F_NATIONAL_ID] = (uint8_t)id_level(SP(a, S_NATID), SL(a, S_NATID),
                                                      SP(b, S_NATID), SL(b, S_NATID));
}

void
match_compare(const struct match_rec *a, const struct match_rec *b, struct match_cmp *c)
{
    memset(c, 0, sizeof(*c));
    if (a->arena == NULL || b->arena == NULL) {
        for (int f = 0; f < MATCH_NFIELDS; f++)
            c->level[f] = MATCH_MISSING;
        for (int i = 0; i < 3; i++)
            c->address[i] = MATCH_MISSING;
        return;
    }
    cmp_names(a, b, c);
    cmp_plain(a, b, c);
    cmp_emails(a, b, c); /* after the names: their levels bear on it */
}

int
match_compare_values(int what, const char *a, const char *b)
{
    struct match_person pa, pb;
    struct match_rec ra, rb;
    struct match_cmp c;
    int r;

    memset(&pa, 0, sizeof(pa));
    memset(&pb, 0, sizeof(pb));
    switch (what) {
    case MATCH_V_FIRST: pa.first = a, pb.first = b; break;
    case MATCH_V_LAST: pa.last = a, pb.last = b; break;
    case MATCH_V_BIRTH_NAME: pa.birth_name = a, pb.last = b; break;
    case MATCH_V_BIRTH_DATE: pa.birth_date = a, pb.birth_date = b; break;
    case MATCH_V_EMAIL: pa.emails[0] = a, pb.emails[0] = b; break;
    case MATCH_V_PHONE: pa.phones[0] = a, pb.phones[0] = b; break;
    case MATCH_V_POSTCODE: pa.postcode = a, pb.postcode = b; break;
    case MATCH_V_CITY: pa.city = a, pb.city = b; break;
    case MATCH_V_STREET: pa.street = a, pb.street = b; break;
    case MATCH_V_NATIONAL_ID: pa.national_id = a, pb.national_id = b; break;
    default: return nv_fail(NV_EINVAL, "match: no value kind %d", what);
    }
    if ((r = match_rec_init(&ra, &pa)) < 0)
        return r;
    if ((r = match_rec_init(&rb, &pb)) < 0) {
        match_rec_release(&ra);
        return r;
    }
    match_compare(&ra, &rb, &c);
    match_rec_release(&ra);
    match_rec_release(&rb);
    switch (what) {
    case MATCH_V_FIRST: return c.level[MATCH_F_FIRST];
    case MATCH_V_LAST: case MATCH_V_BIRTH_NAME: return c.level[MATCH_F_LAST];
    case MATCH_V_BIRTH_DATE: return c.level[MATCH_F_BIRTH_DATE];
    case MATCH_V_EMAIL: return c.level[MATCH_F_EMAIL];
    case MATCH_V_PHONE: return c.level[MATCH_F_PHONE];
    case MATCH_V_POSTCODE: return c.address[MATCH_A_POSTCODE];
    case MATCH_V_CITY: return c.address[MATCH_A_CITY];
    case MATCH_V_STREET: return c.address[MATCH_A_STREET];
    default: return c.level[MATCH_F_NATIONAL_ID];
    }
}

/*
 * First names that differ only as one person's names do (an initial, a
 * shortened form, a compound and its part, a nickname, a typo; or names a
 * slip or a cut apart, MATCH_CMP_NEAR_FIRST, with the same mailbox or
 * mobile only: twins share neither), with a
 * personal e-mail in common (not a role or family mailbox, not one that
 * agrees only as the names do), or the same mobile number: the same
 * person, not a relative at the same address.  A
 * landline or an address alone is the household's.
 */
static int
personal_variant(const struct match_cmp *c)
{
    int first = c->level[MATCH_F_FIRST], email = c->level[MATCH_F_EMAIL];
    int variant = (first == MATCH_PARTIAL && (c->flags & MATCH_CMP_INITIAL)) ||
                  first == MATCH_CLOSE;

    /* names a slip or a cut apart: only the same mailbox or mobile */
    if (first == MATCH_DIFFERENT && (c->flags & MATCH_CMP_NEAR_FIRST))
        return (email == MATCH_EXACT &&
                !(c->flags & (MATCH_CMP_ROLE_EMAIL | MATCH_CMP_NAME_EMAIL))) ||
               (c->flags & MATCH_CMP_MOBILE) != 0;
    if (!variant)
        return 0;
    if (email <= MATCH_CLOSE && !(c->flags & (MATCH_CMP_ROLE_EMAIL | MATCH_CMP_NAME_EMAIL)))
        return 1;
    /* the same mobile: one person's (people keep several mailboxes, so
     * e-mails that differ do not tell them apart) */
    return (c->flags & MATCH_CMP_MOBILE) != 0;
}

int
match_cmp_contradicted(const struct match_cmp *c, unsigned rules)
{
    int first = c->level[MATCH_F_FIRST], dob = c->level[MATCH_F_BIRTH_DATE];
    int id = c->level[MATCH_F_NATIONAL_ID];

    if (id == MATCH_EXACT || id == MATCH_CLOSE)
        return 0;
    if ((rules & MATCH_RULE_HOUSEHOLD) && dob != MATCH_EXACT &&
        (first == MATCH_DIFFERENT || first == MATCH_PARTIAL ||
         (first == MATCH_CLOSE && (c->flags & MATCH_CMP_COMPOUND))) &&
        !personal_variant(c))
        return 1;
    if ((rules & MATCH_RULE_TWINS) && first == MATCH_DIFFERENT && dob == MATCH_EXACT &&
        !personal_variant(c))
        return 1;
    if ((rules & MATCH_RULE_BIRTH) && dob == MATCH_DIFFERENT &&
        (first != MATCH_EXACT || (c->flags & MATCH_CMP_GENERATION)))
        return 1;
    return (rules & MATCH_RULE_NAMES_ONLY) && dob > MATCH_CLOSE &&
           c->level[MATCH_F_EMAIL] > MATCH_CLOSE && c->level[MATCH_F_PHONE] > MATCH_CLOSE &&
           (c->level[MATCH_F_ADDRESS] == MATCH_DIFFERENT ||
            c->level[MATCH_F_ADDRESS] == MATCH_MISSING);
}

int
match_cmp_liftable(const struct match_cmp *c, unsigned rules)
{
    int first = c->level[MATCH_F_FIRST];

    if (!(rules & MATCH_RULE_HOUSEHOLD) || !match_cmp_contradicted(c, rules) ||
        match_cmp_contradicted(c, rules & ~(unsigned)MATCH_RULE_HOUSEHOLD))
        return 0;
    return (first == MATCH_PARTIAL && (c->flags & MATCH_CMP_INITIAL)) ||
           (first == MATCH_CLOSE && (c->flags & MATCH_CMP_COMPOUND));
}

void
match_twins_add(struct match_twins *t, const struct match_cmp *c)
{
    int first = c->level[MATCH_F_FIRST], id = c->level[MATCH_F_NATIONAL_ID];

    if (c->level[MATCH_F_LAST] > MATCH_CLOSE || c->level[MATCH_F_BIRTH_DATE] != MATCH_EXACT ||
        c->level[MATCH_F_ADDRESS] > MATCH_CLOSE || first == MATCH_MISSING ||
        id == MATCH_MISSING)
        return;
    t->pairs++;
    t->first += first == MATCH_DIFFERENT;
    t->id += id > MATCH_CLOSE;
    t->both += first == MATCH_DIFFERENT && id > MATCH_CLOSE;
}

int
match_twins_done(struct match_twins *t)
{
    double a = t->pairs - t->first - t->id + t->both + 0.5; /* both agree */
    double b = t->id - t->both + 0.5;                       /* the id only */
    double c = t->first - t->both + 0.5;                    /* the first name only */
    double d = t->both + 0.5;                               /* both apart */

    t->odds_hi = exp(log(a * d / (b * c)) + 1.96 * sqrt(1 / a + 1 / b + 1 / c + 1 / d));
    return t->odds_hi < MATCH_TWINS_ODDS;
}

unsigned
match_model_rules(const struct match_model *mo, unsigned rules)
{
    return rules & ~mo->lifted;
}

uint32_t
match_cmp_pack(const struct match_cmp *c)
{
    uint32_t v = 0;

    for (int f = 0; f < MATCH_NFIELDS; f++)
        v |= (uint32_t)(c->level[f] & 7) << (3 * f);
    return v;
}

void
match_cmp_unpack(uint32_t code, struct match_cmp *c)
{
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < MATCH_NADDRESS_PARTS; i++)
        c->address[i] = MATCH_MISSING;
    for (int f = 0; f < MATCH_NFIELDS; f++) {
        unsigned l = (code >> (3 * f)) & 7;

        c->level[f] = (uint8_t)(l > MATCH_MISSING ? MATCH_MISSING : l);
    }
}

/* ---- model ---- */

static const char *const field_names[MATCH_NFIELDS] = {
    "first", "last", "birth_date", "email", "phone", "address", "national_id",
};

const char *
match_field_name(int field)
{
    return field >= 0 && field < MATCH_NFIELDS ? field_names[field] : "?";
}

const char *
match_level_name(int level)
{
    static const char *const names[] = { "exact", "close", "partial",
                                         "different", "missing" };

    return level >= 0 && level <= MATCH_MISSING ? names[level] : "?";
}

static void
compute_weights(struct match_model *mo)
{
    for (int f = 0; f < MATCH_NFIELDS; f++)
        for (int l = 0; l < MATCH_NLEVELS; l++)
            mo->weight[f][l] = log2(mo->m[f][l] / mo->u[f][l]);
    mo->prior = log2(mo->lambda / (1.0 - mo->lambda));
}

void
match_model_init(struct match_model *mo)
{
    static const double m0[MATCH_NLEVELS] = { 0.80, 0.10, 0.05, 0.05 };
    static const double u0[MATCH_NLEVELS] = { 0.02, 0.03, 0.05, 0.90 };

    memset(mo, 0, sizeof(*mo));
    mo->lambda = 0.1;
    for (int f = 0; f < MATCH_NFIELDS; f++)
        for (int l = 0; l < MATCH_NLEVELS; l++) {
            mo->em_m[f][l] = m0[l];
            mo->em_u[f][l] = u0[l];
        }
    mo->link = MATCH_LINK_DEFAULT;
    mo->review = MATCH_REVIEW_DEFAULT;
    match_model_refine(mo);
}

void
match_model_refine(struct match_model *mo)
{
    memcpy(mo->m, mo->em_m, sizeof(mo->m));
    memcpy(mo->u, mo->em_u, sizeof(mo->u));
    compute_weights(mo);
}

void
match_model_learn(struct match_model *mo, const struct match_cmp *c, int is_match)
{
    for (int f = 0; f < MATCH_NFIELDS; f++) {
        int l = c->level[f];

        if (l >= MATCH_NLEVELS)
            continue;
        if (is_match)
            mo->lab_m[f][l] += 1;
        else
            mo->lab_u[f][l] += 1;
    }
    if (is_match)
        mo->n_lab_m += 1;
    else
        mo->n_lab_u += 1;
}

void
match_model_set_u(struct match_model *mo,
                  const double counts[MATCH_NFIELDS][MATCH_NLEVELS])
{
    for (int f = 0; f < MATCH_NFIELDS; f++) {
        double n = 0;

        for (int l = 0; l < MATCH_NLEVELS; l++)
            n += counts[f][l];
        for (int l = 0; l < MATCH_NLEVELS; l++)
            mo->em_u[f][l] = (counts[f][l] + 0.5) / (n + 0.5 * MATCH_NLEVELS);
    }
    match_model_refine(mo);
}

void
match_model_u_without_matches(struct match_model *mo, double share, double floor)
{
    if (!(share > 0 && share < 0.5))
        return;
    for (int f = 0; f < MATCH_NFIELDS; f++) {
        double sum = 0;

        for (int l = 0; l < MATCH_NLEVELS; l++) {
            double u = (mo->em_u[f][l] - share * mo->em_m[f][l]) / (1 - share);

            mo->em_u[f][l] = u > floor ? u : floor;
            sum += mo->em_u[f][l];
        }
        for (int l = 0; l < MATCH_NLEVELS; l++)
            mo->em_u[f][l] /= sum;
    }
    match_model_refine(mo);
}

static const struct match_em_opts em_defaults = { 500, 1e-6, 0, MATCH_EM_PRIOR, NULL };

int
match_model_fit(struct match_model *mo, const struct match_pattern *pat, size_t n,
                const struct match_em_opts *opts)
{
    double m[MATCH_NFIELDS][MATCH_NLEVELS], u[MATCH_NFIELDS][MATCH_NLEVELS];
    double lm[MATCH_NFIELDS][MATCH_NLEVELS + 1], lu[MATCH_NFIELDS][MATCH_NLEVELS + 1];
    double m0[MATCH_NFIELDS][MATCH_NLEVELS], u0[MATCH_NFIELDS][MATCH_NLEVELS];
    double lam = mo->lambda, total = 0, k;
    unsigned it = 0;
    int swapped = 0;

    if (opts == NULL)
        opts = &em_defaults;
    k = opts->prior > 0 ? opts->prior : 0;
    if (n == 0)
        return nv_fail(NV_EINVAL, "match model: no comparison patterns to fit");
    memcpy(m, mo->em_m, sizeof(m));
    memcpy(u, mo->em_u, sizeof(u));
    memcpy(m0, opts->prior_model != NULL ? opts->prior_model->em_m : mo->em_m, sizeof(m0));
    memcpy(u0, opts->prior_model != NULL ? opts->prior_model->em_u : mo->em_u, sizeof(u0));
    if (!(lam > 1e-6 && lam < 0.5))
        lam = lam >= 0.5 ? 0.5 : 1e-6;
    for (size_t i = 0; i < n; i++)
        total += pat[i].count;
    if (!(total > 0))
        return nv_fail(NV_EINVAL, "match model: no comparison patterns to fit");
    while (it < (opts->max_iter > 0 ? opts->max_iter : 500)) {
        double am[MATCH_NFIELDS][MATCH_NLEVELS] = { { 0 } };
        double au[MATCH_NFIELDS][MATCH_NLEVELS] = { { 0 } };
        double sm = 0, delta = 0, nl;

        it++;
        for (int f = 0; f < MATCH_NFIELDS; f++) {
            for (int l = 0; l < MATCH_NLEVELS; l++) {
                lm[f][l] = log(m[f][l]);
                lu[f][l] = log(u[f][l]);
            }
            lm[f][MATCH_NLEVELS] = lu[f][MATCH_NLEVELS] = 0; /* missing */
        }
        for (size_t i = 0; i < n; i++) {
            double a = log(lam), b = log(1 - lam), r;
            unsigned lv[MATCH_NFIELDS];

            for (int f = 0; f < MATCH_NFIELDS; f++) {
                lv[f] = (pat[i].code >> (3 * f)) & 7;
                if (lv[f] > MATCH_NLEVELS)
                    lv[f] = MATCH_NLEVELS;
                a += lm[f][lv[f]];
                b += lu[f][lv[f]];
            }
            r = pat[i].label == MATCH_UNLABELLED ? 1.0 / (1.0 + exp(b - a))
                : pat[i].label ? 1.0 : 0.0;
            if (pat[i].label == MATCH_UNLABELLED && pat[i].lab_yes + pat[i].lab_no > 0)
                r = (pat[i].lab_yes + MATCH_LABEL_PRIOR * r) /
                    (pat[i].lab_yes + pat[i].lab_no + MATCH_LABEL_PRIOR);
            sm += pat[i].count * r;
            for (int f = 0; f < MATCH_NFIELDS; f++) {
                if (lv[f] >= MATCH_NLEVELS)
                    continue;
                am[f][lv[f]] += pat[i].count * r;
                au[f][lv[f]] += pat[i].count * (1 - r);
            }
        }
        for (int f = 0; f < MATCH_NFIELDS; f++) {
            double tm = 0, tu = 0;

            for (int l = 0; l < MATCH_NLEVELS; l++) {
                tm += am[f][l];
                tu += au[f][l];
            }
            for (int l = 0; l < MATCH_NLEVELS; l++) {
                double v;

                /* a field never present (and no prior) keeps its values;
                 * no probability may reach 0 (its log is taken) */
                if (tm + k > 0) {
                    v = fmax((am[f][l] + k * m0[f][l]) / (tm + k), 1e-12);
                    delta = fmax(delta, fabs(v - m[f][l]));
                    m[f][l] = v;
                }
                if (opts->fix_u || !(tu + k > 0))
                    continue;
                v = fmax((au[f][l] + k * u0[f][l]) / (tu + k), 1e-12);
                delta = fmax(delta, fabs(v - u[f][l]));
                u[f][l] = v;
            }
        }
        nl = sm / total;
        nl = nl < 1e-9 ? 1e-9 : nl > 1 - 1e-9 ? 1 - 1e-9 : nl;
        delta = fmax(delta, fabs(nl - lam));
        lam = nl;
        if (delta < (opts->tol > 0 ? opts->tol : 1e-6))
            break;
    }
    /* the "match" class must be the one that agrees more */
    for (int f = 0; f < MATCH_NFIELDS; f++)
        swapped += m[f][MATCH_EXACT] < u[f][MATCH_EXACT] ? 1
                   : m[f][MATCH_EXACT] > u[f][MATCH_EXACT] ? -1 : 0;
    if (swapped > 0 && !opts->fix_u) {
        memcpy(mo->em_m, u, sizeof(u));
        memcpy(mo->em_u, m, sizeof(m));
        mo->lambda = 1 - lam;
    } else {
        memcpy(mo->em_m, m, sizeof(m));
        memcpy(mo->em_u, u, sizeof(u));
        mo->lambda = lam;
    }
    mo->em_iterations = it;
    mo->em_pairs = total;
    match_model_refine(mo);
    return 0;
}

/* Fields whose exact agreement is adjusted by term frequency. */
static const unsigned char tf_field[MATCH_NFIELDS] = {
    [MATCH_F_FIRST] = 1, [MATCH_F_LAST] = 1, [MATCH_F_EMAIL] = 1,
    [MATCH_F_PHONE] = 1, [MATCH_F_ADDRESS] = 1,
};

/* What field f weighs at level l in the pair (a, b): the model's weight
 * (*base), adjusted by term frequency for an exact agreement. */
static double
field_score(const struct match_model *mo, const struct match_rec *a, const struct match_rec *b,
            int f, int l, double *base)
{
    double w, tf;

    *base = 0;
    if (l >= MATCH_NLEVELS)
        return 0;
    w = *base = mo->weight[f][l];
    if (l == MATCH_EXACT && mo->tf_mean[f] > 0 && (tf = fmax(a->tf[f], b->tf[f])) > 0) {
        double adj = log2(mo->tf_mean[f] / tf);

        adj = adj < -MATCH_TF_MAX_DOWN ? -MATCH_TF_MAX_DOWN
              : adj > MATCH_TF_MAX_UP ? MATCH_TF_MAX_UP : adj;
        w += adj;
        /* a frequent value still agrees better than a typo does */
        if (w < mo->weight[f][MATCH_CLOSE])
            w = mo->weight[f][MATCH_CLOSE];
    }
    return w;
}

double
match_score_parts(const struct match_model *mo, const struct match_rec *a,
                  const struct match_rec *b, const struct match_cmp *c, double *prior,
                  double weight[MATCH_NFIELDS], double tfadj[MATCH_NFIELDS])
{
    double s = mo->prior;

    *prior = mo->prior;
    for (int f = 0; f < MATCH_NFIELDS; f++) {
        double w = field_score(mo, a, b, f, c->level[f], &weight[f]);

        tfadj[f] = w - weight[f];
        s += w;
    }
    return s;
}

/* The most field f can weigh at level l, whatever the term frequencies. */
static double
level_best(const struct match_model *mo, int f, int l)
{
    double w;

    if (l >= MATCH_NLEVELS)
        return 0;
    w = mo->weight[f][l];
    if (l == MATCH_EXACT && mo->tf_mean[f] > 0)
        w = fmax(w + MATCH_TF_MAX_UP, mo->weight[f][MATCH_CLOSE]);
    return w;
}

/* The most field f can weigh at level lmin or any worse one, or missing
 * (0), whatever the term frequencies. */
static double
field_bound(const struct match_model *mo, int f, int lmin)
{
    double best = 0;

    for (int l = lmin; l < MATCH_NLEVELS; l++)
        best = fmax(best, level_best(mo, f, l));
    return best;
}

double
match_score_bound(const struct match_model *mo, const struct match_rec *a,
                  const struct match_rec *b)
{
    static const int plain[] = { MATCH_F_BIRTH_DATE, MATCH_F_PHONE, MATCH_F_ADDRESS,
                                 MATCH_F_NATIONAL_ID };
    struct match_cmp c;
    int email = MATCH_MISSING;
    double s = mo->prior;

    if (a->arena == NULL || b->arena == NULL)
        return INFINITY;
    memset(&c, 0, sizeof(c));
    cmp_plain(a, b, &c);
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        s += level_best(mo, plain[i], c.level[plain[i]]);
    /* the e-mails' best agreement before the names' rules, which only set
     * an agreement aside (MATCH_CMP_NAME_EMAIL) or take a disagreement as
     * missing (MATCH_CMP_OWN_MAILBOXES): worse levels or missing */
    for (int i = 0; i < MATCH_MAX_EMAILS; i++)
        for (int j = 0; SL(a, S_EMAIL0 + i) > 0 && j < MATCH_MAX_EMAILS; j++)
            if (SL(b, S_EMAIL0 + j) > 0)
                email = better(email, email_level(SP(a, S_EMAIL0 + i), SL(a, S_EMAIL0 + i),
                                                  (a->role_emails >> i) & 1,
                                                  SP(b, S_EMAIL0 + j), SL(b, S_EMAIL0 + j),
                                                  (b->role_emails >> j) & 1));
    if (email != MATCH_MISSING)
        s += field_bound(mo, MATCH_F_EMAIL, email);
    /* the names, at their best */
    return s + field_bound(mo, MATCH_F_FIRST, MATCH_EXACT) +
           field_bound(mo, MATCH_F_LAST, MATCH_EXACT);
}

double
match_score(const struct match_model *mo, const struct match_rec *a,
            const struct match_rec *b, const struct match_cmp *c)
{
    double prior, w[MATCH_NFIELDS], tf[MATCH_NFIELDS];

    return match_score_parts(mo, a, b, c, &prior, w, tf);
}

const char *
match_cmp_rule(const struct match_cmp *c, int field)
{
    unsigned fl = c->flags;

    switch (field) {
    case MATCH_F_FIRST:
        if (fl & MATCH_CMP_SWAPPED)
            return "first and last names swapped";
        if (fl & MATCH_CMP_COMPOUND)
            return "compound first name and its part";
        if (fl & MATCH_CMP_NICKNAME)
            return "nickname";
        if (fl & MATCH_CMP_INITIAL)
            return "initial or shortened form";
        return NULL;
    case MATCH_F_LAST:
        if (fl & MATCH_CMP_SWAPPED)
            return "first and last names swapped";
        if (fl & MATCH_CMP_MARRIED)
            return "birth name = married name";
        if (fl & MATCH_CMP_MAILBOX_NAME)
            return "the other's name in one's own mailbox";
        return NULL;
    case MATCH_F_BIRTH_DATE:
        return (fl & MATCH_CMP_GENERATION) ? "birth years a generation apart" : NULL;
    case MATCH_F_EMAIL:
        if (fl & MATCH_CMP_OWN_MAILBOXES)
            return "two mailboxes built from the same names: taken as missing";
        if (fl & MATCH_CMP_NAME_EMAIL)
            return "agrees only as the names do: taken as missing";
        return (fl & MATCH_CMP_ROLE_EMAIL) ? "a role or family mailbox" : NULL;
    case MATCH_F_PHONE:
        return (fl & MATCH_CMP_MOBILE) ? "a mobile (a person's own)" : NULL;
    default:
        return NULL;
    }
}

const char *
match_cmp_contradiction(const struct match_cmp *c, unsigned rules)
{
    if ((rules & MATCH_RULE_TWINS) && match_cmp_contradicted(c, MATCH_RULE_TWINS))
        return "twins rule: the same birth date with another first name";
    if ((rules & MATCH_RULE_BIRTH) && match_cmp_contradicted(c, MATCH_RULE_BIRTH))
        return "birth rule: birth dates that differ";
    if ((rules & MATCH_RULE_HOUSEHOLD) && match_cmp_contradicted(c, MATCH_RULE_HOUSEHOLD))
        return "household rule: another first name at the same place, no birth date to tell";
    if ((rules & MATCH_RULE_NAMES_ONLY) && match_cmp_contradicted(c, MATCH_RULE_NAMES_ONLY))
        return "names-only rule: nothing but the names in common";
    return NULL;
}

/* ---- model text ---- */

static json_t *
jarr(const double *v, int n)
{
    json_t *a = json_array();

    for (int i = 0; i < n && a != NULL; i++)
        if (json_array_append_new(a, json_real(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

int
match_model_format(const struct match_model *mo, struct nv_buf *out)
{
    json_t *root = NULL, *fields = NULL;
    char *s = NULL;
    int r = NV_ENOMEM;

    if ((root = json_object()) == NULL || (fields = json_object()) == NULL)
        goto out;
    if (json_object_set_new(root, "nova_match_model", json_integer(1)) < 0 ||
        json_object_set_new(root, "lambda", json_real(mo->lambda)) < 0 ||
        json_object_set_new(root, "link", json_real(mo->link)) < 0 ||
        json_object_set_new(root, "review", json_real(mo->review)) < 0)
        goto out;
    for (int f = 0; f < MATCH_NFIELDS; f++) {
        json_t *o = json_object();

        if (o == NULL || json_object_set_new(fields, field_names[f], o) < 0 ||
            json_object_set_new(o, "m", jarr(mo->em_m[f], MATCH_NLEVELS)) < 0 ||
            json_object_set_new(o, "u", jarr(mo->em_u[f], MATCH_NLEVELS)) < 0 ||
            json_object_set_new(o, "lab_m", jarr(mo->lab_m[f], MATCH_NLEVELS)) < 0 ||
            json_object_set_new(o, "lab_u", jarr(mo->lab_u[f], MATCH_NLEVELS)) < 0 ||
            json_object_set_new(o, "tf", json_real(mo->tf_mean[f])) < 0)
            goto out;
    }
    if (json_object_set(root, "fields", fields) < 0 ||
        json_object_set_new(root, "n_lab_m", json_real(mo->n_lab_m)) < 0 ||
        json_object_set_new(root, "n_lab_u", json_real(mo->n_lab_u)) < 0 ||
        json_object_set_new(root, "em_pairs", json_real(mo->em_pairs)) < 0 ||
        json_object_set_new(root, "twins_rule",
                            json_string(mo->lifted & MATCH_RULE_TWINS ? "lifted" : "on")) < 0 ||
        json_object_set_new(root, "twins_test",
                            json_pack("{s:f,s:f,s:f,s:f,s:f}", "pairs", mo->twins.pairs,
                                      "first", mo->twins.first, "id", mo->twins.id, "both",
                                      mo->twins.both, "odds_hi", mo->twins.odds_hi)) < 0)
        goto out;
    if ((s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                  JSON_REAL_PRECISION(17))) == NULL)
        goto out;
    if ((r = nv_buf_adds(out, s)) < 0)
        goto out;
    r = 0;
out:
    if (r == NV_ENOMEM)
        nv_fail(r, "match model: out of memory");
    free(s);
    json_decref(fields);
    json_decref(root);
    return r;
}

static int
get_num(json_t *o, const char *key, double lo, double hi, double *out)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL || !json_is_number(v))
        return nv_fail(NV_EFORMAT, "match model: '%s' missing or not a number", key);
    *out = json_number_value(v);
    if (!(*out >= lo && *out <= hi))
        return nv_fail(NV_EFORMAT, "match model: '%s' out of range", key);
    return 0;
}

static int
only_keys(json_t *o, const char *const *keys, size_t n, const char *where)
{
    const char *k;
    json_t *v;

    json_object_foreach(o, k, v) {
        size_t i = 0;

        while (i < n && strcmp(keys[i], k) != 0)
            i++;
        if (i == n)
            return nv_fail(NV_EFORMAT, "match model: unknown key in %s", where);
    }
    return 0;
}

static int
get_row(json_t *o, const char *field, const char *key, int prob, double *out)
{
    json_t *a = json_object_get(o, key);
    double sum = 0;

    if (a == NULL || !json_is_array(a) || json_array_size(a) != MATCH_NLEVELS)
        return nv_fail(NV_EFORMAT, "match model: %s.%s is not an array of %d",
                       field, key, MATCH_NLEVELS);
    for (int l = 0; l < MATCH_NLEVELS; l++) {
        json_t *v = json_array_get(a, (size_t)l);

        if (!json_is_number(v))
            return nv_fail(NV_EFORMAT, "match model: %s.%s holds a non-number",
                           field, key);
        out[l] = json_number_value(v);
        if (prob ? !(out[l] > 0 && out[l] < 1) : !(out[l] >= 0 && out[l] < 1e15))
            return nv_fail(NV_EFORMAT, "match model: %s.%s out of range", field, key);
        sum += out[l];
    }
    if (prob && fabs(sum - 1) > 1e-3)
        return nv_fail(NV_EFORMAT, "match model: %s.%s does not sum to 1", field, key);
    return 0;
}

int
match_model_parse(struct match_model *mo, const char *text, size_t len)
{
    static const char *const top[] = { "nova_match_model", "lambda", "link",
                                       "review", "fields", "n_lab_m", "n_lab_u",
                                       "em_pairs", "twins_rule", "twins_test" };
    static const char *const twins[] = { "pairs", "first", "id", "both", "odds_hi" };
    static const char *const per[] = { "m", "u", "lab_m", "lab_u", "tf" };
    struct match_model t;
    json_t *root = NULL, *v, *fields;
    json_error_t err;
    int r = NV_EFORMAT;

    if (len > MATCH_MODEL_MAX_BYTES)
        return nv_fail(NV_ETOOBIG, "match model: over %d bytes", MATCH_MODEL_MAX_BYTES);
    memset(&t, 0, sizeof(t));
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL || !json_is_object(root)) {
        r = nv_fail(NV_EFORMAT, "match model: not a JSON object");
        goto out;
    }
    if ((r = only_keys(root, top, sizeof(top) / sizeof(top[0]), "the model")) < 0)
        goto out;
    v = json_object_get(root, "nova_match_model");
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        r = nv_fail(NV_EFORMAT, "match model: unknown version");
        goto out;
    }
    if ((r = get_num(root, "lambda", 1e-12, 1 - 1e-12, &t.lambda)) < 0 ||
        (r = get_num(root, "link", -1000, 1000, &t.link)) < 0 ||
        (r = get_num(root, "review", -1000, 1000, &t.review)) < 0 ||
        (r = get_num(root, "n_lab_m", 0, 1e15, &t.n_lab_m)) < 0 ||
        (r = get_num(root, "n_lab_u", 0, 1e15, &t.n_lab_u)) < 0 ||
        (r = get_num(root, "em_pairs", 0, 1e18, &t.em_pairs)) < 0)
        goto out;
    if (t.review > t.link) {
        r = nv_fail(NV_EFORMAT, "match model: review threshold above link");
        goto out;
    }
    fields = json_object_get(root, "fields");
    if (!json_is_object(fields) || json_object_size(fields) != MATCH_NFIELDS) {
        r = nv_fail(NV_EFORMAT, "match model: 'fields' must hold the %d fields",
                    MATCH_NFIELDS);
        goto out;
    }
    for (int f = 0; f < MATCH_NFIELDS; f++) {
        json_t *o = json_object_get(fields, field_names[f]);

        if (!json_is_object(o)) {
            r = nv_fail(NV_EFORMAT, "match model: field '%s' missing", field_names[f]);
            goto out;
        }
        if ((r = only_keys(o, per, sizeof(per) / sizeof(per[0]), field_names[f])) < 0 ||
            (r = get_row(o, field_names[f], "m", 1, t.em_m[f])) < 0 ||
            (r = get_row(o, field_names[f], "u", 1, t.em_u[f])) < 0 ||
            (r = get_row(o, field_names[f], "lab_m", 0, t.lab_m[f])) < 0 ||
            (r = get_row(o, field_names[f], "lab_u", 0, t.lab_u[f])) < 0 ||
            (r = get_num(o, "tf", 0, 1, &t.tf_mean[f])) < 0)
            goto out;
    }
    /* the twins test (optional: models written before it keep the rule) */
    v = json_object_get(root, "twins_rule");
    if (v != NULL) {
        if (!json_is_string(v) || (strcmp(json_string_value(v), "on") &&
                                   strcmp(json_string_value(v), "lifted"))) {
            r = nv_fail(NV_EFORMAT, "match model: 'twins_rule' must be \"on\" or \"lifted\"");
            goto out;
        }
        if (!strcmp(json_string_value(v), "lifted"))
            t.lifted |= MATCH_RULE_TWINS;
    }
    v = json_object_get(root, "twins_test");
    if (v != NULL) {
        if (!json_is_object(v)) {
            r = nv_fail(NV_EFORMAT, "match model: 'twins_test' is not an object");
            goto out;
        }
        if ((r = only_keys(v, twins, sizeof(twins) / sizeof(twins[0]), "twins_test")) < 0 ||
            (r = get_num(v, "pairs", 0, 1e18, &t.twins.pairs)) < 0 ||
            (r = get_num(v, "first", 0, t.twins.pairs, &t.twins.first)) < 0 ||
            (r = get_num(v, "id", 0, t.twins.pairs, &t.twins.id)) < 0 ||
            (r = get_num(v, "both", 0, t.twins.first < t.twins.id ? t.twins.first : t.twins.id,
                         &t.twins.both)) < 0 ||
            (r = get_num(v, "odds_hi", 0, 1e300, &t.twins.odds_hi)) < 0)
            goto out;
    }
    match_model_refine(&t);
    *mo = t;
    r = 0;
out:
    json_decref(root);
    return r;
}

/* ---- term frequencies ---- */

struct match_tf {
    uint64_t *key; /* field-tagged value hash, 0 = empty */
    uint32_t *count;
    size_t cap, used;
    double records;
};

int
match_tf_new(struct match_tf **out)
{
    struct match_tf *tf = calloc(1, sizeof(*tf));

    *out = NULL;
    if (tf == NULL)
        return nv_fail(NV_ENOMEM, "match term frequencies: out of memory");
    *out = tf;
    return 0;
}

void
match_tf_free(struct match_tf *tf)
{
    if (tf == NULL)
        return;
    free(tf->key);
    free(tf->count);
    free(tf);
}

static int
tf_grow(struct match_tf *tf)
{
    size_t cap = tf->cap ? tf->cap * 2 : 1024;
    uint64_t *key = calloc(cap, sizeof(*key));
    uint32_t *count = calloc(cap, sizeof(*count));

    if (key == NULL || count == NULL) {
        free(key);
        free(count);
        return nv_fail(NV_ENOMEM, "match term frequencies: out of memory");
    }
    for (size_t i = 0; i < tf->cap; i++) {
        size_t j;

        if (tf->key[i] == 0)
            continue;
        j = (tf->key[i] >> 4) & (cap - 1);
        while (key[j] != 0)
            j = (j + 1) & (cap - 1);
        key[j] = tf->key[i];
        count[j] = tf->count[i];
    }
    free(tf->key);
    free(tf->count);
    tf->key = key;
    tf->count = count;
    tf->cap = cap;
    return 0;
}

/* Keys carry their field + 1 in the low 4 bits (so never 0). */
#define TF_FIELD(k) ((int)((k) & 0xF) - 1)

static size_t
tf_find(const struct match_tf *tf, uint64_t k)
{
    size_t j = (k >> 4) & (tf->cap - 1);

    while (tf->key[j] != 0 && tf->key[j] != k)
        j = (j + 1) & (tf->cap - 1);
    return j;
}

/* The value hashes of record r for field f (at most 3). */
static size_t
tf_values(const struct match_rec *r, int f, uint64_t *h)
{
    int s0 = -1, ns = 1;
    size_t n = 0;

    switch (f) {
    case MATCH_F_FIRST: s0 = S_FIRST_C; break;
    case MATCH_F_LAST: s0 = S_LAST_C; break;
    case MATCH_F_EMAIL: s0 = S_EMAIL0, ns = MATCH_MAX_EMAILS; break;
    case MATCH_F_PHONE: s0 = S_PHONE0, ns = MATCH_MAX_PHONES; break;
    case MATCH_F_ADDRESS: s0 = S_STREET; break;
    default: return 0;
    }
    for (int i = 0; i < ns; i++) {
        uint64_t x;
        unsigned char tag = (unsigned char)f;

        if (SL(r, s0 + i) == 0)
            continue;
        x = nv_fnv1a(nv_fnv1a(NV_FNV_OFFSET, &tag, 1), SP(r, s0 + i), SL(r, s0 + i));
        if (f == MATCH_F_ADDRESS) /* the street in its place */
            x = nv_fnv1a(nv_fnv1a(x, &r->street_no, sizeof(r->street_no)), SP(r, S_POSTCODE),
                    SL(r, S_POSTCODE));
        h[n++] = (mix64(x) & ~(uint64_t)0xF) | (uint64_t)(f + 1);
    }
    return n;
}

size_t
match_tf_hashes(const struct match_rec *r, int field, uint64_t *out, size_t max)
{
    uint64_t h[4];
    size_t n;

    if (r->arena == NULL || field < 0 || field >= MATCH_NFIELDS)
        return 0;
    n = tf_values(r, field, h);
    n = n < max ? n : max;
    memcpy(out, h, n * sizeof(*h));
    return n;
}

int
match_tf_add(struct match_tf *tf, const struct match_rec *r)
{
    uint64_t h[4];
    int rc;

    if (r->arena == NULL)
        return 0;
    for (int f = 0; f < MATCH_NFIELDS; f++) {
        size_t n = tf_values(r, f, h);

        for (size_t i = 0; i < n; i++) {
            size_t j;

            if ((tf->used + 1) * 2 > tf->cap && (rc = tf_grow(tf)) < 0)
                return rc;
            j = tf_find(tf, h[i]);
            if (tf->key[j] == 0) {
                tf->key[j] = h[i];
                tf->used++;
            }
            if (tf->count[j] < UINT32_MAX)
                tf->count[j]++;
        }
    }
    tf->records += 1;
    return 0;
}

void
match_tf_apply(const struct match_tf *tf, struct match_rec *r)
{
    uint64_t h[4];

    for (int f = 0; f < MATCH_NFIELDS; f++) {
        size_t n = r->arena != NULL ? tf_values(r, f, h) : 0;
        double best = 0;

        for (size_t i = 0; i < n && tf->cap > 0; i++) {
            size_t j = tf_find(tf, h[i]);

            if (tf->key[j] != 0 && tf->count[j] / tf->records > best)
                best = tf->count[j] / tf->records;
        }
        r->tf[f] = (float)best;
    }
}

void
match_tf_to_model(const struct match_tf *tf, struct match_model *mo)
{
    double sum[MATCH_NFIELDS] = { 0 };

    for (size_t i = 0; i < tf->cap; i++) {
        double p;
        int f;

        if (tf->key[i] == 0)
            continue;
        f = TF_FIELD(tf->key[i]);
        p = tf->count[i] / tf->records;
        if (f >= 0 && f < MATCH_NFIELDS)
            sum[f] += p * p;
    }
    for (int f = 0; f < MATCH_NFIELDS; f++)
        mo->tf_mean[f] = tf_field[f] ? sum[f] : 0;
}

/* ---- batch pipeline ---- */

void
match_opts_init(struct match_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->block_max = 32;
    o->cluster_max = 50;
    o->u_samples = 100000;
    o->seed = 1;
    o->threads = 1;
    o->rules = MATCH_RULES_DEFAULT;
    o->em = em_defaults;
}

struct vec64 {
    uint64_t *v;
    size_t n, cap;
};

static int
vec_push(struct vec64 *x, uint64_t v)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 1024;
        uint64_t *p = realloc(x->v, cap * sizeof(*p));

        if (p == NULL)
            return nv_fail(NV_ENOMEM, "match: out of memory");
        x->v = p;
        x->cap = cap;
    }
    x->v[x->n++] = v;
    return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

int
match_sort_u64(uint64_t *a, size_t n)
{
    uint64_t *tmp, *src = a, *dst;
    size_t *cnt;

    if (n < 4096) {
        if (n > 1)
            qsort(a, n, sizeof(*a), cmp_u64);
        return 0;
    }
    tmp = malloc(n * sizeof(*tmp));
    cnt = malloc(65536 * sizeof(*cnt));
    if (tmp == NULL || cnt == NULL) {
        free(tmp);
        free(cnt);
        return nv_fail(NV_ENOMEM, "match: out of memory");
    }
    dst = tmp;
    for (int sh = 0; sh < 64; sh += 16) {
        size_t sum = 0;

        memset(cnt, 0, 65536 * sizeof(*cnt));
        for (size_t i = 0; i < n; i++)
            cnt[(src[i] >> sh) & 0xFFFF]++;
        if (cnt[(src[0] >> sh) & 0xFFFF] == n)
            continue;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = cnt[d];

            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[cnt[(src[i] >> sh) & 0xFFFF]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(*a));
    free(tmp);
    free(cnt);
    return 0;
}

static size_t
uniq64(uint64_t *a, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        if (k == 0 || a[k - 1] != a[i])
            a[k++] = a[i];
    return k;
}

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
entity_hash(const struct match_rec *r)
{
    const char *e = match_rec_entity(r);

    return nv_fnv1a(NV_FNV_OFFSET, e, strlen(e));
}

/* Sort and deduplicate pairs; compacting as we go bounds the memory held
 * by pairs that several keys produce. */
static int
compact_pairs(struct vec64 *p)
{
    int r = match_sort_u64(p->v, p->n);

    if (r == 0)
        p->n = uniq64(p->v, p->n);
    return r;
}

/* Candidate pairs (a << 32 | b, a < b), sorted and distinct. */
static int
block(const struct match_rec *recs, size_t n, const struct match_opts *o,
      const uint64_t *ent, struct vec64 *pairs, size_t *skipped, size_t *kind_pairs)
{
    struct vec64 kind[MATCH_K_MAX];
    struct match_key keys[MATCH_MAX_KEYS];
    size_t last_compact = 0;
    int r = 0;

    memset(kind, 0, sizeof(kind));
    *skipped = 0;
    for (size_t i = 0; i < n; i++) {
        size_t nk = match_rec_keys(&recs[i], keys, MATCH_MAX_KEYS);

        for (size_t k = 0; k < nk; k++)
            if ((r = vec_push(&kind[keys[k].kind],
                              (keys[k].hash & 0xFFFFFFFF00000000ULL) | i)) < 0)
                goto out;
    }
    for (int k = 1; k < MATCH_K_MAX; k++) {
        struct vec64 *v = &kind[k];

        if ((r = match_sort_u64(v->v, v->n)) < 0)
            goto out;
        for (size_t i = 0; i < v->n;) {
            size_t j = i + 1;

            while (j < v->n && (v->v[j] >> 32) == (v->v[i] >> 32))
                j++;
            if (j - i > o->block_max) {
                (*skipped)++;
            } else {
                for (size_t x = i; x < j; x++)
                    for (size_t y = x + 1; y < j; y++) {
                        uint64_t a = v->v[x] & 0xFFFFFFFF, b = v->v[y] & 0xFFFFFFFF;

                        if (a == b || ((o->flags & MATCH_CROSS_ENTITY) && ent[a] == ent[b]))
                            continue;
                        if ((o->active != NULL || o->group != NULL) &&
                            !(o->active != NULL && (o->active[a] || o->active[b])) &&
                            !(o->group != NULL && o->group[a] != 0 && o->group[a] == o->group[b]))
                            continue;
                        if ((r = vec_push(pairs, a << 32 | b)) < 0)
                            goto out;
                        kind_pairs[k]++;
                    }
            }
            i = j;
        }
        free(v->v);
        v->v = NULL;
        if (pairs->n > 2 * last_compact + (1u << 20)) {
            if ((r = compact_pairs(pairs)) < 0)
                goto out;
            last_compact = pairs->n;
        }
    }
    r = compact_pairs(pairs);
out:
    for (int k = 0; k < MATCH_K_MAX; k++)
        free(kind[k].v);
    return r;
}

/* A whole comparison in one word: levels (match_cmp_pack) in bits 0..20,
 * address parts in 21..29, flags in 32..47. */
#define CODE_LEVELS ((1u << (3 * MATCH_NFIELDS)) - 1)
_Static_assert(3 * (MATCH_NFIELDS + MATCH_NADDRESS_PARTS) <= 32, "code layout");

static uint64_t
code_of(const struct match_cmp *c)
{
    uint64_t v = match_cmp_pack(c) | (uint64_t)c->flags << 32;

    for (int i = 0; i < MATCH_NADDRESS_PARTS; i++)
        v |= (uint64_t)(c->address[i] & 7) << (3 * (MATCH_NFIELDS + i));
    return v;
}

static void
cmp_of(uint64_t code, struct match_cmp *c)
{
    match_cmp_unpack((uint32_t)(code & CODE_LEVELS), c);
    for (int i = 0; i < MATCH_NADDRESS_PARTS; i++)
        c->address[i] = (uint8_t)(code >> (3 * (MATCH_NFIELDS + i)) & 7);
    c->flags = (uint16_t)(code >> 32);
}

/* Pairs ahead whose records are prefetched (comparisons are bound by
 * memory latency once the records outgrow the caches). */
#define PREFETCH_AHEAD 16

/* One thread's share of the pairs: compare them, or score them. */
struct pair_job {
    const struct match_rec *recs;
    const uint64_t *pairs;
    uint64_t *codes;
    float *score;                   /* NULL: compare, else score */
    const struct match_model *mo;
    size_t lo, hi;
};

static void *
pair_worker(void *arg)
{
    struct pair_job *j = arg;
    struct match_cmp c;

    for (size_t k = j->lo; k < j->hi; k++) {
        const struct match_rec *a = &j->recs[j->pairs[k] >> 32];
        const struct match_rec *b = &j->recs[j->pairs[k] & 0xFFFFFFFF];

        /* b is anywhere in memory: fetch the records of a later pair now,
         * then their values once the record (and its arena pointer) is in */
        if (k + PREFETCH_AHEAD < j->hi)
            __builtin_prefetch(&j->recs[j->pairs[k + PREFETCH_AHEAD] & 0xFFFFFFFF]);
        if (k + PREFETCH_AHEAD / 2 < j->hi)
            __builtin_prefetch(j->recs[j->pairs[k + PREFETCH_AHEAD / 2] & 0xFFFFFFFF].arena);
        if (j->score == NULL) {
            match_compare(a, b, &c);
            j->codes[k] = code_of(&c);
        } else {
            cmp_of(j->codes[k], &c);
            j->score[k] = (float)match_score(j->mo, a, b, &c);
        }
    }
    return NULL;
}

/* Compare (score == NULL) or score every pair, on up to 16 threads; a
 * thread that cannot be started leaves its share to the caller's. */
static void
for_pairs(const struct match_rec *recs, const uint64_t *pairs, size_t np, uint64_t *codes,
          float *score, const struct match_model *mo, unsigned threads)
{
    struct pair_job jobs[16];
    pthread_t tid[16];
    unsigned t, started = 0;

    if (threads < 1)
        threads = 1;
    if (threads > 16)
        threads = 16;
    if (np < 10000)
        threads = 1;
    for (t = 0; t < threads; t++) {
        jobs[t].recs = recs;
        jobs[t].pairs = pairs;
        jobs[t].codes = codes;
        jobs[t].score = score;
        jobs[t].mo = mo;
        jobs[t].lo = np * t / threads;
        jobs[t].hi = np * (t + 1) / threads;
    }
    for (t = 1; t < threads; t++) {
        if (pthread_create(&tid[t], NULL, pair_worker, &jobs[t]) != 0)
            break;
        started = t;
    }
    for (t = started + 1; t < threads; t++)
        pair_worker(&jobs[t]);
    pair_worker(&jobs[0]);
    for (t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
}

static uint64_t
splitmix(uint64_t *s)
{
    return mix64(*s += 0x9e3779b97f4a7c15ULL);
}

/* u from the level counts of random pairs. */
static void
sample_u(const struct match_rec *recs, size_t n, const struct match_opts *o,
         const uint64_t *ent, struct match_model *mo)
{
    double counts[MATCH_NFIELDS][MATCH_NLEVELS] = { { 0 } };
    uint64_t s = o->seed;
    struct match_cmp c;

    for (unsigned k = 0; k < o->u_samples && n >= 2; k++) {
        size_t a = 0, b = 0;
        int tries = 0;

        do {
            a = splitmix(&s) % n;
            b = splitmix(&s) % n;
        } while ((a == b || ((o->flags & MATCH_CROSS_ENTITY) && ent[a] == ent[b])) &&
                 ++tries < 64);
        if (tries == 64)
            continue;
        match_compare(&recs[a], &recs[b], &c);
        for (int f = 0; f < MATCH_NFIELDS; f++)
            if (c.level[f] < MATCH_NLEVELS)
                counts[f][c.level[f]] += 1;
    }
    match_model_set_u(mo, counts);
}

/* Count the distinct codes of c[0..n) (sorted here) into pat. */
static int
patterns(uint64_t *c, size_t n, struct match_pattern *pat, size_t *npat)
{
    int r = match_sort_u64(c, n);

    *npat = 0;
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (i > 0 && c[i] == c[i - 1]) {
            pat[*npat - 1].count += 1;
        } else {
            pat[*npat].code = (uint32_t)c[i];
            pat[*npat].label = MATCH_UNLABELLED;
            pat[*npat].count = 1;
            pat[*npat].lab_yes = pat[*npat].lab_no = 0;
            (*npat)++;
        }
    }
    return r;
}

/*
 * The EM population is chosen on the last name (EXACT to PARTIAL), so it
 * says nothing of how often a person's last name is DIFFERENT: that level
 * keeps its prior (m from the starting values, u from random pairs), and
 * the other levels share the rest in the proportions EM found.
 */
static void
set_last_different(struct match_model *mo, const struct match_model *prior)
{
    double pm = prior->em_m[MATCH_F_LAST][MATCH_DIFFERENT];
    double pu = prior->em_u[MATCH_F_LAST][MATCH_DIFFERENT];
    double sm = 0, su = 0;

    for (int l = 0; l < MATCH_NLEVELS; l++)
        if (l != MATCH_DIFFERENT) {
            sm += mo->em_m[MATCH_F_LAST][l];
            su += mo->em_u[MATCH_F_LAST][l];
        }
    for (int l = 0; l < MATCH_NLEVELS; l++) {
        if (l == MATCH_DIFFERENT)
            continue;
        mo->em_m[MATCH_F_LAST][l] *= (1 - pm) / sm;
        mo->em_u[MATCH_F_LAST][l] *= (1 - pu) / su;
    }
    mo->em_m[MATCH_F_LAST][MATCH_DIFFERENT] = pm;
    mo->em_u[MATCH_F_LAST][MATCH_DIFFERENT] = pu;
}

/*
 * EM on the patterns of the candidate pairs that could be linked
 * automatically and share a last name (at least PARTIAL).  Contradicted
 * pairs (match_cmp_contradicted) are decided by the rule, not by the
 * weights; with them, EM takes "same household" (shared address, phone and
 * last name, different first names) for "same person", the strongest
 * structure among candidates.  Pairs with different last names are mostly
 * neighbours or people of one first name in one place, and EM would split
 * candidates by place instead of by person.  What EM learns there is the
 * difference between a person and a namesake, which is what the weights
 * must tell apart.  EM starts from the caller's model (the generic
 * defaults, or the model stored from the last run) with u drawn toward
 * random pairs by the prior (MATCH_EM_PRIOR); starting from random-pair u
 * itself, EM can settle on a poor optimum (namesakes agree on names far
 * more than random pairs do).
 */
/* The team's decisions into the patterns: each its own labelled pattern
 * (class fixed), and counted on the unlabelled pattern of the same code. */
static int
add_labels(struct match_pattern **pat, size_t *npat, const struct match_pattern *lab,
           size_t nlab)
{
    struct match_pattern *p = realloc(*pat, (*npat + nlab) * sizeof(**pat));
    size_t n = *npat;

    if (p == NULL)
        return nv_fail(NV_ENOMEM, "match: out of memory");
    *pat = p;
    for (size_t i = 0; i < nlab; i++) {
        for (size_t j = 0; j < n; j++) {
            if (p[j].code == lab[i].code && p[j].label == MATCH_UNLABELLED) {
                if (lab[i].label)
                    p[j].lab_yes += lab[i].count;
                else
                    p[j].lab_no += lab[i].count;
                break;
            }
        }
        p[*npat] = lab[i];
        p[*npat].lab_yes = p[*npat].lab_no = 0;
        (*npat)++;
    }
    return 0;
}

static int
fit(const uint64_t *codes, size_t np, const struct match_opts *o, struct match_model *mo,
    const struct match_model *prior)
{
    uint64_t *sel = malloc((np ? np : 1) * sizeof(*sel));
    struct match_pattern *pat = malloc((np ? np : 1) * sizeof(*pat));
    size_t npat = 0, nsel = 0;
    struct match_em_opts em = o->em;
    struct match_cmp cmp;
    int r;

    if (sel == NULL || pat == NULL) {
        r = nv_fail(NV_ENOMEM, "match: out of memory");
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        cmp_of(codes[i], &cmp);
        if (!match_cmp_contradicted(&cmp, o->rules) && cmp.level[MATCH_F_LAST] <= MATCH_PARTIAL)
            sel[nsel++] = codes[i] & CODE_LEVELS;
    }
    if ((r = patterns(sel, nsel, pat, &npat)) < 0 || npat == 0)
        goto out; /* nothing to learn from: keep the starting model */
    if (o->nlabels > 0 && (r = add_labels(&pat, &npat, o->labels, o->nlabels)) < 0)
        goto out;
    if (o->flags & MATCH_FIX_U)
        em.fix_u = 1;
    em.prior_model = prior;
    if ((r = match_model_fit(mo, pat, npat, &em)) < 0)
        goto out;
    set_last_different(mo, prior);
    /* lambda among all candidates (scores are log odds among candidates):
     * the pairs EM did not see are taken as non-matches */
    mo->lambda = mo->lambda * (double)nsel / (double)np;
    /* only m from EM: u from random pairs (see MATCH_EM_M_ONLY) */
    if (o->flags & MATCH_EM_M_ONLY)
        memcpy(mo->em_u, prior->em_u, sizeof(mo->em_u));
    match_model_refine(mo);
out:
    free(sel);
    free(pat);
    return r;
}

/* ---- clustering ---- */

struct clusters {
    uint32_t *parent, *size, *next, *tail;
};

static uint32_t
find(struct clusters *cl, uint32_t x)
{
    while (cl->parent[x] != x) {
        cl->parent[x] = cl->parent[cl->parent[x]];
        x = cl->parent[x];
    }
    return x;
}

struct cand {
    float score;
    uint32_t pair; /* index in the pair array */
};

static int
cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;

    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->pair < y->pair ? -1 : x->pair > y->pair;
}

/* Pairs whose household rule is set aside (lift_only_ones): sorted pair
 * keys, lo << 32 | hi. */
struct lifted {
    uint64_t *v;
    size_t n;
};

static int
is_lifted(const struct lifted *lf, uint32_t x, uint32_t y)
{
    uint64_t k = x < y ? (uint64_t)x << 32 | y : (uint64_t)y << 32 | x;

    return lf->n > 0 && bsearch(&k, lf->v, lf->n, sizeof(k), cmp_u64) != NULL;
}

/*
 * The only one it can be.  The household rule keeps apart "J. Dupont" and
 * "Jean Dupont" at one address (or "Jean" and "Jean-Pierre"), since the
 * short form may be another member of the household.  When nobody else
 * among the records near either of the two could be the short form (a
 * record whose first name agrees with it but that is not the long form's
 * person: another first name, or kept apart from it by a rule), the short
 * form can only be the long form's person, and the rule is set aside for
 * that pair: it may then link on its score.  Not when both birth dates
 * are known (and differ: the rule's own case), nor for a compound's second
 * part (Jean-Marie / Marie).  Another member who could be
 * "J." (Julie, or a Jean-Marc beside a Jean), here or arriving later, keeps
 * the rule (a later bundle resolves the clusters again).  Near records:
 * those of a candidate pair scoring at least review with either record.
 */
static int
lift_only_ones(const struct match_rec *recs, size_t n, const uint64_t *pairs,
               const uint64_t *codes, const float *score, size_t np,
               const struct match_opts *o, const struct match_model *mo, struct lifted *lf)
{
    uint32_t *deg = NULL, *adj = NULL;
    size_t nl = 0, m = 0;
    struct match_cmp c, cs, cg;
    int r = 0;

    lf->v = NULL;
    lf->n = 0;
    for (size_t k = 0; k < np; k++) {
        if (!(score[k] >= mo->link))
            continue;
        cmp_of(codes[k], &c);
        nl += match_cmp_liftable(&c, o->rules) != 0;
    }
    if (nl == 0)
        return 0;
    /* the near records of each record (CSR over pairs scoring >= review) */
    if ((deg = calloc(n + 1, sizeof(*deg))) == NULL ||
        (lf->v = malloc(nl * sizeof(*lf->v))) == NULL) {
        r = nv_fail(NV_ENOMEM, "match: out of memory");
        goto out;
    }
    for (size_t k = 0; k < np; k++)
        if (score[k] >= mo->review) {
            deg[pairs[k] >> 32]++;
            deg[pairs[k] & 0xFFFFFFFF]++;
            m += 2;
        }
    for (size_t i = 0, sum = 0; i <= n; i++) {
        uint32_t d = deg[i];
        deg[i] = (uint32_t)sum;
        sum += i < n ? d : 0;
    }
    if ((adj = malloc((m ? m : 1) * sizeof(*adj))) == NULL) {
        r = nv_fail(NV_ENOMEM, "match: out of memory");
        goto out;
    }
    for (size_t k = 0; k < np; k++)
        if (score[k] >= mo->review) {
            uint32_t a = (uint32_t)(pairs[k] >> 32), b = (uint32_t)(pairs[k] & 0xFFFFFFFF);
            adj[deg[a]++] = b;
            adj[deg[b]++] = a;
        }
    /* deg[i] is now the end of i's list, and the start of i + 1's */
    for (size_t i = n; i > 0; i--)
        deg[i] = deg[i - 1];
    deg[0] = 0;
    for (size_t k = 0; k < np; k++) {
        uint32_t a = (uint32_t)(pairs[k] >> 32), b = (uint32_t)(pairs[k] & 0xFFFFFFFF);
        uint32_t sh, lg, ends[2];
        int rival = 0;
        if (!(score[k] >= mo->link))
            continue;
        cmp_of(codes[k], &c);
        /* both birth dates known and not equal: two people of one
         * household, whatever the names */
        if (!match_cmp_liftable(&c, o->rules) || c.level[MATCH_F_BIRTH_DATE] != MATCH_MISSING)
            continue;
        /* the short form: the first name with fewer letters */
        sh = SL(&recs[a], S_FIRST_C) <= SL(&recs[b], S_FIRST_C) ? a : b;
        lg = sh == a ? b : a;
        /* a compound stands for its first part only (Jean-Pierre / Jean;
         * Jean-Marie / Marie are a couple's names as often) */
        if ((c.flags & MATCH_CMP_COMPOUND) &&
            !(SL(&recs[lg], S_FIRST) > SL(&recs[sh], S_FIRST_C) &&
              memcmp(SP(&recs[lg], S_FIRST), SP(&recs[sh], S_FIRST_C),
                     SL(&recs[sh], S_FIRST_C)) == 0 &&
              SP(&recs[lg], S_FIRST)[SL(&recs[sh], S_FIRST_C)] == ' '))
            continue;
        ends[0] = a;
        ends[1] = b;
        for (int e = 0; e < 2 && !rival; e++)
            for (uint32_t j = deg[ends[e]]; j < deg[ends[e] + 1] && !rival; j++) {
                uint32_t x = adj[j];
                if (x == a || x == b)
                    continue;
                match_compare(&recs[sh], &recs[x], &cs);
                if (cs.level[MATCH_F_FIRST] == MATCH_DIFFERENT)
                    continue; /* x cannot be the short form */
                match_compare(&recs[lg], &recs[x], &cg);
                rival = cg.level[MATCH_F_FIRST] == MATCH_DIFFERENT ||
                        match_cmp_contradicted(&cg, o->rules);
            }
        if (!rival)
            lf->v[lf->n++] = (uint64_t)(a < b ? a : b) << 32 | (a < b ? b : a);
    }
    if ((r = match_sort_u64(lf->v, lf->n)) < 0)
        goto out;
out:
    free(deg);
    free(adj);
    return r;
}

/* May clusters ra and rb (roots) become one?  See match_batch's rule. */
static int
may_merge(struct clusters *cl, uint32_t ra, uint32_t rb, const struct match_rec *recs,
          const uint64_t *ent, const struct match_opts *o, const struct match_model *mo,
          const struct lifted *lf)
{
    struct match_cmp c;

    if (cl->size[ra] + cl->size[rb] > o->cluster_max)
        return 0;
    for (uint32_t x = ra; x != UINT32_MAX; x = cl->next[x])
        for (uint32_t y = rb; y != UINT32_MAX; y = cl->next[y]) {
            if ((o->flags & MATCH_ONE_TO_ONE) && ent[x] == ent[y])
                return 0;
            match_compare(&recs[x], &recs[y], &c);
            if ((match_cmp_contradicted(&c, o->rules) && !is_lifted(lf, x, y)) ||
                match_score(mo, &recs[x], &recs[y], &c) < mo->review)
                return 0;
        }
    return 1;
}

static void
merge(struct clusters *cl, uint32_t ra, uint32_t rb)
{
    if (cl->size[ra] < cl->size[rb]) {
        uint32_t t = ra;

        ra = rb;
        rb = t;
    }
    /* members are listed from the root: append rb's list to ra's */
    cl->next[cl->tail[ra]] = rb;
    cl->tail[ra] = cl->tail[rb];
    cl->parent[rb] = ra;
    cl->size[ra] += cl->size[rb];
}

static int
cluster(const struct match_rec *recs, size_t n, const uint64_t *pairs, const uint64_t *codes,
        const float *score, size_t np, const uint64_t *ent, const struct match_opts *o,
        const struct match_model *mo, struct clusters *cl)
{
    struct cand *cand = NULL;
    size_t nc = 0;
    struct match_cmp c;
    struct lifted lf;
    int r;

    if ((r = lift_only_ones(recs, n, pairs, codes, score, np, o, mo, &lf)) < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        cl->parent[i] = cl->tail[i] = (uint32_t)i;
        cl->size[i] = 1;
        cl->next[i] = UINT32_MAX;
    }
    for (size_t k = 0; k < np; k++) {
        if (score[k] < mo->link)
            continue;
        cmp_of(codes[k], &c);
        if (match_cmp_contradicted(&c, o->rules) &&
            !is_lifted(&lf, (uint32_t)(pairs[k] >> 32), (uint32_t)(pairs[k] & 0xFFFFFFFF)))
            continue;
        nc++;
    }
    if ((cand = malloc((nc ? nc : 1) * sizeof(*cand))) == NULL) {
        free(lf.v);
        return nv_fail(NV_ENOMEM, "match: out of memory");
    }
    nc = 0;
    for (size_t k = 0; k < np; k++) {
        if (score[k] < mo->link)
            continue;
        cmp_of(codes[k], &c);
        if (match_cmp_contradicted(&c, o->rules) &&
            !is_lifted(&lf, (uint32_t)(pairs[k] >> 32), (uint32_t)(pairs[k] & 0xFFFFFFFF)))
            continue;
        cand[nc].score = score[k];
        cand[nc].pair = (uint32_t)k;
        nc++;
    }
    qsort(cand, nc, sizeof(*cand), cmp_cand);
    for (size_t i = 0; i < nc; i++) {
        uint32_t a = (uint32_t)(pairs[cand[i].pair] >> 32);
        uint32_t b = (uint32_t)(pairs[cand[i].pair] & 0xFFFFFFFF);
        uint32_t ra = find(cl, a), rb = find(cl, b);

        if (ra != rb && may_merge(cl, ra, rb, recs, ent, o, mo, &lf))
            merge(cl, ra, rb);
    }
    free(cand);
    free(lf.v);
    return 0;
}

/* A pair for a person to decide: scoring in [review, link), or contradicted
 * and scoring >= link (a contradicted pair below link is kept apart: every
 * household would otherwise fill the queue). */
static int
reviewable(uint64_t code, float score, const struct match_model *mo, const struct match_opts *o)
{
    struct match_cmp c;

    if (!(score >= mo->review))
        return 0;
    cmp_of(code, &c);
    return !match_cmp_contradicted(&c, o->rules) || score >= mo->link;
}

/* Listed in the result: linked or reviewable (a link needs score >= link),
 * or any pair with MATCH_ALL_PAIRS. */
static int
listed(uint64_t code, float score, const struct match_model *mo, const struct match_opts *o)
{
    return (o->flags & MATCH_ALL_PAIRS) || reviewable(code, score, mo, o) ||
           score >= mo->link;
}

/* Term frequencies over the batch (MATCH_TF): counted over every record,
 * applied to each, and turned into the model's frequency weights.  *tf is
 * the caller's to free. */
static int
batch_tf(struct match_rec *recs, size_t n, struct match_tf **tf, struct match_model *model)
{
    int r;

    if ((r = match_tf_new(tf)) < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if ((r = match_tf_add(*tf, &recs[i])) < 0)
            return r;
    for (size_t i = 0; i < n; i++)
        match_tf_apply(*tf, &recs[i]);
    match_tf_to_model(*tf, model);
    return 0;
}

/* The rules in force, into eo->rules: those the data do not refute (the
 * twins test over the candidate pairs' codes, unless the rules are fixed or
 * there is no EM). */
static void
batch_rules(const uint64_t *codes, size_t np, const struct match_opts *o,
            struct match_model *model, struct match_opts *eo)
{
    if (!(o->flags & (MATCH_NO_EM | MATCH_RULES_FIXED)) && (o->rules & MATCH_RULE_TWINS)) {
        struct match_cmp c;

        memset(&model->twins, 0, sizeof(model->twins));
        for (size_t k = 0; k < np; k++) {
            cmp_of(codes[k], &c);
            match_twins_add(&model->twins, &c);
        }
        if (match_twins_done(&model->twins))
            model->lifted |= MATCH_RULE_TWINS;
        else
            model->lifted &= ~(unsigned)MATCH_RULE_TWINS;
    }
    if (!(o->flags & MATCH_RULES_FIXED))
        eo->rules = match_model_rules(model, o->rules);
}

/* The model's weights fitted by EM over the candidate pairs' codes (unless
 * MATCH_NO_EM), u first estimated from random pairs when asked. */
static int
batch_fit(struct match_rec *recs, size_t n, const uint64_t *ent, uint64_t *codes, size_t np,
          const struct match_opts *eo, struct match_model *model)
{
    struct match_model prior;

    if ((eo->flags & MATCH_NO_EM) || np == 0)
        return 0;
    prior = *model;
    if (eo->u_samples > 0) {
        sample_u(recs, n, eo, ent, &prior);
        /* u kept as given: the random pairs' u, not a previous fit's */
        if (eo->flags & MATCH_FIX_U)
            memcpy(model->em_u, prior.em_u, sizeof(model->em_u));
    }
    return fit(codes, np, eo, model, &prior);
}

/* Each record's cluster id in cluster[]: the smallest member of its
 * cluster (members are listed from the root). */
static void
batch_cluster_ids(struct clusters *cl, size_t n, uint32_t *cluster)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t root = find(cl, (uint32_t)i), lo = root;

        if (root != i)
            continue;
        for (uint32_t x = root; x != UINT32_MAX; x = cl->next[x])
            lo = x < lo ? x : lo;
        for (uint32_t x = root; x != UINT32_MAX; x = cl->next[x])
            cluster[x] = lo;
    }
}

/* The pairs listed (listed()) into res->pairs, each with its status:
 * linked when in one cluster, else for review or apart; counts them. */
static void
batch_list_pairs(const uint64_t *pairs, const uint64_t *codes, const float *score, size_t np,
                 const struct match_model *model, const struct match_opts *eo,
                 struct match_result *res)
{
    for (size_t k = 0; k < np; k++) {
        struct match_pair *p;
        uint32_t a = (uint32_t)(pairs[k] >> 32), b = (uint32_t)(pairs[k] & 0xFFFFFFFF);

        if (!listed(codes[k], score[k], model, eo))
            continue;
        p = &res->pairs[res->npairs++];
        p->a = a;
        p->b = b;
        p->score = score[k];
        cmp_of(codes[k], &p->cmp);
        if (res->cluster[a] == res->cluster[b])
            p->status = MATCH_LINK, res->nlinks++;
        else if (reviewable(codes[k], score[k], model, eo))
            p->status = MATCH_REVIEW, res->nreviews++;
        else
            p->status = MATCH_APART;
    }
}

int
match_batch(struct match_rec *recs, size_t n, const struct match_opts *o,
            struct match_model *mo, struct match_result *out)
{
    struct vec64 pairs = { NULL, 0, 0 };
    uint64_t *ent = NULL;
    uint64_t *codes = NULL;
    float *score = NULL;
    struct match_tf *tf = NULL;
    struct clusters cl = { NULL, NULL, NULL, NULL };
    struct match_result res;
    struct match_model model = *mo;
    struct match_opts eo;
    double t0 = now(), t1;
    size_t np, nout = 0;
    int r;

    memset(&res, 0, sizeof(res));
    memset(out, 0, sizeof(*out));
    if (n >= UINT32_MAX)
        return nv_fail(NV_ETOOBIG, "match: more than 2^32-1 records");
    if (o->block_max < 2 || o->cluster_max < 1)
        return nv_fail(NV_EINVAL, "match: block_max under 2 or cluster_max under 1");
    res.nrec = n;
    if ((ent = malloc((n ? n : 1) * sizeof(*ent))) == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        ent[i] = entity_hash(&recs[i]);
    if ((o->flags & MATCH_TF) && (r = batch_tf(recs, n, &tf, &model)) < 0)
        goto out;
    if ((r = block(recs, n, o, ent, &pairs, &res.nkeys_skipped, res.kind_pairs)) < 0)
        goto out;
    np = res.ncandidates = pairs.n;
    t1 = now();
    res.seconds[0] = t1 - t0;
    t0 = t1;

    if ((codes = malloc((np ? np : 1) * sizeof(*codes))) == NULL ||
        (score = malloc((np ? np : 1) * sizeof(*score))) == NULL)
        goto nomem;
    for_pairs(recs, pairs.v, np, codes, NULL, NULL, o->threads);
    t1 = now();
    res.seconds[1] = t1 - t0;
    t0 = t1;

    eo = *o;
    batch_rules(codes, np, o, &model, &eo);
    if ((r = batch_fit(recs, n, ent, codes, np, &eo, &model)) < 0)
        goto out;
    t1 = now();
    res.seconds[2] = t1 - t0;
    t0 = t1;

    for_pairs(recs, pairs.v, np, codes, score, &model, eo.threads);
    for (size_t k = 0; k < np; k++)
        if (listed(codes[k], score[k], &model, &eo))
            nout++;
    if ((cl.parent = malloc((n ? n : 1) * sizeof(uint32_t))) == NULL ||
        (cl.size = malloc((n ? n : 1) * sizeof(uint32_t))) == NULL ||
        (cl.next = malloc((n ? n : 1) * sizeof(uint32_t))) == NULL ||
        (cl.tail = malloc((n ? n : 1) * sizeof(uint32_t))) == NULL ||
        (res.cluster = malloc((n ? n : 1) * sizeof(uint32_t))) == NULL ||
        (res.pairs = malloc((nout ? nout : 1) * sizeof(*res.pairs))) == NULL)
        goto nomem;
    if ((r = cluster(recs, n, pairs.v, codes, score, np, ent, &eo, &model, &cl)) < 0)
        goto out;
    batch_cluster_ids(&cl, n, res.cluster);
    batch_list_pairs(pairs.v, codes, score, np, &model, &eo, &res);
    res.seconds[3] = now() - t0;
    *mo = model;
    *out = res;
    memset(&res, 0, sizeof(res)); /* transferred */
    r = 0;
    goto out;
nomem:
    r = nv_fail(NV_ENOMEM, "match: out of memory");
out:
    match_result_release(&res);
    match_tf_free(tf);
    free(cl.parent);
    free(cl.size);
    free(cl.next);
    free(cl.tail);
    free(pairs.v);
    free(ent);
    free(codes);
    free(score);
    return r;
}

void
match_result_release(struct match_result *res)
{
    if (res == NULL)
        return;
    free(res->cluster);
    free(res->pairs);
    memset(res, 0, sizeof(*res));
}
