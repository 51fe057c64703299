/* The memory limit of the process's cgroup, which sets the default budget of free memory kept
 * resident for reuse: in a container the budget should shrink with the container. */
#ifndef MX_CGROUP_H
#define MX_CGROUP_H

#include <stddef.h>

/* The lowest memory.max of the process's cgroup v2 and its ancestors, in bytes; 0 if there is
 * none (no cgroup v2, no limit, or the files cannot be read). Reads files with open/read, never
 * allocates, keeps errno. */
size_t mxi_cgroup_memory_limit(void);

#endif
