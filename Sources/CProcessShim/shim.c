#define _GNU_SOURCE
#include "CProcessShim.h"
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static void vault_signal_set(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGUSR2);
    sigaddset(set, SIGCHLD);
}

int vault_block_signals(void) {
    sigset_t set;
    vault_signal_set(&set);
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0) { errno = rc; return -1; }
    return 0;
}

int vault_wait_signal(void) {
    sigset_t set;
    vault_signal_set(&set);
    int sig = 0;
    for (;;) {
        int rc = sigwait(&set, &sig);
        if (rc == 0) return sig;
        if (rc != EINTR) { errno = rc; return -1; }
    }
}

int vault_wait_signal_for(int seconds) {
    sigset_t set;
    vault_signal_set(&set);
    struct timespec ts = { .tv_sec = seconds, .tv_nsec = 0 };
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig > 0) return sig;
        if (errno == EAGAIN) return 0;
        if (errno != EINTR) return -1;
    }
}

/* The child starts with an empty signal mask and default dispositions for the signals vault takes (and SIGPIPE). */
static int vault_spawn_attr(posix_spawnattr_t *attr, short extra_flags) {
    int rc = posix_spawnattr_init(attr);
    if (rc != 0) return rc;
    sigset_t none, defaults;
    sigemptyset(&none);
    vault_signal_set(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(attr, &none);
    posix_spawnattr_setsigdefault(attr, &defaults);
    return posix_spawnattr_setflags(attr, (short)(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | extra_flags));
}

int vault_spawn(int *pid, const char *file, char *const argv[], char *const envp[]) {
    posix_spawnattr_t attr;
    int rc = vault_spawn_attr(&attr, 0);
    if (rc != 0) return rc;
    pid_t child = 0;
    rc = posix_spawnp(&child, file, NULL, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    if (rc == 0) *pid = (int)child;
    return rc;
}

int vault_spawn_detached(int *pid, const char *file, char *const argv[], char *const envp[]) {
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t actions;
    int rc = vault_spawn_attr(&attr, POSIX_SPAWN_SETSID);
    if (rc != 0) return rc;
    rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) { posix_spawnattr_destroy(&attr); return rc; }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t child = 0;
    rc = posix_spawn(&child, file, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc == 0) *pid = (int)child;
    return rc;
}

int vault_reap(int pid, int *status) {
    for (;;) {
        int st = 0;
        pid_t r = waitpid((pid_t)pid, &st, WNOHANG);
        if (r == (pid_t)pid) { *status = st; return 1; }
        if (r == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

int vault_exit_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

int vault_notify(const char *path, const char *state) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof addr.sun_path) { errno = EINVAL; return -1; }
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@') addr.sun_path[0] = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, alen);
    int saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 0;
}

int vault_peer_credentials(int fd, unsigned *uid, int *pid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *uid = (unsigned)cred.uid;
    *pid = (int)cred.pid;
    return 0;
}
