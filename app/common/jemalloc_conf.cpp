// jemalloc's options for Sluice's executables, read by jemalloc before the
// first allocation (MALLOC_CONF in the environment still overrides them).
//
// narenas:1 — one arena instead of four per core. Each arena keeps the pages
// freed in it for up to 10 s for reuse by its own threads only, so with
// eight arenas a batch of 40 KB prompts held 41–49 MB resident at its peak
// and with one 31–34 MB (tst_shared_queue_memory, whose bound is 48 MB).
// Sluice runs a handful of threads, whose small allocations the per-thread
// caches serve without the arena's lock: the gateway's CPU per request and a
// batch's requests per second did not change (docs/benchmarks.md,
// "jemalloc"). Giving large allocations back at once (oversize_threshold)
// did the same for memory but cost a batch 22% of its speed: SQLite takes
// two 80 KB buffers per transaction, and each became fresh pages.
extern "C" {
// The name and type jemalloc.h declares; defined here, it takes the place
// of the library's empty default.
const char* malloc_conf = "narenas:1";
}
