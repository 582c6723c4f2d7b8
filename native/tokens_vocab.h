/* Vocabulary: .tiktoken parsing and the token -> rank hash table. Included once, by tokens.c. */
#ifndef FASTGW_TOKENS_VOCAB_H
#define FASTGW_TOKENS_VOCAB_H
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define NO_RANK UINT32_MAX

enum { PATTERN_CL100K = 0, PATTERN_O200K = 1 };

/* ---------------------------------------------------------------- hashing */

static inline uint64_t tk_hash(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t k = 0; k < n; k++) w |= (uint64_t)p[k] << (8 * k); /* no libc call for the tail */
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 29);
}

/* ---------------------------------------------------------------- vocabulary */

typedef struct {
    uint32_t off, len, rank;
} Entry;

#define FILTER_BITS 20

/* Piece -> count cache entries: pieces up to CACHE_KEY bytes. */
#define CACHE_KEY 22
#define CACHE_BITS 14
typedef struct {
    uint64_t hash;
    uint8_t len; /* 0 = empty */
    uint8_t key[CACHE_KEY];
    uint8_t pad;
    uint32_t count;
} CacheSlot;

typedef struct {
    PyObject_HEAD
    int pattern;
    uint8_t *bytes; /* all token byte strings, back to back */
    Entry *entries;
    Py_ssize_t n_entries;
    uint64_t *slots;
    size_t mask;
    uint32_t max_len;
    uint32_t *pair_ranks;  /* rank of every 2-byte string, indexed by its bytes */
    uint32_t *char3_ranks; /* rank of every 3-byte UTF-8 sequence, indexed by its payload bits */
    uint64_t *filter;     /* one bit per token hash: most failed lookups stop here, in cache */
    CacheSlot *cache;
} VocabObject;

static inline uint32_t vocab_rank(const VocabObject *v, const uint8_t *p, size_t n) {
    if (n > v->max_len) return NO_RANK;
    uint64_t h = tk_hash(p, n);
    uint32_t bit = (uint32_t)(h >> (64 - FILTER_BITS));
    if (!(v->filter[bit >> 6] >> (bit & 63) & 1)) return NO_RANK;
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = (size_t)h & v->mask;
    for (;;) {
        uint64_t s = v->slots[i];
        if (s == 0) return NO_RANK;
        if ((uint32_t)(s >> 32) == tag) {
            const Entry *e = &v->entries[(uint32_t)s - 1];
            if (e->len == n && memcmp(v->bytes + e->off, p, n) == 0) return e->rank;
        }
        i = (i + 1) & v->mask;
    }
}

/* Inserts entry idx; 0, or -1 if the same byte string is already present. */
static int vocab_insert(VocabObject *v, uint32_t idx) {
    const Entry *e = &v->entries[idx];
    const uint8_t *p = v->bytes + e->off;
    uint64_t h = tk_hash(p, e->len);
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = (size_t)h & v->mask;
    for (;;) {
        uint64_t s = v->slots[i];
        if (s == 0) {
            uint32_t bit = (uint32_t)(h >> (64 - FILTER_BITS));
            v->filter[bit >> 6] |= (uint64_t)1 << (bit & 63);
            v->slots[i] = ((uint64_t)tag << 32) | (uint64_t)(idx + 1);
            return 0;
        }
        const Entry *o = &v->entries[(uint32_t)s - 1];
        if (o->len == e->len && memcmp(v->bytes + o->off, p, e->len) == 0) return -1;
        i = (i + 1) & v->mask;
    }
}

static int b64_value(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes standard padded base64 into out; returns the byte count or -1. */
static Py_ssize_t b64_decode(const uint8_t *s, Py_ssize_t n, uint8_t *out) {
    if (n == 0 || n % 4 != 0) return -1;
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < n; i += 4) {
        int pad = 0, v[4];
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_value(s[i + k])) < 0) {
                return -1;
            }
        }
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) | (uint32_t)v[3];
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2) out[o++] = (uint8_t)(w >> 8);
        if (pad < 1) out[o++] = (uint8_t)w;
    }
    return o;
}

