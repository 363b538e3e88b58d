/*
 * gen_changes - write synthetic but realistic French CRM change records as
 * NDJSON on stdout, for nova's benchmark (tests/bench/run.sh).
 *
 *   gen_changes SIZE [SEED]      records until SIZE bytes (never more)
 *   gen_changes -n COUNT [SEED]  exactly COUNT records
 *
 * SIZE is a byte count with an optional decimal suffix: k (1000), M (10^6),
 * G (10^9); e.g. 100M = 100000000 bytes.  SEED (default 1) makes the output
 * reproducible: the same arguments give the same bytes on every machine.
 *
 * Each line is one record, valid JSON and valid UTF-8:
 *   {"op":"upsert","key":"C-0000123","fields":{"civilite":"Mme",...}}
 *   {"op":"delete","key":"C-0004567"}            (about 3% of the lines)
 *
 * Plain C11 and libc only, so the bench builds it with a bare `cc -O2`.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deterministic PRNG (splitmix64 seeding xoshiro256**) ---- */

static uint64_t rs[4];

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
rnd(void)
{
    uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;
    rs[2] ^= rs[0];
    rs[3] ^= rs[1];
    rs[1] ^= rs[2];
    rs[0] ^= rs[3];
    rs[2] ^= t;
    rs[3] = rotl(rs[3], 45);
    return r;
}

/* uniform in [0, n) (n small: the modulo bias is negligible here) */
static unsigned
pick(unsigned n)
{
    return (unsigned)((rnd() >> 11) % n);
}

