/*
 * match.h - identity resolution, the pure in-memory core (issue 5).
 *
 * Pipeline (DESIGN.md, "Matching"):
 *
 *   normalised values ──match_rec_init──> struct match_rec (precomputed keys)
 *        │ match_rec_keys: blocking keys, indexed by the caller
 *        v
 *   candidate pairs ──match_compare──> struct match_cmp (one level per field)
 *        │ match_model_fit: Fellegi–Sunter m/u by EM on the candidates
 *        │ that could be linked (see match_batch)
 *        v
 *   match_score (log2 odds, term-frequency adjusted) ──> link / review / apart
 *        │ clustering without chaining (match_batch, rule below)
 *        v
 *   cluster ids; labelled review decisions refine the model (match_model_learn)
 *
 * No I/O, no global state, no LMDB: the hub stores records, keys, term counts
 * and the model (match_model_format / match_model_parse) itself.  Every
 * function is deterministic (random sampling uses a seed from the options).
 * Errors: 0 or a negative NV_E* code with an nv_fail() detail that never
 * quotes a value (values are personal data).
 */
#ifndef NOVA_MATCH_H
#define NOVA_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "../../formats/buf.h"

/* ---- person records ---- */

#define MATCH_MAX_EMAILS 3
#define MATCH_MAX_PHONES 3
/* A value longer than this (bytes) is cut at a character boundary. */
#define MATCH_VALUE_MAX 120
/* All values of one record, with the derived forms, fit in this many bytes;
 * beyond it the later values are dropped (treated as missing). */
#define MATCH_ARENA_MAX 4096

/*
 * Input: values already normalised by hub/normalize.h (nv_norm_name for
 * names, city and street; nv_norm_email, nv_norm_phone, nv_norm_postcode,
 * nv_norm_date for the birth date "YYYY-MM-DD").  NULL or "" is missing.
 * Borrowed: match_rec_init copies what it keeps.
 * national_id is an identifier shared across sources (NIR, customer number
 * common to every CRM); entity is the source that sent the record.
 */
struct match_person {
    const char *entity;
    const char *first;       /* "jean pierre" */
    const char *last;        /* "de la fontaine" */
    const char *birth_name;  /* maiden name */
    const char *emails[MATCH_MAX_EMAILS];
    const char *phones[MATCH_MAX_PHONES];
    const char *postcode;
    const char *city;
    const char *street;      /* "12 rue de la paix": number, type and name;
                                complements after or before a comma are
                                ignored */
    const char *birth_date;  /* ISO YYYY-MM-DD */
    const char *national_id;
};

/*
 * Comparison fields, one level each in a comparison vector and one weight
 * each in the model.  The address is one field (postcode, city and street
 * together: a record that moved disagrees on all three, and conditional
 * independence would count that three times); its parts keep their own
 * levels in struct match_cmp for display.
 */
enum match_field {
    MATCH_F_FIRST,
    MATCH_F_LAST,        /* or a birth name, see MATCH_CMP_MARRIED */
    MATCH_F_BIRTH_DATE,
    MATCH_F_EMAIL,       /* best agreement over the emails */
    MATCH_F_PHONE,       /* best agreement over the phones */
    MATCH_F_ADDRESS,
    MATCH_F_NATIONAL_ID,
    MATCH_NFIELDS
};

/* Parts of the address. */
enum match_address_part {
    MATCH_A_POSTCODE,
    MATCH_A_CITY,
    MATCH_A_STREET,
    MATCH_NADDRESS_PARTS
};

/*
 * Agreement levels, strongest first.  MATCH_MISSING (either side lacks the
 * value) weighs 0; the four others carry a Fellegi–Sunter weight.
 *   EXACT     equal after normalisation (names: particles and spaces
 *             ignored, "Jean-Pierre" = "Jean Pierre"; streets: "r." = "rue")
 *   CLOSE     a typo or a known variant.  Names: one edit (insertion,
 *             deletion, substitution, swap of neighbours; 4 letters or
 *             more), for last names also Jaro-Winkler >= 0.92 within two
 *             edits from 7 letters; a compound and one of its parts
 *             (Jean-Pierre / Jean); a nickname (Bob / Robert, Manu /
 *             Emmanuel); a glued particle (Lafontaine / de la Fontaine);
 *             married (a last name equal to the other's birth name) or
 *             swapped first and last names.  Dates: one of year, month,
 *             day differs, day and month swapped, or one digit edit.
 *             E-mails: the same local part at another domain, or one edit
 *             in the local part.  Phones: one digit edit, or the same nine
 *             last digits under another country code.  Postcodes: one
 *             edit.  Ids: one edit.  Address: see struct match_cmp.
 *   PARTIAL   weaker evidence: the same French phonetic key or Jaro-
 *             Winkler >= 0.85 for names; the same role/shared mailbox
 *             (nv_email_is_role); the same department for a postcode; the
 *             same place but another street for an address
 *   DIFFERENT both present and none of the above; French first names
 *             that differ by a feminine ending (Jean / Jeanne, Christian /
 *             Christiane, Julie / Julien) are DIFFERENT
 */
