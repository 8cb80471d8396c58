/* SPDX-License-Identifier: MIT */
/* http.c — the operator's two HTTP calls over libcurl: a GET to Prometheus
 * and a POST to a webhook, each bounded by its timeout. */
#define _DEFAULT_SOURCE /* strdup */
#include "operator.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
    char *data;
    size_t len;
    int failed;
} sink;

/* An answer larger than this is not a Prometheus instant query's. */
#define OP_HTTP_MAX_BODY (4u << 20)

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t add = size * n;
    if (s->len + add > OP_HTTP_MAX_BODY) {
        s->failed = 1;
        return 0;
    }
    char *d = realloc(s->data, s->len + add + 1);
    if (!d) {
        s->failed = 1;
        return 0;
    }
    memcpy(d + s->len, p, add);
    s->len += add;
    d[s->len] = '\0';
    s->data = d;
    return add;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    return size * n;
}

static CURL *easy(const char *url, long timeout_ms)
{
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "rollout-operator");
    return c;
}

int op_http_get(const char *url, long timeout_ms, char **body, size_t *len, long *status,
                char *why, size_t cap)
{
    sink s = {0};
    *body = NULL;
    *status = 0;
    CURL *c = easy(url, timeout_ms);
    if (!c) {
        snprintf(why, cap, "cannot start an HTTP request");
        return 1;
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(why, cap, "%s", s.failed ? "the answer is too large" : curl_easy_strerror(rc));
        free(s.data);
        curl_easy_cleanup(c);
        return 1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    *body = s.data ? s.data : strdup("");
    *len = s.len;
    return 0;
}

int op_http_post(const char *url, const char *key, const char *payload, long timeout_ms,
                 long *status, char *why, size_t cap)
{
    *status = 0;
    CURL *c = easy(url, timeout_ms);
    if (!c) {
        snprintf(why, cap, "cannot start an HTTP request");
        return 1;
    }
    char hdr[640];
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *h2 = h ? curl_slist_append(h, hdr) : NULL;
    if (!h2) {
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        snprintf(why, cap, "out of memory");
        return 1;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h2);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    int out = 1;
    if (rc != CURLE_OK) {
        snprintf(why, cap, "%s", curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (*status >= 200 && *status < 300)
            out = 0;
        else
            snprintf(why, cap, "HTTP status %ld", *status);
    }
    curl_slist_free_all(h2);
    curl_easy_cleanup(c);
    return out;
}
