/*
 * tool_replay - test helper: the state a hub would hold after applying
 * change records, and the state an export describes, in one comparable form.
 *
 *   tool_replay changes SOURCE FILE.ndjson...   apply records in order
 *   tool_replay export SOURCE KEYCOL FILE.csv   rows of a UTF-8 CSV export
 *   tool_replay store SOURCE RECORDS.ndjson     the records of nova-hub export
 *                                               DIR records ("-": stdin)
 *
 * Prints "key<TAB>canonical JSON of fields" lines sorted by key.  With
 * "changes", exits 3 if an upsert repeats the current content of its record
 * or a delete removes an unknown record (a change shipped twice); with
 * "store", if a key appears twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../../formats/csv.h"
#include "../../formats/errors.h"
#include "../../formats/fileio.h"

static int
cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
print_state(json_t *state)
{
    const char **keys = malloc(json_object_size(state) * sizeof(char *) + 1);
    const char *k;
    json_t *v;
    size_t n = 0;

    json_object_foreach(state, k, v)
        keys[n++] = k;
    qsort(keys, n, sizeof(char *), cmp_keys);
    for (size_t i = 0; i < n; i++) {
        char *s = json_dumps(json_object_get(state, keys[i]), JSON_SORT_KEYS | JSON_COMPACT);
        printf("%s\t%s\n", keys[i], s);
        free(s);
    }
    free(keys);
    return 0;
}

int
main(int argc, char **argv)
{
    json_t *state = json_object();
    int redundant = 0;

    if (argc >= 4 && strcmp(argv[1], "changes") == 0) {
        for (int i = 3; i < argc; i++) {
            FILE *f = fopen(argv[i], "r");
            char *line = NULL;
            size_t cap = 0;
            ssize_t n;
            if (f == NULL) {
                perror(argv[i]);
                return 2;
            }
            while ((n = getline(&line, &cap, f)) > 0) {
                json_t *o = json_loadb(line, (size_t)n, 0, NULL);
                const char *op = json_string_value(json_object_get(o, "op"));
                const char *src = json_string_value(json_object_get(o, "source"));
                const char *key = json_string_value(json_object_get(o, "key"));
                if (o == NULL || op == NULL || key == NULL) {
                    fprintf(stderr, "%s: bad record\n", argv[i]);
                    return 2;
                }
                if (src == NULL || strcmp(src, argv[2]) != 0) {
                    json_decref(o);
                    continue;
                }

                if (strcmp(op, "upsert") == 0) {
                    json_t *cur = json_object_get(state, key);
                    json_t *fields = json_object_get(o, "fields");
                    if (cur != NULL && json_equal(cur, fields)) {
                        fprintf(stderr, "redundant upsert of a record\n");
                        redundant = 1;
                    }
                    json_object_set(state, key, fields);
                } else if (json_object_del(state, key) != 0) {
                    fprintf(stderr, "delete of an unknown record\n");
                    redundant = 1;
                }
                json_decref(o);
            }
            free(line);
            fclose(f);
        }
        print_state(state);
        json_decref(state);
        return redundant ? 3 : 0;
    }
    if (argc == 5 && strcmp(argv[1], "export") == 0) {
        struct nv_csv_dialect d = { 0, '"', 1, NV_ENC_UTF8 };
        struct nv_csv *c;
        const struct nv_csv_row *h, *row;
        int fd = nv_open_read(argv[4]), r, kc = -1;
        if (fd < 0 || nv_csv_open(&c, fd, &d, 0, 0) < 0) {
            fprintf(stderr, "%s: cannot read\n", argv[4]);
            return 2;
        }
        h = nv_csv_header(c);
        for (size_t i = 0; i < h->n; i++)
            if (strcmp(h->field[i], argv[3]) == 0)
                kc = (int)i;
        if (kc < 0)
            return 2;
        while ((r = nv_csv_next(c, &row)) != 0) {
            json_t *fields;
            if (r < 0)
                continue;
            fields = json_object();
            for (size_t i = 0; i < row->n; i++)
                json_object_set_new(fields, h->field[i], json_string(row->field[i]));
            json_object_set_new(state, row->field[kc], fields);
        }
        nv_csv_free(c);
        close(fd);
        print_state(state);
        json_decref(state);
        return 0;
    }

    if (argc == 4 && strcmp(argv[1], "store") == 0) {
        /* nova-hub export DIR records (ndjson): the hub's records now */
        FILE *f = strcmp(argv[3], "-") == 0 ? stdin : fopen(argv[3], "r");
        char *line = NULL;
        size_t cap = 0;
        if (f == NULL) {
            perror(argv[3]);
            return 2;
        }
        while (getline(&line, &cap, f) > 0) {
            json_t *o = json_loads(line, 0, NULL);
            const char *src = json_string_value(json_object_get(o, "source"));
            const char *key = json_string_value(json_object_get(o, "key"));
            if (o == NULL || key == NULL) {
                fprintf(stderr, "%s: bad record\n", argv[3]);
                return 2;
            }
            if (src != NULL && strcmp(src, argv[2]) == 0) {
                if (json_object_get(state, key) != NULL)
                    redundant = 1; /* a record twice */
                json_object_set(state, key, json_object_get(o, "fields"));
            }
            json_decref(o);
        }
        free(line);
        if (f != stdin)
            fclose(f);
        print_state(state);
        json_decref(state);
        return redundant ? 3 : 0;
    }

    fprintf(stderr, "usage: tool_replay changes SOURCE FILE... | export SOURCE KEYCOL FILE.csv"
            " | store SOURCE RECORDS.ndjson\n");
    return 2;
}