/* Parses "<base64> <rank>\n" lines. Fills v->bytes/entries/slots. -1 with ValueError/MemoryError. */
static int vocab_parse(VocabObject *v, const uint8_t *data, Py_ssize_t size) {
    Py_ssize_t lines = 0;
    for (Py_ssize_t i = 0; i < size; i++) lines += data[i] == '\n';
    lines += 1;
    v->bytes = PyMem_Malloc((size_t)size + 1);
    v->entries = PyMem_Calloc((size_t)lines, sizeof(Entry));
    if (v->bytes == NULL || v->entries == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t pos = 0, line_no = 0, used = 0;
    while (pos < size) {
        Py_ssize_t end = pos;
        while (end < size && data[end] != '\n') end++;
        line_no++;
        Py_ssize_t stop = end;
        if (stop > pos && data[stop - 1] == '\r') stop--;
        if (stop > pos) {
            Py_ssize_t sp = pos;
            while (sp < stop && data[sp] != ' ') sp++;
            uint64_t rank = 0;
            Py_ssize_t digits = 0;
            for (Py_ssize_t k = sp + 1; k < stop; k++, digits++) {
                if (data[k] < '0' || data[k] > '9' || rank > UINT32_MAX / 10) digits = -1000;
                else rank = rank * 10 + (uint64_t)(data[k] - '0');
            }
            Py_ssize_t len = sp < stop ? b64_decode(data + pos, sp - pos, v->bytes + used) : -1;
            if (len <= 0 || digits <= 0 || rank >= NO_RANK) {
                PyErr_Format(PyExc_ValueError, "vocabulary line %zd: expected '<base64> <rank>'", line_no);
                return -1;
            }
            Entry *e = &v->entries[v->n_entries++];
            e->off = (uint32_t)used;
            e->len = (uint32_t)len;
            e->rank = (uint32_t)rank;
            if ((uint32_t)len > v->max_len) v->max_len = (uint32_t)len;
            used += len;
        }
        pos = end + 1;
    }
    uint8_t *fit = PyMem_Realloc(v->bytes, (size_t)used + 1); /* decoded tokens are ~45% of the file */
    if (fit != NULL) v->bytes = fit;
    if (v->n_entries < 256) {
        PyErr_SetString(PyExc_ValueError, "vocabulary has fewer than 256 tokens: not a byte-level BPE rank file");
        return -1;
    }
    size_t cap = 1;
    while (cap < (size_t)v->n_entries * 2) cap <<= 1;
    v->slots = PyMem_Calloc(cap, sizeof(uint64_t));
    v->filter = PyMem_Calloc((size_t)1 << (FILTER_BITS - 6), sizeof(uint64_t));
    if (v->slots == NULL || v->filter == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    v->mask = cap - 1;
    for (Py_ssize_t i = 0; i < v->n_entries; i++) {
        if (vocab_insert(v, (uint32_t)i) < 0) {
            PyErr_Format(PyExc_ValueError, "vocabulary token of rank %u appears twice", v->entries[i].rank);
            return -1;
        }
    }
    /* Every single byte must be a token or a merge could get stuck on an unknown byte. */
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        if (vocab_rank(v, &byte, 1) == NO_RANK) {
            PyErr_Format(PyExc_ValueError, "vocabulary lacks the single byte 0x%02x", b);
            return -1;
        }
    }
    v->pair_ranks = PyMem_Malloc(sizeof(uint32_t) * 65536);
    v->char3_ranks = PyMem_Malloc(sizeof(uint32_t) * 65536);
    if (v->pair_ranks == NULL || v->char3_ranks == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (uint32_t k = 0; k < 65536; k++) {
        uint8_t two[2] = {(uint8_t)(k >> 8), (uint8_t)k};
        uint8_t three[3] = {(uint8_t)(0xE0 | k >> 12), (uint8_t)(0x80 | ((k >> 6) & 0x3F)), (uint8_t)(0x80 | (k & 0x3F))};
        v->pair_ranks[k] = vocab_rank(v, two, 2);
        v->char3_ranks[k] = vocab_rank(v, three, 3);
    }
    return 0;
}

#endif