enum match_level {
    MATCH_EXACT,
    MATCH_CLOSE,
    MATCH_PARTIAL,
    MATCH_DIFFERENT,
    MATCH_MISSING
};
#define MATCH_PHONETIC MATCH_PARTIAL
#define MATCH_NLEVELS 4 /* levels with a weight: all but MATCH_MISSING */

/*
 * A prepared record: copies of the values and their derived forms (names
 * without particles, glued names, phonetic keys, street number, date as a
 * number), so that comparing two records allocates nothing.  The fields are
 * private to match.c except tf.  A record may be moved or copied bytewise
 * (e.g. in an array) but released once.
 */
struct match_rec {
    char *arena;                      /* owned: the values, NUL-separated */
    uint16_t off[24];                 /* private: slot offsets in arena */
    uint8_t len[24];                  /* private: slot lengths, 0 missing */
    uint32_t birth_date;              /* private: YYYYMMDD, 0 missing */
    uint32_t street_no;               /* private: leading number, 0 none */
    uint16_t nick[4];                 /* private: nickname groups + 1 */
    uint32_t mask[5];                 /* private: letters of names, city, street */
    uint8_t role_emails;              /* private: bit i = emails[i] is a role */
    uint8_t street_type;              /* private: rue, avenue... + 1, 0 none */
    /*
     * Term frequency of this record's value per field: the share of all
     * records holding the same value, in (0, 1], 0 when unknown (no
     * adjustment).  Set by match_tf_apply, or by the hub from its counts.
     */
    float tf[MATCH_NFIELDS];
};

/* Build r from normalised values p.  NV_ENOMEM; NV_EINVAL if birth_date is
 * present but not ISO YYYY-MM-DD.  On failure r is left empty (releasable). */
int match_rec_init(struct match_rec *r, const struct match_person *p)
    __attribute__((warn_unused_result));
/* Free r's storage; r is then empty.  NULL ok. */
void match_rec_release(struct match_rec *r);
/* The record's entity ("" when none).  Borrowed, valid until release. */
const char *match_rec_entity(const struct match_rec *r);

/* ---- blocking ---- */

/*
 * Blocking keys.  Two records become a candidate pair when they share a key
 * (same kind and hash).  Several kinds, so that a typo in one field or a
 * missing value does not hide a match.
 */
enum match_key_kind {
    MATCH_K_EMAIL = 1,       /* each e-mail */
    MATCH_K_PHONE,           /* each phone */
    MATCH_K_LASTPH_POSTCODE, /* phonetic(last or birth name) + postcode */
    MATCH_K_NAME3,           /* first 3 letters of last and first name, in
                                sorted order (swapped names share it), and
                                2 of the postcode (department) or the city */
    MATCH_K_FIRSTPH_DOB,     /* phonetic(first word of first name) + date */
    MATCH_K_LASTPH_DOB,      /* phonetic(last or birth name) + date */
    MATCH_K_NAMEPH,          /* phonetic(first) + phonetic(last), sorted */
    MATCH_K_NATIONAL_ID,
    MATCH_K_DOB_POSTCODE,    /* birth date + postcode */
    MATCH_K_STREET_POSTCODE, /* street number + 4 letters of street + postcode */
    MATCH_K_FIRST_STREET,    /* 3 letters of first name + street number +
                                4 letters of street (a postcode typo) */
    MATCH_K_LASTPH_CITY,     /* phonetic(last or birth name) + city */
    MATCH_K_LAST_STREET,     /* 3 letters of last name + street number +
                                4 letters of street name */
    MATCH_K_FIRSTPH_POSTCODE, /* phonetic(first word of first name) + first
                                letter of last name + postcode */
    MATCH_K_MAX
};
#define MATCH_MAX_KEYS 32

