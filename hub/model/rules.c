/*
 * rules.c - the survivorship rules file (format: hub/rules.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../formats/errors.h"
#include "../../formats/util.h"
#include "rules.h"

int
nv_golden_field(int f)
{
    return f >= 0 && f < NV_F_COUNT && f != NV_F_CREATED_AT && f != NV_F_UPDATED_AT;
}

void
nv_rules_default(struct nv_rules *r)
{
    memset(r, 0, sizeof(*r));
    for (int f = 0; f < NV_F_COUNT; f++)
        r->update[f] = nv_golden_field(f) && f != NV_F_CONSENT && f != NV_F_PERSON_ID;
}

void
nv_rules_release(struct nv_rules *r)
{
    for (int f = 0; f < NV_F_COUNT; f++) {
        for (size_t i = 0; i < r->nprio[f]; i++)
            free(r->prio[f][i]);
        free(r->prio[f]);
    }
    for (size_t i = 0; i < r->nany; i++)
        free(r->any[i]);
    free(r->any);
    memset(r, 0, sizeof(*r));
}

#define RULES_MAX_TOKENS 256

/* Split one line into blank-separated tokens (a '#' token starts a
 * comment); the line is modified. */
static size_t
tokens(char *line, char **tok, size_t max)
{
    size_t n = 0;
    char *p = line;

    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\0' || *p == '#' || n == max)
            return n;
        tok[n++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r')
            p++;
        if (*p)
            *p++ = '\0';
    }
}

int
nv_rules_parse(const char *text, size_t len, struct nv_rules *out)
{
    char *copy, *line, *save = NULL;
    int lineno = 0, version = 0, r = 0;
    int seen_update[NV_F_COUNT] = { 0 };

    nv_rules_default(out);
    if (len > NV_RULES_MAX_TEXT)
        return nv_fail(NV_EFORMAT, "rules: over %u bytes", NV_RULES_MAX_TEXT);
    if (memchr(text, '\0', len) != NULL)
        return nv_fail(NV_EFORMAT, "rules: a NUL byte (not a text file)");
    if ((copy = strndup(text, len)) == NULL)
        return nv_fail(NV_ENOMEM, "out of memory");
#define BAD(...)                                                                  \
    do {                                                                          \
        char m_[256];                                                             \
        snprintf(m_, sizeof(m_), __VA_ARGS__);                                    \
        r = nv_fail(NV_EFORMAT, "rules line %d: %s", lineno, m_);                 \
        goto out;                                                                 \
    } while (0)
    /* strtok_r would merge empty lines and lose the line numbers */
    for (line = copy; line != NULL; line = save) {
        char *tok[RULES_MAX_TOKENS];
        size_t nt;
        save = strchr(line, '\n');
        if (save != NULL)
            *save++ = '\0';
        lineno++;
        nt = tokens(line, tok, RULES_MAX_TOKENS);
        if (nt == 0)
            continue;
        if (nt == RULES_MAX_TOKENS)
            BAD("over %d words", RULES_MAX_TOKENS - 1);
        if (!version) {
            if (strcmp(tok[0], "nova-survivorship") != 0 || nt != 2 || strcmp(tok[1], "1") != 0)
                BAD("the first directive must be 'nova-survivorship 1'");
            version = 1;
            continue;
        }
        if (strcmp(tok[0], "priority") == 0) {
            char ***dst;
            size_t *ndst;
            int f = -1;
            if (nt < 3)
                BAD("priority FIELD|* ENTITY... (at least one entity)");
            if (strcmp(tok[1], "*") == 0) {
                dst = &out->any;
                ndst = &out->nany;
            } else {
                if ((f = nv_field_lookup(tok[1])) < 0 || !nv_golden_field(f))
                    BAD("'%s' is not a field of golden records", tok[1]);
                dst = &out->prio[f];
                ndst = &out->nprio[f];
            }
            if (*dst != NULL)
                BAD("a second priority line for %s", tok[1]);
            if ((*dst = calloc(nt - 2, sizeof(char *))) == NULL) {
                r = nv_fail(NV_ENOMEM, "out of memory");
                goto out;
            }
            for (size_t i = 2; i < nt; i++) {
                if (!nv_name_valid(tok[i]))
                    BAD("'%.64s' is not an entity name", tok[i]);
                for (size_t j = 0; j < *ndst; j++)
                    if (strcmp((*dst)[j], tok[i]) == 0)
                        BAD("entity '%s' twice in one priority line", tok[i]);
                if (((*dst)[(*ndst)++] = strdup(tok[i])) == NULL) {
                    r = nv_fail(NV_ENOMEM, "out of memory");
                    goto out;
                }
            }
        } else if (strcmp(tok[0], "update") == 0 || strcmp(tok[0], "noupdate") == 0) {
            int on = tok[0][0] == 'u';
            if (nt < 2)
                BAD("%s FIELD...", tok[0]);
            for (size_t i = 1; i < nt; i++) {
                int f = nv_field_lookup(tok[i]);
                if (f < 0 || !nv_golden_field(f))
                    BAD("'%s' is not a field of golden records", tok[i]);
                if (seen_update[f])
                    BAD("%s is named twice in update/noupdate lines", tok[i]);
                seen_update[f] = 1;
                out->update[f] = on;
            }
        } else {
            BAD("unknown directive '%.40s' (priority, update, noupdate)", tok[0]);
        }
    }
    if (!version) {
        lineno = 1;
        BAD("the first directive must be 'nova-survivorship 1'");
    }
#undef BAD
out:
    free(copy);
    if (r < 0)
        nv_rules_release(out);
    return r;
}

/* Rank of entity for field f: its position in the field's priority line
 * (or the "*" line), or past the end. */
size_t
nv_rules_rank(const struct nv_rules *ru, int f, const char *entity)
{
    char **v = ru->prio[f] ? ru->prio[f] : ru->any;
    size_t n = ru->prio[f] ? ru->nprio[f] : ru->nany;

    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], entity) == 0)
            return i;
    return n;
}

