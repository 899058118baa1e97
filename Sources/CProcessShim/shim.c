#define _GNU_SOURCE
#include "CProcessShim.h"
#include <fcntl.h>
#include <string.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
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
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
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

/* ---- vault exec's child ---------------------------------------------------------------------------------------- */

/* The program's path as posix_spawnp would find it in vault's own PATH: 0, or an errno value. */
static int find_program(const char *name, char *out, size_t size) {
    if (strchr(name, '/')) {
        if (strlen(name) >= size) return ENAMETOOLONG;
        strcpy(out, name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    int found_denied = 0;
    for (const char *p = path;;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *dir = len ? p : ".";
        size_t dlen = len ? len : 1;
        if (dlen + 1 + strlen(name) < size) {
            memcpy(out, dir, dlen);
            out[dlen] = '/';
            strcpy(out + dlen + 1, name);
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
                if (access(out, X_OK) == 0) return 0;
                found_denied = 1;
            }
        }
        if (!end) break;
        p = end + 1;
    }
    return found_denied ? EACCES : ENOENT;
}

struct child_failure { int step; int error; int index; };

static void child_fail(int fd, int step, int error, int index) {
    struct child_failure f = { step, error, index };
    ssize_t n = write(fd, &f, sizeof f);
    (void)n;
    _exit(127);
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)len ? 0 : -1;
}

int vault_spawn_child(int *pid, const struct vault_child_spec *spec, int *step, int *failed_index) {
    *step = VAULT_CHILD_STEP_EXEC;
    *failed_index = -1;
    char program[4096];
    int rc = find_program(spec->program, program, sizeof program);
    if (rc != 0) return rc;
    /* Everything the child needs is prepared here: after fork it may only make system calls. */
    char uid_map[64], gid_map[64];
    snprintf(uid_map, sizeof uid_map, "%u %u 1\n", (unsigned)geteuid(), (unsigned)geteuid());
    snprintf(gid_map, sizeof gid_map, "%u %u 1\n", (unsigned)getegid(), (unsigned)getegid());
    int as_root = geteuid() == 0;
    struct rlimit nofile;
    unsigned max_fd = 65536;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur < max_fd)
        max_fd = (unsigned)nofile.rlim_cur;
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) { *step = VAULT_CHILD_STEP_FORK; return errno; }
    pid_t child = fork();
    if (child < 0) {
        int saved = errno;
        close(report[0]);
        close(report[1]);
        *step = VAULT_CHILD_STEP_FORK;
        return saved;
    }
    if (child == 0) {
        int out = report[1];
        sigset_t none, defaults;
        sigemptyset(&none);
        vault_signal_set(&defaults);
        sigaddset(&defaults, SIGPIPE);
        sigaddset(&defaults, SIGXFSZ);
        for (int sig = 1; sig < NSIG; sig++)
            if (sigismember(&defaults, sig) == 1) signal(sig, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (spec->isolate) {
            /* Hide first, while this copy of vault is still not dumpable: nothing another process of the user could
               read through /proc/PID/root or /proc/PID/fd is left by the time the id maps below need it dumpable. */
            if (unshare(as_root ? CLONE_NEWNS : (CLONE_NEWUSER | CLONE_NEWNS)) != 0)
                child_fail(out, VAULT_CHILD_STEP_NAMESPACE, errno, -1);
            /* Nothing mounted here propagates back to the rest of the system. */
            if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) child_fail(out, VAULT_CHILD_STEP_MOUNT, errno, -1);
            for (int i = 0; i < spec->hide_file_count; i++)
                if (mount("/dev/null", spec->hide_files[i], NULL, MS_BIND, NULL) != 0)
                    child_fail(out, VAULT_CHILD_STEP_MOUNT, errno, spec->hide_dir_count + i);
            for (int i = 0; i < spec->hide_dir_count; i++)
                if (mount("tmpfs", spec->hide_dirs[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          "size=4k,nr_inodes=2,mode=0500") != 0)
                    child_fail(out, VAULT_CHILD_STEP_MOUNT, errno, i);
            /* The old working directory may lie under a hidden one: enter it again by name (or / without one). */
            if (chdir(spec->cwd ? spec->cwd : "/") != 0) child_fail(out, VAULT_CHILD_STEP_CWD, errno, -1);
        }
        /* Only stdin, stdout, stderr and what vault itself was given reach the program: everything else is closed
           now (the report pipe stays until exec closes it). */
        for (unsigned fd = 3; fd < max_fd; fd++) {
            int keep = (int)fd == out;
            for (int i = 0; i < spec->keep_fd_count && !keep; i++) keep = spec->keep_fds[i] == (int)fd;
            if (keep) continue;
            unsigned last = fd;
            while (last + 1 < max_fd) {
                int next_kept = (int)(last + 1) == out;
                for (int i = 0; i < spec->keep_fd_count && !next_kept; i++) next_kept = spec->keep_fds[i] == (int)(last + 1);
                if (next_kept) break;
                last++;
            }
            if (close_range(fd, last + 1 >= max_fd ? ~0U : last, 0) != 0)
                for (unsigned c = fd; c <= last; c++) close((int)c);
            fd = last;
        }
        for (int i = 0; i < spec->keep_fd_count; i++) {
            int fd = spec->keep_fds[i];
            if (fd > 2 && fd != out && fcntl(fd, F_SETFD, 0) != 0 && errno != EBADF)
                child_fail(out, VAULT_CHILD_STEP_FDS, errno, -1);
        }
        if (spec->isolate && !as_root) {
            /* A non-dumpable process's /proc/self files belong to root, so it cannot write its own id maps. By now
               this child holds no descriptor of vault's, its secret memory is zeroed (SecretBytes are
               MADV_WIPEONFORK) and the hidden paths are covered; exec decides dumpability anew for the program. */
            prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
            if (write_file("/proc/self/setgroups", "deny") != 0 || write_file("/proc/self/uid_map", uid_map) != 0 ||
                write_file("/proc/self/gid_map", gid_map) != 0)
                child_fail(out, VAULT_CHILD_STEP_ID_MAP, errno, -1);
        }
        execve(program, spec->argv, spec->envp);
        child_fail(out, VAULT_CHILD_STEP_EXEC, errno, -1);
    }
    close(report[1]);
    struct child_failure f;
    ssize_t n;
    do { n = read(report[0], &f, sizeof f); } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof f) {
        int st;
        while (waitpid(child, &st, 0) < 0 && errno == EINTR) {}
        *step = f.step;
        *failed_index = f.index;
        return f.error ? f.error : EIO;
    }
    *pid = (int)child;
    return 0;
}
