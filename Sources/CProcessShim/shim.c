#define _GNU_SOURCE
#include "CProcessShim.h"
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>

int vault_set_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
int vault_is_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }

static int set_range_lock(int fd, long long offset, long long length, short type, int cmd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)offset;
    fl.l_len = (off_t)length;
    fl.l_pid = 0; /* required for OFD locks */
    return fcntl(fd, cmd, &fl);
}

int vault_lock_range(int fd, long long offset, long long length, int wait) {
    return set_range_lock(fd, offset, length, F_WRLCK, wait ? F_OFD_SETLKW : F_OFD_SETLK);
}

int vault_unlock_range(int fd, long long offset, long long length) {
    return set_range_lock(fd, offset, length, F_UNLCK, F_OFD_SETLK);
}

const char *vault_build_revision(void) {
#ifdef VAULT_GIT_REVISION
    return VAULT_GIT_REVISION;
#else
    return 0;
#endif
}
