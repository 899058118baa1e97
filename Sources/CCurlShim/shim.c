#include "CCurlShim.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
} fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[256];
static int load_status = -1;

static void load(void) {
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) { snprintf(load_error, sizeof load_error, "%s", dlerror()); return; }
#define SYM(field, name) if (!(*(void **)&fn.field = dlsym(lib, name))) { snprintf(load_error, sizeof load_error, "libcurl lacks %s", name); return; }
    SYM(global_init, "curl_global_init")
    SYM(easy_init, "curl_easy_init")
    SYM(easy_cleanup, "curl_easy_cleanup")
    SYM(easy_reset, "curl_easy_reset")
    SYM(easy_perform, "curl_easy_perform")
    SYM(easy_strerror, "curl_easy_strerror")
    SYM(slist_append, "curl_slist_append")
    SYM(slist_free_all, "curl_slist_free_all")
    SYM(easy_setopt, "curl_easy_setopt")
    SYM(easy_getinfo, "curl_easy_getinfo")
#undef SYM
    load_status = 0;
}

int vault_curl_load(char *error, size_t error_size) {
    pthread_once(&once, load);
    if (load_status != 0 && error && error_size) snprintf(error, error_size, "%s", load_error);
    return load_status;
}

/* The functions below are only called after vault_curl_load() returned 0. */
CURLcode vault_curl_global_init(long flags) { return fn.global_init(flags); }
CURL *vault_curl_easy_init(void) { return fn.easy_init(); }
void vault_curl_easy_cleanup(CURL *h) { fn.easy_cleanup(h); }
void vault_curl_easy_reset(CURL *h) { fn.easy_reset(h); }
CURLcode vault_curl_easy_perform(CURL *h) { return fn.easy_perform(h); }
const char *vault_curl_easy_strerror(CURLcode c) { return fn.easy_strerror(c); }
struct curl_slist *vault_curl_slist_append(struct curl_slist *l, const char *s) { return fn.slist_append(l, s); }
void vault_curl_slist_free_all(struct curl_slist *l) { fn.slist_free_all(l); }

CURLcode vault_curl_setopt_long(CURL *h, CURLoption o, long v) { return fn.easy_setopt(h, o, v); }
CURLcode vault_curl_setopt_offt(CURL *h, CURLoption o, curl_off_t v) { return fn.easy_setopt(h, o, v); }
CURLcode vault_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return fn.easy_setopt(h, o, v); }
CURLcode vault_curl_setopt_pointer(CURL *h, CURLoption o, const void *v) { return fn.easy_setopt(h, o, v); }
CURLcode vault_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return fn.easy_setopt(h, o, v); }

CURLcode vault_curl_setopt_write_callback(CURL *h, vault_curl_data_callback cb, void *ctx) {
    CURLcode rc = fn.easy_setopt(h, CURLOPT_WRITEFUNCTION, cb);
    return rc != CURLE_OK ? rc : fn.easy_setopt(h, CURLOPT_WRITEDATA, ctx);
}

CURLcode vault_curl_setopt_prereq_callback(CURL *h, vault_curl_prereq_callback cb, void *ctx) {
    CURLcode rc = fn.easy_setopt(h, CURLOPT_PREREQFUNCTION, cb);
    return rc != CURLE_OK ? rc : fn.easy_setopt(h, CURLOPT_PREREQDATA, ctx);
}

CURLcode vault_curl_setopt_header_callback(CURL *h, vault_curl_data_callback cb, void *ctx) {
    CURLcode rc = fn.easy_setopt(h, CURLOPT_HEADERFUNCTION, cb);
    return rc != CURLE_OK ? rc : fn.easy_setopt(h, CURLOPT_HEADERDATA, ctx);
}

CURLcode vault_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return fn.easy_getinfo(h, i, v); }