struct match_key {
    uint64_t hash; /* of the kind and the key text; never 0 */
    uint8_t kind;  /* enum match_key_kind */
};

/*
 * Write r's blocking keys to keys[0..max) and return how many (at most
 * MATCH_MAX_KEYS; fewer when values are missing; no duplicates).
 *
 * Block sizes must be capped by whoever indexes the keys: a key shared by
 * more than a few dozen records (a call centre's phone, contact@ of a big
 * company, "martin" in one postcode) says little and would generate a
 * quadratic number of pairs.  match_batch skips every key held by more than
 * opts.block_max records; the hub should do the same (and may keep
 * counting such keys to know they are frequent).
 */
size_t match_rec_keys(const struct match_rec *r, struct match_key *keys,
                      size_t max);
/* Name of a key kind ("email", "name3", ...), for statistics. */
const char *match_key_kind_name(int kind);

/* ---- comparison ---- */

enum match_cmp_flags {
    MATCH_CMP_SWAPPED = 1,  /* first and last names are swapped */
    MATCH_CMP_MARRIED = 2,  /* last name equals the other's birth name */
    MATCH_CMP_NICKNAME = 4, /* first names agree through the nickname table */
    MATCH_CMP_ROLE_EMAIL = 8, /* the best e-mail agreement is a role mailbox */
    MATCH_CMP_GENERATION = 16, /* birth years at least a generation apart */
    MATCH_CMP_COMPOUND = 32, /* first names agree as a compound name and one
                                of its parts (Jean / Jean-Pierre) */
    MATCH_CMP_NAME_EMAIL = 64, /* e-mails that agree only as the names do
                                  (same local part holding the last name at
                                  another domain, or one edit apart) are
                                  taken as missing */
    MATCH_CMP_INITIAL = 128, /* first names agree only as an initial or a
                                shortened form and the name it stands for
                                (J. / Jacques, J.-P. / Jean-Pierre, Rom. /
                                Romain): PARTIAL, a variant, not a
                                different name */
    MATCH_CMP_MOBILE = 256,  /* the phones agree on a mobile number (a
                                person's, where a landline is the
                                household's) */
    MATCH_CMP_OWN_MAILBOXES = 512, /* e-mails that differ, each built from
                                the same names (a personal and a work
                                address): taken as missing */
    MATCH_CMP_NEAR_FIRST = 1024, /* first names DIFFERENT that a slip or a
                                cut could make of one name: a masculine and
                                feminine form one letter apart (Michel /
                                Michèle), or a name of two letters or more
                                that begins the other within one edit (Is /
                                Isabelle, Jena / Jean-Michel).  With a
                                personal e-mail or a mobile in common, not
                                two people (personal_variant) */
    MATCH_CMP_MAILBOX_NAME = 2048, /* last names that differ, but one
                                record's own mailbox is built from the
                                other's first and last names (a married
                                woman's mailbox under her birth name, the
                                file holding no birth name): CLOSE, as a
                                birth name would be */
};
/* Birth years this far apart are a generation apart (MATCH_CMP_GENERATION). */
#define MATCH_GENERATION_YEARS 15

/*
 * Address level from its parts:
 *   EXACT     same street and number, same postcode or city
 *   CLOSE     same street with a typo or another number in the same place,
 *             or the same street where the postcode or city has a typo
 *   PARTIAL   same postcode or city (or same department), another street
 *   DIFFERENT elsewhere (a postcode that differs outright is elsewhere
 *             unless the city is the same)
 */
struct match_cmp {
    uint8_t level[MATCH_NFIELDS]; /* enum match_level */
    uint8_t address[MATCH_NADDRESS_PARTS]; /* levels of the address parts */
    uint16_t flags;               /* enum match_cmp_flags */
};

/* Compare two records field by field.  Pure, no allocation, symmetric. */
void match_compare(const struct match_rec *a, const struct match_rec *b,
                   struct match_cmp *out);

/* Kinds of single values for match_compare_values. */
enum match_value {
    MATCH_V_FIRST,
    MATCH_V_LAST,
    MATCH_V_BIRTH_NAME, /* a's birth name against b's last name */
    MATCH_V_BIRTH_DATE,
    MATCH_V_EMAIL,
    MATCH_V_PHONE,
    MATCH_V_POSTCODE,
    MATCH_V_CITY,
    MATCH_V_STREET,
    MATCH_V_NATIONAL_ID,
};
/* The level of two single normalised values of one kind, as match_compare
 * grades them inside records (allocates two records; for tests and tools).
 * Returns a level >= 0, or a negative NV_E* code. */
