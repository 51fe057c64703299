/* Statistics (see stats.h).
 *
 * The walk takes the heap registry lock (heap chunks), then, separately, the segment lock
 * (every segment's slices, through mxi_segment_visit). Page fields it reads belong to their
 * owners (`used`, `class_index`) or to any thread (`thread_free`, `owner`), and heap->state to
 * the abandon lock, none of which it takes: a figure can be a moment old, never garbage, and a
 * page being set up while it is read counts as free memory in pages. Resident bytes come from
 * mincore, so they are the kernel's figure, not an estimate. */
#include "stats.h"

#include "atomic.h"
#include "fmt.h"
#include "heap.h"
#include "os.h"
#include "purge.h"
#include "segment.h"
#include "size_class.h"

typedef struct stats_walk {
    mx_stats_t *stats;
    mx_class_stats_t *classes;
} stats_walk_t;

static size_t stats_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Remote frees are still counted in `used` until the owner collects them (types.h). */
static void stats_small_page(stats_walk_t *w, const mx_page_t *page, size_t resident)
{
    mx_stats_t *s = w->stats;
    unsigned c = page->class_index;
    if (c == 0 || c >= MX_CLASS_COUNT || page->block_size == 0) {
        s->free_in_pages_bytes += resident;
        return;
    }
    size_t used = page->used;
    size_t remote = MX_THREAD_FREE_COUNT(mxi_atomic_load_relaxed(&page->thread_free));
    size_t held = used > remote ? used - remote : 0;
    size_t block_size = page->block_size;
    s->in_use_bytes += held * block_size;
    if (w->classes != NULL) {
        mx_class_stats_t *cs = &w->classes[c];
        cs->page_count++;
        cs->used_count += held;
        cs->remote_count += remote;
        cs->carved_count += mxi_atomic_load_relaxed(&page->capacity);
    }
    const mx_heap_t *heap =
        (const mx_heap_t *)(mxi_atomic_load_relaxed(&page->owner) & ~MX_OWNER_FLAGS);
    if (heap != NULL && heap->state == MX_HEAP_ABANDONED) {
        s->abandoned_bytes += resident;
        return;
    }
    size_t live = stats_min(held * block_size, resident);
    size_t remote_bytes = stats_min(remote * block_size, resident - live);
    s->live_bytes += live;
    s->remote_free_bytes += remote_bytes;
    s->free_in_pages_bytes += resident - live - remote_bytes;
}

static void stats_visit(void *arg, const mx_segment_t *seg, mx_range_kind_t kind,
                        const mx_page_t *page, const uint8_t *start, size_t size)
{
    stats_walk_t *w = arg;
    mx_stats_t *s = w->stats;
    size_t resident = mxi_os_resident(start, size);
    switch (kind) {
    case MX_RANGE_METADATA:
        s->metadata_bytes += resident;
        /* Each segment has one header range: count the segment there. */
        if (seg->kind == MX_SEGMENT_HUGE) {
            s->huge_count++;
            s->huge_bytes += seg->size;
        } else {
            s->segment_count++;
            s->segment_bytes += seg->size;
        }
        break;
    case MX_RANGE_FREE:
        s->purge_pending_bytes += resident;
        break;
    case MX_RANGE_HUGE:
        s->live_bytes += resident;
        break;
    case MX_RANGE_PAGE:
        if (page->kind == MX_PAGE_LARGE) {
            s->live_bytes += resident;
            s->in_use_bytes += page->block_size;
        } else {
            stats_small_page(w, page, resident);
        }
        break;
    }
}

void mxi_stats_collect(mx_stats_t *stats, mx_class_stats_t *classes)
{
    *stats = (mx_stats_t){0};
    if (classes != NULL) {
        for (unsigned c = 0; c < MX_CLASS_COUNT; c++) {
            classes[c] = (mx_class_stats_t){0};
        }
    }
    size_t chunk_mapped;
    size_t chunk_resident;
    mxi_heap_chunk_totals(&chunk_mapped, &chunk_resident);
    stats_walk_t w = {stats, classes};
    mxi_segment_visit(stats_visit, &w);
    stats->metadata_bytes += chunk_resident;
    stats->mapped_bytes = stats->segment_bytes + stats->huge_bytes + chunk_mapped;
    stats->resident_bytes = stats->live_bytes + stats->free_in_pages_bytes +
                            stats->remote_free_bytes + stats->abandoned_bytes +
                            stats->purge_pending_bytes + stats->metadata_bytes;
    mx_purge_counters_t *pc = &mxi_purge_counters;
    stats->purge_calls = mxi_atomic_load_relaxed(&pc->purge_calls);
    stats->purged_bytes = mxi_atomic_load_relaxed(&pc->purged_bytes);
    stats->segments_unmapped = mxi_atomic_load_relaxed(&pc->segments_unmapped);
    stats->heaps_collected = mxi_atomic_load_relaxed(&pc->heaps_collected);
    stats->pages_collected = mxi_atomic_load_relaxed(&pc->pages_collected);
}

/* ---- the report ---- */

/* The report is longer than any sensible stack buffer (the class table): lines are formatted
 * into one buffer, which is written out whenever the next line might not fit. */
#define STATS_LINE_MAX 160

typedef struct stats_out {
    mx_fmt_t f;
    int fd;
} stats_out_t;

