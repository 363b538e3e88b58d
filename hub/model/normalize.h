/*
 * normalize.h - normalisation of contact values before matching.
 *
 * The hub keeps every mapped value twice: the original as the entity sent it,
 * and the normalised form computed here, which blocking and comparison use.
 * Every function is pure (no I/O, no global state besides the error detail of
 * nv_fail) and deterministic.
 *
 * Common contract of the nv_norm_* functions that write text:
 *   - in/len is the raw value; it need not be NUL-terminated and may contain
 *     any bytes.  Values longer than NV_NORM_MAX_BYTES are refused.
 *   - the result is appended to the caller's buffer out (which must be
 *     initialised); on failure out is left exactly as it was (same len).
 *   - an empty value, or one made only of blanks, is not an error: the
 *     function returns 0 and appends nothing ("missing" is for the matcher
 *     to weigh, not a parse failure).
 *   - on a value that cannot be normalised they return NV_EFORMAT with a
 *     detail sentence (nv_errmsg) naming the field kind and the reason but
 *     never quoting the value, since values are personal data.  They may also
 *     return NV_ENOMEM or NV_ETOOBIG when out cannot grow.
 */
#ifndef NOVA_NORMALIZE_H
#define NOVA_NORMALIZE_H

#include <stddef.h>

#include "../../formats/buf.h"

/* Longest raw value accepted by any nv_norm_* function, in bytes. */
#define NV_NORM_MAX_BYTES 4096

/* nv_jaro_winkler and nv_levenshtein compare at most this many code points
 * of each string; the rest is ignored (names and emails are far shorter). */
#define NV_CMP_MAX_CP 256

/*
 * Person and place names.  Unicode NFKC, case folding, accents and other
 * marks stripped, default-ignorable characters removed and control
 * characters dropped (utf8proc: STABLE|COMPOSE|COMPAT|CASEFOLD|STRIPMARK|
 * IGNORE|LUMP|STRIPCC).  Then the ligatures œ and æ (which Unicode does not
 * decompose, and LUMP leaves alone) become "oe" and "ae" (casefold already
 * turns ß into "ss"); hyphens (ASCII and U+2010..U+2015, U+2212),
 * apostrophes (ASCII, `, U+2018, U+2019, U+02BC), dots and any Unicode space
 * become one space; runs of spaces collapse and both ends are trimmed.
 *   "  Jean-Pierre " "JEAN PIERRE" "jean‐pierre"  -> "jean pierre"
 *   "d’Argenson" "D'ARGENSON"                      -> "d argenson"
 *   "Lefèvre" "LEFEVRE" -> "lefevre";   "Œuvray"   -> "oeuvray"
 * Letters of other scripts are kept (case-folded), so the output is valid
 * UTF-8 but not always ASCII.  Invalid UTF-8: NV_EFORMAT "not valid UTF-8".
 */
int nv_norm_name(const char *in, size_t len, struct nv_buf *out)
    __attribute__((warn_unused_result));

/*
 * Telephone numbers to E.164 ("+33612345678"), with French defaults.
 * Separators (space, tab, . - / ( ) and no-break/thin spaces) are ignored.
 *   +33 6 12 34 56 78, 0033 6..., 06 12 34 56 78, 6 12 34 56 78 (9 digits
 *   starting 1-9), +33 (0)6 12 34 56 78 (trunk "(0)" dropped after an
 *   international prefix), 0 800 123 456           -> +33XXXXXXXXX
 * A French national number (leading 0, then exactly 9 digits) or a +33 number
 * whose 9 significant digits belong to an overseas department goes to that
 * department's country code: 262/263/692/693 (La Réunion), 269/639 (Mayotte)
 * -> +262; 590/690/691 (Guadeloupe, St-Martin, St-Barthélemy) -> +590;
 * 594/694 (Guyane) -> +594; 596/696/697 (Martinique) -> +596; 508 -> +508
 * (St-Pierre-et-Miquelon).  So 0692 12 34 56 -> +262692123456.
 * Other international numbers (+ or 00 prefix) are kept as "+" and their
 * digits when they have 8 to 15 digits.  An extension ("poste", "ext",
 * "extension", "x", "#") ends the number; it and what follows are dropped.
 * Refused (NV_EFORMAT): any other letter or symbol, a '+' not in front,
 * fewer or more digits than above, a national number that is not 10 digits.
 * The output is ASCII.
 */
