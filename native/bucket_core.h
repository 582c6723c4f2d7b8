/* Shared-memory token buckets: region layout, hashing, lock-free table and bucket arithmetic.
 * Pure C (no Python objects) so that every operation is safe on memory other processes race on.
 * Layout and rules: native/README.md ("Bucket region"). fastgw/_twins/buckets.py mirrors this file
 * byte for byte; change both together. */
#ifndef FASTGW_BUCKET_CORE_H
#define FASTGW_BUCKET_CORE_H

#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define FGW_BKT_MAGIC 0x3130544b42574746ULL /* "FGWBKT01" read as a little-endian u64 */
#define FGW_BKT_VERSION 1ULL
#define FGW_BKT_HEADER 64
#define FGW_BKT_SLOT 128
#define FGW_BKT_KEY_MAX 64
#define FGW_BKT_MAX_SLOTS (1ULL << 24)
/* Token amounts stay within +-2^53 so that every sum below fits an int64 and a Python float can
 * hold them exactly. */
#define FGW_BKT_AMOUNT_MAX (1LL << 53)
/* Clock readings (and now_ns arguments) stay below 2^62 ns (146 years of uptime), which keeps
 * epochs * tokens_per_fill plus any amount inside an int64. */
#define FGW_BKT_CLOCK_MAX (1LL << 62)

enum { FGW_SLOT_EMPTY = 0, FGW_SLOT_WRITING = 1, FGW_SLOT_READY = 2 };

typedef struct {
    uint64_t magic;
    uint64_t version;
    uint64_t nslots;
    uint64_t seed;
    uint64_t used; /* slots ever claimed; atomic add */
    uint64_t reserved[3];
} fgw_bkt_header;

/* A slot is written once by the process that claims it (EMPTY -> WRITING), published with a
 * release store of READY, and afterwards only `vclock` changes (by CAS). */
typedef struct {
    uint64_t state;
    uint64_t hash;
    int64_t max_tokens;
    int64_t tokens_per_fill;
    int64_t interval_ns;
    int64_t base_ns; /* monotonic time of the claim: fill epochs count from here */
    uint32_t key_len;
    uint32_t reserved;
    /* tokens(now) = min(max_tokens, epochs(now) * tokens_per_fill - vclock): the whole bucket
     * state in one 64-bit word, so every operation is a single compare-and-swap. */
    int64_t vclock;
    unsigned char key[FGW_BKT_KEY_MAX];
} fgw_bkt_slot;

_Static_assert(sizeof(fgw_bkt_header) == FGW_BKT_HEADER, "header layout");
_Static_assert(sizeof(fgw_bkt_slot) == FGW_BKT_SLOT, "slot layout");

static inline uint64_t fgw_bkt_region_size(uint64_t nslots) {
    return FGW_BKT_HEADER + nslots * FGW_BKT_SLOT;
}

static inline fgw_bkt_slot *fgw_bkt_slot_at(char *base, uint64_t i) {
    return (fgw_bkt_slot *)(base + FGW_BKT_HEADER + i * FGW_BKT_SLOT);
}

static inline int64_t fgw_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Seeded FNV-1a, then the splitmix64 finaliser to spread the low bits used for the start slot.
 * The seed is random per region so that clients cannot aim keys at one probe chain. */
