#include "CPKCS12Shim.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef void BIO;
typedef void PKCS12;
typedef void EVP_PKEY;
typedef void X509;
typedef void STACK;

static struct {
    int loaded;
    BIO *(*BIO_new_mem_buf)(const void *, int);
    int (*BIO_free)(BIO *);
    PKCS12 *(*d2i_PKCS12_bio)(BIO *, PKCS12 **);
    int (*PKCS12_parse)(PKCS12 *, const char *, EVP_PKEY **, X509 **, STACK **);
    void (*PKCS12_free)(PKCS12 *);
    int (*i2d_PrivateKey)(const EVP_PKEY *, unsigned char **);
    int (*i2d_X509)(const X509 *, unsigned char **);
    void (*EVP_PKEY_free)(EVP_PKEY *);
    void (*X509_free)(X509 *);
    int (*OPENSSL_sk_num)(const STACK *);
    void *(*OPENSSL_sk_value)(const STACK *, int);
    void (*OPENSSL_sk_pop_free)(STACK *, void (*)(void *));
    void *(*OSSL_PROVIDER_load)(void *, const char *);
} ssl;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    void *lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
#define SYM(name) if (!(*(void **)&ssl.name = dlsym(lib, #name))) return;
    SYM(BIO_new_mem_buf) SYM(BIO_free) SYM(d2i_PKCS12_bio) SYM(PKCS12_parse) SYM(PKCS12_free) SYM(i2d_PrivateKey)
    SYM(i2d_X509) SYM(EVP_PKEY_free) SYM(X509_free) SYM(OPENSSL_sk_num) SYM(OPENSSL_sk_value) SYM(OPENSSL_sk_pop_free)
    SYM(OSSL_PROVIDER_load)
#undef SYM
    /* Older PFX files (RC2-40, 3DES, as Windows exported them) need the legacy provider; loading one provider
       explicitly stops the default one from loading by itself, so both are loaded. */
    ssl.OSSL_PROVIDER_load(NULL, "default");
    ssl.OSSL_PROVIDER_load(NULL, "legacy");
    ssl.loaded = 1;
}

struct vault_pkcs12 {
    EVP_PKEY *key;
    X509 *cert;
    STACK *ca;
};

int vault_pkcs12_open(const void *data, int length, const char *password, vault_pkcs12 **out) {
    pthread_once(&once, load);
    if (!ssl.loaded) return -1;
    BIO *bio = ssl.BIO_new_mem_buf(data, length);
    if (!bio) return -2;
    PKCS12 *p12 = ssl.d2i_PKCS12_bio(bio, NULL);
    ssl.BIO_free(bio);
    if (!p12) return -2;
    vault_pkcs12 *p = calloc(1, sizeof *p);
    if (!p) { ssl.PKCS12_free(p12); return -3; }
    int ok = ssl.PKCS12_parse(p12, password, &p->key, &p->cert, &p->ca);
    ssl.PKCS12_free(p12);
    if (!ok) { vault_pkcs12_close(p); return -3; }
    if (!p->key || !p->cert) { vault_pkcs12_close(p); return -4; }
    *out = p;
    return 0;
}

int vault_pkcs12_key_der(vault_pkcs12 *p, unsigned char *buffer, int capacity) {
    int n = ssl.i2d_PrivateKey(p->key, NULL);
    if (n <= 0 || !buffer) return n;
    if (n > capacity) return -1;
    unsigned char *cursor = buffer;
    return ssl.i2d_PrivateKey(p->key, &cursor);
}

int vault_pkcs12_certificate_count(vault_pkcs12 *p) { return 1 + (p->ca ? ssl.OPENSSL_sk_num(p->ca) : 0); }

int vault_pkcs12_certificate_der(vault_pkcs12 *p, int index, unsigned char *buffer, int capacity) {
    X509 *c = index == 0 ? p->cert : (p->ca && index - 1 < ssl.OPENSSL_sk_num(p->ca) ? ssl.OPENSSL_sk_value(p->ca, index - 1) : NULL);
    if (!c) return -1;
    int n = ssl.i2d_X509(c, NULL);
    if (n <= 0 || !buffer) return n;
    if (n > capacity) return -1;
    unsigned char *cursor = buffer;
    return ssl.i2d_X509(c, &cursor);
}

void vault_pkcs12_close(vault_pkcs12 *p) {
    if (!p) return;
    if (p->key) ssl.EVP_PKEY_free(p->key);
    if (p->cert) ssl.X509_free(p->cert);
    if (p->ca) ssl.OPENSSL_sk_pop_free(p->ca, ssl.X509_free);
    free(p);
}
