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
/* Signals for programs that run a child or a server: `vault_block_signals` blocks the vault-relevant signals (TERM,
   INT, HUP, QUIT, USR1, USR2, CHLD) in the calling thread, so threads started later inherit the mask and one thread
   takes them with `vault_wait_signal` (sigwait; returns the signal number, or -1 with errno). */
int vault_block_signals(void);
int vault_wait_signal(void);
/* As vault_wait_signal, but gives up after `seconds`: 0 on timeout. */
int vault_wait_signal_for(int seconds);
/* posix_spawnp of `file` with `argv` and `envp` (NULL-terminated), the child with default signal dispositions and an
   empty signal mask: 0 and *pid on success, else an errno value. */
int vault_spawn(int *pid, const char *file, char *const argv[], char *const envp[]);
/* As vault_spawn, but in a new session with stdin, stdout and stderr on /dev/null and nothing else open: a daemon. */
int vault_spawn_detached(int *pid, const char *file, char *const argv[], char *const envp[]);
/* How a `vault exec` child is started (vault_spawn_child). Every string is a C string the caller keeps alive. */
struct vault_child_spec {
    const char *program;            /* absolute path, or a name looked up in vault's PATH as posix_spawnp does */
    char *const *argv;              /* NULL-terminated */
    char *const *envp;              /* NULL-terminated */
    int isolate;                    /* 1: a new mount namespace (inside a new user namespace unless euid is 0) */
    const char *const *hide_dirs;   /* directories covered by an empty read-only tmpfs in that namespace */
    int hide_dir_count;
    const char *const *hide_files;  /* files (or sockets) covered by /dev/null in that namespace */
    int hide_file_count;
    const char *cwd;                /* entered again after the mounts (a directory under a hidden one fails) */
    const int *keep_fds;            /* descriptors above 2 the child keeps (the ones vault itself was given) */
    int keep_fd_count;
};
/* Steps of vault_spawn_child, for the error it reports. */
enum vault_child_step {
    VAULT_CHILD_STEP_EXEC = 0, VAULT_CHILD_STEP_NAMESPACE = 1, VAULT_CHILD_STEP_ID_MAP = 2,
    VAULT_CHILD_STEP_MOUNT = 3, VAULT_CHILD_STEP_CWD = 4, VAULT_CHILD_STEP_FDS = 5, VAULT_CHILD_STEP_FORK = 6
};
/* Starts a child with default signal dispositions, an empty signal mask, only stdin, stdout, stderr and `keep_fds`
   open, and (with `isolate`) the listed paths hidden. 0 and *pid on success; else an errno value, with *step saying
   which step failed and *failed_index which hidden path (for VAULT_CHILD_STEP_MOUNT; dirs first, then files). */
int vault_spawn_child(int *pid, const struct vault_child_spec *spec, int *step, int *failed_index);
/* waitpid(pid, WNOHANG): 1 with *status set when the child has ended, 0 while it runs, -1 with errno. */
int vault_reap(int pid, int *status);
/* Decodes a wait status: the exit code (0-255), or 128 + the signal number for a child killed by a signal. */
int vault_exit_code(int status);
/* sd_notify: sends `state` as one datagram to the AF_UNIX socket `path` (a leading '@' is the abstract namespace):
   0 on success, -1 with errno. */
int vault_notify(const char *path, const char *state);
/* SO_PEERCRED of a connected Unix socket: 0 with *uid and *pid, -1 with errno. */
int vault_peer_credentials(int fd, unsigned *uid, int *pid);
#endif
