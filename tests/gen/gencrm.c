/*
 * gencrm - realistic French CRM exports of a group and of a company it
 * acquires, with the truth of who is who, to measure matching quality.
 *
 *   gencrm --seed S --base N --acquired M --overlap F --out DIR
 *          [--profile classic|light|realistic|heavy|cross-company]
 *          [--dup R] [--noise X] [--moves R] [--namesakes R] [--households R]
 *
 * Writes DIR/base.csv (the group, "groupe": UTF-8, ',', LF, ISO dates),
 * DIR/acquired.csv (the acquired entity, "acquis": Windows-1252, ';', CRLF,
 * DD/MM/YYYY dates) and DIR/truth.csv ("entity,source_key,person" for every
 * record of both files), and prints a summary on stderr.  tests/gen/README.md
 * describes the data and the knobs.
 *
 * Model.  A universe of P persons, numbered 0..P-1, is cut into households
 * of 1 to 4 consecutive persons.  Everything about a person is a function of
 * (seed, person number), computed on demand, so nothing is stored and a
 * record can be written for any person in any order:
 *   - a keyed permutation of 0..P-1 gives each person a rank q; ranks below
 *     Pb are the base's persons, ranks from Pb-O up are the acquired's, so
 *     exactly O persons are in both and membership is random within
 *     households (family members split across the entities);
 *   - each file's rows are walked in key order; a second permutation maps a
 *     row to a person's first record or to one of the file's duplicates,
 *     so duplicates sit anywhere in the file, as in a real CRM;
 *   - every record draws its own variations (names, phones, e-mails,
 *     addresses, dates, missing values) from a stream keyed by its row;
 *   - profiles other than classic then run a second noise model on the
 *     rendered record (cut or abbreviated given names, another mailbox,
 *     phone or address of the person), from streams of its own, so that
 *     classic, the default, writes the same bytes it did before profiles.
 * Memory: two bytes per person (record counts for the summary).
 *
 * Plain C11 and libc (+ libm), so it builds with a bare `cc -O2`.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define FLD 192 /* bytes of one generated field, NUL included */

/* ------------------------------------------------------------------ */
/* deterministic randomness                                           */
/* ------------------------------------------------------------------ */

static uint64_t g_seed;

static uint64_t
mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64 stream, one per (tag, index): the same record always gets the
 * same draws, whatever else was generated before it */
struct rng {
    uint64_t s;
};

enum stream_tag {
    T_LINK = 1, T_HH, T_PERSON, T_DETAIL, T_BREC, T_AREC, T_PERM, T_FILEB,
    T_FILEA, T_DUPB, T_DUPA, T_KEYB, T_KEYA,
    /* the second noise model (profiles other than classic) draws only from
     * these, so the classic files stay byte for byte what they were */
    T_NOISEB, T_NOISEA, T_ALT, T_NSPC
};

static void
rng_init(struct rng *r, uint64_t tag, uint64_t idx)
{
    r->s = mix64(g_seed ^ mix64(tag * 0x9e3779b97f4a7c15ULL + mix64(idx + 1)));
}

static uint64_t
rng_next(struct rng *r)
{
    return mix64(r->s += 0x9e3779b97f4a7c15ULL);
}

