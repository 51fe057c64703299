// runwrap: run one benchmark process and report its wall time and peak RSS.
//
// usage: runwrap REPORT_FILE TIMEOUT_S PRELOAD -- PROGRAM [ARGS...]
// PRELOAD is a library path for LD_PRELOAD, or "-" for none (the system
// allocator). It is set in the child only, so this wrapper itself always
// runs on glibc and adds the same cost to every measurement. The child's
// stdout and stderr are inherited. REPORT_FILE gets one line:
//   wall_s=<seconds> maxrss_kb=<peak RSS of the child> status=<exit code,
//   or 128+signal, or 124 on timeout>
// Peak RSS comes from wait4()'s rusage, i.e. the kernel's high-water mark for
// that one process, which includes memory the allocator holds but the
// program has freed. Wall time is CLOCK_MONOTONIC from fork to reap.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;
static pid_t child;

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
    if (child > 0) {
        kill(child, SIGKILL);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 6 || strcmp(argv[4], "--") != 0) {
        fprintf(stderr, "usage: %s REPORT_FILE TIMEOUT_S PRELOAD|- -- PROGRAM [ARGS...]\n",
                argv[0]);
        return 2;
    }
    const char *report = argv[1];
    unsigned timeout = (unsigned)strtoul(argv[2], NULL, 10);
    const char *preload = argv[3];

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    double t0 = now();
    child = fork();
    if (child < 0) {
        perror("fork");
        return 2;
    }
    if (child == 0) {
        if (strcmp(preload, "-") == 0) {
            unsetenv("LD_PRELOAD");
        } else {
            setenv("LD_PRELOAD", preload, 1);
        }
        execvp(argv[5], &argv[5]);
        perror("execvp");
        _exit(127);
    }
    if (timeout > 0) {
        alarm(timeout);
    }
    int status = 0;
    struct rusage ru;
    pid_t got;
    do {
        got = wait4(child, &status, 0, &ru);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        perror("wait4");
        return 2;
    }
    double wall = now() - t0;
    alarm(0);

    int code;
    if (timed_out) {
        code = 124;
    } else if (WIFEXITED(status)) {
        code = WEXITSTATUS(status);
    } else {
        code = 128 + WTERMSIG(status);
    }
    FILE *f = fopen(report, "w");
    if (f == NULL) {
        perror(report);
        return 2;
    }
    fprintf(f, "wall_s=%.4f maxrss_kb=%ld status=%d\n", wall, ru.ru_maxrss, code);
    fclose(f);
    return code;
}
