/*
 * dashboard.c - the hub's facts and alerts (ops.h) as one self-contained
 * HTML page: inline CSS and SVG, no request to any network (air-gapped
 * sites), readable on a laptop and printable.  Aggregates only.
 *
 * Every chart is <svg class="chart" data-chart=NAME>; its data marks carry
 * class "mark" (a chart without data says so in a text "mark"), thresholds
 * and targets drawn across it class "rule".  The figures also shown by `status --json` carry
 * data-k="PATH" (e.g. matching.rcus) so a test can compare them.  A short
 * inline script checks on load that every chart drew marks (console.error
 * otherwise) and notes the count in <body data-charts data-marks>.
 */
#include <stdio.h>
#include <string.h>

#include "../../formats/errors.h"
#include "../../formats/util.h"
#include "ops.h"

#define DAYS 30

static void
esc(FILE *f, const char *s)
{
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static long long
ival(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static const char *
sval(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s ? s : "";
}

static void
figure(FILE *f, const char *label, const char *key, long long v)
{
    fprintf(f, "<div class=\"fig\"><span class=\"n\" data-k=\"%s\">%lld</span>"
               "<span class=\"l\">", key, v);
    esc(f, label);
    fputs("</span></div>\n", f);
}

static const char CSS[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;"
    "color:#222;padding:0 1em}h1{font-size:1.5em;margin:0}h2{font-size:1.15em;"
    "border-bottom:2px solid #ddd;margin-top:1.8em}.sub{color:#666}"
    ".figs{display:flex;flex-wrap:wrap;gap:.6em}.fig{border:1px solid #ddd;"
    "border-radius:6px;padding:.4em .8em;min-width:8em}.fig .n{display:block;"
    "font-size:1.5em;font-weight:600}.fig .l{color:#555;font-size:.9em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #eee;"
    "padding:.2em .6em;text-align:left;vertical-align:top}th{background:#f6f6f6}"
    "td.num{text-align:right}.critical{color:#b00020;font-weight:600}"
    ".warning{color:#a05a00;font-weight:600}.ok{color:#1b7f3b}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));"
    "gap:1em;margin-top:.6em}.card{border:1px solid #e4e4e4;border-radius:6px;padding:.6em}"
    "svg{display:block}svg text{font:11px system-ui,sans-serif;fill:#444}"
    ".axis{stroke:#999;stroke-width:1}.bar{fill:#3d6fb6}.rec{stroke:#e08a1e;"
    "fill:none;stroke-width:1.5}.late{fill:#f3c4c4}.bad{fill:#c0392b}"
    ".tgt{stroke:#a05a00;stroke-width:2}.dl{stroke:#b00020;stroke-width:2}"
    ".now{stroke:#222;stroke-dasharray:3 2}"
    "@media print{body{max-width:none}.card{break-inside:avoid}}";

/* The check run on load: every chart has drawn marks. */
static const char SCRIPT[] =
    "(function(){var c=document.querySelectorAll('svg.chart'),m=0,bad=0;"
    "for(var i=0;i<c.length;i++){var n=c[i].querySelectorAll('.mark').length;"
    "c[i].setAttribute('data-marks',n);m+=n;if(n===0){bad++;console.error("
    "'chart '+c[i].getAttribute('data-chart')+' drew no marks');}}"
    "document.body.setAttribute('data-charts',c.length);"
    "document.body.setAttribute('data-marks',m);"
    "document.body.setAttribute('data-empty-charts',bad);})();";

/* Bundles per day (bars) and records per day (line), days without a
 * bundle of an entity with a cadence of a day or less marked late. */
static void
flow_chart(FILE *f, const char *ent, const json_t *fl, int64_t cadence, int64_t now)
{
    const json_t *d = json_object_get(fl, "days"), *dr = json_object_get(fl, "days_records");
    const int W = 360, H = 120, L = 30, B = 20;
    double bw = (double)(W - L) / DAYS;
    long long maxb = 1, maxr = 1, first = -1;
    char day[21];

    for (int i = 0; i < DAYS; i++) {
        long long b = (long long)json_integer_value(json_array_get(d, (size_t)i));
        long long r = (long long)json_integer_value(json_array_get(dr, (size_t)i));
        if (b > maxb)
            maxb = b;
        if (r > maxr)
            maxr = r;
        if (b > 0 && first < 0)
            first = i;
    }
    fputs("<div class=\"card\"><b>", f);
    esc(f, ent);
    fprintf(f, "</b> <span class=\"sub\">%lld bundles, %lld records in all; seq %lld",
            ival(fl, "bundles"), ival(fl, "upserts") + ival(fl, "deletes") + ival(fl, "acks"),
            ival(fl, "seq"));
    if (cadence > 0 && cadence % 86400 == 0)
        fprintf(f, "; expected every %lld d", (long long)(cadence / 86400));
    else if (cadence > 0 && cadence % 3600 == 0)
        fprintf(f, "; expected every %lld h", (long long)(cadence / 3600));
    else if (cadence > 0)
        fprintf(f, "; expected every %lld min", (long long)(cadence / 60));
    fputs("</span>\n", f);
    fputs("<svg class=\"chart\" data-chart=\"flow-", f);
    esc(f, ent);
    fprintf(f, "\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
               "<title>bundles (bars) and records (line) per day, last 30 days</title>\n",
            W, H + B, W, H + B);
    for (int i = 0; i < DAYS; i++) {
        long long b = (long long)json_integer_value(json_array_get(d, (size_t)i));
        double x = L + i * bw, h = (double)b / (double)maxb * (H - 10);
        if (b == 0 && cadence > 0 && cadence <= 86400 && first >= 0 && i > first)
            fprintf(f, "<rect class=\"late mark\" x=\"%.1f\" y=\"0\" width=\"%.1f\" "
                       "height=\"%d\"><title>no bundle: late</title></rect>",
                    x, bw, H);
        if (b > 0)
            fprintf(f, "<rect class=\"bar mark\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                       "height=\"%.1f\"><title>%lld bundle(s)</title></rect>",
                    x + 1, H - h, bw - 2, h, b);
    }
    fputs("<polyline class=\"rec mark\" points=\"", f);
    for (int i = 0; i < DAYS; i++) {
        long long r = (long long)json_integer_value(json_array_get(dr, (size_t)i));
        fprintf(f, "%.1f,%.1f ", L + i * bw + bw / 2, H - (double)r / (double)maxr * (H - 10));
    }
    fputs("\"/>", f);
    fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
               "<line class=\"axis\" x1=\"%d\" y1=\"0\" x2=\"%d\" y2=\"%d\"/>"
               "<text x=\"0\" y=\"10\">%lld</text><text x=\"0\" y=\"%d\">0</text>",
            L, H, W, H, L, L, H, maxb, H);
    fprintf(f, "<text x=\"%d\" y=\"%d\">%.10s</text>", L, H + 14,
            nv_time_format(now - (DAYS - 1) * 86400, day));
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">today</text></svg></div>\n",
            W, H + 14);
}

/* Horizontal bars of (label, value) pairs in o ({label: n}). */
static void
hbars(FILE *f, const char *name, const json_t *o, const char *cls)
{
    const char *k;
    json_t *v;
    long long max = 1;
    size_t n = json_object_size(o), i = 0;
    const int W = 360, L = 150, RH = 18;

    json_object_foreach((json_t *)o, k, v)
        if (json_integer_value(v) > max)
            max = (long long)json_integer_value(v);
    fputs("<svg class=\"chart\" data-chart=\"", f);
    esc(f, name);
    fprintf(f, "\" width=\"%d\" height=\"%zu\" viewBox=\"0 0 %d %zu\">", W,
            (n ? n : 1) * RH + 4, W, (n ? n : 1) * RH + 4);
    if (n == 0)
        fprintf(f, "<text class=\"mark\" x=\"0\" y=\"14\">none</text>");
    json_object_foreach((json_t *)o, k, v) {
        double w = (double)json_integer_value(v) / (double)max * (W - L - 50);
        fprintf(f, "<text x=\"%d\" y=\"%zu\" text-anchor=\"end\">", L - 4, i * RH + 13);
        esc(f, k);
        fprintf(f, "</text><rect class=\"%s mark\" x=\"%d\" y=\"%zu\" width=\"%.1f\" "
                   "height=\"%d\"/><text x=\"%.1f\" y=\"%zu\">%lld</text>",
                cls, L, i * RH + 2, w > 1 ? w : 1, RH - 5, L + (w > 1 ? w : 1) + 4,
                i * RH + 13, (long long)json_integer_value(v));
        i++;
    }
    fputs("</svg>\n", f);
}

static void
alerts_section(FILE *f, const json_t *alerts)
{
    json_t *x;
    size_t i;

    fprintf(f, "<h2>Alerts now <span class=\"sub\">(<span data-k=\"alerts\">%zu</span>)"
               "</span></h2>\n", json_array_size(alerts));
    if (json_array_size(alerts) == 0) {
        fputs("<p class=\"ok\">Nothing fires.</p>\n", f);
        return;
    }
    fputs("<table><tr><th>severity</th><th>alert</th><th>entity</th><th>since</th>"
          "<th>what</th><th>what to do</th></tr>\n", f);
    json_array_foreach(alerts, i, x) {
        fprintf(f, "<tr><td class=\"%s\">%s</td><td>", sval(x, "severity"),
                sval(x, "severity"));
        esc(f, sval(x, "alert"));
        fputs("</td><td>", f);
        esc(f, sval(x, "entity"));
        fputs("</td><td>", f);
        esc(f, sval(x, "since"));
        fputs("</td><td>", f);
        esc(f, sval(x, "summary"));
        fputs("</td><td>", f);
        esc(f, sval(x, "action"));
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* The best link score of each record linked or in review (bars), the
 * review and link thresholds drawn across. */
static void
weights_chart(FILE *f, const json_t *w)
{
    const json_t *c = json_object_get(w, "counts");
    size_t n = json_array_size(c), i;
    const int W = 360, H = 120, L = 30, B = 28;
    double from = json_number_value(json_object_get(w, "from"));
    double bin = (double)json_integer_value(json_object_get(w, "bin"));
    double link = json_number_value(json_object_get(w, "link"));
    double review = json_number_value(json_object_get(w, "review"));
    double bw = n ? (double)(W - L) / (double)n : 1;
    long long max = 1;

    if (bin <= 0)
        bin = 1;
    for (i = 0; i < n; i++)
        if (json_integer_value(json_array_get(c, i)) > max)
            max = (long long)json_integer_value(json_array_get(c, i));
    fprintf(f, "<div class=\"card\"><b>Match weights</b> <span class=\"sub\">(best link "
               "score of <span data-k=\"weights.scored\">%lld</span> records linked or in "
               "review, bits; orange: review threshold, red: link threshold)</span>\n"
               "<svg class=\"chart\" data-chart=\"match-weights\" width=\"%d\" "
               "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\"><title>match-weight "
               "histogram with the thresholds</title>",
            ival(w, "scored"), W, H + B, W, H + B);
#define X(s) (L + ((s) - from) / bin * bw)
    for (i = 0; i < n; i++) {
        long long k = (long long)json_integer_value(json_array_get(c, i));
        double h = (double)k / (double)max * (H - 10);
        if (k > 0)
            fprintf(f, "<rect class=\"bar mark\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                       "height=\"%.1f\"><title>%g to %g bits: %lld</title></rect>",
                    L + i * bw + 0.5, H - h, bw > 1.5 ? bw - 1 : bw, h, from + i * bin,
                    from + (i + 1) * bin, k);
    }
    if (ival(w, "scored") == 0)
        fprintf(f, "<text class=\"mark\" x=\"%d\" y=\"%d\">no record linked yet</text>",
                L + 10, H / 2);
    fprintf(f, "<line class=\"tgt rule\" x1=\"%.1f\" x2=\"%.1f\" y1=\"0\" y2=\"%d\">"
               "<title>review threshold %g bits</title></line>"
               "<line class=\"dl rule\" x1=\"%.1f\" x2=\"%.1f\" y1=\"0\" y2=\"%d\">"
               "<title>link threshold %g bits</title></line>",
            X(review), X(review), H, review, X(link), X(link), H, link);
    fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
               "<text x=\"0\" y=\"10\">%lld</text><text x=\"%d\" y=\"%d\">%g</text>"
               "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%g bits</text>"
               "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">review</text>"
               "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">link</text></svg></div>",
            L, H, W, H, max, L, H + 13, from, W, H + 13, from + (double)n * bin, X(review),
            H + 25, X(link), H + 25);
#undef X
}

static void
matching_section(FILE *f, const json_t *facts)
{
    const json_t *st = json_object_get(facts, "status"), *mf = json_object_get(st, "matching");
    const json_t *pe = json_object_get(facts, "people"), *rv = json_object_get(facts, "review");
    json_t *pairs = json_object(), *x;
    size_t i;
    long long oldest = ival(rv, "oldest"), now = ival(facts, "now");

    fputs("<h2>Matching quality</h2>\n<div class=\"figs\">\n", f);
    figure(f, "records linked", "matching.records", ival(mf, "records"));
    figure(f, "people (RCUs)", "matching.rcus", ival(mf, "rcus"));
    figure(f, "people in several entities", "matching.in_several_entities",
           ival(mf, "in_several_entities"));
    figure(f, "duplicate records inside one entity", "matching.duplicate_records",
           ival(mf, "duplicate_records"));
    figure(f, "review pairs open", "matching.review_pairs", ival(mf, "review_pairs"));
    fprintf(f, "<div class=\"fig\"><span class=\"n\">%lld</span><span class=\"l\">"
               "age of the oldest review pair, hours</span></div>\n",
            oldest ? (now - oldest) / 3600 : 0LL);
    fputs("</div>\n<div class=\"grid\"><div class=\"card\"><b>People by number of entities "
          "that know them</b>\n", f);
    hbars(f, "people-by-entities", json_object_get(pe, "by_entities"), "bar");
    fputs("</div><div class=\"card\"><b>People shared by each pair of entities</b>"
          " <span class=\"sub\">(duplicates across entities, merged into one RCU)</span>\n",
          f);
    json_array_foreach(json_object_get(pe, "pairs"), i, x) {
        char k[160];
        snprintf(k, sizeof(k), "%s + %s", sval(x, "a"), sval(x, "b"));
        json_object_set(pairs, k, json_object_get(x, "people"));
    }
    hbars(f, "people-shared", pairs, "bar");
    json_decref(pairs);
    fputs("</div>", f);
    weights_chart(f, json_object_get(facts, "weights"));
    fputs("</div>\n", f);
}

static void
quality_section(FILE *f, const json_t *facts)
{
    const json_t *st = json_object_get(facts, "status");
    json_t *x, *r;
    size_t i, j;

    fputs("<h2>Data quality per entity</h2>\n<div class=\"grid\">\n", f);
    json_array_foreach(json_object_get(st, "entities"), i, x) {
        const char *ent = sval(x, "entity");
        json_t *rej = json_object(), *un = json_object_get(json_object_get(facts, "unparsed"), ent);
        char name[128];
        fputs("<div class=\"card\"><b>", f);
        esc(f, ent);
        fprintf(f, "</b> <span class=\"sub\"><span data-k=\"entities.%s.records\">%lld"
                   "</span> records, <span data-k=\"entities.%s.rejected\">%lld</span> "
                   "rejected, <span data-k=\"entities.%s.not_normalised.values\">%lld</span> "
                   "values not parsed</span>\n", ent, ival(x, "records"), ent,
                ival(x, "rejected"), ent,
                ival(json_object_get(x, "not_normalised"), "values"));
        json_array_foreach(json_object_get(x, "reasons"), j, r)
            json_object_set(rej, sval(r, "reason"), json_object_get(r, "count"));
        fputs("<div class=\"sub\">values not parsed, by field</div>", f);
        snprintf(name, sizeof(name), "unparsed-%s", ent);
        if (un != NULL && json_object_size(un) > 0)
            hbars(f, name, un, "bad");
        else
            fputs("<p class=\"ok\">every value parsed</p>", f);
        fputs("<div class=\"sub\">records rejected, by reason</div>", f);
        snprintf(name, sizeof(name), "rejects-%s", ent);
        if (json_object_size(rej) > 0)
            hbars(f, name, rej, "bad");
        else
            fputs("<p class=\"ok\">no record rejected</p>", f);
        json_decref(rej);
        fputs("</div>\n", f);
    }
    fputs("</div>\n", f);
}

/* Erasures completed: the mean days from request to completion per month
 * (bars), the target drawn across. */
static void
erasure_chart(FILE *f, const json_t *er)
{
    const json_t *ms = json_object_get(er, "months"), *m;
    size_t n = json_array_size(ms), i;
    const int W = 360, H = 120, L = 30, B = 20;
    double target = (double)json_integer_value(json_object_get(er, "target_days"));
    double max = target * 1.5, bw = n ? (double)(W - L) / (double)n : 1;
    long long done = ival(er, "completed");

    json_array_foreach(ms, i, m)
        if (json_number_value(json_object_get(m, "mean_days")) > max)
            max = json_number_value(json_object_get(m, "mean_days"));
    fprintf(f, "<div class=\"card\"><b>Erasure timeline</b> <span class=\"sub\">"
               "<span data-k=\"gdpr.erasure.completed\">%lld</span> erasure(s) completed, "
               "on average in %.1f days (longest %.1f), %lld within the %g-day target "
               "(red line)</span>\n<svg class=\"chart\" data-chart=\"erasure-days\" "
               "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\"><title>mean "
               "days from request to completion, by month of completion</title>",
            done, json_number_value(json_object_get(er, "mean_days")),
            json_number_value(json_object_get(er, "max_days")), ival(er, "within_target"),
            target, W, H + B, W, H + B);
#define Y(d) (H - (d) / max * (H - 10))
    json_array_foreach(ms, i, m) {
        double d = json_number_value(json_object_get(m, "mean_days"));
        long long k = ival(m, "completed");
        if (k > 0)
            fprintf(f, "<rect class=\"%s mark\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                       "height=\"%.1f\"><title>%s: %lld erasure(s), %.1f days on average"
                       "</title></rect>",
                    d > target ? "bad" : "bar", L + i * bw + 4, Y(d), bw - 8,
                    H - Y(d) > 1 ? H - Y(d) : 1, sval(m, "month"), k, d);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>",
                L + i * bw + bw / 2, H + 14, sval(m, "month"));
    }
    fprintf(f, "<line class=\"dl rule\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\">"
               "<title>target: %g days</title></line><text x=\"0\" y=\"%.1f\">%gd</text>"
               "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>",
            L, W, Y(target), Y(target), target, Y(target) + 4, target, L, H, W, H);
    if (done == 0)
        fprintf(f, "<text class=\"mark\" x=\"%d\" y=\"%d\">no erasure completed yet</text>",
                L + 10, H / 2);
    fputs("</svg></div>", f);
#undef Y
}

/* Open requests on a time line: received .. deadline, the target and now
 * marked. */
static void
gdpr_section(FILE *f, const json_t *facts)
{
    const json_t *g = json_object_get(facts, "gdpr"), *open = json_object_get(g, "open");
    json_t *ks, *v, *x, *bars = json_object();
    const char *kind, *status;
    int64_t now = json_integer_value(json_object_get(facts, "now")), t0 = now, t1 = now + 86400;
    size_t i, n = json_array_size(open);
    const int W = 700, L = 120, RH = 20;
    char d[21];

    json_object_foreach(json_object_get(g, "counts"), kind, ks)
        json_object_foreach(ks, status, v) {
            char k[96];
            snprintf(k, sizeof(k), "%s %s", kind, status);
            json_object_set(bars, k, v);
        }
    fputs("<h2>GDPR requests</h2>\n<div class=\"grid\"><div class=\"card\"><b>Requests by "
          "kind and status</b>\n", f);
    hbars(f, "gdpr-status", bars, "bar");
    json_decref(bars);
    fputs("</div>", f);
    erasure_chart(f, json_object_get(g, "erasure"));
    fputs("</div>\n", f);
    if (n == 0) {
        fputs("<p class=\"ok\">No request open.</p>\n", f);
        return;
    }
    json_array_foreach(open, i, x) {
        if (json_integer_value(json_object_get(x, "received")) < t0)
            t0 = json_integer_value(json_object_get(x, "received"));
        if (json_integer_value(json_object_get(x, "deadline")) > t1)
            t1 = json_integer_value(json_object_get(x, "deadline"));
    }
#define X(t) (L + (double)((t) - t0) / (double)(t1 - t0) * (W - L - 10))
    fprintf(f, "<div class=\"card\"><b>Open requests against their deadlines</b> "
               "<span class=\"sub\">(bar: received to legal deadline; orange: the group's "
               "target; dashed: now)</span>\n<svg class=\"chart\" data-chart=\"gdpr-deadlines\" "
               "width=\"%d\" height=\"%zu\" viewBox=\"0 0 %d %zu\">", W, n * RH + 20, W,
            n * RH + 20);
    json_array_foreach(open, i, x) {
        int64_t rc = json_integer_value(json_object_get(x, "received"));
        int64_t dl = json_integer_value(json_object_get(x, "deadline"));
        int64_t tg = json_integer_value(json_object_get(x, "target"));
        fprintf(f, "<text x=\"0\" y=\"%zu\">%s %s</text>", i * RH + 14, sval(x, "id"),
                sval(x, "kind"));
        fprintf(f, "<rect class=\"%s mark\" x=\"%.1f\" y=\"%zu\" width=\"%.1f\" "
                   "height=\"%d\"><title>deadline %.10s</title></rect>",
                now >= dl - 5 * 86400 ? "bad" : "bar", X(rc), i * RH + 3,
                X(dl) - X(rc) > 1 ? X(dl) - X(rc) : 1, RH - 6, nv_time_format(dl - 1, d));
        fprintf(f, "<line class=\"tgt mark\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%zu\" y2=\"%zu\"/>",
                X(tg), X(tg), i * RH + 1, i * RH + RH - 1);
    }
    fprintf(f, "<line class=\"now\" x1=\"%.1f\" x2=\"%.1f\" y1=\"0\" y2=\"%zu\"/>"
               "<text x=\"%.1f\" y=\"%zu\">now</text></svg></div>\n",
            X(now), X(now), n * RH, X(now) - 10, n * RH + 14);
#undef X
}

int
nv_ops_dashboard(const json_t *facts, const json_t *alerts, FILE *f)
{
    const json_t *st = json_object_get(facts, "status"), *fl = json_object_get(facts, "flows");
    const json_t *cad = json_object_get(json_object_get(facts, "expect"), "cadence");
    int64_t now = json_integer_value(json_object_get(facts, "now"));
    const char *ent;
    json_t *x;
    char when[21];

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"viewport\" content=\"width=device-width\">\n<title>nova hub ", f);
    esc(f, sval(st, "hub"));
    fprintf(f, "</title>\n<style>%s</style></head>\n<body>\n<h1>nova hub ", CSS);
    esc(f, sval(st, "hub"));
    fprintf(f, "</h1>\n<div class=\"sub\">generated %s &middot; aggregates only: no name, "
               "e-mail or phone</div>\n<div class=\"figs\" style=\"margin-top:.8em\">\n",
            nv_time_format(now, when));
    figure(f, "entities", "entities.length", (long long)json_array_size(json_object_get(st, "entities")));
    figure(f, "bundles in the inbox", "inbox", ival(st, "inbox"));
    figure(f, "bundles in quarantine", "quarantine", ival(st, "quarantine"));
    figure(f, "updates queued", "updates_queued", ival(st, "updates_queued"));
    figure(f, "streams waiting for a missing bundle", "waiting.length",
           (long long)json_array_size(json_object_get(st, "waiting")));
    fputs("</div>\n", f);
    alerts_section(f, alerts);
    fputs("<h2>Flows, last 30 days</h2>\n<div class=\"grid\">\n", f);
    json_object_foreach((json_t *)fl, ent, x)
        flow_chart(f, ent, x, json_integer_value(json_object_get(cad, ent)), now);
    if (json_object_size(fl) == 0)
        fputs("<p>No entity has sent anything yet.</p>", f);
    fputs("</div>\n", f);
    matching_section(f, facts);
    quality_section(f, facts);
    gdpr_section(f, facts);
    fprintf(f, "<script>%s</script>\n</body></html>\n", SCRIPT);
    if (ferror(f))
        return nv_fail(NV_ESYS, "cannot write the dashboard");
    return 0;
}
