/* Byte-pair merging, counting parts only. Included once, by tokens.c. */
#ifndef FASTGW_TOKENS_BPE_H
#define FASTGW_TOKENS_BPE_H
#include "tokens_vocab.h"

/* ---------------------------------------------------------------- byte-pair merge */

#define BPE_STACK 12
#define LONG_LOCAL 256 /* pieces up to this long merge without malloc */

/* Ranks of 2-byte strings and of 3-byte UTF-8 characters come from direct tables: CJK text is made
 * of those, and their lookups would otherwise dominate (hash, filter, slot, entry: cache misses). */
static inline uint32_t lookup_rank(const VocabObject *v, const uint8_t *p, uint32_t len) {
    if (len == 2) return v->pair_ranks[(uint32_t)p[0] << 8 | p[1]];
    if (len == 3 && (p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80)
        return v->char3_ranks[(uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F)];
    return vocab_rank(v, p, len);
}

/* Tokens BPE leaves of a short piece: lowest-rank pair first, leftmost on ties, by rescanning. */
static Py_ssize_t bpe_merge_short(const VocabObject *v, const uint8_t *p, Py_ssize_t n) {
    uint32_t b[BPE_STACK + 1], r[BPE_STACK + 1];
    /* b[k] is where part k starts (b[m-1] == n); r[k] ranks part k joined with part k+1. */
    Py_ssize_t m = n + 1;
    for (Py_ssize_t k = 0; k <= n; k++) b[k] = (uint32_t)k;
    for (Py_ssize_t k = 0; k + 2 < m; k++) r[k] = lookup_rank(v, p + k, 2);
    r[m - 2] = NO_RANK;
    while (m > 2) {
        uint32_t best = NO_RANK;
        Py_ssize_t at = -1;
        for (Py_ssize_t k = 0; k + 2 < m; k++) {
            if (r[k] < best) {
                best = r[k];
                at = k;
            }
        }
        if (at < 0) break;
        memmove(b + at + 1, b + at + 2, sizeof(uint32_t) * (size_t)(m - at - 2));
        memmove(r + at + 1, r + at + 2, sizeof(uint32_t) * (size_t)(m - at - 2));
        m--;
        r[at] = at + 2 < m ? lookup_rank(v, p + b[at], b[at + 2] - b[at]) : NO_RANK;
        if (at > 0) r[at - 1] = lookup_rank(v, p + b[at - 1], b[at + 1] - b[at - 1]);
    }
    return m - 1;
}

/* The same merge order for long pieces (CJK sentences, long runs) in O(n log n): parts form a
 * linked list over byte offsets; a min-heap holds rank << 32 | left part's offset, so ties pop
 * leftmost. An entry is stale unless cur[left] still holds its rank: ranks name distinct byte
 * strings, and once a part merges its next pair is a longer string, so a stale entry never
 * matches. */
static void heap_push(uint64_t *h, Py_ssize_t *len, uint64_t key) {
    Py_ssize_t i = (*len)++;
    while (i > 0) {
        Py_ssize_t up = (i - 1) / 2;
        if (h[up] <= key) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = key;
}

static uint64_t heap_pop(uint64_t *h, Py_ssize_t *len) {
    uint64_t top = h[0], last = h[--(*len)];
    Py_ssize_t i = 0, n = *len;
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (last <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (n > 0) h[i] = last;
    return top;
}

static Py_ssize_t bpe_merge_long(const VocabObject *v, const uint8_t *p, Py_ssize_t n) {
    /* next/prev: neighbouring part starts (n = end); cur: rank of the pair starting here. */
    size_t words = ((size_t)(n + 1) * 3 + 1) & ~(size_t)1, items = (size_t)n * 3 + 1;
    uint64_t local[(LONG_LOCAL + 1) * 5];
    uint32_t *mem = n <= LONG_LOCAL ? (uint32_t *)local : PyMem_Malloc(words * sizeof(uint32_t) + items * 8);
    if (mem == NULL) return -1;
    uint32_t *next = mem, *prev = mem + n + 1, *cur = mem + 2 * (n + 1);
    uint64_t *heap = (uint64_t *)(mem + words);
    Py_ssize_t heap_len = 0, parts = n;
    for (Py_ssize_t k = 0; k <= n; k++) {
        next[k] = (uint32_t)k + 1;
        prev[k] = k ? (uint32_t)k - 1 : 0;
        cur[k] = NO_RANK;
    }
    for (Py_ssize_t k = 0; k + 1 < n; k++) {
        uint32_t r = cur[k] = lookup_rank(v, p + k, 2);
        if (r != NO_RANK) heap_push(heap, &heap_len, (uint64_t)r << 32 | (uint64_t)k);
    }
    while (heap_len > 0) {
        uint64_t it = heap_pop(heap, &heap_len);
        uint32_t left = (uint32_t)it;
        if (cur[left] != (uint32_t)(it >> 32)) continue;
        uint32_t right = next[left], after = next[right];
        next[left] = after;
        if (after < (uint32_t)n) prev[after] = left;
        cur[right] = NO_RANK; /* dead */
        parts--;
        uint32_t r = NO_RANK;
        if (after < (uint32_t)n) r = lookup_rank(v, p + left, next[after] - left);
        if ((cur[left] = r) != NO_RANK) heap_push(heap, &heap_len, (uint64_t)r << 32 | left);
        if (left > 0) {
            uint32_t before = prev[left];
            r = cur[before] = lookup_rank(v, p + before, after - before);
            if (r != NO_RANK) heap_push(heap, &heap_len, (uint64_t)r << 32 | before);
        }
    }
    if (mem != (uint32_t *)local) PyMem_Free(mem);
    return parts;
}

static inline Py_ssize_t bpe_merge_count(const VocabObject *v, const uint8_t *p, Py_ssize_t n) {
    return n <= BPE_STACK ? bpe_merge_short(v, p, n) : bpe_merge_long(v, p, n);
}

static inline Py_ssize_t bpe_count(const VocabObject *v, const uint8_t *p, Py_ssize_t n) {
    if (n == 1) return 1;
    if (vocab_rank(v, p, (size_t)n) != NO_RANK) return 1;
    if (n > CACHE_KEY) return bpe_merge_count(v, p, n);
    uint64_t h = tk_hash(p, (size_t)n);
    CacheSlot *c = &v->cache[h >> (64 - CACHE_BITS)];
    if (c->hash == h && c->len == n && memcmp(c->key, p, (size_t)n) == 0) return c->count;
    Py_ssize_t count = bpe_merge_count(v, p, n);
    if (count > 0) {
        c->hash = h;
        c->len = (uint8_t)n;
        memcpy(c->key, p, (size_t)n);
        c->count = (uint32_t)count;
    }
    return count;
}

#endif
