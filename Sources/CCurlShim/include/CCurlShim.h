#ifndef VAULT_CCURL_SHIM_H
#define VAULT_CCURL_SHIM_H
/* Typed, non-variadic wrappers around libcurl's variadic calls, so Swift can call them. No logic here. */
#include <curl/curl.h>

typedef size_t (*vault_curl_data_callback)(char *data, size_t size, size_t nmemb, void *context);

CURLcode vault_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode vault_curl_setopt_offt(CURL *handle, CURLoption option, curl_off_t value);
CURLcode vault_curl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode vault_curl_setopt_pointer(CURL *handle, CURLoption option, const void *value);
CURLcode vault_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode vault_curl_setopt_write_callback(CURL *handle, vault_curl_data_callback callback, void *context);
CURLcode vault_curl_setopt_header_callback(CURL *handle, vault_curl_data_callback callback, void *context);
CURLcode vault_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);
#endif
