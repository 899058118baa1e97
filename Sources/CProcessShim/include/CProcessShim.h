#ifndef VAULT_CPROCESS_SHIM_H
#define VAULT_CPROCESS_SHIM_H
/* Typed, non-variadic wrappers for process-hardening calls that Swift cannot call (prctl is variadic). */
int vault_set_not_dumpable(void);
int vault_is_dumpable(void);
#endif