int match_compare_values(int what, const char *a, const char *b);

/*
 * Contradiction rules.  A contradicted pair is never linked automatically
 * whatever its score (review at most), is left out of the EM fit, and keeps
 * a record out of a cluster where any member contradicts it (match_batch).
 * No rule applies when the national ids agree (EXACT or CLOSE).
 *   HOUSEHOLD  birth dates not EXACT and first names PARTIAL or DIFFERENT
 *              (not a typo, nickname or swapped form; Jean/Jeanne and
 *              Christine/Christian are different) or agreeing only as a
 *              compound and one of its parts (MATCH_CMP_COMPOUND: Marie /
 *              Marie-Claude are often mother and daughter): two members
 *              of a household sharing a phone, a mailbox, an address and
 *              a last name
 *   TWINS      first names DIFFERENT and birth dates EXACT
 *   BIRTH      birth dates DIFFERENT (not a typo) while the first names are
 *              not EXACT (Marie / Marie-Christine, a typo, missing), or are
 *              but a generation apart (MATCH_CMP_GENERATION: a parent and a
 *              child of one name)
 *   NAMES_ONLY nothing but the names agrees: birth date, e-mail and phone
 *              not EXACT or CLOSE and the addresses DIFFERENT or missing
 *              (a namesake elsewhere, or a person who moved and left no
 *              other trace: a person decides)
 * Other disagreements (one wrong birth date or id among agreeing
 * identifiers) are left to the score.
 */
enum match_rules {
    MATCH_RULE_HOUSEHOLD = 1,
    MATCH_RULE_TWINS = 2,
    MATCH_RULE_BIRTH = 4,
    MATCH_RULE_NAMES_ONLY = 8,
};
#define MATCH_RULES_DEFAULT                                                    \
    (MATCH_RULE_HOUSEHOLD | MATCH_RULE_TWINS | MATCH_RULE_BIRTH | MATCH_RULE_NAMES_ONLY)

/* A pair kept apart by the household rule alone, whose first names are a
 * short form and its long form (an initial or a shortened name, a compound
 * and its part): match_batch sets the rule aside when nobody near could be
 * the short form (see lift_only_ones in match.c). */
int match_cmp_liftable(const struct match_cmp *c, unsigned rules);
int match_cmp_contradicted(const struct match_cmp *c, unsigned rules);

/*
 * The twins test: does the data hold twins, or first names replaced by
 * clerical errors?  The TWINS rule assumes twins.  Data whose errors
 * replace a first name and an id at random in one record (FEBRL does) hold
 * same-person pairs that look exactly like twins (one last name, birth
 * date and address; another first name and id), and the rule sends each
 * of them to review.  Both are told apart by how the two disagreements
 * occur among the candidate pairs that agree on last name (EXACT or
 * CLOSE), birth date (EXACT) and address (EXACT or CLOSE) and hold first
 * names and ids on both sides: twins disagree on both together (an odds
 * ratio of first name DIFFERENT against id not agreeing in the tens),
 * clerical errors strike each field apart (an odds ratio near 1).  The
 * rule is lifted when the odds ratio's 95% upper bound (Woolf, cells + 1/2)
 * is under MATCH_TWINS_ODDS.  With few such pairs, or no ids, the bound is
 * wide and the rule stays: only an identifier twins never share can show
 * that the data hold none.
 */
#define MATCH_TWINS_ODDS 2.0
struct match_twins {
    double pairs;    /* pairs in the test (agreeing as above, ids present) */
    double first;    /* of which first names DIFFERENT */
    double id;       /* of which ids not agreeing (not EXACT or CLOSE) */
    double both;     /* of which both */
    double odds_hi;  /* 95% upper bound of the odds ratio (match_twins_done) */
};
/* Count one candidate pair in the test's table (start from all zeros). */
void match_twins_add(struct match_twins *t, const struct match_cmp *c);
/* The bound; 1 if the rule may be lifted (odds_hi < MATCH_TWINS_ODDS). */
int match_twins_done(struct match_twins *t);

/* Pack a comparison's levels into 3 bits per field (for counting patterns);
 * the address parts and flags are not kept (unpack: parts MISSING). */