/* uniform in [0, n) (multiply-shift: no modulo bias worth the name) */
static unsigned
below(struct rng *r, unsigned n)
{
    return (unsigned)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static uint64_t
below64(struct rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

static double
unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static int
chance(struct rng *r, double p)
{
    return unit(r) < p;
}

/* Keyed permutation of [0, n): a 4-round Feistel network on the smallest
 * even number of bits that covers n, with cycle walking back into range. */
struct perm {
    uint64_t n, key, mask;
    int half;
};

static void
perm_init(struct perm *p, uint64_t n, uint64_t key)
{
    int bits = 2;

    while (bits < 64 && ((uint64_t)1 << bits) < n)
        bits++;
    if (bits & 1)
        bits++;
    p->n = n;
    p->key = mix64(g_seed ^ mix64(key));
    p->half = bits / 2;
    p->mask = ((uint64_t)1 << p->half) - 1;
}

static uint64_t
perm_round(const struct perm *p, int r, uint64_t x)
{
    return mix64(x ^ p->key ^ ((uint64_t)(r + 1) << 56)) & p->mask;
}

static uint64_t
perm_fwd(const struct perm *p, uint64_t x)
{
    if (p->n <= 1)
        return x;
    do {
        uint64_t l = x >> p->half, rr = x & p->mask, t;
        for (int i = 0; i < 4; i++) {
            t = l ^ perm_round(p, i, rr);
            l = rr;
            rr = t;
        }
        x = (l << p->half) | rr;
    } while (x >= p->n);
    return x;
}

static uint64_t
perm_inv(const struct perm *p, uint64_t y)
{
    if (p->n <= 1)
        return y;
    do {
        uint64_t l = y >> p->half, rr = y & p->mask, t;
        for (int i = 3; i >= 0; i--) {
            t = rr ^ perm_round(p, i, l);
            rr = l;
            l = t;
        }
        y = (l << p->half) | rr;
    } while (y >= p->n);
    return y;
}

/* ------------------------------------------------------------------ */
/* vocabulary                                                         */
/* ------------------------------------------------------------------ */

/* French surnames in rough order of frequency (INSEE births 1891-1990);
 * weights follow the rank (see tables_init).  Then regional, overseas and
 * immigrant names and names with particles, which are rarer. */
static const char *const last_common[] = {
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand",
    "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Lefebvre", "Leroy",
    "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard", "Bonnet",
    "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Müller",
    "Lefèvre", "Faure", "André", "Mercier", "Blanc", "Guérin", "Boyer",
    "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Garcia",
    "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel",
    "Mathieu", "Gautier", "Masson", "Marchand", "Duval", "Denis", "Dumont",
    "Marie", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier", "Brun",
    "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet", "Gaillard",
    "Barbier", "Arnaud", "Martinez", "Gérard", "Roche", "Renard", "Schmitt",
    "Roy", "Leroux", "Colin", "Vidal", "Caron", "Picard", "Roger", "Fabre",
    "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix", "Olivier", "Philippe",
    "Bourgeois", "Pierre", "Benoît", "Rey", "Leclerc", "Payet", "Rolland",
    "Leclercq", "Guillaume", "Lecomte", "Lopez", "Jean", "Dupuy", "Guillot",
    "Hubert", "Berger", "Carpentier", "Sanchez", "Dupuis", "Moulin", "Louis",
    "Deschamps", "Huet", "Vasseur", "Perez", "Boucher", "Fleury", "Royer",
    "Klein", "Jacquet", "Adam", "Paris", "Poirier", "Marty", "Aubry",
    "Guyot", "Carré", "Charles", "Renault", "Charpentier", "Ménard",
    "Maillard", "Baron", "Bertin", "Bailly", "Hervé", "Schneider",
    "Fernandez", "Le Gall", "Collet", "Léger", "Bouvier", "Julien", "Prévost",
    "Millet", "Perrot", "Daniel", "Le Roux", "Cousin", "Germain", "Breton",
    "Besson", "Langlois", "Rémy", "Le Goff", "Pelletier", "Lévêque",
    "Perrier", "Leblanc", "Barré", "Lebrun", "Marchal", "Weber", "Mallet",
    "Hamon", "Boulanger", "Jacob", "Monnier", "Michaud", "Rodriguez",
    "Guichard", "Gillet", "Étienne", "Grondin", "Poulain", "Tessier",
    "Chevallier", "Collin", "Chauvin", "Da Silva", "Bouchet", "Gay",
    "Lemaître", "Bénard", "Maréchal", "Humbert", "Reynaud", "Antoine",
    "Hoarau", "Perret", "Barthélemy", "Cordier", "Pichon", "Lejeune",
    "Gilbert", "Lamy", "Delaunay", "Pasquier", "Carlier", "Laporte", "Gomez",
    "Lebon", "Dos Santos", "Bigot", "Rousset", "Lefort", "Texier", "Brunel",
    "Jourdan", "Hébert", "Ferreira", "Rocher", "Gros", "Hardy", "Lacombe",
    "Bouvet", "Vallée", "Tanguy", "Guillou", "Wagner", "Becker", "Hoffmann",
    "Zimmermann", "Fischer", "Keller", "Sabatier", "Bousquet", "Mas",
    "Roques", "Castel", "Bonnefoy", "Pereira", "Rodrigues", "Fernandes",
    "Lopes", "Martins", "Costa", "Rossi", "Nguyen", "Lebreton", "Vaillant",
    "Barre", "Riou", "Godard", "Maillot", "Gallet", "Hamel", "Besnard",
    "Courtois", "Delmas", "Poulet", "Labbé", "Ollivier", "Navarro", "Devaux",
    "Laine", "Delattre", "Tournier", "Bazin", "Jacques", "Turpin", "Moreno",
    "Lagarde", "Fabry", "Ferrand", "Thibault", "Bourdon", "Leconte",
};

static const char *const last_rare[] = {
    "Le Bihan", "Le Floch", "Le Guen", "Le Bras", "Le Corre", "Kerouédan",
    "Quéméner", "Jaouen", "Cariou", "Morvan", "Le Hénaff", "Kerbrat",
    "Etcheverry", "Etchegaray", "Iriarte", "Santoni", "Luciani", "Casanova",
    "Leca", "Pietri", "Mattei", "Paoli", "Técher", "Lauret", "Nativel",
    "Ethève", "Tran", "Pham", "Diallo", "Traoré", "Diop", "N'Diaye", "Sow",
    "Camara", "Haddad", "Benali", "Belkacem", "Mansouri", "Ben Ahmed",
    "Ben Saïd", "Bouaziz", "Amrani", "El Idrissi", "Gonçalves", "Oliveira",
    "Almeida", "Russo", "Ferrari", "Romano", "Esposito", "Kowalski", "Nowak",
    "de la Fontaine", "d'Artagnan", "de Villiers", "de Saint-Exupéry",
    "du Pont", "d'Harcourt", "de Montaigne", "Le Goffic", "de Lattre",
    "du Bellay", "de Bonneval", "La Rochefoucauld", "d'Estaing", "des Rosiers",
    "Lœuillet", "Fénelon", "Béranger", "Crépin", "Chênevert", "Thériault",
    "Lefèvre-Pontalis", "Mallet-Joris", "Sainte-Beuve", "Saint-Just",
    "Grandjean", "Petitjean", "Bonhomme", "Beaulieu", "Beaumont", "Lavigne",
    "Desmoulins", "Deschênes", "Després", "Dupré", "Duchêne", "Dufresne",
};

/* Parts of rarer, made-up but French-looking surnames: most people in a
 * large file carry a name that few others carry. */
static const char *const syl_a[] = {
    "Beau", "Bel", "Bon", "Bou", "Bour", "Bri", "Cha", "Cham", "Chau",
    "Châ", "Cour", "Cro", "Del", "Des", "Du", "Fon", "Gal", "Gar", "Gau",
    "Gro", "Hau", "Jou", "Ker", "La", "Lan", "Lar", "Le", "Lou", "Mal",
    "Mar", "Mau", "Mon", "Mor", "Pel", "Per", "Pla", "Pré", "Qué", "Ri",
    "Ro", "Sau", "Ser", "Ta", "Ter", "Tho", "Val", "Ver", "Vil", "Cou",
    "Dau", "Four", "Gui", "Lé", "Ma", "Pon", "Ray", "Sé", "Tré", "Vau",
    "Bra", "Cla", "Fré", "Gré", "Mé", "No", "Pa",
};
static const char *const syl_b[] = {
    "", "", "", "", "", "", "", "", "", "", "ber", "che", "dan", "gue",
    "lan", "mar", "nou", "quer", "ri", "ssa", "tel", "vi", "la",
};
static const char *const syl_c[] = {
    "champ", "court", "mont", "ville", "bert", "lin", "rand", "ard", "aud",
    "eau", "ier", "in", "ot", "elle", "ette", "et", "ois", "oux", "ac",
    "at", "ec", "enne", "ière", "oche", "ault", "ay", "and", "ard", "as",
    "ère", "eux", "ic", "ignac", "illon", "iot", "on", "ou", "oy", "uc",
    "y", "ès", "ant", "ange", "aux", "elin", "enard", "esse", "iaux",
    "ichon", "oire", "ol", "onnet", "ossier", "ouin", "ourdin", "uel",
};

/* given names by sex, in rough order of frequency over the generations of
 * today's adults */
static const char *const first_m[] = {
    "Jean", "Pierre", "Michel", "André", "Philippe", "Nicolas", "Alain",
    "Jacques", "Bernard", "Christophe", "Daniel", "Patrick", "Frédéric",
    "Laurent", "Stéphane", "Éric", "Christian", "David", "Julien", "Thomas",
    "Olivier", "Sébastien", "Pascal", "Thierry", "François", "Alexandre",
    "Jean-Pierre", "Claude", "Dominique", "Gérard", "Guillaume", "Didier",
    "Maxime", "Antoine", "Serge", "Romain", "Marc", "Vincent", "Jean-Claude",
    "Patrice", "Mathieu", "Jérôme", "Emmanuel", "Jean-Luc", "Franck",
    "Fabrice", "Bruno", "Anthony", "Kévin", "Jean-François", "Yves", "Gilles",
    "Cédric", "Hugo", "Lucas", "Louis", "Benjamin", "Jean-Marie", "Sylvain",
    "Jonathan", "Florian", "Quentin", "Jean-Paul", "Jean-Michel", "Jérémy",
    "Clément", "Théo", "Benoît", "Hervé", "Joël", "Jean-Louis", "Arnaud",
    "Ludovic", "Damien", "Fabien", "Raymond", "René", "Georges", "Henri",
    "Paul", "Gabriel", "Arthur", "Raphaël", "Loïc", "Yannick", "Aurélien",
    "Grégory", "Mickaël", "Adrien", "Valentin", "Baptiste", "Alexis", "Rémi",
    "Xavier", "Régis", "Noël", "Roger", "Marcel", "Robert", "Joseph",
    "Maurice", "Guy", "Jean-Jacques", "Jean-Baptiste", "Pierre-Yves",
    "Mohamed", "Karim", "Enzo", "Nathan", "Léo", "Matthieu", "Jordan",
    "Killian", "Tristan", "Bastien", "Samuel", "Victor", "Gaël", "Côme",
    "Timothée", "Étienne", "Grégoire", "Léon", "Lucien", "Émile", "Charles",
    "Maximilien", "Titouan", "Erwan", "Yann", "Ronan", "Hamza", "Mehdi",
};
static const char *const first_f[] = {
    "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Martine",
    "Christine", "Françoise", "Valérie", "Sandrine", "Stéphanie",
    "Véronique", "Sophie", "Céline", "Chantal", "Patricia", "Anne",
    "Brigitte", "Julie", "Monique", "Aurélie", "Nicole", "Laurence", "Annie",
    "Émilie", "Dominique", "Virginie", "Corinne", "Élodie", "Christelle",
    "Camille", "Caroline", "Léa", "Sarah", "Florence", "Laëtitia", "Audrey",
    "Hélène", "Laura", "Manon", "Michèle", "Cécile", "Christiane", "Béatrice",
    "Claire", "Nadine", "Delphine", "Pauline", "Karine", "Mélanie", "Marion",
    "Chloé", "Jacqueline", "Élisabeth", "Évelyne", "Marine", "Claudine",
    "Anne-Marie", "Marie-Christine", "Marie-Thérèse", "Marie-Claude",
    "Anne-Sophie", "Jeanne", "Danielle", "Emma", "Agnès", "Mathilde",
    "Jocelyne", "Josiane", "Ginette", "Denise", "Suzanne", "Simone", "Yvette",
    "Odile", "Gaëlle", "Noémie", "Inès", "Zoé", "Océane", "Justine",
    "Charlotte", "Lucie", "Alice", "Juliette", "Louise", "Clara", "Anaïs",
    "Maëlle", "Solène", "Margaux", "Morgane", "Amandine", "Jessica",
    "Vanessa", "Fatima", "Nadia", "Bernadette", "Geneviève", "Thérèse",
    "Colette", "Paulette", "Danièle", "Muriel", "Pascale", "Fabienne",
    "Magali", "Séverine", "Héloïse", "Joséphine", "Maïwenn", "Nadège",
    "Bérénice", "Capucine", "Clémence", "Éléonore", "Yasmine", "Aïcha",
    "Mireille", "Huguette", "Jeannine", "Marie-Hélène", "Marie-José",
    "Anne-Laure", "Rose", "Lina", "Jade", "Lola", "Ambre", "Emmanuelle",
};

/* what people write instead of their given name */
static const struct {
    const char *name, *nick;
} nicknames[] = {
    { "Emmanuel", "Manu" }, { "Emmanuelle", "Manue" },
    { "Frédéric", "Fred" }, { "Nicolas", "Nico" }, { "Alexandre", "Alex" },
    { "Alexis", "Alex" }, { "Sébastien", "Seb" }, { "Catherine", "Cathy" },
    { "Isabelle", "Isa" }, { "Christophe", "Chris" }, { "Christine", "Chris" },
    { "Stéphane", "Steph" }, { "Stéphanie", "Steph" }, { "Benjamin", "Ben" },
    { "Benoît", "Ben" }, { "Jonathan", "Jo" }, { "Dominique", "Dom" },
    { "Véronique", "Véro" }, { "Caroline", "Caro" }, { "Valentin", "Val" },
    { "Valérie", "Val" }, { "Thomas", "Tom" }, { "Anthony", "Tony" },
    { "Patricia", "Pat" }, { "Patrick", "Pat" }, { "Florence", "Flo" },
    { "Florian", "Flo" }, { "Raphaël", "Raph" }, { "Timothée", "Tim" },
    { "Élisabeth", "Babeth" }, { "Jacqueline", "Jackie" },
    { "Jacques", "Jacky" }, { "Pierre", "Pierrot" }, { "Maximilien", "Max" },
    { "Maxime", "Max" }, { "Mathieu", "Math" }, { "Gabriel", "Gaby" },
    { "Margaux", "Margot" }, { "Nathalie", "Nath" }, { "Samuel", "Sam" },
    { "Joséphine", "Josy" }, { "Josiane", "Josy" }, { "Jean-Baptiste", "JB" },
    { "Aurélien", "Aurel" }, { "Guillaume", "Guigui" },
};

struct commune {
    const char *name;
    const char *pc;  /* "75001-75020" a range, or codes separated by spaces */
    unsigned pop;    /* thousands: the weight */
    char zone;       /* '1'..'5' metropolitan landline zone; R M G P overseas */
};

static const struct commune communes[] = {
    { "Paris", "75001-75020", 2100, '1' },
    { "Marseille", "13001-13016", 870, '4' },
    { "Lyon", "69001-69009", 520, '4' },
    { "Toulouse", "31000 31100 31200 31300 31400 31500", 500, '5' },
    { "Nice", "06000 06100 06200 06300", 340, '4' },
    { "Nantes", "44000 44100 44200 44300", 320, '2' },
    { "Montpellier", "34000 34070 34080 34090", 300, '4' },
    { "Strasbourg", "67000 67100 67200", 290, '3' },
    { "Bordeaux", "33000 33100 33200 33300 33800", 260, '5' },
    { "Lille", "59000 59160 59260 59800", 235, '3' },
    { "Rennes", "35000 35200 35700", 222, '2' },
    { "Reims", "51100", 180, '3' },
    { "Toulon", "83000 83100 83200", 180, '4' },
    { "Saint-Étienne", "42000 42100", 174, '4' },
    { "Le Havre", "76600 76610 76620", 166, '2' },
    { "Grenoble", "38000 38100", 158, '4' },
    { "Dijon", "21000", 158, '3' },
    { "Angers", "49000 49100", 157, '2' },
    { "Villeurbanne", "69100", 155, '4' },
    { "Saint-Denis", "97400 97490", 150, 'R' },
    { "Nîmes", "30000 30900", 148, '4' },
    { "Clermont-Ferrand", "63000 63100", 147, '4' },
    { "Aix-en-Provence", "13090 13100", 145, '4' },
    { "Le Mans", "72000 72100", 145, '2' },
    { "Brest", "29200", 140, '2' },
    { "Tours", "37000 37100 37200", 136, '2' },
    { "Amiens", "80000 80080 80090", 133, '3' },
    { "Limoges", "87000 87100 87280", 131, '5' },
    { "Annecy", "74000 74370 74600 74940 74960", 130, '4' },
    { "Boulogne-Billancourt", "92100", 121, '1' },
    { "Perpignan", "66000 66100", 120, '4' },
    { "Metz", "57000 57050 57070", 120, '3' },
    { "Besançon", "25000", 119, '3' },
    { "Orléans", "45000 45100", 116, '2' },
    { "Rouen", "76000 76100", 114, '2' },
    { "Saint-Denis", "93200", 113, '1' },
    { "Argenteuil", "95100", 111, '1' },
    { "Montreuil", "93100", 111, '1' },
    { "Mulhouse", "68100 68200", 108, '3' },
    { "Caen", "14000", 106, '2' },
    { "Saint-Paul", "97460", 105, 'R' },
    { "Nancy", "54000 54100", 104, '3' },
    { "Roubaix", "59100", 98, '3' },
    { "Tourcoing", "59200", 98, '3' },
    { "Nanterre", "92000", 96, '1' },
    { "Vitry-sur-Seine", "94400", 95, '1' },
    { "Créteil", "94000", 92, '1' },
    { "Avignon", "84000", 91, '4' },
    { "Poitiers", "86000", 89, '5' },
    { "Aubervilliers", "93300", 88, '1' },
    { "Asnières-sur-Seine", "92600", 87, '1' },
    { "Colombes", "92700", 86, '1' },
    { "Aulnay-sous-Bois", "93600", 86, '1' },
    { "Versailles", "78000", 85, '1' },
    { "Courbevoie", "92400", 82, '1' },
    { "Rueil-Malmaison", "92500", 79, '1' },
    { "Cherbourg-en-Cotentin", "50100", 79, '2' },
    { "Béziers", "34500", 79, '4' },
    { "Champigny-sur-Marne", "94500", 77, '1' },
    { "La Rochelle", "17000", 77, '5' },
    { "Pau", "64000", 76, '5' },
    { "Fort-de-France", "97200", 76, 'M' },
    { "Saint-Maur-des-Fossés", "94100", 75, '1' },
    { "Cannes", "06400 06150", 74, '4' },
    { "Antibes", "06600 06160", 73, '4' },
    { "Drancy", "93700", 72, '1' },
    { "Ajaccio", "20000 20090", 72, '4' },
    { "Mérignac", "33700", 72, '5' },
    { "Saint-Nazaire", "44600", 72, '2' },
    { "Noisy-le-Grand", "93160", 69, '1' },
    { "Issy-les-Moulineaux", "92130", 68, '1' },
    { "Colmar", "68000", 67, '3' },
    { "Calais", "62100", 67, '3' },
    { "Évry-Courcouronnes", "91000 91080", 66, '1' },
    { "Vénissieux", "69200", 66, '4' },
    { "Cergy", "95000 95800", 66, '1' },
    { "Levallois-Perret", "92300", 65, '1' },
    { "Pessac", "33600", 65, '5' },
    { "Valence", "26000", 64, '4' },
    { "Bourges", "18000", 64, '2' },
    { "Cayenne", "97300", 63, 'G' },
    { "Ivry-sur-Seine", "94200", 63, '1' },
    { "Quimper", "29000", 63, '2' },
    { "Clichy", "92110", 63, '1' },
    { "La Seyne-sur-Mer", "83500", 62, '4' },
    { "Antony", "92160", 62, '1' },
    { "Villeneuve-d'Ascq", "59491 59493 59650", 62, '3' },
    { "Troyes", "10000", 62, '3' },
    { "Montauban", "82000", 61, '5' },
    { "Neuilly-sur-Seine", "92200", 59, '1' },
    { "Pantin", "93500", 59, '1' },
    { "Niort", "79000", 59, '5' },
    { "Chambéry", "73000", 59, '4' },
    { "Lorient", "56100", 57, '2' },
    { "Sarcelles", "95200", 57, '1' },
    { "Beauvais", "60000", 56, '3' },
    { "Hyères", "83400", 56, '4' },
    { "Narbonne", "11100", 55, '4' },
    { "Meaux", "77100", 55, '1' },
    { "Maisons-Alfort", "94700", 55, '1' },
    { "Vannes", "56000", 54, '2' },
    { "Fréjus", "83600", 54, '4' },
    { "Saint-Quentin", "02100", 53, '3' },
    { "Les Abymes", "97139", 53, 'P' },
    { "Arles", "13200", 51, '4' },
    { "Bayonne", "64100", 51, '5' },
    { "Laval", "53000", 49, '2' },
    { "Bastia", "20200 20600", 48, '4' },
    { "Évreux", "27000", 47, '2' },
    { "Saint-Malo", "35400", 46, '2' },
    { "Belfort", "90000", 46, '3' },
    { "Charleville-Mézières", "08000", 46, '3' },
    { "Blois", "41000", 46, '2' },
    { "Saint-Germain-en-Laye", "78100", 45, '1' },
    { "Saint-Brieuc", "22000", 44, '2' },
    { "Châteauroux", "36000", 43, '2' },
    { "Alès", "30100", 42, '4' },
    { "Bourg-en-Bresse", "01000", 41, '4' },
    { "Angoulême", "16000", 41, '5' },
    { "Gap", "05000", 41, '4' },
    { "Montélimar", "26200", 40, '4' },
    { "Chartres", "28000", 39, '2' },
    { "Annemasse", "74100", 37, '4' },
    { "Auxerre", "89000", 35, '3' },
    { "Mâcon", "71000", 34, '3' },
    { "Nevers", "58000", 33, '3' },
    { "Agen", "47000", 33, '5' },
    { "Épinal", "88000", 32, '3' },
    { "L'Haÿ-les-Roses", "94240", 31, '1' },
    { "Périgueux", "24000", 30, '5' },
    { "Aurillac", "15000", 25, '4' },
    { "Laon", "02000", 24, '3' },
    { "Le Puy-en-Velay", "43000", 19, '4' },
    { "Saint-Lô", "50000", 19, '2' },
    { "Digne-les-Bains", "04000", 16, '4' },
    { "Guérande", "44350", 16, '2' },
    { "Saint-Jean-de-Luz", "64500", 14, '5' },
    { "Sainte-Maxime", "83120", 14, '4' },
    { "Guéret", "23000", 13, '5' },
    { "Mende", "48000", 12, '4' },
    { "Foix", "09000", 10, '5' },
    { "Saint-Rémy-de-Provence", "13210", 10, '4' },
    { "Privas", "07000", 8, '4' },
    { "Eu", "76260", 7, '2' },
    { "Châtillon-sur-Chalaronne", "01400", 5, '4' },
    { "Kaysersberg Vignoble", "68240", 5, '3' },
    { "Locmariaquer", "56740", 2, '2' },
    { "Île-Tudy", "29980", 1, '2' },
    { "Œuilly", "02160", 1, '3' },
    { "Y", "80190", 1, '3' },
};

static const struct {
    const char *full, *abbr;
    unsigned w;
} street_types[] = {
    { "rue", "r.", 50 }, { "avenue", "av.", 12 }, { "boulevard", "bd", 5 },
    { "place", "pl.", 3 }, { "impasse", "imp.", 6 }, { "allée", "all.", 6 },
    { "chemin", "ch.", 7 }, { "route", "rte", 5 }, { "quai", "quai", 1 },
    { "square", "sq.", 1 }, { "cours", "crs", 1 }, { "lotissement", "lot.", 1 },
};

static const char *const street_names[] = {
    "de la Paix", "Victor Hugo", "Jean Jaurès", "du Général de Gaulle",
    "de la République", "des Lilas", "Pasteur", "de l'Église",
    "du Maréchal Foch", "Gambetta", "de la Gare", "des Écoles", "Émile Zola",
    "Saint-Honoré", "de Verdun", "des Tilleuls", "du Château",
    "Anatole France", "de la Liberté", "des Peupliers", "Marcel Pagnol",
    "Léon Blum", "de Bretagne", "Hélène Boucher", "Simone Veil", "Molière",
    "du Moulin", "Sainte-Catherine", "de l'Abbé Grégoire", "des Marronniers",
    "du Docteur Schweitzer", "Jules Ferry", "Voltaire", "Carnot", "Nationale",
    "Principale", "du Stade", "des Acacias", "des Roses", "du Lavoir",
    "de la Mairie", "Saint-Martin", "du 8 Mai 1945", "du 11 Novembre 1918",
    "Charles de Gaulle", "Paul Bert", "Pierre et Marie Curie", "Jean Moulin",
    "Aristide Briand", "du Cœur Volant", "des Châtaigniers", "de la Forêt",
    "des Vignes", "du Port", "de Strasbourg", "de Paris", "Lamartine",
    "George Sand", "du Président Wilson", "des Frères Lumière",
};

static const char *const complements[] = {
    "Bât. B", "Bâtiment C", "Appt 12", "Apt 3", "Résidence Les Pins",
    "Résidence \"Le Parc\"", "Escalier C, 3e étage", "BP 42",
    "Lieu-dit Kerléo", "Bât. A; porte 3", "2e étage gauche", "Porte 5",
};

static const struct {
    const char *d;
    unsigned w;
} isp_domains[] = {
    { "gmail.com", 30 }, { "orange.fr", 16 }, { "hotmail.fr", 9 },
    { "free.fr", 9 }, { "yahoo.fr", 7 }, { "laposte.net", 6 },
    { "wanadoo.fr", 6 }, { "sfr.fr", 5 }, { "hotmail.com", 3 },
    { "outlook.fr", 3 }, { "live.fr", 2 }, { "icloud.com", 2 },
    { "neuf.fr", 1 }, { "bbox.fr", 1 }, { "aol.com", 1 },
};

static const char *const work_domains[] = {
    "valmy-industries.fr", "lacroix-transports.fr", "cabinet-roux-associes.fr",
    "clinique-des-lilas.fr", "atelier-moreau.fr", "groupe-hexagone.com",
    "banque-ouest.fr", "assur-horizon.fr", "datanova.io", "techsud.fr",
    "ceramiques-limousines.fr", "logistique-rhone.fr", "agence-azur.fr",
    "hopital-nord.fr", "energie-plus.fr", "biolab-sante.fr",
    "mutuelle-atlantique.fr", "btp-bretagne.fr", "alpes-ingenierie.com",
    "maison-lefort.fr", "conseil-garonne.fr", "imprimerie-vosges.fr",
};

/* ------------------------------------------------------------------ */
/* weighted tables                                                    */
/* ------------------------------------------------------------------ */

struct wtab {
    size_t n;
    uint64_t *cum; /* cum[i]: total weight of entries 0..i */
};

static void
wtab_init(struct wtab *t, size_t n, const double *w)
{
    uint64_t sum = 0;

    t->n = n;
    t->cum = malloc(n * sizeof(*t->cum));
    if (t->cum == NULL) {
        fprintf(stderr, "gencrm: out of memory\n");
        exit(3);
    }
    for (size_t i = 0; i < n; i++) {
        sum += (uint64_t)(w[i] * 1000.0) + 1;
        t->cum[i] = sum;
    }
}

static size_t
wtab_pick(const struct wtab *t, struct rng *r)
{
    uint64_t x = below64(r, t->cum[t->n - 1]);
    size_t lo = 0, hi = t->n - 1;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (t->cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static struct wtab w_last, w_first_m, w_first_f, w_commune, w_stype, w_isp;

/* rank-frequency weights: w = rank^-e */
static void
wtab_rank(struct wtab *t, size_t n, double e)
{
    double *w = malloc(n * sizeof(*w));

    if (w == NULL) {
        fprintf(stderr, "gencrm: out of memory\n");
        exit(3);
    }
    for (size_t i = 0; i < n; i++)
        w[i] = 1000.0 * pow((double)(i + 1), -e);
    wtab_init(t, n, w);
    free(w);
}

static void
tables_init(void)
{
    double w[N(communes) > N(street_types) ? N(communes) : N(street_types)];
    size_t i;

    wtab_rank(&w_last, N(last_common), 0.5);
    wtab_rank(&w_first_m, N(first_m), 0.85);
    wtab_rank(&w_first_f, N(first_f), 0.85);
    for (i = 0; i < N(communes); i++)
        w[i] = communes[i].pop;
    wtab_init(&w_commune, N(communes), w);
    for (i = 0; i < N(street_types); i++)
        w[i] = street_types[i].w;
    wtab_init(&w_stype, N(street_types), w);
    for (i = 0; i < N(isp_domains); i++)
        w[i] = isp_domains[i].w;
    wtab_init(&w_isp, N(isp_domains), w);
}

/* ------------------------------------------------------------------ */
/* text: UTF-8 <-> code points, case, accents, typos                  */
/* ------------------------------------------------------------------ */

#define CPMAX 256

/* Our own strings only: always valid UTF-8. */
static int
u8_decode(const char *s, uint32_t *cp, int max)
{
    const unsigned char *p = (const unsigned char *)s;
    int n = 0;

    while (*p && n < max) {
        uint32_t c = *p++;
        if (c >= 0xF0) {
            c = (c & 0x07) << 18;
            c |= (uint32_t)(*p++ & 0x3F) << 12;
            c |= (uint32_t)(*p++ & 0x3F) << 6;
            c |= (uint32_t)(*p++ & 0x3F);
        } else if (c >= 0xE0) {
            c = (c & 0x0F) << 12;
            c |= (uint32_t)(*p++ & 0x3F) << 6;
            c |= (uint32_t)(*p++ & 0x3F);
        } else if (c >= 0xC0) {
            c = (c & 0x1F) << 6;
            c |= (uint32_t)(*p++ & 0x3F);
        }
        cp[n++] = c;
    }
    return n;
}

static void
u8_encode(const uint32_t *cp, int n, char *out, size_t cap)
{
    size_t o = 0;

    for (int i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if (o + 5 > cap)
            break;
        if (c < 0x80) {
            out[o++] = (char)c;
        } else if (c < 0x800) {
            out[o++] = (char)(0xC0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out[o++] = (char)(0xE0 | (c >> 12));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | (c >> 18));
            out[o++] = (char)(0x80 | ((c >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[o] = '\0';
}

static uint32_t
cp_upper(uint32_t c)
{
    if (c >= 'a' && c <= 'z')
        return c - 32;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7)
        return c - 0x20;
    if (c == 0xFF)
        return 0x178;
    if (c == 0x153)
        return 0x152;
    return c;
}

static uint32_t
cp_lower(uint32_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 0x20;
    if (c == 0x178)
        return 0xFF;
    if (c == 0x152)
        return 0x153;
    return c;
}

/* ASCII for a Latin-1 letter with a mark, or NULL */
static const char *
cp_plain(uint32_t c)
{
    static const char *const tab[64] = {
        "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I",
        "I", "I", "D", "N", "O", "O", "O", "O", "O", NULL, "O", "U", "U", "U",
        "U", "Y", "TH", "ss", "a", "a", "a", "a", "a", "a", "ae", "c", "e",
        "e", "e", "e", "i", "i", "i", "i", "d", "n", "o", "o", "o", "o", "o",
        NULL, "o", "u", "u", "u", "u", "y", "th", "y",
    };
    if (c >= 0xC0 && c <= 0xFF)
        return tab[c - 0xC0];
    if (c == 0x152)
        return "OE";
    if (c == 0x153)
        return "oe";
    if (c == 0x178)
        return "Y";
    return NULL;
}

static int
cp_is_letter(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= 0xC0 && c <= 0xFF && c != 0xD7 && c != 0xF7) || c == 0x152 ||
           c == 0x153 || c == 0x178;
}

static void
s_set(char *dst, const char *src)
{
    size_t n = strlen(src);

    if (n >= FLD)
        n = FLD - 1;
    memmove(dst, src, n);
    dst[n] = '\0';
}

static void
s_upper(char *s)
{
    uint32_t cp[CPMAX];
    int n = u8_decode(s, cp, CPMAX);

    for (int i = 0; i < n; i++)
        cp[i] = cp_upper(cp[i]);
    u8_encode(cp, n, s, FLD);
}

static void
s_lower(char *s)
{
    uint32_t cp[CPMAX];
    int n = u8_decode(s, cp, CPMAX);

    for (int i = 0; i < n; i++)
        cp[i] = cp_lower(cp[i]);
    u8_encode(cp, n, s, FLD);
}

/* "jean-pierre" -> "Jean-Pierre": capital after a start, space, - or ' */
static void
s_title(char *s)
{
    uint32_t cp[CPMAX];
    int n = u8_decode(s, cp, CPMAX), start = 1;

    for (int i = 0; i < n; i++) {
        cp[i] = start ? cp_upper(cp[i]) : cp_lower(cp[i]);
        start = !cp_is_letter(cp[i]);
    }
    u8_encode(cp, n, s, FLD);
}

static void
s_noaccent(char *s)
{
    char out[FLD];
    size_t o = 0;
    uint32_t cp[CPMAX];
    int n = u8_decode(s, cp, CPMAX);

    for (int i = 0; i < n && o + 5 < FLD; i++) {
        const char *a = cp_plain(cp[i]);
        if (a != NULL) {
            while (*a && o + 5 < FLD)
                out[o++] = *a++;
        } else {
            uint32_t one = cp[i];
            u8_encode(&one, 1, out + o, FLD - o);
            o += strlen(out + o);
        }
    }
    out[o] = '\0';
    memcpy(s, out, o + 1);
}

/* Lower-case ASCII for an e-mail local part: accents folded, spaces and
 * apostrophes dropped, hyphens kept or dropped. */
static void
s_mailpart(const char *in, char *out, size_t cap, int keep_hyphen)
{
    char t[FLD];
    size_t o = 0;

    s_set(t, in);
    s_noaccent(t);
    for (const char *p = t; *p && o + 1 < cap; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if ((c >= 'a' && c <= 'z') || (c == '-' && keep_hyphen))
            out[o++] = c;
    }
    out[o] = '\0';
}

/* Replace the first occurrence of word `from` (at a word start) by `to`. */
static int
s_replace(char *s, const char *from, const char *to)
{
    size_t lf = strlen(from), lt = strlen(to), ls = strlen(s);
    char *p = s;

    while ((p = strstr(p, from)) != NULL) {
        if ((p == s || p[-1] == ' ' || p[-1] == '-' || p[-1] == '\'') &&
            (p[lf] == '\0' || p[lf] == ' ' || p[lf] == '-')) {
            if (ls - lf + lt + 1 > FLD)
                return 0;
            memmove(p + lt, p + lf, ls - (size_t)(p - s) - lf + 1);
            memcpy(p, to, lt);
            return 1;
        }
        p += lf;
    }
    return 0;
}

static void
s_chr_replace(char *s, char from, char to)
{
    for (; *s; s++)
        if (*s == from)
            *s = to;
}

/* One keyboard slip: a neighbouring key on an AZERTY keyboard, a letter
 * dropped, a letter doubled, or two letters swapped. */
static void
s_typo(char *s, struct rng *r)
{
    static const char *const rows[] = { "azertyuiop", "qsdfghjklm", "wxcvbn" };
    uint32_t cp[CPMAX];
    int n = u8_decode(s, cp, CPMAX), pos[CPMAX], nl = 0, i, k;

    for (i = 1; i < n; i++) /* keep the first letter: people rarely miss it */
        if (cp[i] < 0x80 && cp_is_letter(cp[i]))
            pos[nl++] = i;
    if (nl < 2)
        return;
    k = pos[below(r, (unsigned)nl)];
    switch (below(r, 4)) {
    case 0: { /* neighbour key */
        int up = cp[k] < 'a';
        char c = (char)cp_lower(cp[k]);
        for (unsigned row = 0; row < 3; row++) {
            const char *q = strchr(rows[row], c);
            if (q == NULL)
                continue;
            size_t col = (size_t)(q - rows[row]), len = strlen(rows[row]);
            char cand[4];
            int nc = 0;
            if (col > 0)
                cand[nc++] = rows[row][col - 1];
            if (col + 1 < len)
                cand[nc++] = rows[row][col + 1];
            if (row > 0 && col < strlen(rows[row - 1]))
                cand[nc++] = rows[row - 1][col];
            if (row < 2 && col < strlen(rows[row + 1]))
                cand[nc++] = rows[row + 1][col];
            c = cand[below(r, (unsigned)nc)];
            break;
        }
        cp[k] = up ? cp_upper((uint32_t)c) : (uint32_t)c;
        break;
    }
    case 1: /* dropped */
        memmove(cp + k, cp + k + 1, (size_t)(n - k - 1) * sizeof(*cp));
        n--;
        break;
    case 2: /* doubled */
        if (n + 1 < CPMAX) {
            memmove(cp + k + 1, cp + k, (size_t)(n - k) * sizeof(*cp));
            n++;
        }
        break;
    default: /* swapped with the next letter */
        if (k + 1 < n && cp_is_letter(cp[k + 1]) && cp[k + 1] != cp[k]) {
            uint32_t t = cp[k];
            cp[k] = cp[k + 1];
            cp[k + 1] = t;
        } else {
            memmove(cp + k, cp + k + 1, (size_t)(n - k - 1) * sizeof(*cp));
            n--;
        }
        break;
    }
    u8_encode(cp, n, s, FLD);
}

/* Append src to the string that ends at p, never writing past end (the
 * NUL included); returns the new end.  Hot paths use these, not snprintf. */
static char *
cat(char *p, const char *end, const char *src)
{
    while (*src && p < end - 1)
        *p++ = *src++;
    *p = '\0';
    return p;
}

/* v in decimal, zero-padded to width */
static char *
catu(char *p, const char *end, unsigned long long v, int width)
{
    char t[24];
    int n = 0;

    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        t[n++] = '0';
    while (n > 0 && p < end - 1)
        *p++ = t[--n];
    *p = '\0';
    return p;
}

static void
s_copy(char *dst, size_t cap, const char *src)
{
    cat(dst, dst + cap, src);
}

static int
days_in(int y, int m)
{
    static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

/* ------------------------------------------------------------------ */
/* the universe of persons                                            */
/* ------------------------------------------------------------------ */

struct config {
    uint64_t seed, base, acquired;
    double overlap, dup, noise, moves, namesakes, households;
    const char *out;
};

static struct config cfg = {
    1, 20000, 10000, 0.3, 0.03, 1.0, 0.12, 0.02, 0.2, NULL,
};

/* Corruption profiles (tests/gen/README.md has the table).  `classic` is
 * the generator as it was before profiles and stays the default: its rates
 * are the constants the code always used, and it never runs the second
 * noise model, so its files are the same bytes as before.  Rates marked
 * [2] are {base, acquired}; "x noise" rates are multiplied by --noise (and
 * by 2.5 in an in-file duplicate). */
struct profile {
    const char *name;
    /* defaults of the knobs (an explicit option wins) */
    double noise, dup, moves, namesakes, households;
    /* first model: rates the classic code had as constants */
    double nick[2];         /* nickname for the given name, x noise */
    double compound[2];     /* compound given name rewritten, x noise */
    double first_typo;      /* one-key slip in the given name, x noise */
    double swap;            /* given name and surname swapped, x noise */
    double birth_acq;       /* married woman under her birth name in acquired */
    double mail_missing[2]; /* record without e-mail */
    double work_share;      /* persons born after 1958 with a work mailbox */
    double p_work[2];       /* record shows the work mailbox, when both */
    double land_drop;       /* base: landline left out, x noise */
    double mob_drop;        /* base: mobile left out, x noise */
    double acq_phone_drop;  /* acquired: no phone, x noise */
    double mb_family;       /* 2+ households with a family mailbox */
    double mb_any;          /* ... family mailbox or the head's, cumulative */
    double landline;        /* households with a landline */
    /* second noise model (0 in classic) */
    int second;
    double first_part[2];   /* compound given name written as its first part */
    double initial[2];      /* given name as an initial or abbreviation */
    double typo2[2];        /* one more one-letter slip in the given name, x noise */
    double mail_other[2];   /* another mailbox of the person (work or 2nd personal) */
    double phone_other[2];  /* another number of the person (old mobile, work line) */
    double addr_other[2];   /* another address (work, second home) */
    double ns_same_pc;      /* namesakes who live in the other's postcode */
};

static const struct profile profiles[] = {
    { "classic", 1.0, 0.03, 0.12, 0.02, 0.2,
      { 0.02, 0.04 }, { 0.08, 0.2 }, 0.02, 0.01, 0.5,
      { 0.06, 0.15 }, 0.25, { 0.1, 0.35 }, 0.1, 0.08, 0.12, 0.12, 0.22, 0.45,
      0, { 0, 0 }, { 0, 0 }, { 0, 0 }, { 0, 0 }, { 0, 0 }, { 0, 0 }, 0 },
    { "light", 0.5, 0.02, 0.05, 0.01, 0.2,
      { 0.02, 0.04 }, { 0.08, 0.2 }, 0.02, 0.01, 0.3,
      { 0.03, 0.08 }, 0.25, { 0.1, 0.2 }, 0.1, 0.08, 0.12, 0.08, 0.14, 0.45,
      1, { 0.03, 0.08 }, { 0.005, 0.01 }, { 0.005, 0.01 }, { 0.02, 0.05 },
      { 0.02, 0.03 }, { 0, 0.01 }, 0.2 },
    { "realistic", 1.0, 0.03, 0.12, 0.03, 0.25,
      { 0.03, 0.08 }, { 0.08, 0.2 }, 0.02, 0.01, 0.5,
      { 0.08, 0.18 }, 0.3, { 0.1, 0.4 }, 0.1, 0.08, 0.15, 0.15, 0.25, 0.5,
      1, { 0.15, 0.4 }, { 0.02, 0.06 }, { 0.015, 0.05 }, { 0.04, 0.2 },
      { 0.04, 0.12 }, { 0.01, 0.03 }, 0.4 },
    { "heavy", 1.5, 0.05, 0.2, 0.05, 0.3,
      { 0.05, 0.12 }, { 0.1, 0.25 }, 0.02, 0.01, 0.6,
      { 0.12, 0.25 }, 0.3, { 0.1, 0.4 }, 0.15, 0.12, 0.2, 0.2, 0.32, 0.5,
      1, { 0.2, 0.5 }, { 0.04, 0.1 }, { 0.03, 0.08 }, { 0.08, 0.3 },
      { 0.08, 0.2 }, { 0.03, 0.08 }, 0.5 },
    { "cross-company", 1.0, 0.03, 0.25, 0.03, 0.25,
      { 0.03, 0.08 }, { 0.08, 0.2 }, 0.02, 0.01, 0.5,
      { 0.10, 0.30 }, 0.6, { 0.05, 0.8 }, 0.15, 0.1, 0.25, 0.15, 0.25, 0.5,
      1, { 0.15, 0.4 }, { 0.02, 0.06 }, { 0.015, 0.05 }, { 0.05, 0.55 },
      { 0.05, 0.5 }, { 0.02, 0.15 }, 0.4 },
};

static const struct profile *prof = &profiles[0];

static uint64_t n_persons;   /* P */
static uint64_t pb, pa, n_overlap, db, da; /* persons and duplicates per file */
static struct perm member_perm, fileb_perm, filea_perm, dupb_perm, dupa_perm;

enum { MALE = 0, FEMALE = 1 };
enum { R_HEAD, R_PARTNER, R_CHILD, R_SIBLING };
enum { MB_NONE, MB_FAMILY, MB_HEAD };
#define HH_MAX 4
#define NAME_MAX_BYTES 64
#define MAIL_MAX_BYTES 96

struct addr {
    unsigned city;       /* index in communes[] */
    char pc[6];
    unsigned num;
    const char *rep;     /* "", "bis", "ter" */
    unsigned type, street;
    int compl;           /* index in complements[], or -1 */
    char land[11];       /* landline, 10 digits, or "" */
};

struct member {
    uint64_t id;
    int role, sex;
    const char *first;
    char last[NAME_MAX_BYTES];  /* name in use */
    char birth[NAME_MAX_BYTES]; /* birth name when it differs, else "" */
    int by, bm, bd;
    int namesake, twin, junior;
    int same_pc; /* namesake living in the other's postcode */
};

struct household {
    uint64_t start;
    unsigned size;
    char name[NAME_MAX_BYTES];
    struct addr cur, old; /* old: before the move, when moved */
    int moved, mailbox, married, single_wed;
    char family_mail[MAIL_MAX_BYTES];
    struct member m[HH_MAX];
};

struct contact {
    char mobile[11];
    char email[MAIL_MAX_BYTES];  /* personal mailbox or "" */
    char work[MAIL_MAX_BYTES];   /* work mailbox or "" */
    int optin;
};

/* Does person i live with person i-1?  Households never cross a multiple
 * of 4, which bounds them to 4 persons. */
static int
joins_previous(uint64_t i)
{
    struct rng r;

    if (i % HH_MAX == 0 || i >= n_persons)
        return 0;
    rng_init(&r, T_LINK, i);
    return chance(&r, cfg.households);
}

static uint64_t
household_of(uint64_t i)
{
    while (joins_previous(i))
        i--;
    return i;
}

static int
is_vowel_byte(const char *p)
{
    /* ASCII vowels and the lead byte of an accented one (é è ê â î ô û) */
    return strchr("aeiouyAEIOUY", *p) != NULL || (unsigned char)*p == 0xC3;
}

/* Append part to a made-up name, with a consonant between two vowels
 * ("Cro" + "oux" -> "Croloux") and no three consonants in a row. */
static void
name_join(struct rng *r, char *out, const char *part)
{
    static const char *const links[] = { "l", "r", "n", "v", "s", "t", "d", "m" };
    size_t l = strlen(out);
    const char *mid = "";

    if (part[0] == '\0')
        return;
    if (l > 0) {
        const char *end = out + l - 1;
        while (end > out && ((unsigned char)*end & 0xC0) == 0x80)
            end--;
        if (is_vowel_byte(end) && is_vowel_byte(part))
            mid = links[below(r, N(links))];
        else if (!is_vowel_byte(end) && !is_vowel_byte(part) && l >= 3 &&
                 end == out + l - 1 && !is_vowel_byte(out + l - 2))
            out[--l] = '\0'; /* "Bour" + "champ" -> "Bouchamp" */
    }
    cat(cat(out + l, out + NAME_MAX_BYTES, mid), out + NAME_MAX_BYTES, part);
}

static void
draw_last(struct rng *r, char *out)
{
    double u = unit(r);

    if (u < 0.18) {
        s_copy(out, NAME_MAX_BYTES, last_common[wtab_pick(&w_last, r)]);
    } else if (u < 0.21) {
        s_copy(out, NAME_MAX_BYTES, last_rare[below(r, N(last_rare))]);
    } else {
        /* skewed picks: some made-up names are commoner than others */
        unsigned na = N(syl_a), nc = N(syl_c);
        out[0] = '\0';
        name_join(r, out, syl_a[below(r, chance(r, 0.3) ? na / 4 : na)]);
        name_join(r, out, syl_b[below(r, N(syl_b))]);
        name_join(r, out, syl_c[below(r, chance(r, 0.3) ? nc / 4 : nc)]);
    }
    if (chance(r, 0.025)) { /* double-barrelled */
        char second[NAME_MAX_BYTES];
        size_t l = strlen(out);
        s_copy(second, sizeof(second), last_common[wtab_pick(&w_last, r)]);
        if (strchr(out, ' ') == NULL && strcmp(second, out) != 0 &&
            l + strlen(second) + 2 < NAME_MAX_BYTES)
            cat(cat(out + l, out + NAME_MAX_BYTES, "-"), out + NAME_MAX_BYTES, second);
    }
}

static void
pick_postcode(const struct commune *c, struct rng *r, char pc[6])
{
    const char *dash = strchr(c->pc, '-');

    if (dash != NULL) {
        unsigned lo = (unsigned)atoi(c->pc), hi = (unsigned)atoi(dash + 1);
        catu(pc, pc + 6, lo + below(r, hi - lo + 1), 5);
        return;
    }
    size_t n = (strlen(c->pc) + 1) / 6;
    memcpy(pc, c->pc + 6 * below(r, (unsigned)n), 5);
    pc[5] = '\0';
}

/* 10-digit national number: landline of the commune's zone or a mobile */
static void
draw_phone(struct rng *r, char zone, int mobile, char out[11])
{
    const char *p;
    unsigned rest;

    switch (zone) {
    case 'R': p = mobile ? (chance(r, 0.5) ? "0692" : "0693") : "0262"; break;
    case 'M': p = mobile ? "0696" : "0596"; break;
    case 'G': p = mobile ? "0694" : "0594"; break;
    case 'P': p = mobile ? "0690" : "0590"; break;
    default:
        if (mobile)
            p = chance(r, 0.7) ? "06" : "07";
        else
            p = zone == '1' ? "01" : zone == '2' ? "02" : zone == '3' ? "03"
              : zone == '4' ? "04" : "05";
        break;
    }
    rest = 10 - (unsigned)strlen(p);
    s_copy(out, 11, p);
    for (unsigned k = 0; k < rest; k++)
        out[strlen(p) + k] = (char)('0' + below(r, 10));
    out[10] = '\0';
    if (zone >= '1' && zone <= '5') {
        /* metropolitan numbers stay out of the overseas blocks (0262,
         * 0590, 0639, 0690-0697...) and 0x0 is no landline */
        static const char *const overseas[] = {
            "0262", "0263", "0269", "0508", "0590", "0594", "0596", "0639",
            "0690", "0691", "0692", "0693", "0694", "0696", "0697",
        };
        for (size_t k = 0; k < N(overseas); k++)
            if (memcmp(out, overseas[k], 4) == 0)
                out[2] = "1245"[below(r, 4)];
        if (!mobile && out[2] == '0')
            out[2] = (char)('1' + below(r, 9));
    }
}

static void
draw_addr(struct rng *r, struct addr *a)
{
    const struct commune *c;
    double u;

    a->city = (unsigned)wtab_pick(&w_commune, r);
    c = &communes[a->city];
    pick_postcode(c, r, a->pc);
    a->num = chance(r, 0.35) ? 1 + below(r, 20) : 1 + below(r, 220);
    u = unit(r);
    a->rep = u < 0.04 ? "bis" : u < 0.05 ? "ter" : "";
    a->type = (unsigned)wtab_pick(&w_stype, r);
    a->street = below(r, N(street_names));
    a->compl = chance(r, 0.10) ? (int)below(r, N(complements)) : -1;
    if (chance(r, prof->landline))
        draw_phone(r, c->zone, 0, a->land);
    else
        a->land[0] = '\0';
}

static int
clamp_year(int y)
{
    return y > 2006 ? 2006 : y;
}

static void
draw_birthday(struct rng *r, struct member *m)
{
    m->bm = 1 + (int)below(r, 12);
    m->bd = 1 + (int)below(r, (unsigned)days_in(m->by, m->bm));
}

static void household_load(struct household *H, uint64_t h, int depth);

/* The persons of household H, in order; each from its own stream. */
static void
members_load(struct household *H, int depth)
{
    struct member *m = H->m;
    struct rng r;
    int couple;

    for (unsigned k = 0; k < H->size; k++) {
        struct member *p = &m[k];
        const struct wtab *wt;
        const char *const *names;

        memset(p, 0, sizeof(*p));
        p->id = H->start + k;
        rng_init(&r, T_PERSON, p->id);
        if (k == 0) {
            p->role = R_HEAD;
            p->sex = (int)below(&r, 2);
            p->by = 1940 + (int)below(&r, 30) + (int)below(&r, 36);
        } else if (k == 1 && chance(&r, 0.7)) {
            p->role = R_PARTNER;
            p->sex = chance(&r, 0.95) ? !m[0].sex : m[0].sex;
            p->by = clamp_year(m[0].by - 4 + (int)below(&r, 9));
        } else {
            p->role = R_CHILD;
            p->sex = (int)below(&r, 2);
            p->by = m[0].by + 20 + (int)below(&r, 20);
            if (p->by > 2006) { /* not of age: a brother or sister instead */
                p->role = R_SIBLING;
                p->by = clamp_year(m[0].by - 6 + (int)below(&r, 13));
            }
        }
        draw_birthday(&r, p);
        if (k >= 1 && p->role >= R_CHILD && m[k - 1].role == p->role &&
            chance(&r, 0.2)) { /* twins */
            p->by = m[k - 1].by;
            p->bm = m[k - 1].bm;
            p->bd = m[k - 1].bd;
            p->twin = m[k - 1].twin = 1;
        }
        wt = p->sex == FEMALE ? &w_first_f : &w_first_m;
        names = p->sex == FEMALE ? first_f : first_m;
        for (int tries = 0; tries < 8; tries++) {
            unsigned j, same = 0;
            p->first = names[wtab_pick(wt, &r)];
            for (j = 0; j < k; j++)
                same |= strcmp(m[j].first, p->first) == 0;
            if (!same)
                break;
        }
        if (p->role == R_CHILD && p->sex == MALE && chance(&r, 0.06)) {
            /* named after his father: Jean Dupont and Jean Dupont */
            for (unsigned j = 0; j < 2 && j < k; j++)
                if (m[j].sex == MALE && m[j].role <= R_PARTNER) {
                    p->first = m[j].first;
                    p->junior = 1;
                    break;
                }
        }
        s_copy(p->last, sizeof(p->last), H->name);
        if (p->role <= R_PARTNER) /* own surname, used if not married */
            draw_last(&r, p->birth);
    }

    couple = H->size >= 2 && m[1].role == R_PARTNER && m[0].sex != m[1].sex;
    for (unsigned k = 0; k < H->size; k++) {
        struct member *p = &m[k];
        int wed = couple ? H->married : p->by < 1985 && H->single_wed;

        if (p->role == R_PARTNER && !(couple && H->married)) {
            /* living together, not married (or same sex): own name */
            memcpy(p->last, p->birth, sizeof(p->last));
            p->birth[0] = '\0';
        } else if (p->role >= R_CHILD || p->sex != FEMALE || !wed) {
            p->birth[0] = '\0';
        } /* else married (or widowed, divorced): birth name kept apart */
        if (strcmp(p->birth, p->last) == 0)
            p->birth[0] = '\0';
    }

    /* a namesake: same given name and surname as someone else in the
     * universe, different birth date and town */
    if (H->size == 1 && depth == 0) {
        rng_init(&r, T_HH, H->start + (1ULL << 62));
        if (chance(&r, cfg.namesakes) && n_persons > 8) {
            struct household *T = malloc(sizeof(*T));
            uint64_t j = below64(&r, n_persons);
            if (T == NULL) {
                fprintf(stderr, "gencrm: out of memory\n");
                exit(3);
            }
            household_load(T, household_of(j), 1);
            if (T->start != H->start) {
                const struct member *t = &T->m[j - T->start];
                m[0].sex = t->sex;
                m[0].first = t->first;
                s_copy(m[0].last, sizeof(m[0].last), t->last);
                m[0].birth[0] = '\0';
                m[0].namesake = 1;
                if (H->cur.city == T->cur.city) {
                    H->cur.city = (H->cur.city + 7) % (unsigned)N(communes);
                    pick_postcode(&communes[H->cur.city], &r, H->cur.pc);
                    if (H->cur.land[0])
                        draw_phone(&r, communes[H->cur.city].zone, 0, H->cur.land);
                }
                if (m[0].by == t->by)
                    m[0].by += m[0].by > 1960 ? -3 : 3;
                /* second model: the namesake lives in the other's postcode
                 * (own street and number, own landline) */
                if (prof->ns_same_pc > 0) {
                    struct rng r2;
                    rng_init(&r2, T_NSPC, H->start);
                    if (chance(&r2, prof->ns_same_pc)) {
                        H->cur.city = T->cur.city;
                        memcpy(H->cur.pc, T->cur.pc, sizeof(H->cur.pc));
                        if (H->cur.land[0])
                            draw_phone(&r2, communes[H->cur.city].zone, 0, H->cur.land);
                        m[0].same_pc = 1;
                    }
                }
            }
            free(T);
        }
    }
}

static void
household_load(struct household *H, uint64_t h, int depth)
{
    struct rng r;
    double u;

    H->start = h;
    H->size = 1;
    while (H->size < HH_MAX && joins_previous(h + H->size))
        H->size++;
    rng_init(&r, T_HH, h);
    draw_last(&r, H->name);
    draw_addr(&r, &H->cur);
    draw_addr(&r, &H->old);
    if (chance(&r, 0.3)) { /* moved within the same town */
        H->old.city = H->cur.city;
        pick_postcode(&communes[H->old.city], &r, H->old.pc);
        if (H->cur.land[0] && H->old.land[0])
            memcpy(H->old.land, H->cur.land, 3);
    }
    H->moved = chance(&r, cfg.moves);
    H->married = chance(&r, 0.7);
    H->single_wed = chance(&r, 0.3); /* widowed or divorced, kept the name */
    u = unit(&r);
    H->mailbox = H->size < 2 ? MB_NONE : u < prof->mb_family ? MB_FAMILY
               : u < prof->mb_any ? MB_HEAD : MB_NONE;
    H->family_mail[0] = '\0';
    if (H->mailbox == MB_FAMILY) {
        char n[NAME_MAX_BYTES];
        const char *d = isp_domains[wtab_pick(&w_isp, &r)].d;
        s_mailpart(H->name, n, sizeof(n), 1);
        switch (below(&r, 3)) {
        case 0: snprintf(H->family_mail, MAIL_MAX_BYTES, "famille.%s@%s", n, d); break;
        case 1: snprintf(H->family_mail, MAIL_MAX_BYTES, "%s.famille@%s", n, d); break;
        default: snprintf(H->family_mail, MAIL_MAX_BYTES, "les%s@%s", n, d); break;
        }
    }
    members_load(H, depth);
}

static const char *
nickname_of(const char *first)
{
    for (size_t i = 0; i < N(nicknames); i++)
        if (nicknames[i].name[0] == first[0] && strcmp(nicknames[i].name, first) == 0)
            return nicknames[i].nick;
    return NULL;
}

/* A personal mailbox made from the person's names. */
static void
draw_email(struct rng *r, const struct household *H, const struct member *p,
           char *out)
{
    char f[NAME_MAX_BYTES], l[NAME_MAX_BYTES], local[MAIL_MAX_BYTES], digits[8];
    const char *last = p->birth[0] && chance(r, 0.5) ? p->birth : p->last;
    const char *nick = nickname_of(p->first);
    unsigned pat = below(r, 100);
    int want_digits;

    s_mailpart(pat >= 90 && nick ? nick : p->first, f, sizeof(f), chance(r, 0.5));
    s_mailpart(last, l, sizeof(l), 1);
    if (f[0] == '\0' || l[0] == '\0') {
        snprintf(out, MAIL_MAX_BYTES, "contact%llu@gmail.com", (unsigned long long)p->id);
        return;
    }
    if (pat < 32)
        snprintf(local, sizeof(local), "%.40s.%.40s", f, l);
    else if (pat < 42)
        snprintf(local, sizeof(local), "%c.%.40s", f[0], l);
    else if (pat < 52)
        snprintf(local, sizeof(local), "%.40s%.40s", f, l);
    else if (pat < 58)
        snprintf(local, sizeof(local), "%.40s.%.40s", l, f);
    else if (pat < 63)
        snprintf(local, sizeof(local), "%.40s_%.40s", f, l);
    else if (pat < 66)
        snprintf(local, sizeof(local), "%.40s-%.40s", f, l);
    else if (pat < 76)
        snprintf(local, sizeof(local), "%c%.40s", f[0], l);
    else if (pat < 86)
        snprintf(local, sizeof(local), "%s", f);
    else if (pat < 90)
        snprintf(local, sizeof(local), "%.40s%c", l, f[0]);
    else
        snprintf(local, sizeof(local), "%.40s.%.40s", f, l);
    want_digits = (pat >= 76 && pat < 86) || chance(r, 0.45);
    digits[0] = '\0';
    if (want_digits) {
        switch (below(r, 4)) {
        case 0: snprintf(digits, sizeof(digits), "%02d", p->by % 100); break;
        case 1: snprintf(digits, sizeof(digits), "%d", p->by); break;
        case 2: snprintf(digits, sizeof(digits), "%.2s", H->cur.pc); break;
        default: snprintf(digits, sizeof(digits), "%u", 1 + below(r, 999)); break;
        }
    }
    snprintf(out, MAIL_MAX_BYTES, "%.60s%s@%s", local, digits,
             isp_domains[wtab_pick(&w_isp, r)].d);
}

/* Phones and mailboxes of member k of H (its own stream). */
static void
contact_load(const struct household *H, unsigned k, struct contact *c)
{
    const struct member *p = &H->m[k];
    struct rng r;

    memset(c, 0, sizeof(*c));
    rng_init(&r, T_DETAIL, p->id);
    if (chance(&r, p->by < 1950 ? 0.55 : 0.88))
        draw_phone(&r, communes[H->cur.city].zone, 1, c->mobile);
    if (chance(&r, p->by < 1950 ? 0.6 : 0.9))
        draw_email(&r, H, p, c->email);
    if (p->by > 1958 && chance(&r, prof->work_share)) {
        char f[NAME_MAX_BYTES], l[NAME_MAX_BYTES];
        const char *d = work_domains[below(&r, N(work_domains))];
        s_mailpart(p->first, f, sizeof(f), 1);
        s_mailpart(p->last, l, sizeof(l), 1);
        if (chance(&r, 0.8))
            snprintf(c->work, MAIL_MAX_BYTES, "%.40s.%.40s@%s", f, l, d);
        else
            snprintf(c->work, MAIL_MAX_BYTES, "%c%.40s@%s", f[0], l, d);
    }
    c->optin = chance(&r, 0.55);
    if (H->mailbox == MB_FAMILY && chance(&r, 0.6)) {
        s_copy(c->email, MAIL_MAX_BYTES, H->family_mail);
    } else if (H->mailbox == MB_HEAD && k > 0 && (k == 1 || chance(&r, 0.4))) {
        struct contact head;
        contact_load(H, 0, &head);
        if (head.email[0])
            s_copy(c->email, MAIL_MAX_BYTES, head.email);
    }
}

/* ------------------------------------------------------------------ */
/* how each entity writes a value                                     */
/* ------------------------------------------------------------------ */

enum { E_BASE, E_ACQ };

/* Styles of a 10-digit national number d. */
enum {
    PH_SPACED, PH_PLAIN, PH_DOTS, PH_INTL_SPACED, PH_INTL, PH_00, PH_DASHES,
    PH_INTL_TRUNK, PH_NOZERO, PH_STYLES
};

static void
phone_format(const char *d, int style, char *out)
{
    const char *cc = "33";
    int overseas = 0;

    if (strncmp(d, "0262", 4) == 0 || strncmp(d, "0692", 4) == 0 ||
        strncmp(d, "0693", 4) == 0)
        cc = "262", overseas = 1;
    else if (strncmp(d, "0590", 4) == 0 || strncmp(d, "0690", 4) == 0)
        cc = "590", overseas = 1;
    else if (strncmp(d, "0594", 4) == 0 || strncmp(d, "0694", 4) == 0)
        cc = "594", overseas = 1;
    else if (strncmp(d, "0596", 4) == 0 || strncmp(d, "0696", 4) == 0)
        cc = "596", overseas = 1;
    switch (style) {
    case PH_SPACED:
    case PH_DOTS:
    case PH_DASHES: {
        char sep = style == PH_SPACED ? ' ' : style == PH_DOTS ? '.' : '-', *o = out;
        for (int k = 0; k < 10; k += 2) {
            if (k)
                *o++ = sep;
            *o++ = d[k];
            *o++ = d[k + 1];
        }
        *o = '\0';
        break;
    }
    case PH_PLAIN:
        s_copy(out, FLD, d);
        break;
    case PH_INTL_SPACED:
        if (overseas)
            snprintf(out, FLD, "+%s %.3s %.2s %.2s %.2s", cc, d + 1, d + 4, d + 6, d + 8);
        else
            snprintf(out, FLD, "+33 %c %.2s %.2s %.2s %.2s", d[1], d + 2, d + 4, d + 6, d + 8);
        break;
    case PH_INTL:
        snprintf(out, FLD, "+%s%s", cc, d + 1);
        break;
    case PH_00:
        snprintf(out, FLD, "00%s %s", cc, d + 1);
        break;
    case PH_INTL_TRUNK:
        snprintf(out, FLD, "+%s (0)%c %.2s %.2s %.2s %.2s", cc, d[1], d + 2, d + 4, d + 6, d + 8);
        break;
    default: /* a spreadsheet column of numbers ate the leading zero */
        s_copy(out, FLD, d + 1);
        break;
    }
}

static void
phone_render(struct rng *r, int ent, double s, const char *digits, char *out)
{
    static const double wb[PH_STYLES] = { 70, 12, 6, 8, 2, 0, 0, 2, 0 };
    static const double wa[PH_STYLES] = { 20, 15, 15, 12, 8, 8, 7, 5, 10 };
    const double *w = ent == E_BASE ? wb : wa;
    double tot = 0, x;
    char d[11];
    int st = 0;

    out[0] = '\0';
    if (digits[0] == '\0')
        return;
    memcpy(d, digits, 11);
    if (chance(r, 0.01 * s)) { /* one wrong digit */
        unsigned k = 2 + below(r, 8);
        d[k] = (char)('0' + (d[k] - '0' + 1 + below(r, 9)) % 10);
    }
    for (int i = 0; i < PH_STYLES; i++)
        tot += w[i];
    x = unit(r) * tot;
    while (st < PH_STYLES - 1 && x >= w[st])
        x -= w[st++];
    phone_format(d, st, out);
}

static void
email_render(struct rng *r, int ent, double s, const char *mail, char *out)
{
    static const struct {
        const char *d, *typo;
    } dtypos[] = {
        { "gmail.com", "gmial.com" }, { "gmail.com", "gmail.fr" },
        { "gmail.com", "gmai.com" }, { "hotmail.fr", "hotmial.fr" },
        { "hotmail.fr", "hotmail.fe" }, { "orange.fr", "ornage.fr" },
        { "wanadoo.fr", "wanado.fr" }, { "yahoo.fr", "yaho.fr" },
        { "laposte.net", "laposte.fr" }, { "free.fr", "fre.fr" },
    };
    static const char *const tags[] = { "promo", "news", "shop", "crm", "achats", "pub" };
    char local[FLD], dom[FLD], *at;

    out[0] = '\0';
    if (mail[0] == '\0')
        return;
    s_set(local, mail);
    at = strchr(local, '@');
    s_set(dom, at + 1);
    *at = '\0';
    if (strcmp(dom, "gmail.com") == 0 && chance(r, 0.3)) {
        char *dot = strchr(local, '.');
        if (dot != NULL) /* gmail ignores dots: people drop them */
            memmove(dot, dot + 1, strlen(dot));
        else if (strlen(local) > 3) {
            size_t k = 1 + below(r, (unsigned)strlen(local) - 2), l = strlen(local);
            memmove(local + k + 1, local + k, l - k + 1);
            local[k] = '.';
        }
    }
    if (chance(r, (ent == E_BASE ? 0.02 : 0.04) * s)) {
        size_t l = strlen(local);
        snprintf(local + l, FLD - l, "+%s", tags[below(r, N(tags))]);
    }
    if (chance(r, 0.01 * s)) { /* a typing slip */
        size_t i, k = below(r, N(dtypos));
        for (i = 0; i < N(dtypos); i++)
            if (strcmp(dtypos[(k + i) % N(dtypos)].d, dom) == 0)
                break;
        if (i < N(dtypos) && chance(r, 0.6))
            s_set(dom, dtypos[(k + i) % N(dtypos)].typo);
        else
            s_typo(local, r);
    }
    if (chance(r, ent == E_BASE ? 0.03 : 0.10)) {
        if (chance(r, 0.3)) {
            s_upper(local);
            s_upper(dom);
        } else {
            s_chr_replace(local, '.', ' ');
            s_title(local);
            s_chr_replace(local, ' ', '.');
            dom[0] = (char)(dom[0] >= 'a' && dom[0] <= 'z' ? dom[0] - 32 : dom[0]);
        }
    }
    snprintf(out, FLD, "%.120s@%.60s", local, dom);
}

/* Compound given names: Jean-Pierre, Jean Pierre, Jean, JP, J-Pierre... */
static void
compound_variant(struct rng *r, char *s)
{
    char *dash = strchr(s, '-');
    uint32_t a[2];
    char second[FLD];

    if (dash == NULL)
        return;
    switch (below(r, 10)) {
    case 0: case 1: case 2: case 3:
        *dash = ' ';
        break;
    case 4: case 5: case 6:
        *dash = '\0';
        break;
    case 7:
        s_set(second, dash + 1);
        s_lower(second);
        snprintf(dash + 1, FLD - (size_t)(dash + 1 - s), "%s", second);
        break;
    case 8:
        u8_decode(s, a, 1);
        u8_decode(dash + 1, a + 1, 1);
        a[0] = cp_upper(a[0]);
        a[1] = cp_upper(a[1]);
        u8_encode(a, 2, s, FLD);
        break;
    default:
        u8_decode(s, a, 1);
        s_set(second, dash + 1);
        u8_encode(a, 1, s, FLD);
        snprintf(s + strlen(s), FLD - strlen(s), "-%.100s", second);
        break;
    }
}

static void
first_render(struct rng *r, int ent, double s, const char *first, char *out)
{
    const char *nick = nickname_of(first);

    s_set(out, first);
    if (nick && chance(r, prof->nick[ent] * s))
        s_set(out, nick);
    else if (chance(r, prof->compound[ent] * s))
        compound_variant(r, out);
    if (chance(r, prof->first_typo * s))
        s_typo(out, r);
    if (chance(r, ent == E_BASE ? 0.03 : 0.25))
        s_noaccent(out);
    if (chance(r, ent == E_BASE ? 0.04 : 0.15))
        s_upper(out);
    else if (chance(r, 0.01))
        s_lower(out);
}

/* de la Fontaine, De La Fontaine, Delafontaine, Fontaine; d'Artagnan,
 * Dartagnan; Le Goff, Legoff */
static void
particle_variant(struct rng *r, char *s)
{
    static const char *const particles[] = {
        "de la ", "de l'", "des ", "de ", "du ", "d'", "le ", "la ", "da ",
        "dos ", "ben ", "el ", "n'",
    };
    char low[FLD];
    size_t i;

    s_set(low, s);
    s_lower(low);
    for (i = 0; i < N(particles); i++)
        if (strncmp(low, particles[i], strlen(particles[i])) == 0)
            break;
    if (i == N(particles))
        return;
    switch (below(r, 3)) {
    case 0:
        s_title(s);
        break;
    case 1: { /* glued: Delafontaine */
        char o[FLD];
        size_t n = 0;
        for (const char *p = s; *p && n + 1 < FLD; p++)
            if (*p != ' ' && *p != '\'')
                o[n++] = *p;
        o[n] = '\0';
        s_lower(o);
        s_title(o);
        s_set(s, o);
        break;
    }
    default: /* particle dropped (only de, du, d') */
        if (i <= 5 && i != 2) {
            char o[FLD];
            s_set(o, s + strlen(particles[i]));
            s_set(s, o);
            s_title(s);
        }
        break;
    }
}

static void
last_render(struct rng *r, int ent, double s, const char *last, char *out)
{
    s_set(out, last);
    if (chance(r, 0.25 * s))
        particle_variant(r, out);
    if (chance(r, 0.02 * s))
        s_typo(out, r);
    if (chance(r, ent == E_BASE ? 0.30 : 0.60)) {
        s_upper(out);
        if (chance(r, ent == E_BASE ? 0.2 : 0.5))
            s_noaccent(out);
    } else {
        if (chance(r, ent == E_BASE ? 0.03 : 0.2))
            s_noaccent(out);
        if (chance(r, 0.01))
            s_lower(out);
    }
    if (ent == E_ACQ && strchr(out, '\'') && chance(r, 0.3)) {
        /* a word processor's apostrophe: ’ */
        char o[FLD], *q = strchr(out, '\'');
        *q = '\0';
        snprintf(o, FLD, "%s\xe2\x80\x99%s", out, q + 1);
        s_set(out, o);
    }
}

static void
street_render(struct rng *r, int ent, double s, const struct addr *a, char *out)
{
    char type[FLD], name[FLD], compl[FLD] = "";
    const char *sep = ", ";

    s_set(type, chance(r, ent == E_BASE ? 0.05 : 0.35) ? street_types[a->type].abbr
                                                       : street_types[a->type].full);
    s_set(name, street_names[a->street]);
    if (ent == E_ACQ && chance(r, 0.3)) {
        s_replace(name, "Général", chance(r, 0.5) ? "Gal" : "Gén.");
        s_replace(name, "Maréchal", "Mal");
        s_replace(name, "Docteur", "Dr");
        s_replace(name, "Sainte", "Ste");
        s_replace(name, "Saint", "St");
    }
    if (chance(r, 0.015 * s))
        s_typo(name, r);
    if (a->compl >= 0 && chance(r, 0.8))
        s_set(compl, complements[a->compl]);
    if (ent == E_ACQ)
        sep = chance(r, 0.5) ? " - " : ", ";
    if (compl[0] && chance(r, 0.3))
        snprintf(out, FLD, "%.50s%s%u%s%s %.20s %.90s", compl, sep, a->num,
                 a->rep[0] ? " " : "", a->rep, type, name);
    else
        snprintf(out, FLD, "%u%s%s %.20s %.90s%s%.50s", a->num, a->rep[0] ? " " : "",
                 a->rep, type, name, compl[0] ? sep : "", compl);
    if (chance(r, ent == E_BASE ? 0.05 : 0.25)) {
        s_upper(out);
        if (chance(r, 0.5))
            s_noaccent(out);
    }
}

static void
town_render(struct rng *r, int ent, const struct addr *a, char *out)
{
    const char *name = communes[a->city].name;

    s_set(out, name);
    if (ent == E_BASE) {
        if (chance(r, 0.08))
            s_upper(out);
        return;
    }
    if (strcmp(name, "Paris") == 0 && chance(r, 0.3)) {
        snprintf(out, FLD, "PARIS %s", a->pc + 3);
        return;
    }
    if (chance(r, 0.3)) {
        s_replace(out, "Sainte", "Ste");
        s_replace(out, "Saint", "St");
    }
    if (chance(r, 0.2))
        s_chr_replace(out, '-', ' ');
    if (chance(r, 0.5)) {
        s_upper(out);
        if (chance(r, 0.6))
            s_noaccent(out);
    } else if (chance(r, 0.15)) {
        s_noaccent(out);
    }
}

static void
date_render(struct rng *r, int ent, double s, const struct member *p, char *out)
{
    int y = p->by, m = p->bm, d = p->bd;

    out[0] = '\0';
    if (chance(r, ent == E_BASE ? 0.08 : 0.18))
        return;
    if (chance(r, 0.005)) { /* the CRM's "unknown" */
        y = 1900, m = 1, d = 1;
    } else if (chance(r, 0.01 * s) && d <= 12 && d != m) { /* day and month swapped */
        int t = d;
        d = m;
        m = t;
    } else if (chance(r, 0.005 * s)) {
        y += chance(r, 0.5) ? 1 : -1;
    }
    if (ent == E_BASE) {
        char *o = catu(out, out + FLD, (unsigned)y, 4);
        o = catu(cat(o, out + FLD, "-"), out + FLD, (unsigned)m, 2);
        catu(cat(o, out + FLD, "-"), out + FLD, (unsigned)d, 2);
    } else {
        char *o = catu(out, out + FLD, (unsigned)d, 2);
        o = catu(cat(o, out + FLD, "/"), out + FLD, (unsigned)m, 2);
        catu(cat(o, out + FLD, "/"), out + FLD, (unsigned)y, 4);
    }
}

static void
stamp_render(struct rng *r, int ent, char *out)
{
    int y = 2016 + (int)below(r, 10), m = 1 + (int)below(r, 12);
    int d = 1 + (int)below(r, (unsigned)days_in(y, m));
    unsigned hh = 7 + below(r, 13), mm = below(r, 60), ss = below(r, 60);
    char *o, *end = out + FLD;

    if (ent == E_BASE) {
        o = catu(out, end, (unsigned)y, 4);
        o = catu(cat(o, end, "-"), end, (unsigned)m, 2);
        o = catu(cat(o, end, "-"), end, (unsigned)d, 2);
        o = catu(cat(o, end, " "), end, hh, 2);
        o = catu(cat(o, end, ":"), end, mm, 2);
        catu(cat(o, end, ":"), end, ss, 2);
    } else {
        o = catu(out, end, (unsigned)d, 2);
        o = catu(cat(o, end, "/"), end, (unsigned)m, 2);
        o = catu(cat(o, end, "/"), end, (unsigned)y, 4);
        o = catu(cat(o, end, " "), end, hh, 2);
        catu(cat(o, end, ":"), end, mm, 2);
    }
}

/* Which mailbox a record shows: personal mostly, work sometimes; a
 * duplicate tends to show the other one. */
static const char *
email_pick(struct rng *r, int ent, int dup, const struct contact *c)
{
    double p_work = prof->p_work[ent];
    int work;

    if (chance(r, prof->mail_missing[ent]))
        return "";
    work = c->work[0] && (c->email[0] == '\0' || chance(r, p_work));
    if (dup && c->work[0] && c->email[0] && chance(r, 0.5))
        work = !work;
    return work ? c->work : c->email;
}

#define BASE_FIELDS 15
#define ACQ_FIELDS 13

static const char *const base_header[BASE_FIELDS] = {
    "id_client", "civilite", "prenom", "nom", "nom_naissance", "email",
    "telephone", "mobile", "adresse", "code_postal", "ville", "pays",
    "date_naissance", "optin_email", "date_maj",
};
static const char *const acq_header[ACQ_FIELDS] = {
    "CustomerNo", "Title", "FirstName", "LastName", "E-mail", "Phone",
    "Street", "ZIP", "Town", "Country", "BirthDate", "Newsletter",
    "LastModified",
};

/* What one record shows of a person, before the entity's own fields. */
struct shown {
    double s; /* noise scale */
    char first[FLD], last[FLD], birth[FLD];
    const struct addr *a;
    int swapped;       /* given name and surname swapped */
    const char *mail;  /* the mailbox the record shows ("" for none) */
};

static void
shown_draw(struct rng *r, int ent, int dup, const struct household *H,
           const struct member *p, struct shown *v)
{
    const char *lastname = p->last;
    int cur;

    v->s = cfg.noise * (dup ? 2.5 : 1.0);
    v->birth[0] = '\0';
    /* a married woman may be known by her birth name in the acquired
     * entity's older data, or in an old duplicate */
    if (p->birth[0] && ((ent == E_ACQ && chance(r, prof->birth_acq)) ||
                        (ent == E_BASE && dup && chance(r, 0.3))))
        lastname = p->birth;
    else if (ent == E_BASE && p->birth[0] && chance(r, 0.75))
        last_render(r, ent, 0.3, p->birth, v->birth);
    else if (ent == E_BASE && chance(r, 0.03))
        last_render(r, ent, 0.3, p->last, v->birth);
    first_render(r, ent, v->s, p->first, v->first);
    last_render(r, ent, v->s, lastname, v->last);
    if (chance(r, prof->swap * v->s)) { /* given name and surname swapped */
        char t[FLD];
        s_set(t, v->first);
        s_set(v->first, v->last);
        s_set(v->last, t);
        v->swapped = 1;
    } else {
        v->swapped = 0;
    }
    /* the acquired entity's data is older: it has the address before the
     * move; a duplicate was made at the other address */
    cur = ent == E_BASE || !H->moved;
    if (dup && H->moved && chance(r, 0.5))
        cur = !cur;
    v->a = cur ? &H->cur : &H->old;
}

static void
base_fields(struct rng *r, int dup, const struct member *p, const struct contact *c,
            struct shown *v, char f[][FLD])
{
    const char *civ = p->sex == FEMALE ? "Mme" : "M.";
    const struct addr *a = v->a;
    double s = v->s;

    if (p->sex == FEMALE && !p->birth[0] && p->by > 1980 && chance(r, 0.2))
        civ = "Mlle";
    if (chance(r, 0.005))
        civ = p->sex == FEMALE ? "M." : "Mme";
    s_set(f[1], chance(r, 0.03) ? "" : civ);
    s_set(f[2], v->first);
    s_set(f[3], v->last);
    s_set(f[4], v->birth);
    v->mail = email_pick(r, E_BASE, dup, c);
    email_render(r, E_BASE, s, v->mail, f[5]);
    /* landline in telephone, mobile in mobile; some put the mobile in
     * telephone */
    f[6][0] = f[7][0] = '\0';
    if (a->land[0] && !chance(r, prof->land_drop * s))
        phone_render(r, E_BASE, s, a->land, f[6]);
    if (c->mobile[0] && !chance(r, prof->mob_drop * s)) {
        if (f[6][0] == '\0' && chance(r, 0.3))
            phone_render(r, E_BASE, s, c->mobile, f[6]);
        else
            phone_render(r, E_BASE, s, c->mobile, f[7]);
    }
    street_render(r, E_BASE, s, a, f[8]);
    s_set(f[9], a->pc);
    town_render(r, E_BASE, a, f[10]);
    s_set(f[11], chance(r, 0.9) ? "France" : chance(r, 0.5) ? "FRANCE" : "");
    date_render(r, E_BASE, s, p, f[12]);
    s_set(f[13], (c->optin ^ chance(r, 0.05)) ? "1" : "0");
    stamp_render(r, E_BASE, f[14]);
}

static void
acq_fields(struct rng *r, int dup, const struct member *p, const struct contact *c,
           struct shown *v, char f[][FLD])
{
    const char *civ = p->sex == FEMALE ? "Madame" : "Monsieur";
    const struct addr *a = v->a;
    double s = v->s;

    if (p->sex == FEMALE && !p->birth[0] && p->by > 1975 && chance(r, 0.25))
        civ = "Mademoiselle";
    s_set(f[1], chance(r, 0.08) ? "" : civ);
    s_set(f[2], v->first);
    s_set(f[3], v->last);
    v->mail = email_pick(r, E_ACQ, dup, c);
    email_render(r, E_ACQ, s, v->mail, f[4]);
    f[5][0] = '\0';
    if (!chance(r, prof->acq_phone_drop * s)) {
        if (c->mobile[0] && (!a->land[0] || chance(r, 0.65)))
            phone_render(r, E_ACQ, s, c->mobile, f[5]);
        else if (a->land[0])
            phone_render(r, E_ACQ, s, a->land, f[5]);
    }
    street_render(r, E_ACQ, s, a, f[6]);
    if (chance(r, 0.03))
        f[7][0] = '\0';
    else if (a->pc[0] == '0' && chance(r, 0.4))
        s_set(f[7], a->pc + 1); /* a spreadsheet ate the zero */
    else
        s_set(f[7], a->pc);
    town_render(r, E_ACQ, a, f[8]);
    s_set(f[9], chance(r, 0.7) ? "FRANCE"
              : chance(r, 0.5) ? "France" : chance(r, 0.5) ? "FR" : "");
    date_render(r, E_ACQ, s, p, f[10]);
    s_set(f[11], chance(r, 0.1) ? "" : (c->optin ^ chance(r, 0.15)) ? "Oui" : "Non");
    stamp_render(r, E_ACQ, f[12]);
}

/* ------------------------------------------------------------------ */
/* the second noise model (profiles other than classic)               */
/* ------------------------------------------------------------------ */

/* Records the second model changed, for the summary. */
static struct {
    uint64_t first_part, initial, typo, mail, phone, addr;
} st2;

static int
cp_vowel(uint32_t c)
{
    const char *plain = cp_plain(c);

    if (plain != NULL)
        c = (uint32_t)(unsigned char)plain[0];
    return c < 0x80 && strchr("aeiouyAEIOUY", (int)c) != NULL;
}

/* A given name as a CRM clerk shortens it: an initial ("J.", "J"), a
 * clipped form cut before a vowel ("Christophe" -> "Christ.", "Frédéric"
 * -> "Fréd.", "Nathalie" -> "Nath."), or the initials of a compound
 * ("J.-P.", "J-P", "J.P."). */
static void
first_abbrev(struct rng *r, const char *first, char *out)
{
    uint32_t cp[CPMAX], o[CPMAX];
    int n = u8_decode(first, cp, CPMAX), no = 0, i = 0, dash = -1;
    unsigned u;

    for (int j = 0; j < n; j++)
        if (cp[j] == '-' && dash < 0)
            dash = j;
    if (n == 0) {
        out[0] = '\0';
        return;
    }
    if (dash > 0 && dash + 1 < n) {
        uint32_t a = cp[0], b = cp[dash + 1];
        switch (below(r, 3)) {
        case 0: o[0] = a, o[1] = '.', o[2] = '-', o[3] = b, o[4] = '.', no = 5; break;
        case 1: o[0] = a, o[1] = '-', o[2] = b, no = 3; break;
        default: o[0] = a, o[1] = '.', o[2] = b, o[3] = '.', no = 4; break;
        }
        u8_encode(o, no, out, FLD);
        return;
    }
    u = below(r, 10);
    if (u >= 7) { /* clipped: consonants, vowels, consonants; at least 3 letters */
        for (int round = 0; round < 2 && (round == 0 || i < 3); round++) {
            while (i < n && !cp_vowel(cp[i]))
                i++;
            while (i < n && cp_vowel(cp[i]))
                i++;
            while (i < n && !cp_vowel(cp[i]))
                i++;
        }
        if (i >= 3 && i < n) {
            memcpy(o, cp, (size_t)i * sizeof(*cp));
            o[i] = '.';
            u8_encode(o, i + 1, out, FLD);
            return;
        }
    }
    o[0] = cp[0];
    no = 1;
    if (u < 5 || u >= 7)
        o[no++] = '.';
    u8_encode(o, no, out, FLD);
}

/* What else a person has: a second personal mailbox, another mobile (an
 * old number or a work one), a work line and a second address (work or
 * second home, in the same town half the time).  From its own stream, so
 * the same whatever record asks. */
struct alt {
    char email[MAIL_MAX_BYTES];
    char mobile[11], workline[11];
    struct addr addr;
};

static void
alt_load(const struct household *H, unsigned k, const struct contact *c, struct alt *a)
{
    const struct member *p = &H->m[k];
    struct rng r;

    memset(a, 0, sizeof(*a));
    rng_init(&r, T_ALT, p->id);
    draw_phone(&r, communes[H->cur.city].zone, 1, a->mobile);
    draw_addr(&r, &a->addr);
    if (chance(&r, 0.5)) {
        a->addr.city = H->cur.city;
        pick_postcode(&communes[a->addr.city], &r, a->addr.pc);
    }
    draw_phone(&r, communes[a->addr.city].zone, 0, a->workline);
    for (int t = 0; t < 4; t++) {
        draw_email(&r, H, p, a->email);
        if (strcmp(a->email, c->email) != 0 && strcmp(a->email, c->work) != 0)
            break;
    }
}

/* The failure classes that real CRMs show and the first model makes rare:
 * a compound given name cut to its first part, an initial or a clipped
 * given name, one more one-letter slip, another mailbox, another phone,
 * another address.  Applied to the rendered fields f of one record, from
 * the record's own second stream r. */
static void
noise2(struct rng *r, int ent, const struct household *H, unsigned k,
       const struct contact *c, const struct shown *v, char f[][FLD])
{
    const struct member *p = &H->m[k];
    int ei = ent == E_BASE ? 5 : 4, si = ent == E_BASE ? 8 : 6, have_alt = 0;
    struct alt a;
    char t[FLD];

    if (!v->swapped) {
        const char *dash = strchr(p->first, '-');
        if (dash != NULL && chance(r, prof->first_part[ent])) {
            size_t l = (size_t)(dash - p->first);
            memcpy(t, p->first, l);
            t[l] = '\0';
            first_render(r, ent, 0, t, f[2]);
            st2.first_part++;
        } else if (chance(r, prof->initial[ent])) {
            first_abbrev(r, p->first, t);
            first_render(r, ent, 0, t, f[2]);
            st2.initial++;
        }
        if (chance(r, prof->typo2[ent] * v->s)) {
            s_set(t, f[2]);
            s_typo(f[2], r);
            st2.typo += strcmp(t, f[2]) != 0;
        }
    }
    if (v->mail[0] && chance(r, prof->mail_other[ent])) {
        const char *m;
        alt_load(H, k, c, &a);
        have_alt = 1;
        if (c->work[0] && v->mail != c->work && chance(r, 0.6))
            m = c->work;
        else if (v->mail != c->email && c->email[0])
            m = c->email;
        else
            m = a.email;
        email_render(r, ent, v->s, m, f[ei]);
        st2.mail++;
    }
    if (chance(r, prof->phone_other[ent])) {
        char *dst = ent == E_BASE ? (f[7][0] ? f[7] : f[6][0] ? f[6] : NULL)
                                  : (f[5][0] ? f[5] : NULL);
        if (dst != NULL) {
            if (!have_alt)
                alt_load(H, k, c, &a);
            have_alt = 1;
            phone_render(r, ent, v->s, chance(r, 0.6) ? a.mobile : a.workline, dst);
            st2.phone++;
        }
    }
    if (chance(r, prof->addr_other[ent])) {
        if (!have_alt)
            alt_load(H, k, c, &a);
        street_render(r, ent, v->s, &a.addr, f[si]);
        s_set(f[si + 1], a.addr.pc);
        town_render(r, ent, &a.addr, f[si + 2]);
        st2.addr++;
    }
}

/* one record of person k of H as the entity's CRM holds it (f[0], the key,
 * is the caller's); r2 feeds the second noise model only */
static void
record_render(struct rng *r, struct rng *r2, int ent, int dup,
              const struct household *H, unsigned k, const struct contact *c,
              char f[][FLD])
{
    struct shown v;

    shown_draw(r, ent, dup, H, &H->m[k], &v);
    if (ent == E_BASE)
        base_fields(r, dup, &H->m[k], c, &v, f);
    else
        acq_fields(r, dup, &H->m[k], c, &v, f);
    if (prof->second)
        noise2(r2, ent, H, k, c, &v, f);
}

/* ------------------------------------------------------------------ */
/* output                                                             */
/* ------------------------------------------------------------------ */

struct csvout {
    FILE *f;
    char *path;
    char delim;
    int cp1252;
    const char *eol;
    char line[16384];
    size_t len;
};

static void
out_byte(struct csvout *o, char c)
{
    if (o->len + 1 >= sizeof(o->line)) {
        fprintf(stderr, "gencrm: BUG: row over %zu bytes\n", sizeof(o->line));
        abort();
    }
    o->line[o->len++] = c;
}

/* Append s (UTF-8) in the file's encoding.  Only characters that
 * Windows-1252 can hold may reach the acquired file: anything else is a bug
 * in the vocabulary. */
static void
out_text(struct csvout *o, const char *s)
{
    static const uint16_t hi[32] = {
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
        0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    };
    uint32_t cp[CPMAX];
    int n, i, j;

    if (!o->cp1252) {
        while (*s)
            out_byte(o, *s++);
        return;
    }
    n = u8_decode(s, cp, CPMAX);
    for (i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if (c < 0x80 || (c >= 0xA0 && c <= 0xFF)) {
            out_byte(o, (char)c);
            continue;
        }
        for (j = 0; j < 32 && hi[j] != c; j++)
            ;
        if (j == 32 || c == 0) {
            fprintf(stderr, "gencrm: BUG: U+%04X has no Windows-1252 form\n", (unsigned)c);
            abort();
        }
        out_byte(o, (char)(0x80 + j));
    }
}

static void
out_field(struct csvout *o, const char *s, int first)
{
    int quote = 0;

    for (const char *p = s; *p && !quote; p++)
        quote = *p == o->delim || *p == '"' || *p == '\n' || *p == '\r';

    if (!first)
        out_byte(o, o->delim);
    if (!quote) {
        out_text(o, s);
        return;
    }
    out_byte(o, '"');
    for (const char *p = s; *p; p++) {
        const char *q = strchr(p, '"');
        char part[FLD];
        size_t n = q ? (size_t)(q - p) : strlen(p);
        memcpy(part, p, n);
        part[n] = '\0';
        out_text(o, part);
        if (q == NULL)
            break;
        out_byte(o, '"');
        out_byte(o, '"');
        p = q;
    }
    out_byte(o, '"');
}

static int
out_row(struct csvout *o, const char *const *f, size_t n)
{
    o->len = 0;
    for (size_t i = 0; i < n; i++)
        out_field(o, f[i], i == 0);
    for (const char *e = o->eol; *e; e++)
        out_byte(o, *e);
    if (fwrite(o->line, 1, o->len, o->f) != o->len) {
        fprintf(stderr, "gencrm: cannot write '%s': %s\n", o->path, strerror(errno));
        return -1;
    }
    return 0;
}

static int
out_open(struct csvout *o, const char *dir, const char *name, char delim,
         int cp1252, const char *eol)
{
    size_t l = strlen(dir) + strlen(name) + 2;

    memset(o, 0, sizeof(*o));
    o->path = malloc(l);
    if (o->path == NULL)
        return -1;
    snprintf(o->path, l, "%s/%s", dir, name);
    o->delim = delim;
    o->cp1252 = cp1252;
    o->eol = eol;
    o->f = fopen(o->path, "w");
    if (o->f == NULL) {
        fprintf(stderr, "gencrm: cannot create '%s': %s\n", o->path, strerror(errno));
        return -1;
    }
    setvbuf(o->f, NULL, _IOFBF, 1 << 20);
    return 0;
}

static int
out_close(struct csvout *o)
{
    int r = 0;

    if (o->f != NULL && fclose(o->f) != 0) {
        fprintf(stderr, "gencrm: cannot write '%s': %s\n", o->path, strerror(errno));
        r = -1;
    }
    o->f = NULL;
    free(o->path);
    o->path = NULL;
    return r;
}

/* ------------------------------------------------------------------ */
/* the two files and the truth                                        */
/* ------------------------------------------------------------------ */

struct stats {
    uint64_t households, hh_persons, hh_split, hh_shared, twins, juniors;
    uint64_t namesakes, married_names, moved_overlap, overlap_pairs;
    uint64_t ns_same_pc;
};

static struct stats st;

static int
in_base(uint64_t i)
{
    return perm_fwd(&member_perm, i) < pb;
}

static int
in_acquired(uint64_t i)
{
    return perm_fwd(&member_perm, i) >= pb - n_overlap;
}

/* Count household H once: at its head's first record. */
static void
stats_household(const struct household *H)
{
    int b = 0, a = 0, split = 0;

    for (unsigned k = 0; k < H->size; k++) {
        const struct member *p = &H->m[k];
        int ib = in_base(p->id), ia = in_acquired(p->id);
        st.twins += (uint64_t)p->twin;
        st.juniors += (uint64_t)p->junior;
        st.namesakes += (uint64_t)p->namesake;
        st.ns_same_pc += (uint64_t)p->same_pc;
        st.married_names += p->birth[0] != '\0';
        if (ib && ia && H->moved)
            st.moved_overlap++;
        /* a relative in the other entity, or one in each */
        if ((ib && a) || (ia && b))
            split = 1;
        b |= ib;
        a |= ia;
    }
    if (H->size >= 2) {
        st.households++;
        st.hh_persons += H->size;
        st.hh_split += (uint64_t)split;
        st.hh_shared += H->mailbox != MB_NONE;
    }
}

static uint8_t *count_b, *count_a; /* records per person in each file */

static int
write_entity(int ent, struct csvout *o, struct csvout *truth)
{
    uint64_t rows = ent == E_BASE ? cfg.base : cfg.acquired;
    uint64_t persons = ent == E_BASE ? pb : pa;
    const struct perm *fp = ent == E_BASE ? &fileb_perm : &filea_perm;
    const struct perm *dp = ent == E_BASE ? &dupb_perm : &dupa_perm;
    uint64_t first_rank = ent == E_BASE ? 0 : pb - n_overlap;
    char f[BASE_FIELDS][FLD], key[32], person[32];
    const char *fv[BASE_FIELDS], *tv[3];
    struct household *H = malloc(sizeof(*H));
    uint8_t *count = ent == E_BASE ? count_b : count_a;
    int r = -1;

    if (H == NULL)
        return -1;
    for (size_t i = 0; i < BASE_FIELDS; i++)
        fv[i] = f[i];
    if (out_row(o, ent == E_BASE ? base_header : acq_header,
                ent == E_BASE ? BASE_FIELDS : ACQ_FIELDS) < 0)
        goto out;
    for (uint64_t s = 0; s < rows; s++) {
        uint64_t rec = perm_fwd(fp, s), rank, i;
        int dup = rec >= persons;
        struct contact c;
        struct rng rr, r2;

        rank = dup ? perm_fwd(dp, rec - persons) : rec;
        i = perm_inv(&member_perm, first_rank + rank);
        household_load(H, household_of(i), 0);
        if (!dup && i == H->start && (ent == E_BASE || !in_base(i)))
            stats_household(H);
        contact_load(H, (unsigned)(i - H->start), &c);
        rng_init(&rr, ent == E_BASE ? T_BREC : T_AREC, s);
        rng_init(&r2, ent == E_BASE ? T_NOISEB : T_NOISEA, s);
        record_render(&rr, &r2, ent, dup, H, (unsigned)(i - H->start), &c, f);
        rng_init(&rr, ent == E_BASE ? T_KEYB : T_KEYA, s);
        if (ent == E_BASE)
            catu(key, key + sizeof(key), 100000 + 3 * s + below(&rr, 3), 1);
        else
            catu(cat(key, key + sizeof(key), "CU"), key + sizeof(key),
                 1 + 2 * s + below(&rr, 2), 7);
        s_copy(f[0], FLD, key);
        catu(cat(person, person + sizeof(person), "P"), person + sizeof(person), i, 8);
        if (out_row(o, fv, ent == E_BASE ? BASE_FIELDS : ACQ_FIELDS) < 0)
            goto out;
        tv[0] = ent == E_BASE ? "groupe" : "acquis";
        tv[1] = key;
        tv[2] = person;
        if (out_row(truth, tv, 3) < 0)
            goto out;
        if (count[i] < 255)
            count[i]++;
    }
    r = 0;
out:
    free(H);
    return r;
}

/* ------------------------------------------------------------------ */
/* command line                                                       */
/* ------------------------------------------------------------------ */

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: gencrm --seed S --base N --acquired M --overlap F --out DIR\n"
        "              [--profile P] [--dup R] [--noise X] [--moves R]\n"
        "              [--namesakes R] [--households R]\n"
        "  --base N        rows of DIR/base.csv (groupe: UTF-8, ',')\n"
        "  --acquired M    rows of DIR/acquired.csv (acquis: Windows-1252, ';')\n"
        "  --overlap F     share of the acquired persons also in base (0..1)\n"
        "  --profile P     classic (default), light, realistic, heavy or\n"
        "                  cross-company: corruption rates, see tests/gen/README.md;\n"
        "                  it sets the defaults of the options below\n"
        "  --dup R         in-file duplicates per person (classic: 0.03)\n"
        "  --noise X       scale of typos and format slips (classic: 1)\n"
        "  --moves R       households that moved between the exports (classic: 0.12)\n"
        "  --namesakes R   lone persons named like someone else (classic: 0.02)\n"
        "  --households R  chance a person lives with the previous one (classic: 0.2)\n"
        "writes DIR/base.csv, DIR/acquired.csv, DIR/truth.csv; summary on stderr\n");
}

static int
parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int
parse_rate(const char *s, double *out, double max)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0 && v <= max))
        return -1;
    *out = v;
    return 0;
}

static int
parse_args(int argc, char **argv)
{
    int have = 0, set = 0; /* set: knobs given explicitly, over the profile */

    for (int i = 1; i < argc; i += 2) { /* --name value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (v == NULL) {
            fprintf(stderr, "gencrm: option '%s' needs a value\n", a);
            return -1;
        }
        if (strcmp(a, "--seed") == 0)
            bad = parse_u64(v, &cfg.seed), have |= 1;
        else if (strcmp(a, "--base") == 0)
            bad = parse_u64(v, &cfg.base), have |= 2;
        else if (strcmp(a, "--acquired") == 0)
            bad = parse_u64(v, &cfg.acquired), have |= 4;
        else if (strcmp(a, "--overlap") == 0)
            bad = parse_rate(v, &cfg.overlap, 1), have |= 8;
        else if (strcmp(a, "--out") == 0)
            cfg.out = v, have |= 16;
        else if (strcmp(a, "--profile") == 0) {
            size_t j;
            for (j = 0; j < N(profiles) && strcmp(profiles[j].name, v) != 0; j++)
                ;
            bad = j == N(profiles);
            if (!bad)
                prof = &profiles[j];
        } else if (strcmp(a, "--dup") == 0)
            bad = parse_rate(v, &cfg.dup, 1), set |= 1;
        else if (strcmp(a, "--noise") == 0)
            bad = parse_rate(v, &cfg.noise, 10), set |= 2;
        else if (strcmp(a, "--moves") == 0)
            bad = parse_rate(v, &cfg.moves, 1), set |= 4;
        else if (strcmp(a, "--namesakes") == 0)
            bad = parse_rate(v, &cfg.namesakes, 1), set |= 8;
        else if (strcmp(a, "--households") == 0)
            bad = parse_rate(v, &cfg.households, 1), set |= 16;
        else {
            fprintf(stderr, "gencrm: unknown option '%s'\n", a);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "gencrm: bad value for '%s'\n", a);
            return -1;
        }
    }
    if (have != 31) {
        fprintf(stderr, "gencrm: --seed, --base, --acquired, --overlap and --out are required\n");
        return -1;
    }
    if (!(set & 1))
        cfg.dup = prof->dup;
    if (!(set & 2))
        cfg.noise = prof->noise;
    if (!(set & 4))
        cfg.moves = prof->moves;
    if (!(set & 8))
        cfg.namesakes = prof->namesakes;
    if (!(set & 16))
        cfg.households = prof->households;
    if (cfg.base > 100000000 || cfg.acquired > 100000000) {
        fprintf(stderr, "gencrm: at most 100,000,000 rows per file\n");
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct csvout ob, oa, ot;
    struct timespec t0, t1;
    int r = 0;

    if (parse_args(argc, argv) < 0) {
        usage(stderr);
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    g_seed = mix64(cfg.seed ^ 0x6e6f7661ULL); /* "nova" */
    tables_init();

    /* persons and duplicates: rows = persons * (1 + dup) */
    pb = (uint64_t)llround((double)cfg.base / (1.0 + cfg.dup));
    pa = (uint64_t)llround((double)cfg.acquired / (1.0 + cfg.dup));
    if (pb == 0 && cfg.base > 0)
        pb = 1;
    if (pa == 0 && cfg.acquired > 0)
        pa = 1;
    db = cfg.base - pb;
    da = cfg.acquired - pa;
    n_overlap = (uint64_t)llround(cfg.overlap * (double)pa);
    if (n_overlap > pb) {
        fprintf(stderr, "gencrm: an overlap of %.3f needs %llu persons in base, "
                "which has %llu\n", cfg.overlap, (unsigned long long)n_overlap,
                (unsigned long long)pb);
        return 2;
    }
    n_persons = pb + pa - n_overlap;
    perm_init(&member_perm, n_persons, T_PERM);
    perm_init(&fileb_perm, cfg.base, T_FILEB);
    perm_init(&filea_perm, cfg.acquired, T_FILEA);
    perm_init(&dupb_perm, pb, T_DUPB);
    perm_init(&dupa_perm, pa, T_DUPA);
    count_b = calloc(n_persons + 1, 1);
    count_a = calloc(n_persons + 1, 1);
    if (count_b == NULL || count_a == NULL) {
        fprintf(stderr, "gencrm: out of memory\n");
        return 3;
    }
    if (mkdir(cfg.out, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "gencrm: cannot create '%s': %s\n", cfg.out, strerror(errno));
        return 3;
    }
    memset(&ob, 0, sizeof(ob));
    memset(&oa, 0, sizeof(oa));
    memset(&ot, 0, sizeof(ot));
    if (out_open(&ob, cfg.out, "base.csv", ',', 0, "\n") < 0 ||
        out_open(&oa, cfg.out, "acquired.csv", ';', 1, "\r\n") < 0 ||
        out_open(&ot, cfg.out, "truth.csv", ',', 0, "\n") < 0) {
        r = 3;
        goto out;
    }
    {
        static const char *const th[3] = { "entity", "source_key", "person" };
        if (out_row(&ot, th, 3) < 0 || write_entity(E_BASE, &ob, &ot) < 0 ||
            write_entity(E_ACQ, &oa, &ot) < 0) {
            r = 3;
            goto out;
        }
    }
out:
    if (out_close(&ob) < 0 || out_close(&oa) < 0 || out_close(&ot) < 0)
        r = 3;
    if (r != 0)
        return r;
    for (uint64_t i = 0; i < n_persons; i++)
        st.overlap_pairs += (uint64_t)count_b[i] * count_a[i];
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr,
        "gencrm: seed %llu -> %s (%.2f s)\n"
        "  persons          %llu (base %llu, acquired %llu, in both %llu = %.1f%% of acquired)\n"
        "  records          base.csv %llu, acquired.csv %llu, truth.csv %llu\n"
        "  overlap pairs    %llu (true cross-entity record pairs)\n"
        "  duplicates       base %llu, acquired %llu (persons with two records in one file)\n"
        "  households       %llu of 2+ persons (%llu persons; %llu span both entities;\n"
        "                   %llu share a mailbox; %llu twins; %llu named after the father)\n"
        "  married names    %llu women with a birth name apart\n"
        "  moved            %llu persons in both files with an older address in acquired\n"
        "  namesakes        %llu (same given name and surname as another person)\n",
        (unsigned long long)cfg.seed, cfg.out,
        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
        (unsigned long long)n_persons, (unsigned long long)pb, (unsigned long long)pa,
        (unsigned long long)n_overlap, pa ? 100.0 * (double)n_overlap / (double)pa : 0.0,
        (unsigned long long)cfg.base, (unsigned long long)cfg.acquired,
        (unsigned long long)(cfg.base + cfg.acquired),
        (unsigned long long)st.overlap_pairs, (unsigned long long)db,
        (unsigned long long)da, (unsigned long long)st.households,
        (unsigned long long)st.hh_persons, (unsigned long long)st.hh_split,
        (unsigned long long)st.hh_shared, (unsigned long long)st.twins,
        (unsigned long long)st.juniors, (unsigned long long)st.married_names,
        (unsigned long long)st.moved_overlap, (unsigned long long)st.namesakes);
    if (prof->second)
        fprintf(stderr,
            "  profile          %s: %llu namesakes in the other's postcode; records with\n"
            "                   a compound given name cut %llu, an initial or clipped\n"
            "                   given name %llu, one more slip %llu, another mailbox %llu,\n"
            "                   another phone %llu, another address %llu\n",
            prof->name, (unsigned long long)st.ns_same_pc,
            (unsigned long long)st2.first_part, (unsigned long long)st2.initial,
            (unsigned long long)st2.typo, (unsigned long long)st2.mail,
            (unsigned long long)st2.phone, (unsigned long long)st2.addr);
    free(count_b);
    free(count_a);
    return 0;
}