/* true with probability pct/100 */
static int
chance(unsigned pct)
{
    return pick(100) < pct;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- vocabulary ---- */

static const char *const prenoms_f[] = {
    "Marie", "Marie-Hélène", "Anne-Sophie", "Hélène", "Agnès", "Cécile",
    "Chloé", "Zoé", "Léa", "Inès", "Anaïs", "Gaëlle", "Maëlle", "Noémie",
    "Élodie", "Émilie", "Céline", "Sandrine", "Nathalie", "Isabelle",
    "Sophie", "Camille", "Manon", "Océane", "Léonie", "Françoise",
    "Geneviève", "Thérèse", "Bérénice", "Mélanie", "Valérie", "Sylvie",
    "Claire", "Juliette", "Louise", "Anne-Laure", "Marie-Thérèse", "Aurélie",
    "Laëtitia", "Joséphine", "Maïwenn", "Nadège", "Solène", "Héloïse",
    "Fatima", "Yasmine", "Aïcha", "Christelle",
};

static const char *const prenoms_m[] = {
    "Jean", "Jean-Pierre", "Jean-François", "Pierre-Yves", "François",
    "Jérôme", "Loïc", "Benoît", "Noël", "Maël", "Gaël", "Raphaël", "Joël",
    "Hervé", "Stéphane", "Frédéric", "Sébastien", "Cédric", "Grégoire",
    "Thierry", "Nicolas", "Julien", "Mathieu", "Olivier", "Philippe",
    "Michel", "André", "René", "Régis", "Rémi", "Timothée", "Théo", "Hugo",
    "Lucas", "Étienne", "Léon", "Clément", "Aurélien", "Jean-Baptiste",
    "Marc-Antoine", "Paul-Émile", "Yannick", "Mohamed", "Karim", "Mehdi",
    "Killian", "Enzo", "Côme",
};

static const char *const noms[] = {
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit",
    "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Lefebvre",
    "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
    "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet",
    "François", "Martinez", "Légaré", "Béranger", "Gauthier", "Chevalier",
    "Rivière", "Boucher", "Hébert", "Pérez-Loisel", "Perrin", "Rolland",
    "Lemaître", "Benoît", "Noël", "Aubert", "Brunet", "Clément", "Barbier",
    "Le Gall", "Le Goff", "Le Bihan", "Kerouédan", "de La Fontaine",
    "d'Alembert", "N'Diaye", "Diallo", "Nguyen", "Ben Saïd", "Da Silva",
    "Dos Santos", "Müller", "Schœlcher", "Hoarau", "Payet", "Grondin",
    "Lévêque", "Caron", "Faure", "Mallet-Joris", "Sainte-Beuve",
    "Saint-Exupéry", "Dujardin", "Joly", "Gérard", "Boyer", "Blanchard",
};

static const char *const voies[] = {
    "rue", "rue", "rue", "avenue", "boulevard", "place", "impasse", "allée",
    "chemin", "quai", "route", "square", "cours", "passage",
};

static const char *const libelles[] = {
    "de la Paix", "Victor Hugo", "Jean Jaurès", "du Général de Gaulle",
    "de la République", "des Lilas", "Pasteur", "de l'Église",
    "du Maréchal Foch", "Gambetta", "de la Gare", "des Écoles",
    "Émile Zola", "Saint-Honoré", "du Faubourg Saint-Antoine",
    "de Verdun", "des Tilleuls", "du Château", "Anatole France",
    "de la Liberté", "des Peupliers", "Marcel Pagnol", "Léon Blum",
    "de Bretagne", "Hélène Boucher", "Simone Veil", "Molière",
    "des Trois Frères", "du Moulin", "Sainte-Catherine", "de l'Abbé Grégoire",
    "des Marronniers",
};

static const char *const complements[] = {
    "Bât. B", "Appt 12", "Résidence \"Les Pins\"", "Escalier C, 3e étage",
    "BP 42", "Chez M. Roux", "Lieu-dit Kerléo", "ZA du Moulin\\Est",
};

struct ville {
    const char *nom;
    const char *cp;   /* postal code; a 'x' suffix varies the last digits */
};

static const struct ville villes[] = {
    { "Paris", "750" }, { "Marseille", "130" }, { "Lyon", "690" },
    { "Toulouse", "31000" }, { "Nice", "06000" }, { "Nantes", "44000" },
    { "Strasbourg", "67000" }, { "Montpellier", "34000" },
    { "Bordeaux", "33000" }, { "Lille", "59000" }, { "Rennes", "35000" },
    { "Reims", "51100" }, { "Saint-Étienne", "42000" },
    { "Le Havre", "76600" }, { "Toulon", "83000" }, { "Grenoble", "38000" },
    { "Dijon", "21000" }, { "Angers", "49000" }, { "Nîmes", "30000" },
    { "Villeurbanne", "69100" }, { "Clermont-Ferrand", "63000" },
    { "Le Mans", "72000" }, { "Aix-en-Provence", "13090" },
    { "Brest", "29200" }, { "Tours", "37000" }, { "Amiens", "80000" },
    { "Limoges", "87000" }, { "Annecy", "74000" }, { "Perpignan", "66000" },
    { "Besançon", "25000" }, { "Orléans", "45000" }, { "Metz", "57000" },
    { "Rouen", "76000" }, { "Mulhouse", "68100" }, { "Caen", "14000" },
    { "Nancy", "54000" }, { "Saint-Denis", "93200" },
    { "Argenteuil", "95100" }, { "Montreuil", "93100" },
    { "Roubaix", "59100" }, { "Avignon", "84000" }, { "Créteil", "94000" },
    { "Poitiers", "86000" }, { "Pau", "64000" }, { "La Rochelle", "17000" },
    { "Colmar", "68000" }, { "Châteauroux", "36000" },
    { "Évry-Courcouronnes", "91000" }, { "Cergy", "95000" },
    { "Bastia", "20200" }, { "Fort-de-France", "97200" },
    { "Saint-Pierre", "97410" }, { "Quimper", "29000" },
    { "Vénissieux", "69200" }, { "Pointe-à-Pitre", "97110" },
};

static const char *const domaines[] = {
    "example.fr", "example.com", "example.org", "exemple.fr",
    "mail.example.fr", "courriel.example", "example.net", "boite.example.fr",
};

/* ---- output buffer ---- */

static char line[4096];
static size_t len;

static void
put(const char *s)
{
    size_t n = strlen(s);
    memcpy(line + len, s, n);
    len += n;
}

static void
putc_(char c)
{
    line[len++] = c;
}

/* Append s as a JSON string body (quotes, backslashes, controls escaped;
 * UTF-8 passes through unchanged). */
static void
put_json(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            putc_('\\');
            putc_((char)*p);
        } else if (*p < 0x20) {
            len += (size_t)snprintf(line + len, 8, "\\u%04x", *p);
        } else {
            putc_((char)*p);
        }
    }
}

