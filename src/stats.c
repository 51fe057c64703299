/* Statistics (see stats.h). Takes the segment lock while it walks; the per-page `used` counts
 * it reads belong to their owners, so a figure can be a moment old, never garbage. */
#include "stats.h"

#include "fmt.h"
#include "malloc-x.h"
#include "segment.h"

void mxi_stats_get(mx_stats_t *stats)
{
    mx_segment_totals_t t;
    mxi_segment_totals(&t);
    stats->mapped_bytes = t.mapped_bytes + t.huge_bytes;
    stats->in_use_bytes = t.live_block_bytes;
    stats->free_bytes = stats->mapped_bytes > t.live_block_bytes
                            ? stats->mapped_bytes - t.live_block_bytes
                            : 0;
    stats->dirty_bytes = t.dirty_free_bytes;
    stats->segment_count = t.segment_count;
    stats->huge_count = t.huge_count;
    stats->huge_bytes = t.huge_bytes;
}

static void stats_line(mx_fmt_t *f, const char *label, size_t value)
{
    mxi_fmt_str(f, "malloc-x   ");
    mxi_fmt_str(f, label);
    mxi_fmt_u64_padded(f, value, 16);
    mxi_fmt_str(f, "\n");
}

void mxi_stats_print(int fd)
{
    mx_stats_t s;
    mxi_stats_get(&s);
    char buf[1024];
    mx_fmt_t f;
    mxi_fmt_init(&f, buf, sizeof(buf));
    mxi_fmt_str(&f, "malloc-x " MX_VERSION_STRING ": ");
    mxi_fmt_u64(&f, s.segment_count);
    mxi_fmt_str(&f, " segments, ");
    mxi_fmt_u64(&f, s.huge_count);
    mxi_fmt_str(&f, " huge blocks\n");
    stats_line(&f, "mapped bytes      ", s.mapped_bytes);
    stats_line(&f, "in use bytes      ", s.in_use_bytes);
    stats_line(&f, "free bytes        ", s.free_bytes);
    stats_line(&f, "unpurged free     ", s.dirty_bytes);
    stats_line(&f, "huge bytes        ", s.huge_bytes);
    mxi_fmt_write(&f, fd);
}