uint32_t match_cmp_pack(const struct match_cmp *c);
void match_cmp_unpack(uint32_t code, struct match_cmp *c);

/* ---- Fellegi–Sunter model ---- */

/* Default decision thresholds, in bits of posterior log2 odds: chosen once
 * for every data set (not tuned per run). */
#define MATCH_LINK_DEFAULT 10.0
#define MATCH_REVIEW_DEFAULT 0.0
/* A comparison pattern that reviewed pairs share: the share of matches EM
 * gives its unlabelled pairs is the labels' share, with the model's as this
 * many pseudo-labels (see struct match_pattern). */
#define MATCH_LABEL_PRIOR 2.0
/* Bounds of the term-frequency adjustment of an exact agreement, in bits. */
#define MATCH_TF_MAX_DOWN 6.0
#define MATCH_TF_MAX_UP 3.0
/* Largest model text match_model_parse accepts. */
#define MATCH_MODEL_MAX_BYTES 65536

struct match_model {
    double lambda;                              /* P(match) among candidates */
    double m[MATCH_NFIELDS][MATCH_NLEVELS];     /* effective P(level | match) */
    double u[MATCH_NFIELDS][MATCH_NLEVELS];     /* effective P(level | non) */
    double em_m[MATCH_NFIELDS][MATCH_NLEVELS];  /* EM estimates */
    double em_u[MATCH_NFIELDS][MATCH_NLEVELS];
    double lab_m[MATCH_NFIELDS][MATCH_NLEVELS]; /* labelled match counts */
    double lab_u[MATCH_NFIELDS][MATCH_NLEVELS]; /* labelled non-match counts */
    double n_lab_m, n_lab_u;                    /* labelled pairs per class */
    /* Mean term frequency of an exact agreement per field (sum over values
     * of tf^2: the chance that two random records share a value); 0 = no
     * term-frequency adjustment for the field. */
    double tf_mean[MATCH_NFIELDS];
    double link, review;                        /* thresholds, bits */
    double weight[MATCH_NFIELDS][MATCH_NLEVELS]; /* derived: log2(m/u) */
    double prior;                               /* derived: log2(l/(1-l)) */
    unsigned em_iterations;                     /* of the last fit */
    double em_pairs;                            /* pairs the fit saw */
    /* Rules (enum match_rules) the data refuted at the last fit: the twins
     * test (MATCH_RULE_TWINS); the others are never lifted. */
    unsigned lifted;
    struct match_twins twins;                   /* the test's figures */
};

/* The rules in force: rules without those the model's fit lifted. */
unsigned match_model_rules(const struct match_model *mo, unsigned rules);

/* Starting values: m favouring agreement, u favouring disagreement, lambda
 * 0.1, default thresholds, no labels, no term frequencies. */
void match_model_init(struct match_model *mo);
/* Take m, u from the EM estimates and compute the weights.  Labels (the
 * team's review decisions) do not enter here: review pairs are a biased
 * sample (those near the threshold) and cannot estimate m and u by
 * themselves; they enter EM instead, where they fix the class of their own
 * pairs and correct the patterns they cover (struct match_pattern,
 * match_opts.labels), so they cannot undo what the unlabelled data show. */
void match_model_refine(struct match_model *mo);
/* Count one reviewed pair (is_match 1: same person, 0: different) in the
 * labelled counts, which say what the team decided (model show); the
 * weights change only at the next fit. */
void match_model_learn(struct match_model *mo, const struct match_cmp *c,
                       int is_match);

/* Comparison patterns with their counts: the sufficient statistics of EM. */
struct match_pattern {
    uint32_t code; /* match_cmp_pack */
    int label;     /* MATCH_UNLABELLED, or 1 (match) / 0 (non-match): the
                      pattern's class is then fixed during EM */
    double count;
    /* An unlabelled pattern that labelled pairs share: how many were
     * accepted (yes) and rejected (no).  Its share of matches in EM is then
     * (yes + k r) / (yes + no + k), r the model's, k MATCH_LABEL_PRIOR:
     * labels correct the patterns they cover, no others. */
    double lab_yes, lab_no;
};
#define MATCH_UNLABELLED (-1)