static void
field(const char *name, const char *value, int *first)
{
    if (!*first)
        putc_(',');
    *first = 0;
    putc_('"');
    put(name);
    put("\":\"");
    put_json(value);
    putc_('"');
}

/* Lowercase ASCII form of a name for an e-mail local part: accents folded,
 * spaces and apostrophes dropped, hyphens kept. */
static void
ascii_fold(const char *s, char *out, size_t cap)
{
    static const struct { const char *u; const char *a; } map[] = {
        { "à", "a" }, { "â", "a" }, { "ä", "a" }, { "ç", "c" }, { "é", "e" },
        { "è", "e" }, { "ê", "e" }, { "ë", "e" }, { "î", "i" }, { "ï", "i" },
        { "ô", "o" }, { "ö", "o" }, { "ù", "u" }, { "û", "u" }, { "ü", "u" },
        { "ÿ", "y" }, { "œ", "oe" }, { "É", "e" }, { "È", "e" }, { "Ê", "e" },
        { "Ç", "c" }, { "Â", "a" }, { "Î", "i" }, { "Ô", "o" }, { "Œ", "oe" },
    };
    size_t o = 0;

    while (*s && o + 3 < cap) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x80) {
            if (c >= 'A' && c <= 'Z')
                out[o++] = (char)(c - 'A' + 'a');
            else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
                out[o++] = (char)c;
            s++;
            continue;
        }
        {
            size_t i, k = 0;
            for (i = 0; i < N(map); i++) {
                k = strlen(map[i].u);
                if (strncmp(s, map[i].u, k) == 0)
                    break;
            }
            if (i < N(map)) {
                for (const char *a = map[i].a; *a && o + 3 < cap; a++)
                    out[o++] = *a;
                s += k;
            } else { /* unknown: skip the whole UTF-8 sequence */
                s++;
                while (((unsigned char)*s & 0xC0) == 0x80)
                    s++;
            }
        }
    }
    out[o] = '\0';
}

