/*
 * spawn.c - the launcher benches/compare.py runs every command through.
 *
 * Why a C helper: a command's peak RSS (wait4's ru_maxrss, what
 * `/usr/bin/time -f %M` prints) includes the memory of the process it was
 * forked from, up to its exec. Forked from the Python driver, every command
 * would "peak" at Python's ~15 MiB. Forked from this ~1 MiB process, the
 * figure is the command's own, as with GNU time. It also makes the harness
 * floor (fork+exec+wait of /bin/true) a fraction of a millisecond.
 *
 * It is a child subreaper and reaps every orphan at once (daemonized
 * monitors, conmon, container processes whose `crun create` has exited), as
 * a shim would; this VM's PID 1 only reaps every ~2 s.
 *
 * Protocol on stdin/stdout (native endianness, compare.py packs it):
 *   request:  u32 magic 0x6d646231, u32 seq, u32 flags, u32 timeout_ms,
 *             u32 argc, u32 len, then len bytes: out_path\0 err_path\0 argv[0]\0 ...
 *             (empty path = /dev/null; flag 1 = setns(MNT) into the fd
 *             given as our argv[1] before exec)
 *   response: u32 seq, i32 exit code (or -signal), i32 timed_out, u32 0,
 *             i64 maxrss KiB, i64 elapsed ns from fork to wait4
 * Every command runs in its own process group, stdin on /dev/null.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x6d646231u

struct req {
    uint32_t magic, seq, flags, timeout_ms, argc, len;
};

struct resp {
    uint32_t seq;
    int32_t rc, timed_out;
    uint32_t pad;
    int64_t maxrss_kb, elapsed_ns;
};

static int read_full(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void drain(int sfd) {
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
    }
}

static void reap_orphans(void) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static int open_or_null(const char *path, int flags) {
    return open(*path ? path : "/dev/null", flags | O_CLOEXEC, 0600);
}

int main(int argc, char **argv) {
    int nsfd = argc > 1 ? atoi(argv[1]) : -1;
    if (nsfd >= 0) fcntl(nsfd, F_SETFD, FD_CLOEXEC);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    signal(SIGINT, SIG_IGN); /* the driver handles Ctrl-C and still needs us to clean up */
    signal(SIGPIPE, SIG_IGN);
    sigset_t chld, empty;
    sigemptyset(&chld);
    sigemptyset(&empty);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        perror("signalfd");
        return 1;
    }
    fcntl(0, F_SETFD, FD_CLOEXEC);
    fcntl(1, F_SETFD, FD_CLOEXEC);

    for (;;) {
        struct pollfd pf[2] = {{.fd = 0, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        if (pf[1].revents) {
            drain(sfd);
            reap_orphans(); /* no command of ours is running now */
        }
        if (!pf[0].revents) continue;

        struct req rq;
        if (read_full(0, &rq, sizeof rq) < 0) return 0; /* driver gone */
        if (rq.magic != MAGIC || rq.argc == 0 || rq.argc > 4096 || rq.len > (1u << 20)) return 2;
        char *buf = malloc(rq.len + 1);
        char **av = calloc(rq.argc + 1, sizeof *av);
        if (!buf || !av || read_full(0, buf, rq.len) < 0) return 2;
        buf[rq.len] = 0;
        char *fields[4096 + 2];
        size_t nf = 0;
        for (char *p = buf; p < buf + rq.len && nf < rq.argc + 2; p += strlen(p) + 1) fields[nf++] = p;
        if (nf != rq.argc + 2) return 2;
        const char *out_path = fields[0], *err_path = fields[1];
        for (uint32_t i = 0; i < rq.argc; i++) av[i] = fields[i + 2];

        struct resp rs = {.seq = rq.seq};
        int64_t t0 = now_ns();
        pid_t pid = fork();
        if (pid == 0) {
            setpgid(0, 0);
            int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
            int out = open_or_null(out_path, O_WRONLY | O_CREAT | O_TRUNC);
            int err = open_or_null(err_path, O_WRONLY | O_CREAT | O_TRUNC);
            if (in < 0 || out < 0 || err < 0) _exit(126);
            if ((rq.flags & 1) && setns(nsfd, CLONE_NEWNS) != 0) {
                dprintf(err, "spawn: setns: %s\n", strerror(errno));
                _exit(126);
            }
            dup2(in, 0);
            dup2(out, 1);
            dup2(err, 2);
            signal(SIGINT, SIG_DFL);
            signal(SIGPIPE, SIG_DFL);
            sigprocmask(SIG_SETMASK, &empty, NULL);
            execv(av[0], av);
            dprintf(2, "spawn: exec %s: %s\n", av[0], strerror(errno));
            _exit(127);
        }
        if (pid < 0) {
            rs.rc = -1000;
            write_full(1, &rs, sizeof rs);
            free(buf);
            free(av);
            continue;
        }
        int64_t deadline = t0 + (int64_t)rq.timeout_ms * 1000000;
        for (;;) {
            int st;
            struct rusage ru;
            pid_t w;
            int done = 0;
            while ((w = wait4(-1, &st, WNOHANG, &ru)) > 0) {
                if (w == pid) {
                    rs.elapsed_ns = now_ns() - t0;
                    rs.maxrss_kb = ru.ru_maxrss;
                    rs.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
                    done = 1;
                    break;
                }
            }
            if (done) break;
            int64_t left = deadline - now_ns();
            if (left <= 0 && !rs.timed_out) {
                rs.timed_out = 1;
                kill(-pid, SIGKILL); /* its own process group */
                kill(pid, SIGKILL);
                left = 0;
            }
            struct pollfd p = {.fd = sfd, .events = POLLIN};
            int ms = rs.timed_out ? 1000 : (int)(left / 1000000) + 1;
            if (poll(&p, 1, ms) > 0) drain(sfd);
        }
        write_full(1, &rs, sizeof rs);
        free(buf);
        free(av);
    }
}
