/* cgroup v2 memory limit (see cgroup.h). /proc/self/cgroup names the process's group on the
 * line "0::<path>"; its limit and those of its ancestors are memory.max files under the cgroup2
 * mount, /sys/fs/cgroup on every distribution that uses cgroup v2 alone. A limit set on an
 * ancestor binds as well, so the lowest along the path counts. */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_PATH_MAX 1024

/* Reads a whole small file into buf as a string; false if it cannot be read. */
static bool cgroup_read(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return len > 0;
}

/* "max" (no limit) and anything that is not a number read as 0. */
static size_t cgroup_parse_limit(const char *text)
{
    size_t v = 0;
    for (; *text >= '0' && *text <= '9'; text++) {
        if (v > (SIZE_MAX - 9) / 10) {
            return 0;
        }
        v = v * 10 + (size_t)(*text - '0');
    }
    return v;
}

/* Copies the path of the "0::" line into out; false if the process has no cgroup v2 line. */
static bool cgroup_own_path(char *out, size_t cap)
{
    char buf[4096];
    if (!cgroup_read("/proc/self/cgroup", buf, sizeof(buf))) {
        return false;
    }
    for (char *line = buf; *line != '\0';) {
        char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        if (len >= 3 && memcmp(line, "0::", 3) == 0 && len - 3 < cap) {
            memcpy(out, line + 3, len - 3);
            out[len - 3] = '\0';
            return true;
        }
        line += len + (end != NULL);
    }
    return false;
}

size_t mxi_cgroup_memory_limit(void)
{
    int saved = errno;
    char group[CGROUP_PATH_MAX];
    size_t lowest = 0;
    if (cgroup_own_path(group, sizeof(group))) {
        char path[sizeof(CGROUP_ROOT) + CGROUP_PATH_MAX + sizeof("/memory.max")];
        size_t len = strlen(group);
        for (;;) {
            while (len > 0 && group[len - 1] == '/') {
                len--;
            }
            memcpy(path, CGROUP_ROOT, sizeof(CGROUP_ROOT) - 1);
            memcpy(path + sizeof(CGROUP_ROOT) - 1, group, len);
            memcpy(path + sizeof(CGROUP_ROOT) - 1 + len, "/memory.max", sizeof("/memory.max"));
            char value[64];
            if (cgroup_read(path, value, sizeof(value))) {
                size_t limit = cgroup_parse_limit(value);
                if (limit != 0 && (lowest == 0 || limit < lowest)) {
                    lowest = limit;
                }
            }
            if (len == 0) {
                break;
            }
            while (len > 0 && group[len - 1] != '/') {
                len--;
            }
        }
    }
    errno = saved;
    return lowest;
}
