#ifndef VAULT_CCURL_SHIM_H
#define VAULT_CCURL_SHIM_H
/* Typed, non-variadic entry points into libcurl for Swift. libcurl (Debian's libcurl.so.4) is loaded with dlopen on
 * first use, so commands that never touch the network (a cached `vault token`) do not pay for loading it and its
 * ~35 dependent libraries. No logic here beyond resolving the symbols. */
#include <curl/curl.h>

typedef size_t (*vault_curl_data_callback)(char *data, size_t size, size_t nmemb, void *context);
/* CURLOPT_PREREQFUNCTION's shape (libcurl >= 7.80): called once the connection is up, right before the request is
 * sent; CURL_PREREQFUNC_ABORT stops it unsent. */
typedef int (*vault_curl_prereq_callback)(void *context, char *primary_ip, char *local_ip, int primary_port, int local_port);

/* Loads libcurl and resolves every function below; 0 on success. On failure `error` holds dlerror()'s text. */
int vault_curl_load(char *error, size_t error_size);

CURLcode vault_curl_global_init(long flags);
CURL *vault_curl_easy_init(void);
void vault_curl_easy_cleanup(CURL *handle);
void vault_curl_easy_reset(CURL *handle);
CURLcode vault_curl_easy_perform(CURL *handle);
const char *vault_curl_easy_strerror(CURLcode code);
struct curl_slist *vault_curl_slist_append(struct curl_slist *list, const char *string);
void vault_curl_slist_free_all(struct curl_slist *list);

CURLcode vault_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode vault_curl_setopt_offt(CURL *handle, CURLoption option, curl_off_t value);
CURLcode vault_curl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode vault_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value);
CURLcode vault_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode vault_curl_setopt_write_callback(CURL *handle, vault_curl_data_callback callback, void *context);
CURLcode vault_curl_setopt_header_callback(CURL *handle, vault_curl_data_callback callback, void *context);
CURLcode vault_curl_setopt_prereq_callback(CURL *handle, vault_curl_prereq_callback callback, void *context);
CURLcode vault_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);
#endif
