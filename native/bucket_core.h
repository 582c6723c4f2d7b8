/* Shared-memory token buckets: region layout, hashing, the table (lock-free use, reclaim of idle
 * slots) and bucket arithmetic. Pure C (no Python objects) so that every operation is safe on
 * memory other processes race on. Layout, protocol and rules: native/README.md ("Shared-memory
 * token buckets"). fastgw/_twins/buckets.py mirrors this file; change both together. */
#ifndef FASTGW_BUCKET_CORE_H
#define FASTGW_BUCKET_CORE_H

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define FGW_BKT_MAGIC 0x3230544b42574746ULL /* "FGWBKT02" read as a little-endian u64 */
#define FGW_BKT_VERSION 2ULL
#define FGW_BKT_HEADER 128
#define FGW_BKT_SLOT 128
#define FGW_BKT_KEY_MAX 64
#define FGW_BKT_MAX_SLOTS (1ULL << 24)
/* Token amounts stay within +-2^53 so that every sum below fits an int64 and a Python float can
 * hold them exactly. */
#define FGW_BKT_AMOUNT_MAX (1LL << 53)
/* Clock readings (and now_ns arguments) stay below 2^62 ns (146 years of uptime), which keeps
 * epochs * tokens_per_fill plus any amount inside an int64. */
#define FGW_BKT_CLOCK_MAX (1LL << 62)

/* A slot's control word: state (bits 0-2), holders (bits 3-23: takers inside an operation on the
 * slot's bucket) and generation (bits 24-63, +1 each time the slot is freed, so a handle naming an
 * earlier generation can never match again). */
enum { FGW_SLOT_EMPTY = 0, FGW_SLOT_WRITING = 1, FGW_SLOT_READY = 2, FGW_SLOT_RECLAIMING = 3, FGW_SLOT_FREE = 4 };
#define FGW_CTRL_STATE 7ULL
#define FGW_CTRL_HOLDER (1ULL << 3)
#define FGW_CTRL_HOLDERS (((1ULL << 21) - 1) << 3)
#define FGW_CTRL_GEN_SHIFT 24
#define FGW_CTRL_GEN_ONE (1ULL << FGW_CTRL_GEN_SHIFT)
#define FGW_NO_SLOT UINT64_MAX

static inline uint64_t fgw_ctrl_state(uint64_t c) { return c & FGW_CTRL_STATE; }
static inline uint64_t fgw_ctrl_gen(uint64_t c) { return c >> FGW_CTRL_GEN_SHIFT; }

typedef struct {
    /* line 0: written once by create() */
    uint64_t magic;
    uint64_t version;
    uint64_t nslots;
    uint64_t seed;
    uint64_t reserved0[4];
    /* line 1: changed under the structure lock (lookups and takes never touch it) */
    uint64_t lock;      /* pid of the process changing the table's structure; 0 when none */
    uint64_t used;      /* slots holding a bucket (READY, or WRITING/RECLAIMING for a moment) */
    uint64_t cursor;    /* the slot the next periodic sweep starts at */
    uint64_t reclaimed; /* buckets reclaimed so far */
    uint64_t reserved1[4];
} fgw_bkt_header;

/* A slot is claimed and written under the structure lock (FREE/EMPTY -> WRITING), published with
 * a release of READY, and afterwards only `vclock` (by CAS) and the holder count change until a
 * sweep frees it again. */
typedef struct {
    uint64_t ctrl;
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
    uint64_t key[FGW_BKT_KEY_MAX / 8]; /* the key's bytes, zero-padded */
} fgw_bkt_slot;

_Static_assert(sizeof(fgw_bkt_header) == FGW_BKT_HEADER, "header layout");
_Static_assert(sizeof(fgw_bkt_slot) == FGW_BKT_SLOT, "slot layout");

typedef struct {
    int64_t max_tokens;
    int64_t tokens_per_fill;
    int64_t interval_ns;
} fgw_bkt_spec;

/* What a handle knows: the bucket's identity (key, spec) and where it last found it. */
typedef struct {
    uint64_t index; /* FGW_NO_SLOT until found */
    uint64_t gen;
    fgw_bkt_spec spec;
    uint32_t key_len;
    uint64_t key[FGW_BKT_KEY_MAX / 8]; /* the key's bytes, zero-padded */
} fgw_bkt_ref;