int nv_norm_phone(const char *in, size_t len, struct nv_buf *out)
    __attribute__((warn_unused_result));
/*
 * The same, with national numbers (no + or 00 prefix) read in the dialling
 * plan of country (ISO alpha-2; NULL or "" is France, as are RE, GP, MQ,
 * GF, YT, PM, BL, MF): the trunk prefix is dropped ('0' in most of Europe,
 * a leading '1' of an 11-digit North American number; Italy, Spain,
 * Portugal and a few others dial none) and the significant digits must be
 * in the country's range, then "+" and the calling code go in front:
 * country BE, "02 123 45 67" -> +3221234567; US, "(212) 555-0100" ->
 * +12125550100; IT, "06 1234 5678" -> +390612345678.  A national number of
 * a country without a plan here is refused (write it with +CC).
 */
int nv_norm_phone_in(const char *in, size_t len, const char *country, struct nv_buf *out)
    __attribute__((warn_unused_result));

/*
 * E-mail addresses, canonical form: blanks trimmed, local part lower-cased
 * (ASCII letters only; other bytes kept), domain case-folded and NFC
 * (utf8proc; an internationalised domain stays in Unicode, no punycode), a
 * "+tag" removed from the local part, and for gmail.com / googlemail.com the
 * dots of the local part removed and the domain written gmail.com.
 * Refused (NV_EFORMAT): not exactly one '@', an empty local part (also after
 * removing the tag), a domain without a dot or with an empty label, blanks,
 * control characters or any of  , ; : < > ( ) [ ] \ "  inside, invalid UTF-8.
 */
int nv_norm_email(const char *in, size_t len, struct nv_buf *out)
    __attribute__((warn_unused_result));

/*
 * 1 when the normalised address norm (from nv_norm_email) is a shared or role
 * mailbox (contact@, info@, accueil@, compta@, noreply@, famille.dupont@, …)
 * that says little about one person; 0 otherwise (also for NULL).  A local
 * part is a role when it is one of the role words, or starts with one followed
 * by '.', '-', '_' or a digit; "famille"/"family" and the no-reply forms count
 * as a prefix with anything after them.
 */
int nv_email_is_role(const char *norm);

/*
 * Postal codes.  country NULL, "", or (case-insensitive) "FR", "FRA",
 * "France" means France: blanks removed, an "F" or "FR" prefix (with an
 * optional '-') removed, then 5 digits (not starting "00"), 4 digits (a lost
 * leading zero: "1000" -> "01000") or Corsica "2A"/"2B" + 3 digits (letter
 * upper-cased).  Anything else: NV_EFORMAT.
 * Other countries: ASCII upper-cased, blanks collapsed to one space and
 * trimmed; at most 10 characters of [A-Z0-9 -], else NV_EFORMAT.
 */
int nv_norm_postcode(const char *in, size_t len, const char *country,
                     struct nv_buf *out)
    __attribute__((warn_unused_result));

/*
 * Dates (birth dates) to ISO "YYYY-MM-DD".  Accepted, blanks trimmed:
 *   YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD,
 *   D/M/YYYY with '/', '-' or '.' (the same separator twice; day and month
 *   of one or two digits): French order, day first,
 *   D/M/YY: a two-digit year 00-30 is 20YY, 31-99 is 19YY,
 *   any of these followed by 'T' or one space and a time
 *   ("1975-03-14T10:00:00Z", "14/03/1975 00:00"): the time, which must start
 *   with a digit and hold only digits, blanks and : . , Z + -, is ignored (no
 *   time-zone shift is applied).
 * The year must have four digits (1000-9999) and the day must exist in that
 * month (Gregorian leap years).  Else NV_EFORMAT with the reason.
 */
int nv_norm_date(const char *in, size_t len, struct nv_buf *out)
    __attribute__((warn_unused_result));

