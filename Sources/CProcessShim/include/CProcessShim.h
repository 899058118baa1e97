#ifndef VAULT_CPROCESS_SHIM_H
#define VAULT_CPROCESS_SHIM_H
/* Typed, non-variadic wrappers for process and file-lock calls that Swift cannot call (prctl and fcntl are variadic). */
int vault_set_not_dumpable(void);
int vault_is_dumpable(void);
/* An exclusive open-file-description lock (F_OFD_SETLK[W]) on one byte at `offset`: 0 on success, -1 with errno
   (EAGAIN/EACCES when `wait` is 0 and another description holds it). Released by vault_unlock_byte or close. */
int vault_lock_byte(int fd, long long offset, int wait);
int vault_unlock_byte(int fd, long long offset);
/* The git revision a release build was made from (scripts/package.sh passes -DVAULT_GIT_REVISION="..."), or NULL for
   a build that was not given one. */
const char *vault_build_revision(void);
#endif