static void stats_flush(stats_out_t *o)
{
    mxi_fmt_write(&o->f, o->fd);
    mxi_fmt_init(&o->f, o->f.buf, o->f.cap);
}

static void stats_begin_line(stats_out_t *o)
{
    if (o->f.cap - o->f.len < STATS_LINE_MAX) {
        stats_flush(o);
    }
    mxi_fmt_str(&o->f, "malloc-x   ");
}

/* Tenths of a percent, as "  45.1%". */
static void stats_percent(mx_fmt_t *f, size_t part, size_t total)
{
    size_t permille = total == 0 ? 0 : (size_t)((unsigned __int128)part * 1000 / total);
    mxi_fmt_u64_padded(f, permille / 10, 5);
    mxi_fmt_str(f, ".");
    mxi_fmt_u64(f, permille % 10);
    mxi_fmt_str(f, "%");
}

static void stats_part(stats_out_t *o, const char *label, size_t bytes, size_t total)
{
    stats_begin_line(o);
    mxi_fmt_str(&o->f, label);
    mxi_fmt_u64_padded(&o->f, bytes, 16);
    stats_percent(&o->f, bytes, total);
    mxi_fmt_str(&o->f, "\n");
}

static void stats_value(stats_out_t *o, const char *label, size_t value)
{
    stats_begin_line(o);
    mxi_fmt_str(&o->f, label);
    mxi_fmt_u64_padded(&o->f, value, 16);
    mxi_fmt_str(&o->f, "\n");
}

static void stats_print_classes(stats_out_t *o, const mx_class_stats_t *classes)
{
    stats_begin_line(o);
    mxi_fmt_str(&o->f, "size classes in use:\n");
    stats_begin_line(o);
    mxi_fmt_str(&o->f, "  class   block   pages     in use     remote     carved       free"
                       "     bytes in use\n");
    for (unsigned c = 1; c < MX_CLASS_COUNT; c++) {
        const mx_class_stats_t *cs = &classes[c];
        if (cs->page_count == 0) {
            continue;
        }
        size_t taken = cs->used_count + cs->remote_count;
        size_t free = cs->carved_count > taken ? cs->carved_count - taken : 0;
        stats_begin_line(o);
        mxi_fmt_u64_padded(&o->f, c, 7);
        mxi_fmt_u64_padded(&o->f, mxi_size_class_block_size(c), 8);
        mxi_fmt_u64_padded(&o->f, cs->page_count, 8);
        mxi_fmt_u64_padded(&o->f, cs->used_count, 11);
        mxi_fmt_u64_padded(&o->f, cs->remote_count, 11);
        mxi_fmt_u64_padded(&o->f, cs->carved_count, 11);
        mxi_fmt_u64_padded(&o->f, free, 11);
        mxi_fmt_u64_padded(&o->f, cs->used_count * mxi_size_class_block_size(c), 17);
        mxi_fmt_str(&o->f, "\n");
    }
}

void mxi_stats_print(int fd)
{
    mx_stats_t s;
    mx_class_stats_t classes[MX_CLASS_COUNT];
    mxi_stats_collect(&s, classes);
    char buf[2048];
    stats_out_t o = {.fd = fd};
    mxi_fmt_init(&o.f, buf, sizeof(buf));
    mxi_fmt_str(&o.f, "malloc-x " MX_VERSION_STRING ": ");
    mxi_fmt_u64(&o.f, s.resident_bytes);
    mxi_fmt_str(&o.f, " bytes resident, ");
    mxi_fmt_u64(&o.f, s.segment_count);
    mxi_fmt_str(&o.f, " segments, ");
    mxi_fmt_u64(&o.f, s.huge_count);
    mxi_fmt_str(&o.f, " huge blocks\n");

    stats_begin_line(&o);
    mxi_fmt_str(&o.f, "resident memory                      bytes       %\n");
    size_t r = s.resident_bytes;
    stats_part(&o, "  live blocks              ", s.live_bytes, r);
    stats_part(&o, "  free blocks in pages     ", s.free_in_pages_bytes, r);
    stats_part(&o, "  remote frees uncollected ", s.remote_free_bytes, r);
    stats_part(&o, "  abandoned pages          ", s.abandoned_bytes, r);
    stats_part(&o, "  waiting to be purged     ", s.purge_pending_bytes, r);
    stats_part(&o, "  metadata                 ", s.metadata_bytes, r);
    stats_part(&o, "  total resident           ", r, r);

    stats_value(&o, "address space mapped       ", s.mapped_bytes);
    stats_value(&o, "  segments                 ", s.segment_bytes);
    stats_value(&o, "  huge blocks              ", s.huge_bytes);
    stats_value(&o, "  heap objects             ", s.mapped_bytes - s.segment_bytes - s.huge_bytes);
    stats_value(&o, "in use in segments (sizes) ", s.in_use_bytes);

    stats_print_classes(&o, classes);

    stats_value(&o, "purge calls                ", s.purge_calls);
    stats_value(&o, "purged bytes               ", s.purged_bytes);
    stats_value(&o, "segments unmapped          ", s.segments_unmapped);
    stats_value(&o, "heaps collected            ", s.heaps_collected);
    stats_value(&o, "pages collected            ", s.pages_collected);
    stats_flush(&o);
}
