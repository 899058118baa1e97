#ifndef VAULT_CPKCS12_SHIM_H
#define VAULT_CPKCS12_SHIM_H
/* PKCS#12/PFX reading through Debian's OpenSSL 3 (libcrypto.so.3, which libcurl4 already brings), loaded with dlopen
   on first use so that nothing of it is touched unless a PFX file is imported. No OpenSSL headers are needed: the
   few functions used are declared here with their stable OpenSSL 3 ABI. */
typedef struct vault_pkcs12 vault_pkcs12;
/* 0: opened; -1: libcrypto.so.3 missing; -2: not a PKCS#12 file; -3: wrong password or unreadable contents;
   -4: no private key or no certificate inside. `password` is NUL-terminated. */
int vault_pkcs12_open(const void *data, int length, const char *password, vault_pkcs12 **out);
/* DER of the private key (PKCS#1 for RSA) written to `buffer` (capacity `capacity`); with buffer NULL, the size
   needed. -1 on failure. */
int vault_pkcs12_key_der(vault_pkcs12 *p, unsigned char *buffer, int capacity);
/* Certificates: index 0 is the one PKCS12_parse matched to the key, then the others. */
int vault_pkcs12_certificate_count(vault_pkcs12 *p);
int vault_pkcs12_certificate_der(vault_pkcs12 *p, int index, unsigned char *buffer, int capacity);
void vault_pkcs12_close(vault_pkcs12 *p);
#endif