/*
 * Yes/no values (marketing consent).  Case and accents ignored, blanks
 * trimmed: 1 oui o yes y true vrai x -> 1;  0 non n no false faux -> 0;
 * empty -> -1 (unknown).  Returns 0 and sets *out, or NV_EFORMAT and leaves
 * *out alone.
 */
int nv_norm_bool(const char *in, size_t len, int *out)
    __attribute__((warn_unused_result));

/*
 * Country names and codes to ISO 3166-1 alpha-2 ("FR").  The value goes
 * through nv_norm_name and its spaces are dropped, so case, accents, hyphens
 * and dots do not matter ("États-Unis", "U.S.A.", "pays bas").  Known: the
 * alpha-2 and alpha-3 codes and French and English names (and a few native
 * ones) of France, its overseas departments, Belgium, Switzerland,
 * Luxembourg, Monaco, Germany, Spain, Italy, the United Kingdom ("UK" too),
 * the United States, Canada, Morocco, Algeria, Tunisia, Portugal, the
 * Netherlands, and a few more listed in normalize.c.  Empty -> empty;
 * anything else NV_EFORMAT "unknown country".
 */
int nv_norm_country(const char *in, size_t len, struct nv_buf *out)
    __attribute__((warn_unused_result));

/*
 * French phonetic key of a name already normalised by nv_norm_name, for
 * blocking only (grouping candidates; never to decide a match).  Each word
 * gives one code; codes are joined by one space.  Only a-z count: other
 * characters are skipped, and a word with no a-z gives nothing.  The output
 * is ASCII letters and spaces.  Rules, per word:
 *   - doubled letters become single ("Schmitt" is "Schmit");
 *   - one final s, t, x, d or z is dropped, then a final e (each only from
 *     a word of 3 letters or more); words are cut after 64 letters;
 *   - ph->f, qu/q->k, ck->k, c before e/i/y->s, other c->k, ch/sh/sch->C,
 *     gu before a vowel->g, g before e/i/y->j, gn->N, w->v, x->ks, b before
 *     v dropped, h silent, z->s, y is the vowel i;
 *   - eau/au/o->o, ai/ay/ei/ey/eu->e, ou->u, oi/oy->W;
 *   - nasals (vowel + n/m, then a consonant other than n/m, or the end):
 *     an/am/en/em->A, in/im/yn/ym/ain/ein/un/um->I, on/om->O;
 *   - then runs of the same symbol collapse to one.
 * So Lefèvre, Lefebvre, Lefeuvre -> "lefevr"; Dupont, Dupond -> "dupO";
 * Martin, Martine -> "martI" (the final e drop makes them one code).
 * Limits: a cedilla is already gone after nv_norm_name, so "ç" codes like
 * "c" (François -> "frAkW"); no exceptions for loan words or silent
 * endings other than the above; different sounds may collide and the same
 * sound may get different codes: Jean and Jeanne share "jeA", Renaud is
 * "reno" but Renault "renol".
 */
int nv_phonetic_fr(const char *norm_name, struct nv_buf *out)
    __attribute__((warn_unused_result));

/*
 * Jaro-Winkler similarity of two UTF-8 strings, on code points (an invalid
 * byte counts as one U+FFFD), in [0, 1]: Jaro with the match window
 * max(len)/2 - 1, plus the Winkler bonus 0.1 * common prefix (up to 4) *
 * (1 - jaro).  Two empty strings give 1, one empty string 0.  NULL is "".
 */
double nv_jaro_winkler(const char *a, const char *b);
/* The same on a[la] and b[lb] (NUL-terminated at those lengths), without
 * decoding when both are ASCII of at most 64 bytes (the matcher's hot path). */
double nv_jaro_winkler_n(const char *a, size_t la, const char *b, size_t lb);

/*
 * Levenshtein distance on code points (insert, delete, substitute, each 1),
 * capped: returns min(distance, max + 1), stopping early once the cap is
 * certain.  NULL is "".
 */
size_t nv_levenshtein(const char *a, const char *b, size_t max);

#endif