struct match_em_opts {
    unsigned max_iter; /* default 500 */
    double tol;        /* largest parameter change to stop, default 1e-6 */
    int fix_u;         /* 1: keep u as given (from random pairs) */
    double prior;      /* strength of the prior, in pairs of each class
                          (default MATCH_EM_PRIOR) */
    const struct match_model *prior_model; /* its em_m/em_u are the prior;
                          NULL: the starting values */
};
/* The prior's m and u count as this many pairs of each class in every
 * M-step (maximum a posteriori EM): when one class has few candidate pairs
 * (blocking so tight that nearly all candidates match), its estimates stay
 * near the prior (match_batch: u from random pairs) instead of following
 * noise; with many pairs the data decide. */
#define MATCH_EM_PRIOR 30.0

/*
 * Fit em_m, em_u and lambda by expectation-maximisation on n patterns
 * (conditional independence of fields given the class; missing levels are
 * left out of the likelihood; labelled patterns keep their class, which
 * makes it semi-supervised), starting from mo's current em_m/em_u/lambda,
 * then refine.  Each M-step adds opts->prior pairs of each class
 * distributed as the prior model (opts->prior_model, e.g. u from random
 * pairs by match_model_set_u; else the starting values), so no probability
 * is 0 (MATCH_EM_PRIOR).  Stops when no parameter moves by opts->tol or
 * after opts->max_iter rounds.  If the classes come out swapped (the
 * "match" class agreeing less than the other on most fields), they are
 * swapped back.  opts NULL = defaults.  NV_EINVAL if n == 0.
 */
int match_model_fit(struct match_model *mo, const struct match_pattern *pat,
                    size_t n, const struct match_em_opts *opts)
    __attribute__((warn_unused_result));
/* Set em_u from level counts of random pairs (counts[f][l], smoothed). */
void match_model_set_u(struct match_model *mo,
                       const double counts[MATCH_NFIELDS][MATCH_NLEVELS]);
/*
 * Random pairs hold matches too, a share share of them (the share of
 * matches among all pairs): their agreements inflate u, most for the
 * fields that tell people apart best (an id, a birth date: in a store of
 * 10,000 records, half the random pairs agreeing on an id are one person).
 * Take them out: u = (u - share m) / (1 - share) per level, with EM's m,
 * at least floor (the smoothing of a level never seen), rows summing to 1,
 * then refine.
 */
void match_model_u_without_matches(struct match_model *mo, double share, double floor);

/*
 * Score of a compared pair: log2 posterior odds of a match, prior + sum of
 * per-field weights log2(m/u) (missing: 0).  An exact agreement on a field
 * with term frequencies is adjusted by log2(tf_mean / tf) (the record's
 * value frequency; a frequent "martin" weighs less than a rare name),
 * bounded by MATCH_TF_MAX_DOWN / MATCH_TF_MAX_UP.  An agreement on a role
 * mailbox already has its own (weaker) level, PARTIAL.
 */
double match_score(const struct match_model *mo, const struct match_rec *a,
                   const struct match_rec *b, const struct match_cmp *c);
/* The same score in its parts, so that what is shown adds up: the prior
 * (returned in *prior), each field's weight for its level (weight[f]) and
 * the term-frequency adjustment of an exact agreement (tf[f]); the score
 * is *prior + the sum of weight[f] + tf[f]. */
double match_score_parts(const struct match_model *mo, const struct match_rec *a,
                         const struct match_rec *b, const struct match_cmp *c, double *prior,
                         double weight[MATCH_NFIELDS], double tf[MATCH_NFIELDS]);
/* At least match_score(mo, a, b, c) for c from match_compare(a, b), at a
 * fraction of its cost and whatever the records' term frequencies (it
 * reads none): the levels of the fields the names do not bear on, the
 * e-mails at their best agreement before the names' rules, the names at
 * their best weight.  A pair whose bound is below a threshold needs no
 * comparison (nor term frequencies) to be kept under it (up to rounding:
 * allow 1e-9). */
double match_score_bound(const struct match_model *mo, const struct match_rec *a,
                         const struct match_rec *b);
/* Why a field's level is what it is, when a rule made it so ("compound
 * first name", "birth name = married name", ...; NULL when none). */
const char *match_cmp_rule(const struct match_cmp *c, int field);
/* The rule that keeps the pair from linking on its own (household, twins,
 * birth date, names only), or NULL when none does. */
const char *match_cmp_contradiction(const struct match_cmp *c, unsigned rules);