static inline uint64_t fgw_bkt_hash(uint64_t seed, const unsigned char *key, size_t len) {
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= key[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

typedef struct {
    int64_t max_tokens;
    int64_t tokens_per_fill;
    int64_t interval_ns;
} fgw_bkt_spec;

/* Result codes of fgw_bkt_find_or_insert besides a slot index >= 0. */
#define FGW_BKT_FULL (-1)

static inline int fgw_bkt_slot_matches(const fgw_bkt_slot *s, uint64_t hash, const unsigned char *key,
                                       uint32_t len, const fgw_bkt_spec *spec) {
    return s->hash == hash && s->key_len == len && s->max_tokens == spec->max_tokens &&
           s->tokens_per_fill == spec->tokens_per_fill && s->interval_ns == spec->interval_ns &&
           memcmp(s->key, key, len) == 0;
}

/* Waits for a slot another process is writing. A claimer only does a handful of stores, so a
 * slot still WRITING after a second belongs to a process that died mid-insert: give up on it. */
static inline uint64_t fgw_bkt_wait_ready(fgw_bkt_slot *s) {
    uint64_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    int64_t deadline = 0;
    while (st == FGW_SLOT_WRITING) {
        int64_t now = fgw_monotonic_ns();
        if (deadline == 0)
            deadline = now + 1000000000LL;
        else if (now > deadline)
            return FGW_SLOT_WRITING;
        sched_yield();
        st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    }
    return st;
}

/* Linear probing from hash % nslots. Slots are never freed, so a probe may stop at the first
 * EMPTY slot: the key cannot live further along. (key, spec) is the identity: a changed spec gets
 * a fresh, full bucket while holders of the old handle keep their old bucket. */
static inline int64_t fgw_bkt_find_or_insert(char *base, const unsigned char *key, uint32_t len,
                                             const fgw_bkt_spec *spec, int64_t now_ns) {
    fgw_bkt_header *hdr = (fgw_bkt_header *)base;
    uint64_t n = hdr->nslots;
    uint64_t hash = fgw_bkt_hash(hdr->seed, key, len);
    for (uint64_t probe = 0; probe < n; probe++) {
        uint64_t i = (hash + probe) % n;
        fgw_bkt_slot *s = fgw_bkt_slot_at(base, i);
        uint64_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (st == FGW_SLOT_EMPTY) {
            uint64_t expected = FGW_SLOT_EMPTY;
            if (__atomic_compare_exchange_n(&s->state, &expected, FGW_SLOT_WRITING, 0, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE)) {
                s->hash = hash;
                s->max_tokens = spec->max_tokens;
                s->tokens_per_fill = spec->tokens_per_fill;
                s->interval_ns = spec->interval_ns;
                s->base_ns = now_ns;
                s->key_len = len;
                memcpy(s->key, key, len);
                /* starts full: epochs(base) = 0, so tokens = -vclock = max */
                __atomic_store_n(&s->vclock, -spec->max_tokens, __ATOMIC_RELAXED);
                __atomic_store_n(&s->state, FGW_SLOT_READY, __ATOMIC_RELEASE);
                __atomic_fetch_add(&hdr->used, 1, __ATOMIC_RELAXED);
                return (int64_t)i;
            }
            st = expected;
        }
        if (st == FGW_SLOT_WRITING) st = fgw_bkt_wait_ready(s);
        if (st == FGW_SLOT_READY && fgw_bkt_slot_matches(s, hash, key, len, spec)) return (int64_t)i;
    }
    return FGW_BKT_FULL;
}

/* epochs(now) * tokens_per_fill. Fits in int64: the spec check keeps tokens_per_fill <= interval_ns
 * (at most one token per nanosecond), so the product is at most the nanoseconds since base_ns. */
static inline int64_t fgw_bkt_filled(const fgw_bkt_slot *s, int64_t now_ns, int64_t *epoch) {
    int64_t e = now_ns > s->base_ns ? (now_ns - s->base_ns) / s->interval_ns : 0;
    if (epoch) *epoch = e;
    return e * s->tokens_per_fill;
}

static inline int64_t fgw_bkt_tokens(const fgw_bkt_slot *s, int64_t filled, int64_t vclock) {
    int64_t t = filled - vclock;
    return t > s->max_tokens ? s->max_tokens : t;
}

static inline int fgw_bkt_try_take(fgw_bkt_slot *s, int64_t n, int64_t now_ns) {
    int64_t filled = fgw_bkt_filled(s, now_ns, NULL);
    int64_t v = __atomic_load_n(&s->vclock, __ATOMIC_RELAXED);
    for (;;) {
        int64_t tok = fgw_bkt_tokens(s, filled, v);
        if (tok < n) return 0;
        if (__atomic_compare_exchange_n(&s->vclock, &v, filled - (tok - n), 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return 1;
    }
}

static inline void fgw_bkt_give_back(fgw_bkt_slot *s, int64_t n, int64_t now_ns) {
    int64_t filled = fgw_bkt_filled(s, now_ns, NULL);
    int64_t v = __atomic_load_n(&s->vclock, __ATOMIC_RELAXED);
    for (;;) {
        int64_t tok = fgw_bkt_tokens(s, filled, v) + n;
        if (tok > s->max_tokens) tok = s->max_tokens;
        if (__atomic_compare_exchange_n(&s->vclock, &v, filled - tok, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return;
    }
}

/* Takes n unconditionally but never below `floor` (a non-positive debt limit); a bucket already
 * below floor (charged earlier with a lower floor) is left where it is. Returns the new level. */
static inline int64_t fgw_bkt_charge(fgw_bkt_slot *s, int64_t n, int64_t floor, int64_t now_ns) {
    int64_t filled = fgw_bkt_filled(s, now_ns, NULL);
    int64_t v = __atomic_load_n(&s->vclock, __ATOMIC_RELAXED);
    for (;;) {
        int64_t tok = fgw_bkt_tokens(s, filled, v);
        int64_t left = tok - n;
        if (left < floor) left = tok < floor ? tok : floor;
        if (__atomic_compare_exchange_n(&s->vclock, &v, filled - left, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return left;
    }
}

static inline int64_t fgw_bkt_remaining(const fgw_bkt_slot *s, int64_t now_ns) {
    int64_t filled = fgw_bkt_filled(s, now_ns, NULL);
    return fgw_bkt_tokens(s, filled, __atomic_load_n(&s->vclock, __ATOMIC_RELAXED));
}

/* Times below are computed in 128 bits: a bucket deep in debt with a long interval can be more
 * fills away than an int64 of nanoseconds holds. */
static inline double fgw_bkt_seconds_to_epoch(const fgw_bkt_slot *s, __int128 epoch, int64_t now_ns) {
    int64_t start = now_ns > s->base_ns ? now_ns : s->base_ns;
    return (double)((__int128)s->base_ns + epoch * s->interval_ns - start) / 1e9;
}

/* Seconds until the next fill adds tokens; 0 when the bucket is full. */
static inline double fgw_bkt_next_fill_s(const fgw_bkt_slot *s, int64_t now_ns) {
    int64_t epoch;
    int64_t filled = fgw_bkt_filled(s, now_ns, &epoch);
    if (fgw_bkt_tokens(s, filled, __atomic_load_n(&s->vclock, __ATOMIC_RELAXED)) >= s->max_tokens) return 0.0;
    return fgw_bkt_seconds_to_epoch(s, (__int128)epoch + 1, now_ns);
}

/* Seconds until `want` tokens are available: 0 if they are now, -1 if never (want > max). */
static inline double fgw_bkt_wait_s(const fgw_bkt_slot *s, int64_t want, int64_t now_ns) {
    int64_t epoch;
    int64_t filled = fgw_bkt_filled(s, now_ns, &epoch);
    int64_t tok = fgw_bkt_tokens(s, filled, __atomic_load_n(&s->vclock, __ATOMIC_RELAXED));
    if (tok >= want) return 0.0;
    if (want > s->max_tokens) return -1.0;
    int64_t fills = (want - tok + s->tokens_per_fill - 1) / s->tokens_per_fill;
    return fgw_bkt_seconds_to_epoch(s, (__int128)epoch + fills, now_ns);
}

#endif
