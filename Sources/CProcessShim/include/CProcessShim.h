#ifndef VAULT_CPROCESS_SHIM_H
#define VAULT_CPROCESS_SHIM_H
/* Typed, non-variadic wrappers for process and file-lock calls that Swift cannot call (prctl and fcntl are variadic). */
int vault_set_not_dumpable(void);
int vault_is_dumpable(void);
/* An exclusive open-file-description lock (F_OFD_SETLK[W]) on `length` bytes at `offset` (length 0: to the end of
   any file size): 0 on success, -1 with errno (EAGAIN/EACCES when `wait` is 0 and another description holds part of
   it). Released by vault_unlock_range or close. */
int vault_lock_range(int fd, long long offset, long long length, int wait);
int vault_unlock_range(int fd, long long offset, long long length);
/* The git revision a release build was made from (scripts/package.sh passes -DVAULT_GIT_REVISION="..."), or NULL for
   a build that was not given one. */
const char *vault_build_revision(void);
#endif