/*
 * Model text (JSON, one object, keys in a fixed order):
 *   {"nova_match_model":1,"lambda":L,"link":T,"review":T,
 *    "fields":{"first":{"m":[4],"u":[4],"lab_m":[4],"lab_u":[4],"tf":X},...},
 *    "n_lab_m":N,"n_lab_u":N,"em_pairs":N}
 * m/u are the EM estimates (the effective ones are recomputed on parse).
 * format appends to out.  parse refuses (NV_EFORMAT, detail names the key)
 * anything else: another version, an unknown or missing field, a
 * probability outside (0, 1) or a level row not summing to 1 (+-1e-3),
 * negative counts, more than MATCH_MODEL_MAX_BYTES (NV_ETOOBIG).  *mo is
 * written only on success.
 */
int match_model_format(const struct match_model *mo, struct nv_buf *out)
    __attribute__((warn_unused_result));
int match_model_parse(struct match_model *mo, const char *text, size_t len)
    __attribute__((warn_unused_result));

/* Names of fields and levels ("first", "exact", ...). */
const char *match_field_name(int field);
const char *match_level_name(int level);

/* ---- term frequencies ---- */

/* Counts of values per field over a set of records (hash of the value, so
 * no value is kept). */
struct match_tf;

int match_tf_new(struct match_tf **out) __attribute__((warn_unused_result));
void match_tf_free(struct match_tf *tf); /* NULL ok */
int match_tf_add(struct match_tf *tf, const struct match_rec *r)
    __attribute__((warn_unused_result));
/* Set r->tf from the counts (the share of counted records with r's value). */
void match_tf_apply(const struct match_tf *tf, struct match_rec *r);
/*
 * The hashes under which match_tf counts r's values of field f, for a store
 * that keeps its own counts (then r->tf[f] = count of the hash / records,
 * the largest over the record's values): first and last name without
 * particles or spaces, each e-mail, each phone, the street with its number
 * and postcode.  At most 3 (MATCH_MAX_EMAILS); 0 for other fields or
 * missing values.
 */
size_t match_tf_hashes(const struct match_rec *r, int field, uint64_t *out, size_t max);
/* Set mo->tf_mean from the counts (fields with term frequencies: first,
 * last, email, phone, address: street and number in a postcode). */
void match_tf_to_model(const struct match_tf *tf, struct match_model *mo);

/* ---- batch pipeline ---- */

enum match_batch_flags {
    MATCH_CROSS_ENTITY = 1, /* only pairs of records from different entities */
    MATCH_ONE_TO_ONE = 2,   /* a cluster holds at most one record per entity
                               (each source already deduplicated) */
    MATCH_FIX_U = 4,        /* EM keeps u from random pairs */
    MATCH_NO_EM = 8,        /* score with the given model as is */
    MATCH_TF = 16,          /* count term frequencies over these records,
                               set each r->tf and the model's tf_mean */
    MATCH_ALL_PAIRS = 32,   /* list every candidate pair, also those below
                               review (status MATCH_APART) */
    MATCH_EM_M_ONLY = 64,   /* EM fits m and u, only m is kept: u is the
                               random pairs' (see match_batch) */
    MATCH_RULES_FIXED = 128, /* apply opts.rules as given: no twins test,
                               the model's lifted rules ignored */
};

struct match_opts {
    unsigned flags;        /* enum match_batch_flags */
    unsigned block_max;    /* largest block; bigger keys are skipped (32) */
    unsigned cluster_max;  /* largest cluster (50) */
    unsigned u_samples;    /* random pairs for the starting u (100000) */
    uint64_t seed;         /* of the random pairs (1) */
    unsigned threads;      /* comparison threads (1) */
    unsigned rules;        /* enum match_rules (MATCH_RULES_DEFAULT) */
    struct match_em_opts em;
    /*
     * Incremental resolution (NULL: every candidate pair is compared).
     * A candidate pair is compared only when one of its records is active
     * (active[i] != 0) or both are in the same group (group[i] != 0, e.g.
     * a stored cluster): pairs of two stored records of different clusters
     * were weighed when those records came and are left out.  Both arrays
     * have n entries (match_batch's records); either may be NULL.
     */
    const uint8_t *active;
    const uint32_t *group;
    /*
     * The team's decisions, as labelled patterns (code, label 0 or 1,
     * count 1 each): EM keeps their class and lets them correct the
     * unlabelled pairs of the same pattern.  NULL: none.
     */
    const struct match_pattern *labels;
    size_t nlabels;
};

void match_opts_init(struct match_opts *o);