static int
days_in(int y, int m)
{
    static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

/* ---- one record ---- */

static uint64_t now_s; /* seconds since 2026-11-20T00:00:00Z */

static void
record(void)
{
    char key[16], buf[192], pf[64], nf[64];
    unsigned id = 1 + pick(2000000);
    int first = 1;

    len = 0;
    snprintf(key, sizeof(key), "C-%07u", id);
    now_s += pick(4);
    if (chance(3)) {
        put("{\"op\":\"delete\",\"key\":\"");
        put(key);
        put("\"}\n");
        return;
    }
    int femme = chance(52);
    const char *prenom = femme ? prenoms_f[pick(N(prenoms_f))]
                               : prenoms_m[pick(N(prenoms_m))];
    const char *nom = noms[pick(N(noms))];
    char nom2[96];
    if (chance(4)) /* double surname */
        snprintf(nom2, sizeof(nom2), "%s-%s", nom, noms[pick(N(noms))]);
    else
        snprintf(nom2, sizeof(nom2), "%s", nom);

    put("{\"op\":\"upsert\",\"key\":\"");
    put(key);
    put("\",\"fields\":{");
    field("civilite", femme ? "Mme" : "M.", &first);
    field("prenom", prenom, &first);
    field("nom", nom2, &first);

    ascii_fold(prenom, pf, sizeof(pf));
    ascii_fold(nom2, nf, sizeof(nf));
    switch (pick(5)) {
    case 0: snprintf(buf, sizeof(buf), "%s.%s", pf, nf); break;
    case 1: snprintf(buf, sizeof(buf), "%c.%s", pf[0], nf); break;
    case 2: snprintf(buf, sizeof(buf), "%s.%s%u", pf, nf, pick(100)); break;
    case 3: snprintf(buf, sizeof(buf), "%s_%s", nf, pf); break;
    default: snprintf(buf, sizeof(buf), "%s%u", pf, 1940 + pick(67)); break;
    }
    {
        char email[200];
        snprintf(email, sizeof(email), "%s@%s", buf, domaines[pick(N(domaines))]);
        field("email", email, &first);
    }
    if (!chance(8)) {
        static const char *const pre[] = { "06", "07", "06", "01", "02",
                                           "03", "04", "05", "09" };
        const char *p = pre[pick(N(pre))];
        unsigned a = pick(100), b = pick(100), c = pick(100), d = pick(100);
        if (chance(15))
            snprintf(buf, sizeof(buf), "+33 %c %02u %02u %02u %02u", p[1], a, b, c, d);
        else
            snprintf(buf, sizeof(buf), "%s %02u %02u %02u %02u", p, a, b, c, d);
        field("telephone", buf, &first);
    }
    {
        static const char *const rep[] = { "", "", "", "", "", "", "", "", " bis", " ter" };
        snprintf(buf, sizeof(buf), "%u%s %s %s", 1 + pick(180), rep[pick(N(rep))],
                 voies[pick(N(voies))], libelles[pick(N(libelles))]);
        field("adresse", buf, &first);
    }
    if (chance(6))
        field("complement", complements[pick(N(complements))], &first);
    {
        const struct ville *v = &villes[pick(N(villes))];
        if (strlen(v->cp) == 3) /* arrondissements */
            snprintf(buf, sizeof(buf), "%s%02u", v->cp,
                     1 + pick(v->cp[0] == '7' ? 20 : v->cp[0] == '1' ? 16 : 9));
        else
            snprintf(buf, sizeof(buf), "%s", v->cp);
        field("code_postal", buf, &first);
        field("ville", v->nom, &first);
    }
    if (!chance(10)) {
        int y = 1940 + (int)pick(67), m = 1 + (int)pick(12);
        int d = 1 + (int)pick((unsigned)days_in(y, m));
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d", y, m, d);
        field("date_naissance", buf, &first);
    }
    field("optin", chance(60) ? "1" : "0", &first);
    {
        /* 2026-11-20 + now_s (about 17 days per 100 MB) */
        uint64_t t = now_s;
        unsigned day = (unsigned)(t / 86400), sec = (unsigned)(t % 86400);
        int y = 2026, m = 11, d = 20 + (int)day;
        while (d > days_in(y, m)) {
            d -= days_in(y, m);
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02u:%02u:%02uZ", y, m, d,
                 sec / 3600, sec / 60 % 60, sec % 60);
        field("maj", buf, &first);
    }
    put("}}\n");
}

static int
parse_size(const char *s, unsigned long long *out)
{
    char *end;
    unsigned long long v, mul = 1;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    if (*end == 'k' || *end == 'K')
        mul = 1000ULL, end++;
    else if (*end == 'M')
        mul = 1000000ULL, end++;
    else if (*end == 'G')
        mul = 1000000000ULL, end++;
    if (*end != '\0' || (v && mul > ~0ULL / v))
        return -1;
    *out = v * mul;
    return 0;
}

static int
usage(void)
{
    fprintf(stderr, "usage: gen_changes SIZE [SEED]      (SIZE: bytes, or with k/M/G = 10^3/10^6/10^9)\n"
                    "       gen_changes -n COUNT [SEED]  (COUNT records)\n");
    return 2;
}

int
main(int argc, char **argv)
{
    unsigned long long limit, seed = 1, written = 0, nrec = 0;
    int by_count = 0, a = 1;
    static char obuf[1 << 16];

    if (argc > 1 && strcmp(argv[1], "-n") == 0) {
        by_count = 1;
        a = 2;
    }
    if (argc < a + 1 || argc > a + 2 || parse_size(argv[a], &limit) < 0 ||
        (argc == a + 2 && parse_size(argv[a + 1], &seed) < 0))
        return usage();
    {
        uint64_t x = seed;
        for (int i = 0; i < 4; i++)
            rs[i] = splitmix64(&x);
    }
    setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
    for (;;) {
        if (by_count && nrec >= limit)
            break;
        record();
        if (!by_count && written + len > limit)
            break;
        if (fwrite(line, 1, len, stdout) != len)
            break;
        written += len;
        nrec++;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("gen_changes: write");
        return 1;
    }
    return 0;
}