/* The arithmetic's view of one bucket: its spec and the start of its fill epochs. */
typedef struct {
    int64_t max_tokens;
    int64_t tokens_per_fill;
    int64_t interval_ns;
    int64_t base_ns;
} fgw_bkt_shape;

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

/* ---- bucket arithmetic ---- */

/* epochs(now) * tokens_per_fill. Fits in int64: the spec check keeps tokens_per_fill <= interval_ns
 * (at most one token per nanosecond), so the product is at most the nanoseconds since base_ns. */
static inline int64_t fgw_bkt_filled(const fgw_bkt_shape *b, int64_t now_ns, int64_t *epoch) {
    int64_t e = now_ns > b->base_ns ? (now_ns - b->base_ns) / b->interval_ns : 0;
    if (epoch) *epoch = e;
    return e * b->tokens_per_fill;
}

static inline int64_t fgw_bkt_tokens(const fgw_bkt_shape *b, int64_t filled, int64_t vclock) {
    int64_t t = filled - vclock;
    return t > b->max_tokens ? b->max_tokens : t;
}

/* The operations that change a bucket: each is one CAS loop on vclock, and none writes when it
 * would change nothing (so a full bucket's "full since" stays put, see fgw_bkt_full_for). */
static inline int fgw_bkt_try_take(const fgw_bkt_shape *b, int64_t *vclock, int64_t n, int64_t now_ns) {
    int64_t filled = fgw_bkt_filled(b, now_ns, NULL);
    int64_t v = __atomic_load_n(vclock, __ATOMIC_RELAXED);
    for (;;) {
        int64_t tok = fgw_bkt_tokens(b, filled, v);
        if (tok < n) return 0;
        if (n == 0) return 1;
        if (__atomic_compare_exchange_n(vclock, &v, filled - (tok - n), 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return 1;
    }
}

static inline void fgw_bkt_give_back(const fgw_bkt_shape *b, int64_t *vclock, int64_t n, int64_t now_ns) {
    int64_t filled = fgw_bkt_filled(b, now_ns, NULL);
    int64_t v = __atomic_load_n(vclock, __ATOMIC_RELAXED);
    for (;;) {
        int64_t tok = fgw_bkt_tokens(b, filled, v);
        if (n == 0 || tok >= b->max_tokens) return;
        tok += n;
        if (tok > b->max_tokens) tok = b->max_tokens;
        if (__atomic_compare_exchange_n(vclock, &v, filled - tok, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return;
    }
}

/* Takes n unconditionally but never below `floor` (a non-positive debt limit); a bucket already
 * below floor (charged earlier with a lower floor) is left where it is. Returns the new level. */
static inline int64_t fgw_bkt_charge(const fgw_bkt_shape *b, int64_t *vclock, int64_t n, int64_t floor,
                                     int64_t now_ns) {
    int64_t filled = fgw_bkt_filled(b, now_ns, NULL);
    int64_t v = __atomic_load_n(vclock, __ATOMIC_RELAXED);
    for (;;) {
        int64_t tok = fgw_bkt_tokens(b, filled, v);
        int64_t left = tok - n;
        if (left < floor) left = tok < floor ? tok : floor;
        if (left == tok) return left;
        if (__atomic_compare_exchange_n(vclock, &v, filled - left, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return left;
    }
}

/* Times below are computed in 128 bits: a bucket deep in debt with a long interval can be more
 * fills away than an int64 of nanoseconds holds. */
static inline double fgw_bkt_seconds_to_epoch(const fgw_bkt_shape *b, __int128 epoch, int64_t now_ns) {
    int64_t start = now_ns > b->base_ns ? now_ns : b->base_ns;
    return (double)((__int128)b->base_ns + epoch * b->interval_ns - start) / 1e9;
}

/* Seconds until the next fill: always > 0 (fills land every interval from base_ns, full or not). */
static inline double fgw_bkt_next_fill_s(const fgw_bkt_shape *b, int64_t now_ns) {
    int64_t epoch;
    fgw_bkt_filled(b, now_ns, &epoch);
    return fgw_bkt_seconds_to_epoch(b, (__int128)epoch + 1, now_ns);
}

/* Seconds until `want` tokens are available: 0 if they are now, -1 if never (want > max). */
static inline double fgw_bkt_wait_s(const fgw_bkt_shape *b, int64_t vclock, int64_t want, int64_t now_ns) {
    int64_t epoch;
    int64_t filled = fgw_bkt_filled(b, now_ns, &epoch);
    int64_t tok = fgw_bkt_tokens(b, filled, vclock);
    if (tok >= want) return 0.0;
    if (want > b->max_tokens) return -1.0;
    int64_t fills = (want - tok + b->tokens_per_fill - 1) / b->tokens_per_fill;
    return fgw_bkt_seconds_to_epoch(b, (__int128)epoch + fills, now_ns);
}

/* Whether the bucket is full now and has been for at least idle_ns. With vclock unchanged, tokens
 * only grow, so it has been full since the first epoch whose fills reached max_tokens:
 * ceil((max_tokens + vclock) / tokens_per_fill) (vclock >= -max_tokens: levels never exceed max). */
static inline int fgw_bkt_full_for(const fgw_bkt_shape *b, int64_t vclock, int64_t idle_ns, int64_t now_ns) {
    int64_t filled = fgw_bkt_filled(b, now_ns, NULL);
    if (filled - vclock < b->max_tokens) return 0;
    if (idle_ns <= 0) return 1;
    int64_t need = b->max_tokens + vclock;
    int64_t epoch = need <= 0 ? 0 : (need + b->tokens_per_fill - 1) / b->tokens_per_fill;
    __int128 since = (__int128)b->base_ns + (__int128)epoch * b->interval_ns;
    return (__int128)now_ns - since >= idle_ns;
}

static inline fgw_bkt_shape fgw_bkt_shape_of(const fgw_bkt_spec *spec, int64_t base_ns) {
    fgw_bkt_shape b = {spec->max_tokens, spec->tokens_per_fill, spec->interval_ns, base_ns};
    return b;
}

/* ---- using a bucket: lock-free ---- */

/* Enters the handle's slot as a holder when it still holds the handle's bucket (READY, same
 * generation): the slot cannot be reclaimed until fgw_bkt_leave. NULL (nothing held) otherwise.
 * acquire pairs with the claimer's release of READY: the slot's fields are visible after it. */
static inline fgw_bkt_slot *fgw_bkt_enter(char *base, const fgw_bkt_ref *r) {
    if (r->index >= ((const fgw_bkt_header *)base)->nslots) return NULL;
    fgw_bkt_slot *s = fgw_bkt_slot_at(base, r->index);
    uint64_t old = __atomic_fetch_add(&s->ctrl, FGW_CTRL_HOLDER, __ATOMIC_ACQUIRE);
    if (fgw_ctrl_state(old) == FGW_SLOT_READY && fgw_ctrl_gen(old) == r->gen) return s;
    __atomic_fetch_sub(&s->ctrl, FGW_CTRL_HOLDER, __ATOMIC_RELEASE);
    return NULL;
}

/* release: this holder's vclock update is ordered before a sweeper that sees no holder */
static inline void fgw_bkt_leave(fgw_bkt_slot *s) {
    __atomic_fetch_sub(&s->ctrl, FGW_CTRL_HOLDER, __ATOMIC_RELEASE);
}

/* A read-only snapshot of the handle's bucket without holding it (seqlock style): base_ns and
 * vclock read between two loads of ctrl that show the same READY generation. 0 when the slot does
 * not (or no longer) hold the handle's bucket. */
static inline int fgw_bkt_peek(char *base, const fgw_bkt_ref *r, int64_t *base_ns, int64_t *vclock) {
    if (r->index >= ((const fgw_bkt_header *)base)->nslots) return 0;
    fgw_bkt_slot *s = fgw_bkt_slot_at(base, r->index);
    uint64_t c = __atomic_load_n(&s->ctrl, __ATOMIC_ACQUIRE);
    if (fgw_ctrl_state(c) != FGW_SLOT_READY || fgw_ctrl_gen(c) != r->gen) return 0;
    *base_ns = __atomic_load_n(&s->base_ns, __ATOMIC_RELAXED);
    *vclock = __atomic_load_n(&s->vclock, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint64_t again = __atomic_load_n(&s->ctrl, __ATOMIC_RELAXED);
    return ((again ^ c) & ~FGW_CTRL_HOLDERS) == 0;
}

/* Fields a lookup compares are read with relaxed atomic loads: a slot may be rewritten under the
 * reader (a claim after a reclaim); the generation check after the comparison rejects that. */
static inline int fgw_bkt_slot_matches(const fgw_bkt_slot *s, uint64_t hash, const fgw_bkt_ref *r) {
    if (__atomic_load_n(&s->hash, __ATOMIC_RELAXED) != hash ||
        __atomic_load_n(&s->key_len, __ATOMIC_RELAXED) != r->key_len ||
        __atomic_load_n(&s->max_tokens, __ATOMIC_RELAXED) != r->spec.max_tokens ||
        __atomic_load_n(&s->tokens_per_fill, __ATOMIC_RELAXED) != r->spec.tokens_per_fill ||
        __atomic_load_n(&s->interval_ns, __ATOMIC_RELAXED) != r->spec.interval_ns)
        return 0;
    for (int w = 0; w < FGW_BKT_KEY_MAX / 8; w++)
        if (__atomic_load_n(&s->key[w], __ATOMIC_RELAXED) != r->key[w]) return 0;
    return 1;
}

enum { FGW_FIND_HIT = 0, FGW_FIND_MISS = 1, FGW_FIND_UNSURE = 2, FGW_FIND_FULL = 3 };

/* Lock-free lookup along the key's probe chain (linear probing from hash % nslots; FREE slots are
 * passed, an EMPTY one ends the chain). HIT updates r's index and generation. MISS: the key had no
 * bucket at some moment during the call. UNSURE: a slot on the chain was being written or
 * reclaimed, or changed under the comparison; ask again under the lock. */
static inline int fgw_bkt_lookup(char *base, fgw_bkt_ref *r) {
    const fgw_bkt_header *hdr = (const fgw_bkt_header *)base;
    uint64_t n = hdr->nslots;
    uint64_t hash = fgw_bkt_hash(hdr->seed, (const unsigned char *)r->key, r->key_len);
    for (uint64_t probe = 0; probe < n; probe++) {
        uint64_t i = (hash + probe) % n;
        fgw_bkt_slot *s = fgw_bkt_slot_at(base, i);
        uint64_t c = __atomic_load_n(&s->ctrl, __ATOMIC_ACQUIRE);
        uint64_t st = fgw_ctrl_state(c);
        if (st == FGW_SLOT_EMPTY) return FGW_FIND_MISS;
        if (st == FGW_SLOT_WRITING || st == FGW_SLOT_RECLAIMING) return FGW_FIND_UNSURE;
        if (st == FGW_SLOT_READY && fgw_bkt_slot_matches(s, hash, r)) {
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (((__atomic_load_n(&s->ctrl, __ATOMIC_RELAXED) ^ c) & ~FGW_CTRL_HOLDERS) != 0) return FGW_FIND_UNSURE;
            r->index = i;
            r->gen = fgw_ctrl_gen(c);
            return FGW_FIND_HIT;
        }
    }
    return FGW_FIND_MISS;
}

/* ---- changing the table's structure: under the lock ---- */

/* The structure lock (claims, reclaims, repairs) holds the owner's pid. A holder that died is
 * detected with kill(pid, 0) and its lock taken over; whatever it left half done is repaired by
 * the next holder (fgw_bkt_repair). A live holder is always waited for. */
static inline void fgw_bkt_lock(fgw_bkt_header *hdr) {
    uint64_t me = (uint64_t)getpid();
    for (unsigned spins = 1;; spins++) {
        uint64_t owner = 0;
        if (__atomic_compare_exchange_n(&hdr->lock, &owner, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
        /* our own pid: a lock left by an earlier process with this pid (we never nest) */
        if (owner == me || (spins % 64 == 0 && kill((pid_t)owner, 0) == -1 && errno == ESRCH)) {
            if (__atomic_compare_exchange_n(&hdr->lock, &owner, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
        }
        sched_yield();
    }
}

static inline void fgw_bkt_unlock(fgw_bkt_header *hdr) {
    __atomic_store_n(&hdr->lock, 0, __ATOMIC_RELEASE);
}

/* Sets a slot's state (and adds to its generation), keeping the holder count other processes may
 * be changing. acq_rel: publishes what was written before (a claim's fields) and orders what
 * follows. */
static inline void fgw_bkt_set_state(fgw_bkt_slot *s, uint64_t state, uint64_t gen_add) {
    uint64_t c = __atomic_load_n(&s->ctrl, __ATOMIC_RELAXED);
    uint64_t next;
    do {
        next = ((c & ~FGW_CTRL_STATE) + gen_add) | state;
    } while (!__atomic_compare_exchange_n(&s->ctrl, &c, next, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
}

static inline fgw_bkt_shape fgw_bkt_slot_shape(const fgw_bkt_slot *s) {
    fgw_bkt_shape b = {s->max_tokens, s->tokens_per_fill, s->interval_ns, s->base_ns};
    return b;
}

/* Frees a READY slot whose bucket is full (for idle_ns at least) and that no taker holds. Two
 * steps, because a taker can enter and leave between a look at vclock and the CAS on ctrl (which
 * then sees the same word): first READY -> RECLAIMING with no holder, which keeps new takers out
 * (they see RECLAIMING and find the key again), then the fullness check on what is now the final
 * vclock, then FREE with the next generation, or READY again. Returns 1 if freed. */
static inline int fgw_bkt_reclaim(fgw_bkt_header *hdr, fgw_bkt_slot *s, int64_t idle_ns, int64_t now_ns) {
    uint64_t c = __atomic_load_n(&s->ctrl, __ATOMIC_ACQUIRE);
    if (fgw_ctrl_state(c) != FGW_SLOT_READY || (c & FGW_CTRL_HOLDERS) != 0) return 0;
    fgw_bkt_shape b = fgw_bkt_slot_shape(s);
    if (!fgw_bkt_full_for(&b, __atomic_load_n(&s->vclock, __ATOMIC_RELAXED), idle_ns, now_ns)) return 0;
    /* acq_rel: the last holder's release (its leave) is ordered before the vclock load below */
    if (!__atomic_compare_exchange_n(&s->ctrl, &c, (c & ~FGW_CTRL_STATE) | FGW_SLOT_RECLAIMING, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return 0;
    if (!fgw_bkt_full_for(&b, __atomic_load_n(&s->vclock, __ATOMIC_RELAXED), idle_ns, now_ns)) {
        fgw_bkt_set_state(s, FGW_SLOT_READY, 0);
        return 0;
    }
    fgw_bkt_set_state(s, FGW_SLOT_FREE, FGW_CTRL_GEN_ONE);
    __atomic_fetch_sub(&hdr->used, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&hdr->reclaimed, 1, __ATOMIC_RELAXED);
    return 1;
}

/* Under the lock, a slot WRITING or RECLAIMING was left so by a lock holder that died: a half
 * written claim is freed; a half done reclaim is decided again. Returns 1 if a bucket was freed. */
static inline int fgw_bkt_repair(fgw_bkt_header *hdr, fgw_bkt_slot *s, int64_t now_ns) {
    uint64_t st = fgw_ctrl_state(__atomic_load_n(&s->ctrl, __ATOMIC_ACQUIRE));
    if (st == FGW_SLOT_WRITING) {
        fgw_bkt_set_state(s, FGW_SLOT_FREE, FGW_CTRL_GEN_ONE);
        __atomic_fetch_sub(&hdr->used, 1, __ATOMIC_RELAXED);
    } else if (st == FGW_SLOT_RECLAIMING) {
        fgw_bkt_set_state(s, FGW_SLOT_READY, 0);
        return fgw_bkt_reclaim(hdr, s, 0, now_ns);
    }
    return 0;
}

/* Turns FREE slots that lie on no bucket's probe chain back into EMPTY, so probes stop early
 * again (without this, a table that has seen many keys would be FREE end to end and every miss
 * would scan all of it). A FREE slot i lies on the chain of a READY slot j when
 * 1 <= (j - i) mod n <= (j - home(j)) mod n. Walking backwards, R = max over the READY slots
 * passed of their displacement minus the distance walked tells it in O(1) per slot; one lap sets
 * R up, the second frees. */
static inline void fgw_bkt_trim(char *base) {
    uint64_t n = ((const fgw_bkt_header *)base)->nslots;
    int64_t reach = -1; /* R(i): >= 0 when slot i lies on some READY slot's chain */
    for (uint64_t step = 0; step < 2 * n; step++) {
        uint64_t i = (2 * n - 1 - step) % n;
        uint64_t j = (i + 1) % n;
        fgw_bkt_slot *next = fgw_bkt_slot_at(base, j);
        reach -= 1;
        if (fgw_ctrl_state(__atomic_load_n(&next->ctrl, __ATOMIC_ACQUIRE)) == FGW_SLOT_READY) {
            int64_t d = (int64_t)((j + n - next->hash % n) % n);
            if (d - 1 > reach) reach = d - 1;
        }
        if (step < n) continue;
        fgw_bkt_slot *s = fgw_bkt_slot_at(base, i);
        if (reach < 0 && fgw_ctrl_state(__atomic_load_n(&s->ctrl, __ATOMIC_ACQUIRE)) == FGW_SLOT_FREE)
            fgw_bkt_set_state(s, FGW_SLOT_EMPTY, 0);
    }
}

/* Under the lock: reclaims the idle full buckets among `count` slots from `start`, repairing what
 * dead lock holders left. Returns how many buckets were freed. */
static inline uint64_t fgw_bkt_sweep_locked(char *base, uint64_t start, uint64_t count, int64_t idle_ns,
                                            int64_t now_ns) {
    fgw_bkt_header *hdr = (fgw_bkt_header *)base;
    uint64_t n = hdr->nslots, freed = 0;
    for (uint64_t k = 0; k < count; k++) {
        fgw_bkt_slot *s = fgw_bkt_slot_at(base, (start + k) % n);
        uint64_t st = fgw_ctrl_state(__atomic_load_n(&s->ctrl, __ATOMIC_ACQUIRE));
        if (st == FGW_SLOT_READY)
            freed += (uint64_t)fgw_bkt_reclaim(hdr, s, idle_ns, now_ns);
        else if (st == FGW_SLOT_WRITING || st == FGW_SLOT_RECLAIMING)
            freed += (uint64_t)fgw_bkt_repair(hdr, s, now_ns);
    }
    return freed;
}

/* The periodic sweep: `count` slots from the shared cursor, so the workers' sweeps share one walk
 * round the table; each completed lap ends with a trim. */
static inline uint64_t fgw_bkt_sweep(char *base, uint64_t count, int64_t idle_ns, int64_t now_ns) {
    fgw_bkt_header *hdr = (fgw_bkt_header *)base;
    uint64_t n = hdr->nslots;
    if (count > n) count = n;
    fgw_bkt_lock(hdr);
    uint64_t start = hdr->cursor % n;
    uint64_t freed = fgw_bkt_sweep_locked(base, start, count, idle_ns, now_ns);
    hdr->cursor = (start + count) % n;
    if (start + count >= n) fgw_bkt_trim(base);
    fgw_bkt_unlock(hdr);
    return freed;
}

/* Claims slot s for r's bucket (the lock held, s FREE or EMPTY): WRITING, the fields, then READY
 * with a release so that whoever sees READY sees the fields. The generation is the one the slot
 * got when it was last freed, never READY before. The fields are stored with relaxed atomics and
 * after a release fence: a lock-free lookup may be reading them (fgw_bkt_slot_matches) and its
 * generation check after an acquire fence then sees it must not trust what it read. */
static inline void fgw_bkt_claim(fgw_bkt_header *hdr, fgw_bkt_slot *s, uint64_t i, fgw_bkt_ref *r, uint64_t hash,
                                 int64_t now_ns) {
    fgw_bkt_set_state(s, FGW_SLOT_WRITING, 0);
    __atomic_fetch_add(&hdr->used, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&s->hash, hash, __ATOMIC_RELAXED);
    __atomic_store_n(&s->max_tokens, r->spec.max_tokens, __ATOMIC_RELAXED);
    __atomic_store_n(&s->tokens_per_fill, r->spec.tokens_per_fill, __ATOMIC_RELAXED);
    __atomic_store_n(&s->interval_ns, r->spec.interval_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&s->base_ns, now_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&s->key_len, r->key_len, __ATOMIC_RELAXED);
    for (int w = 0; w < FGW_BKT_KEY_MAX / 8; w++) __atomic_store_n(&s->key[w], r->key[w], __ATOMIC_RELAXED);
    /* starts full: epochs(base) = 0, so tokens = -vclock = max */
    __atomic_store_n(&s->vclock, -r->spec.max_tokens, __ATOMIC_RELAXED);
    fgw_bkt_set_state(s, FGW_SLOT_READY, 0);
    r->index = i;
    r->gen = fgw_ctrl_gen(__atomic_load_n(&s->ctrl, __ATOMIC_RELAXED));
}

/* Under the lock: the key's bucket, or (create) a new one in the first FREE or EMPTY slot of its
 * chain. A table with no such slot is swept once (any full bucket, however recently used) before
 * the answer is FULL. Returns HIT (r updated), MISS (no bucket and !create) or FULL. */
static inline int fgw_bkt_place_locked(char *base, fgw_bkt_ref *r, int create, int64_t now_ns) {
    fgw_bkt_header *hdr = (fgw_bkt_header *)base;
    uint64_t n = hdr->nslots;
    uint64_t hash = fgw_bkt_hash(hdr->seed, (const unsigned char *)r->key, r->key_len);
    for (int attempt = 0; attempt < 2; attempt++) {
        uint64_t cand = FGW_NO_SLOT;
        for (uint64_t probe = 0; probe < n; probe++) {
            uint64_t i = (hash + probe) % n;
            fgw_bkt_slot *s = fgw_bkt_slot_at(base, i);
            uint64_t c = __atomic_load_n(&s->ctrl, __ATOMIC_ACQUIRE);
            if (fgw_ctrl_state(c) == FGW_SLOT_WRITING || fgw_ctrl_state(c) == FGW_SLOT_RECLAIMING) {
                fgw_bkt_repair(hdr, s, now_ns);
                c = __atomic_load_n(&s->ctrl, __ATOMIC_ACQUIRE);
            }
            uint64_t st = fgw_ctrl_state(c);
            if (st == FGW_SLOT_EMPTY) {
                if (cand == FGW_NO_SLOT) cand = i;
                break;
            }
            if (st == FGW_SLOT_FREE) {
                if (cand == FGW_NO_SLOT) cand = i;
            } else if (fgw_bkt_slot_matches(s, hash, r)) {
                r->index = i;
                r->gen = fgw_ctrl_gen(c);
                return FGW_FIND_HIT;
            }
        }
        if (!create) return FGW_FIND_MISS;
        if (cand != FGW_NO_SLOT) {
            fgw_bkt_claim(hdr, fgw_bkt_slot_at(base, cand), cand, r, hash, now_ns);
            return FGW_FIND_HIT;
        }
        if (attempt > 0 || fgw_bkt_sweep_locked(base, 0, n, 0, now_ns) == 0) break;
    }
    return FGW_FIND_FULL;
}

/* Finds (or with create, makes) r's bucket: lock-free when the chain gives a clear answer, under
 * the lock otherwise. With `hold`, a found bucket is also entered (the caller leaves it), under
 * the lock when it had to be taken, so that no sweep can free it first. Returns the slot (held
 * when asked) or NULL with *result MISS or FULL. */
static inline fgw_bkt_slot *fgw_bkt_find(char *base, fgw_bkt_ref *r, int create, int hold, int64_t now_ns,
                                         int *result) {
    int found = fgw_bkt_lookup(base, r);
    if (found == FGW_FIND_HIT) {
        fgw_bkt_slot *s = hold ? fgw_bkt_enter(base, r) : fgw_bkt_slot_at(base, r->index);
        if (s != NULL) return s;
        found = FGW_FIND_UNSURE;
    }
    if (found == FGW_FIND_MISS && !create) {
        *result = FGW_FIND_MISS;
        return NULL;
    }
    fgw_bkt_header *hdr = (fgw_bkt_header *)base;
    fgw_bkt_lock(hdr);
    *result = fgw_bkt_place_locked(base, r, create, now_ns);
    fgw_bkt_slot *s = NULL;
    if (*result == FGW_FIND_HIT) s = hold ? fgw_bkt_enter(base, r) : fgw_bkt_slot_at(base, r->index);
    fgw_bkt_unlock(hdr);
    return s;
}

#endif