enum match_status {
    MATCH_APART = 0,  /* kept apart (listed only with MATCH_ALL_PAIRS) */
    MATCH_REVIEW = 1, /* for a person to decide */
    MATCH_LINK = 2,   /* same cluster */
};

struct match_pair {
    uint32_t a, b;  /* record indexes, a < b */
    float score;    /* bits */
    uint8_t status; /* enum match_status */
    struct match_cmp cmp;
};

struct match_result {
    size_t nrec;
    uint32_t *cluster;        /* nrec cluster ids: the smallest member index */
    struct match_pair *pairs; /* LINK and REVIEW pairs (every candidate with
                                 MATCH_ALL_PAIRS), sorted by (a, b) */
    size_t npairs;
    size_t ncandidates;       /* distinct candidate pairs compared */
    size_t nkeys_skipped;     /* blocking keys over block_max */
    size_t kind_pairs[MATCH_K_MAX]; /* pairs each key kind proposed (a pair
                                       proposed by two kinds counts twice) */
    size_t nlinks, nreviews;  /* pairs with each status */
    double seconds[4];        /* term frequencies and blocking, comparison,
                                 EM, scoring and clustering */
};

/*
 * Resolve n records (r->tf as set by the caller, or counted here with
 * MATCH_TF; all 0 means no term-frequency adjustment): block (keys held by
 * more than block_max records are skipped), compare the distinct candidate
 * pairs (on opts.threads threads), fit the model, score, decide and
 * cluster.  *mo is the starting model and is updated with the fitted one
 * (labels in it are kept and blended).
 *
 * The twins test (unless MATCH_NO_EM or MATCH_RULES_FIXED) runs on every
 * candidate pair first and sets mo->lifted and mo->twins; the rules in
 * force from then on, for the fit as for the decisions, are
 * match_model_rules(mo, opts.rules) (opts.rules with MATCH_RULES_FIXED).
 *
 * The fit (unless MATCH_NO_EM): EM on the candidate pairs that could be
 * linked automatically, i.e. not contradicted and whose last names agree
 * at least PARTIAL.  Candidates are mostly neighbours, households and
 * people of one name in one place; on all of them EM would split by place
 * or by household, not by person.  Among these it learns what tells a
 * person from a namesake.  The prior (MATCH_EM_PRIOR) has u from
 * opts.u_samples random pairs; the last name's DIFFERENT level, which EM
 * does not see, keeps the prior's m and u; lambda is then rescaled to all
 * candidates, so scores are log odds among candidates.  With
 * MATCH_EM_M_ONLY, EM fits m and u freely but only m is kept and u is set
 * to the random pairs' (the prior): among the pairs EM sees, the
 * non-matches are namesakes (they agree on the names by selection), so
 * EM's own u is right for telling a person from a namesake but would make
 * an agreement of first names count for nothing among all candidates,
 * while a u fixed during EM lets the namesakes into the match class (one
 * birth date in two "differs" for a person).  lambda stays the share of
 * matches among candidates; with random-pair u the caller rescales it to
 * all pairs.
 *
 * Clustering rule (no chaining through one weak link): candidate pairs
 * scoring >= link that are not contradicted are taken from the best score
 * down; each joins the two records' clusters only if every pair across the
 * two clusters (compared now if it was not a candidate) scores >= review and
 * is not contradicted, the result has at most cluster_max records, and with
 * MATCH_ONE_TO_ONE no entity appears twice.  Pairs whose records ended in
 * one cluster are MATCH_LINK; of the others, those scoring in [review,
 * link), and those scoring >= link but contradicted or refused by the
 * rule, are MATCH_REVIEW; the rest, contradicted pairs below link included
 * (every household would otherwise fill the queue), are MATCH_APART.
 *
 * out is owned by the caller (match_result_release).  NV_ENOMEM, NV_ETOOBIG
 * (more than 2^32-1 records), NV_EINVAL.
 */
int match_batch(struct match_rec *recs, size_t n, const struct match_opts *o,
                struct match_model *mo, struct match_result *out)
    __attribute__((warn_unused_result));
void match_result_release(struct match_result *res); /* NULL ok */

/* Sort ascending (LSD radix on 16-bit digits, skipping constant digits;
 * qsort below 4096 values).  NV_ENOMEM when out of memory. */
int match_sort_u64(uint64_t *a, size_t n) __attribute__((warn_unused_result));

#endif
