/* logcheck._speedups: the hot loops of the console parsers, in C.
 *
 * Optional: setup.py builds it when a C compiler is there; without it (or with
 * LOGCHECK_NO_SPEEDUPS=1) plugins/parse_hf.py and plugins/parse_raw.py use their pure-Python paths,
 * which give the same runs (the tests compare both). It only reads: it says which lines have a
 * known shape and what their numbers are; every decision about the run (is this the training bar,
 * does the counter go back, a new run, a duplicate) stays in Python.
 *
 * scan_tqdm(lines, T) reads a list of lines, or a block of whole lines (which it splits). The
 * Hugging Face Trainer's tqdm dict line is
 *
 *     \r PREV [\r FRAME ...] \r LAST \r BLANK \r {'key': value, ...}     (4+ carriage returns)
 *     \r LAST \r BLANK \r {'key': value, ...}                             (3 carriage returns)
 *
 * and such a line is "ok" when LAST is a frame of the training bar of total T, exactly as
 * _frame_re(T) matches it:
 *     ( {0,3})\d{1,3}%\|[^|\n\x1b\x00]{0,1000}\| (\d{1,10})/T \[([0-9:]{1,20})<[0-9:?]{1,20}, +
 *     ([0-9.]{1,20}(?:it/s|s/it)|\?it/s)\]
 * BLANK is whitespace, PREV is byte for byte the training-bar frame drawn last (the previous
 * line's LAST, or a line that is that frame alone, as tqdm redraws it before the eval bar), the frames
 * between are training-bar frames by the byte counts _middle_frames_ok uses, and the line has no
 * ESC or NUL. A line that is a dict and nothing else (a log without bars) is shape 0. The dict is
 * read when it is the plain str(dict) shape: ASCII keys, each value a float literal (digits with a
 * fraction or an exponent, as repr() writes a finite float) or a quoted number (transformers 5),
 * separated by ", " and ": ". Anything else (ints, nan, inf, other strings, nesting, a duplicate
 * key) is left to Python. A line that is one frame of a nested bar (_NESTED_FRAME_RE) is marked so
 * that Python skips it as its own fast path does.
 *
 * shape_values(seg, parts, nlines, int_fields) reads a run of lines of one template with plain
 * numbers (nanoGPT's "iter N: loss X, time Yms, mfu Z%"), as _LineShape.values does.
 *
 * Numbers are what float() gives for the same text: Clinger's exact fast path, an x87
 * extended-precision path that refuses a possible double rounding, else strtod (correctly rounded
 * in glibc, musl and macOS; a locale whose decimal point is not "." makes it refuse the number).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <float.h>

#define MAX_KEYS 64
#define MAX_SIGS 16
#define MAX_SIG_BYTES 4096
#define MAX_DICT_CHARS 200000
#define MAX_COUNTER 2147483646LL /* 2**31 - 2, as _MAX_COUNTER */

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int is_space(unsigned char c) {
    /* bytes.isspace(): ASCII whitespace */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

/* Python's _seconds() on tqdm's elapsed text (only [0-9:], 1-20 chars): -1 when this code does
 * not read it the way Python does for sure (a part over 9 digits), NaN where Python gives None. */
static int elapsed_seconds(const unsigned char *s, Py_ssize_t n, double *out) {
    long long parts[3];
    int np = 0, nd = 0;
    long long v = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i == n || s[i] == ':') {
            if (nd == 0 || np == 3) { /* an empty part, or 4+ parts: None */
                *out = NAN;
                return 0;
            }
            parts[np++] = v;
            v = 0;
            nd = 0;
        } else {
            if (++nd > 9) return -1;
            v = v * 10 + (s[i] - '0');
        }
    }
    long long t = 0;
    for (int i = 0; i < np; i++) t = t * 60 + parts[i];
    *out = (double)t; /* < 2**53: exact, as Python's int and float arithmetic both give */
    return 0;
}

/* Python's _rate() on "[0-9.]{1,20}it/s", "[0-9.]{1,20}s/it" or "?it/s". */
static int to_double(const unsigned char *s, Py_ssize_t n, double *out);

static double rate_value(const unsigned char *s, Py_ssize_t n) {
    if (n < 5 || s[0] == '?') return NAN;
    Py_ssize_t m = n - 4;
    int dots = 0, digits = 0;
    char buf[32];
    for (Py_ssize_t i = 0; i < m; i++) {
        if (s[i] == '.') dots++;
        else digits++;
        buf[i] = (char)s[i];
    }
    if (dots > 1 || digits == 0) return NAN;
    double v;
    if (!to_double((const unsigned char *)buf, m, &v)) return NAN;
    if (s[m] == 'i') return v;          /* it/s */
    return v > 0 ? 1.0 / v : NAN;       /* s/it */
}

typedef struct {
    long long counter;
    int desc;
    double elapsed;
    double rate;
    Py_ssize_t el_at, el_len, rate_at, rate_len; /* the texts, from the frame's start */
} frame_t;

/* The head of a tqdm frame from s[i]: " {0,3}\d{1,3}%\|[^|\r\n\x1b\x00]{0,1000}\| " (the leading
 * spaces, the percentage, the bar). Returns the index after it, or -1; *spaces: the leading spaces. */
static Py_ssize_t bar_head(const unsigned char *s, Py_ssize_t n, Py_ssize_t i, int *spaces) {
    Py_ssize_t k = i;
    while (i < n && i - k < 3 && s[i] == ' ') i++;
    *spaces = (int)(i - k);
    k = i;
    while (i < n && is_digit(s[i]) && i - k < 4) i++;
    if (i == k || i - k > 3 || i + 2 > n || s[i] != '%' || s[i + 1] != '|') return -1;
    i += 2;
    k = i;
    while (i < n && s[i] != '|') {
        unsigned char c = s[i];
        if (c == '\r' || c == '\n' || c == 0x1b || c == 0 || i - k >= 1000) return -1;
        i++;
    }
    if (i + 1 >= n || s[i + 1] != ' ') return -1;
    return i + 2;
}

/* 1 when s[0:n] is a frame of the training bar of total T (tot: its digits), else 0. */
static int match_frame(const unsigned char *s, Py_ssize_t n, const char *tot, Py_ssize_t totlen, frame_t *f) {
    Py_ssize_t i = bar_head(s, n, 0, &f->desc), k;
    if (i < 0) return 0;
    k = i;
    long long cnt = 0;
    while (i < n && is_digit(s[i])) {
        if (i - k >= 10) return 0;
        cnt = cnt * 10 + (s[i] - '0');
        i++;
    }
    if (i == k || i >= n || s[i] != '/') return 0;
    i++;
    if (n - i < totlen + 2 || memcmp(s + i, tot, totlen) != 0) return 0;
    i += totlen;
    if (s[i] != ' ' || s[i + 1] != '[') return 0;
    i += 2;
    k = i;
    while (i < n && (is_digit(s[i]) || s[i] == ':')) i++;
    if (i == k || i - k > 20 || i >= n || s[i] != '<') return 0;
    const unsigned char *el = s + k;
    Py_ssize_t eln = i - k;
    i++;
    k = i;
    while (i < n && (is_digit(s[i]) || s[i] == ':' || s[i] == '?')) i++;
    if (i == k || i - k > 20 || i + 1 >= n || s[i] != ',' || s[i + 1] != ' ') return 0;
    i += 1;
    while (i < n && s[i] == ' ') i++;
    k = i;
    if (i < n && s[i] == '?') {
        if (n - i != 6 || memcmp(s + i, "?it/s]", 6) != 0) return 0;
    } else {
        while (i < n && (is_digit(s[i]) || s[i] == '.')) i++;
        if (i == k || i - k > 20 || n - i != 5) return 0;
        if (memcmp(s + i, "it/s]", 5) != 0 && memcmp(s + i, "s/it]", 5) != 0) return 0;
    }
    if (cnt > MAX_COUNTER) return 0;
    if (elapsed_seconds(el, eln, &f->elapsed) < 0) return 0;
    f->counter = cnt;
    f->rate = rate_value(s + k, n - 1 - k);
    f->el_at = el - s;
    f->el_len = eln;
    f->rate_at = k;
    f->rate_len = n - 1 - k;
    return 1;
}

/* 1 when the line s[0:n] is one frame of a nested bar and nothing else, as _NESTED_FRAME_RE
 * matches it: \r {0,3}\d{1,3}%\|[^|\r\n\x1b\x00]{0,1000}\| \d{1,18}/\d{1,18} \[[^\]\r\n\x1b\x00]{0,200}\]\x1b\[A */
static int match_nested(const unsigned char *s, Py_ssize_t n) {
    int spaces;
    if (n < 4 || s[0] != '\r' || s[n - 3] != 0x1b || s[n - 2] != '[' || s[n - 1] != 'A') return 0;
    n -= 3;
    Py_ssize_t i = bar_head(s, n, 1, &spaces), k;
    if (i < 0) return 0;
    for (int part = 0; part < 2; part++) {
        k = i;
        while (i < n && is_digit(s[i])) i++;
        if (i == k || i - k > 18 || i >= n || s[i] != (part == 0 ? '/' : ' ')) return 0;
        i++;
    }
    if (i >= n || s[i] != '[') return 0;
    i++;
    k = i;
    while (i < n && s[i] != ']') {
        unsigned char c = s[i];
        if (c == '\r' || c == '\n' || c == 0x1b || c == 0 || i - k >= 200) return 0;
        i++;
    }
    return i == n - 1; /* the "]" ends the frame, then ESC[A */
}

static const char SPACES[64] = "                                                                ";

/* bytes.isspace() of s[0:n], n > 0 (tqdm's blank: mostly spaces, compared 64 at a time) */
static int all_space(const unsigned char *s, Py_ssize_t n) {
    while (n >= 64 && memcmp(s, SPACES, 64) == 0) {
        s += 64;
        n -= 64;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!is_space(s[i])) return 0;
    return 1;
}

static Py_ssize_t count_sub(const unsigned char *s, Py_ssize_t n, const char *sub, Py_ssize_t m) {
    Py_ssize_t c = 0;
    if (m == 0) return 0;
    const unsigned char *p = s, *end = s + n;
    while (end - p >= m) {
        const unsigned char *q = memchr(p, sub[0], (size_t)(end - p - m + 1));
        if (q == NULL) break;
        if (memcmp(q, sub, (size_t)m) == 0) {
            c++;
            p = q + m;
        } else {
            p = q + 1;
        }
    }
    return c;
}

/* a float literal as repr() writes a finite float, or the inside of a quoted number; *is_float:
 * whether it has a fraction or an exponent. Returns its length, 0 when it is not one. */
static Py_ssize_t number_len(const unsigned char *s, Py_ssize_t n, int strict_json, int *is_float) {
    Py_ssize_t i = 0;
    *is_float = 0;
    if (i < n && s[i] == '-') i++;
    Py_ssize_t d0 = i;
    while (i < n && is_digit(s[i])) i++;
    if (i == d0) return 0;
    if (strict_json && s[d0] == '0' && i - d0 > 1) return 0; /* JSON: no leading zeros */
    if (i < n && s[i] == '.') {
        i++;
        Py_ssize_t f0 = i;
        while (i < n && is_digit(s[i])) i++;
        if (i == f0) return 0;
        *is_float = 1;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        Py_ssize_t e0 = i;
        while (i < n && is_digit(s[i])) i++;
        if (i == e0) return 0;
        *is_float = 1;
    }
    return i;
}

#if LDBL_MANT_DIG == 64
static const long double POW10L[28] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
                                       1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
                                       1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
#endif
static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* s[0:n], a number by number_len's grammar, as float() reads it. Clinger's fast path where it is
 * exact (a mantissa of at most 2**53 and a power of ten of at most 22: one correctly rounded
 * multiplication or division), else the C library's strtod, which glibc, musl and macOS round
 * correctly too; a locale whose decimal point is not "." stops strtod early, and the number is
 * then refused (Python reads that line). */
static int to_double(const unsigned char *s, Py_ssize_t n, double *out) {
    Py_ssize_t i = 0;
    int neg = 0, nd = 0, exp10 = 0;
    uint64_t m = 0;
    if (s[0] == '-') {
        neg = 1;
        i++;
    }
    for (; i < n && is_digit(s[i]); i++) {
        if (m == 0 && s[i] == '0') continue;
        if (++nd > 19) goto slow;
        m = m * 10 + (uint64_t)(s[i] - '0');
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && is_digit(s[i]); i++) {
            exp10--;
            if (m == 0 && s[i] == '0') continue;
            if (++nd > 19) goto slow;
            m = m * 10 + (uint64_t)(s[i] - '0');
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0, e = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        for (; i < n && is_digit(s[i]); i++) {
            if (e > 10000) goto slow;
            e = e * 10 + (s[i] - '0');
        }
        exp10 += eneg ? -e : e;
    }
    if (i != n) goto slow; /* not one number: strtod stops early, and it is refused */
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return 1;
    }
    if (m <= ((uint64_t)1 << 53) && exp10 <= 22 && exp10 >= -22) {
        double v = (double)m;
        v = exp10 >= 0 ? v * POW10[exp10] : v / POW10[-exp10];
        *out = neg ? -v : v;
        return 1;
    }
#if LDBL_MANT_DIG == 64
    /* x87 extended precision (x86-64): m (< 2**64) and 10**|e| (|e| <= 27) are exact, and one
     * multiplication or division rounds to a 64-bit mantissa. Rounding that to the double is the
     * correctly rounded double unless the 11 bits it drops lie next to half an ulp (a possible
     * double rounding): those, and everything else, go to strtod. */
    if (exp10 <= 27 && exp10 >= -27) {
        long double p = POW10L[exp10 >= 0 ? exp10 : -exp10];
        long double r = exp10 >= 0 ? (long double)m * p : (long double)m / p;
        int e2;
        uint64_t bits = (uint64_t)ldexpl(frexpl(r, &e2), 64);
        unsigned low = (unsigned)(bits & 0x7FF);
        if (low < 0x3FF || low > 0x401) {
            double v = (double)r;
            *out = neg ? -v : v;
            return 1;
        }
    }
#endif
slow:;
    char buf[64];
    if (n >= (Py_ssize_t)sizeof(buf)) return 0;
    memcpy(buf, s, (size_t)n);
    buf[n] = 0;
    char *end = NULL;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + n || !isfinite(v)) return 0;
    if (errno == ERANGE && v == 0.0) return 0; /* underflow to zero: leave it to Python */
    *out = v;
    return 1;
}

typedef struct {
    unsigned char sig[MAX_SIG_BYTES];
    Py_ssize_t len;
    int nkeys;
    int epoch;
} keysig_t;

/* The dict s[0:n] ("{'" ... "}"): its values appended to vals (K of them), its signature (keys
 * and value kinds) in sig; returns K, or -1 when it is not the plain shape. */
static int read_dict(const unsigned char *s, Py_ssize_t n, double *vals, unsigned char *sig, Py_ssize_t *siglen) {
    Py_ssize_t i = 1, sl = 0;
    int K = 0;
    const unsigned char *kp[MAX_KEYS];
    Py_ssize_t kl[MAX_KEYS];
    if (n < 3 || n > MAX_DICT_CHARS || s[0] != '{' || s[n - 1] != '}') return -1;
    for (;;) {
        if (i >= n || s[i] != '\'') return -1;
        i++;
        Py_ssize_t k0 = i;
        while (i < n && s[i] != '\'') {
            unsigned char c = s[i];
            if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return -1;
            i++;
        }
        if (i >= n || i == k0) return -1;
        Py_ssize_t klen = i - k0;
        if (K >= MAX_KEYS) return -1;
        for (int j = 0; j < K; j++)
            if (kl[j] == klen && memcmp(kp[j], s + k0, (size_t)klen) == 0) return -1; /* duplicate key */
        kp[K] = s + k0;
        kl[K] = klen;
        i++;
        if (n - i < 2 || s[i] != ':' || s[i + 1] != ' ') return -1;
        i += 2;
        int quoted = 0, is_float = 0;
        Py_ssize_t v0 = i, vl;
        if (i < n && s[i] == '\'') {
            quoted = 1;
            v0 = ++i;
            vl = number_len(s + i, n - i, 0, &is_float);
            if (vl == 0 || v0 + vl >= n || s[v0 + vl] != '\'') return -1;
            i = v0 + vl + 1;
        } else {
            vl = number_len(s + i, n - i, 1, &is_float);
            if (vl == 0 || !is_float) return -1; /* an int: Python's per-dict path decides */
            i += vl;
        }
        if (!to_double(s + v0, vl, &vals[K])) return -1;
        if (sl + klen + 2 > MAX_SIG_BYTES) return -1;
        memcpy(sig + sl, s + k0, (size_t)klen);
        sl += klen;
        sig[sl++] = quoted ? 1 : 2;
        K++;
        if (i < n && s[i] == '}') {
            if (i != n - 1) return -1;
            break;
        }
        if (n - i < 2 || s[i] != ',' || s[i + 1] != ' ') return -1;
        i += 2;
    }
    *siglen = sl;
    return K;
}


static PyObject *sig_to_tuple(const keysig_t *sg) {
    PyObject *keys = PyTuple_New(sg->nkeys), *kinds = PyBytes_FromStringAndSize(NULL, sg->nkeys);
    if (keys == NULL || kinds == NULL) {
        Py_XDECREF(keys);
        Py_XDECREF(kinds);
        return NULL;
    }
    char *kd = PyBytes_AS_STRING(kinds);
    Py_ssize_t i = 0, start = 0;
    int k = 0;
    for (; i < sg->len; i++) {
        if (sg->sig[i] == 1 || sg->sig[i] == 2) {
            PyObject *key = PyUnicode_DecodeASCII((const char *)sg->sig + start, i - start, NULL);
            if (key == NULL) {
                Py_DECREF(keys);
                Py_DECREF(kinds);
                return NULL;
            }
            PyTuple_SET_ITEM(keys, k, key);
            kd[k] = sg->sig[i] == 1 ? 's' : 'f';
            k++;
            start = i + 1;
        }
    }
    PyObject *r = PyTuple_Pack(2, keys, kinds);
    Py_DECREF(keys);
    Py_DECREF(kinds);
    return r;
}

/* Reads the dict s[0:n] of line li: its key set's id in kid[li] (the set added to table and sigs
 * when new) and its values appended to vals at voff[li]. Nothing stored when it is not the plain
 * shape or a 17th key set; -1 only on a Python error (out of memory). */
static int store_dict(const unsigned char *s, Py_ssize_t n, Py_ssize_t li, keysig_t *table, int *nsigs,
                      PyObject *sigs, double **vals, Py_ssize_t *cap, Py_ssize_t *used, int32_t *kid, int64_t *voff,
                      double *epoch) {
    unsigned char sigbuf[MAX_SIG_BYTES];
    double row[MAX_KEYS];
    Py_ssize_t siglen = 0;
    int K = read_dict(s, n, row, sigbuf, &siglen);
    if (K < 0) return 0;
    int id = -1;
    for (int t = 0; t < *nsigs; t++)
        if (table[t].len == siglen && memcmp(table[t].sig, sigbuf, (size_t)siglen) == 0) {
            id = t;
            break;
        }
    if (id < 0) {
        if (*nsigs == MAX_SIGS) return 0;
        id = (*nsigs)++;
        memcpy(table[id].sig, sigbuf, (size_t)siglen);
        table[id].len = siglen;
        table[id].nkeys = K;
        table[id].epoch = -1; /* which value is the epoch */
        for (Py_ssize_t i = 0, start = 0, k = 0; i < siglen; i++)
            if (sigbuf[i] == 1 || sigbuf[i] == 2) {
                if (i - start == 5 && memcmp(sigbuf + start, "epoch", 5) == 0) table[id].epoch = (int)k;
                k++;
                start = i + 1;
            }
        PyObject *t = sig_to_tuple(&table[id]);
        if (t == NULL || PyList_Append(sigs, t) < 0) {
            Py_XDECREF(t);
            return -1;
        }
        Py_DECREF(t);
    }
    if (*used + K > *cap) {
        Py_ssize_t c = *cap;
        while (*used + K > c) c *= 2;
        double *nv = PyMem_Realloc(*vals, sizeof(double) * (size_t)c);
        if (nv == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        *vals = nv;
        *cap = c;
    }
    memcpy(*vals + *used, row, sizeof(double) * (size_t)K);
    if (table[id].epoch >= 0) epoch[li] = row[table[id].epoch];
    kid[li] = id;
    voff[li] = *used;
    *used += K;
    return 0;
}

PyDoc_STRVAR(scan_tqdm_doc,
"scan_tqdm(lines, T) -> None | (per, ok, n, desc, rate, elapsed, keyid, sigs, vals, voff, epoch,\n"
"                               dec, same, back, tx, eq, starts, pc)\n\n"
"Reads tqdm dict lines (see the module's source): lines is a list of bytes, or a bytes block of\n"
"whole lines each ended by a newline (then starts holds the N + 1 line offsets, else None). None\n"
"when T is out of range or there is no line. Per line: per (uint8: its carriage returns, 0 for a\n"
"line that is a dict), ok (uint8), n (int32 counter of LAST), desc (uint8, leading spaces of\n"
"LAST), rate (float64, NaN: none), elapsed (float32, NaN: none), keyid (int32 into sigs; -1: not\n"
"read; -2: one frame of a nested bar), voff (int64 offset of its values in vals, float64),\n"
"epoch (float64, its 'epoch' value), dec / same / back (uint8: counter lower than, equal to the\n"
"line before; epoch lower by more than 0.011), tx (int32 x 6: offsets and lengths of LAST, its\n"
"elapsed and rate texts), eq (uint8: the same bytes as the line before), pc (int32: the counter\n"
"of an ok line's first frame, its PREV's or else LAST's; -1: none). sigs: (keys, kinds) per\n"
"key set, kinds 'f' float / 's' quoted number.");

static PyObject *scan_tqdm(PyObject *self, PyObject *args) {
    PyObject *lines;
    long long T;
    if (!PyArg_ParseTuple(args, "OL", &lines, &T)) return NULL;
    if (T < 0 || T > MAX_COUNTER) Py_RETURN_NONE;
    char tot[32], done[48], totmark[48];
    Py_ssize_t totlen = (Py_ssize_t)snprintf(tot, sizeof(tot), "%lld", T);
    Py_ssize_t donelen = (Py_ssize_t)snprintf(done, sizeof(done), "%lld/%lld [", T, T);
    Py_ssize_t marklen = (Py_ssize_t)snprintf(totmark, sizeof(totmark), "/%lld [", T);

    /* the lines: a list of bytes, or a block of whole lines (each ended by \n), split here */
    Py_ssize_t N = 0;
    const unsigned char **lp = NULL;
    Py_ssize_t *ll = NULL;
    PyObject *starts_b = NULL;
    if (PyList_Check(lines)) {
        N = PyList_GET_SIZE(lines);
        for (Py_ssize_t li = 0; li < N; li++)
            if (!PyBytes_Check(PyList_GET_ITEM(lines, li))) Py_RETURN_NONE;
    } else if (PyBytes_Check(lines)) {
        const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(lines), *e = b + PyBytes_GET_SIZE(lines);
        if (PyBytes_GET_SIZE(lines) == 0 || e[-1] != '\n') Py_RETURN_NONE;
        for (const unsigned char *p = b; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++) N++;
    } else {
        PyErr_SetString(PyExc_TypeError, "scan_tqdm: a list of bytes or a bytes block");
        return NULL;
    }
    if (N == 0) Py_RETURN_NONE;
    lp = PyMem_Malloc(sizeof(*lp) * (size_t)N);
    ll = PyMem_Malloc(sizeof(*ll) * (size_t)N);
    if (!lp || !ll) {
        PyMem_Free(lp);
        PyMem_Free(ll);
        return PyErr_NoMemory();
    }
    if (PyList_Check(lines)) {
        for (Py_ssize_t li = 0; li < N; li++) {
            PyObject *o = PyList_GET_ITEM(lines, li);
            lp[li] = (const unsigned char *)PyBytes_AS_STRING(o);
            ll[li] = PyBytes_GET_SIZE(o);
        }
    } else {
        starts_b = PyBytes_FromStringAndSize(NULL, (N + 1) * 8);
        if (starts_b == NULL) {
            PyMem_Free(lp);
            PyMem_Free(ll);
            return NULL;
        }
        int64_t *st = (int64_t *)PyBytes_AS_STRING(starts_b);
        const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(lines), *e = b + PyBytes_GET_SIZE(lines);
        const unsigned char *p = b;
        for (Py_ssize_t li = 0; li < N; li++) {
            const unsigned char *q = memchr(p, '\n', (size_t)(e - p));
            lp[li] = p;
            ll[li] = q - p;
            st[li] = p - b;
            p = q + 1;
        }
        st[N] = e - b;
    }

    PyObject *ok_b = PyBytes_FromStringAndSize(NULL, N), *n_b = PyBytes_FromStringAndSize(NULL, N * 4),
             *desc_b = PyBytes_FromStringAndSize(NULL, N), *rate_b = PyBytes_FromStringAndSize(NULL, N * 8),
             *el_b = PyBytes_FromStringAndSize(NULL, N * 4), *kid_b = PyBytes_FromStringAndSize(NULL, N * 4),
             *voff_b = PyBytes_FromStringAndSize(NULL, N * 8), *per_b = PyBytes_FromStringAndSize(NULL, N),
             *ep_b = PyBytes_FromStringAndSize(NULL, N * 8), *dec_b = PyBytes_FromStringAndSize(NULL, N),
             *same_b = PyBytes_FromStringAndSize(NULL, N), *back_b = PyBytes_FromStringAndSize(NULL, N),
             *tx_b = PyBytes_FromStringAndSize(NULL, N * 6 * 4), *eq_b = PyBytes_FromStringAndSize(NULL, N),
             *pc_b = PyBytes_FromStringAndSize(NULL, N * 4), *sigs = PyList_New(0);
    double *vals = NULL;
    keysig_t *table = NULL;
    PyObject *vals_b = NULL, *result = NULL;
    if (!ok_b || !n_b || !desc_b || !rate_b || !el_b || !kid_b || !voff_b || !per_b || !ep_b || !dec_b || !same_b ||
        !back_b || !tx_b || !eq_b || !pc_b || !sigs)
        goto done;
    table = PyMem_Malloc(sizeof(keysig_t) * MAX_SIGS);
    Py_ssize_t cap = 1024, used = 0;
    vals = PyMem_Malloc(sizeof(double) * (size_t)cap);
    if (!table || !vals) {
        PyErr_NoMemory();
        goto done;
    }
    int nsigs = 0;
    unsigned char *ok = (unsigned char *)PyBytes_AS_STRING(ok_b), *desc = (unsigned char *)PyBytes_AS_STRING(desc_b);
    int32_t *nn = (int32_t *)PyBytes_AS_STRING(n_b), *kid = (int32_t *)PyBytes_AS_STRING(kid_b);
    double *rate = (double *)PyBytes_AS_STRING(rate_b);
    float *el = (float *)PyBytes_AS_STRING(el_b);
    int64_t *voff = (int64_t *)PyBytes_AS_STRING(voff_b);
    unsigned char *pers = (unsigned char *)PyBytes_AS_STRING(per_b);
    double *epoch = (double *)PyBytes_AS_STRING(ep_b);
    unsigned char *dec = (unsigned char *)PyBytes_AS_STRING(dec_b), *same = (unsigned char *)PyBytes_AS_STRING(same_b),
                  *back = (unsigned char *)PyBytes_AS_STRING(back_b);
    int32_t *tx = (int32_t *)PyBytes_AS_STRING(tx_b);
    unsigned char *eq = (unsigned char *)PyBytes_AS_STRING(eq_b);
    int32_t *pc = (int32_t *)PyBytes_AS_STRING(pc_b);
    /* the training-bar frame drawn last (a line's LAST, or a line that is that frame alone): what a
     * PREV must be, and its counter */
    const unsigned char *last_p = NULL;
    Py_ssize_t last_n = 0;
    int32_t last_cnt = -1;

    for (Py_ssize_t li = 0; li < N; li++) {
        const unsigned char *s = lp[li];
        Py_ssize_t n = ll[li];
        ok[li] = 0;
        nn[li] = 0;
        desc[li] = 0;
        rate[li] = NAN;
        el[li] = NAN;
        kid[li] = -1;
        voff[li] = -1;
        pers[li] = 0;
        pc[li] = -1;
        epoch[li] = NAN;
        memset(tx + 6 * li, 0, 6 * sizeof(int32_t));
        if (n >= 2 && s[0] == '{' && s[1] == '\'') {
            /* a line that is a dict and nothing else (a log without progress bars): shape 0 */
            if (memchr(s, '"', (size_t)n) != NULL || memchr(s, 0x1b, (size_t)n) != NULL ||
                memchr(s, 0, (size_t)n) != NULL)
                continue;
            ok[li] = 1;
            if (store_dict(s, n, li, table, &nsigs, sigs, &vals, &cap, &used, kid, voff, epoch) < 0) goto done;
            continue;
        }
        /* the carriage returns of the line (parts 1..per): where PREV ends and the last three */
        const unsigned char *end = s + n, *first_after = NULL, *q3 = NULL, *q2 = NULL, *q1 = NULL;
        Py_ssize_t per = 0;
        if (n > 0 && s[0] == '\r') {
            const unsigned char *p = s;
            while ((p = memchr(p, '\r', (size_t)(end - p))) != NULL) {
                if (per == 1) first_after = p;
                q3 = q2;
                q2 = q1;
                q1 = p;
                per++;
                p++;
            }
        }
        if (per < 3 || per > 255) {
            if (per == 1 && match_nested(s, n)) {
                kid[li] = -2; /* a frame of the eval bar: skipped */
            } else if (per == 1 && T > 0 && memchr(s, 0x1b, (size_t)n) == NULL && memchr(s, 0, (size_t)n) == NULL) {
                frame_t f1; /* the training bar's frame alone (redrawn before the eval bar starts) */
                if (match_frame(s + 1, n - 1, tot, totlen, &f1)) {
                    last_p = s + 1;
                    last_n = n - 1;
                    last_cnt = (int32_t)f1.counter;
                }
            }
            continue;
        }
        pers[li] = (unsigned char)per;
        /* cr[0]: before PREV, cr[1]: before LAST, cr[2]: before BLANK, cr[3]: before DICT */
        const unsigned char *cr[4] = {s, q3, q2, q1};
        /* LAST: between cr[1] and cr[2]; BLANK: cr[2]..cr[3]; DICT: cr[3]+1..end */
        const unsigned char *ls = cr[1] + 1;
        Py_ssize_t ln = cr[2] - ls;
        frame_t f;
        int matched = T > 0 && match_frame(ls, ln, tot, totlen, &f);
        int good = matched;
        if (good && (cr[3] == cr[2] + 1 || !all_space(cr[2] + 1, cr[3] - cr[2] - 1))) good = 0;
        if (good && (memchr(s, 0x1b, (size_t)n) != NULL || memchr(s, 0, (size_t)n) != NULL)) good = 0;
        if (good && per >= 4) {
            /* PREV (cr[0]+1 .. the next \r) is the training-bar frame drawn last, byte for byte: the
             * previous line's LAST, or (after an evaluation) the frame redrawn alone before it */
            const unsigned char *ps = cr[0] + 1;
            Py_ssize_t pn = first_after - ps;
            if (last_p == NULL || pn != last_n || memcmp(ps, last_p, (size_t)pn) != 0)
                good = 0;
            else
                pc[li] = last_cnt;
        } else if (good) {
            pc[li] = (int32_t)f.counter;
        }
        if (good && per > 4) {
            /* the frames between PREV and LAST: training-bar frames, by byte counts */
            Py_ssize_t k = per - 2;
            if (count_sub(s, n, totmark, marklen) != k || count_sub(s, n, "]\r", 2) != k ||
                count_sub(s, n, "%|", 2) != k || count_sub(s, n, done, donelen) != 0)
                good = 0;
            if (good) {
                Py_ssize_t odd = 0;
                for (const unsigned char *q = s; q + 1 < end; q++)
                    if (*q == '\r' && !(q[1] == ' ' || is_digit(q[1]))) odd++;
                if (odd != 1) good = 0;
            }
        }
        if (matched) { /* LAST's counter whether or not the line is ok: the next line's PREV */
            last_p = ls;
            last_n = ln;
            last_cnt = (int32_t)f.counter;
            nn[li] = (int32_t)f.counter;
            desc[li] = (unsigned char)f.desc;
            rate[li] = f.rate;
            el[li] = (float)f.elapsed;
            int32_t at = (int32_t)(ls - s);
            tx[6 * li] = at;
            tx[6 * li + 1] = (int32_t)ln;
            tx[6 * li + 2] = at + (int32_t)f.el_at;
            tx[6 * li + 3] = (int32_t)f.el_len;
            tx[6 * li + 4] = at + (int32_t)f.rate_at;
            tx[6 * li + 5] = (int32_t)f.rate_len;
        }
        if (!good) continue;
        const unsigned char *body = cr[3] + 1;
        Py_ssize_t bn = end - body;
        if (bn < 2 || body[0] != '{' || body[1] != '\'' || body[bn - 1] != '}') continue;
        ok[li] = 1;
        if (memchr(body, '"', (size_t)bn) != NULL) continue;
        if (store_dict(body, bn, li, table, &nsigs, sigs, &vals, &cap, &used, kid, voff, epoch) < 0) goto done;
    }
    /* each line against the one before: counter lower, counter equal, epoch lower by > 0.011
     * (what _dense_bulk and continues() test over a run) */
    for (Py_ssize_t li = 0; li < N; li++) {
        dec[li] = li > 0 && nn[li] < nn[li - 1];
        same[li] = li > 0 && nn[li] == nn[li - 1];
        back[li] = li > 0 && epoch[li] < epoch[li - 1] - 0.011;
        eq[li] = li > 0 && ll[li] == ll[li - 1] && memcmp(lp[li], lp[li - 1], (size_t)ll[li]) == 0;
    }
    vals_b = PyBytes_FromStringAndSize((const char *)vals, (Py_ssize_t)(used * sizeof(double)));
    if (vals_b == NULL) goto done;
    result = Py_BuildValue("(OOOOOOOOOOOOOOOOOO)", per_b, ok_b, n_b, desc_b, rate_b, el_b, kid_b, sigs, vals_b, voff_b,
                           ep_b, dec_b, same_b, back_b, tx_b, eq_b, starts_b ? starts_b : Py_None, pc_b);
done:
    PyMem_Free(vals);
    PyMem_Free(table);
    Py_XDECREF(ok_b);
    Py_XDECREF(n_b);
    Py_XDECREF(desc_b);
    Py_XDECREF(rate_b);
    Py_XDECREF(el_b);
    Py_XDECREF(kid_b);
    Py_XDECREF(voff_b);
    Py_XDECREF(per_b);
    Py_XDECREF(ep_b);
    Py_XDECREF(dec_b);
    Py_XDECREF(same_b);
    Py_XDECREF(back_b);
    Py_XDECREF(tx_b);
    Py_XDECREF(eq_b);
    Py_XDECREF(pc_b);
    Py_XDECREF(starts_b);
    PyMem_Free(lp);
    PyMem_Free(ll);
    Py_XDECREF(sigs);
    Py_XDECREF(vals_b);
    return result;
}


PyDoc_STRVAR(shape_values_doc,
"shape_values(seg, parts, nlines, int_fields) -> bytearray | None\n\n"
"The numbers of nlines lines of one shape joined by newlines: parts are the template's texts\n"
"around its fields (parts[0] field parts[1] ... field parts[-1], none holding a digit or a dot),\n"
"each field a maximal run of digits and dots that float() reads (ints: no dot). float64, field\n"
"by field (K x nlines). None when any line is not the shape exactly or a number is not plain:\n"
"what _LineShape.values decides, and the same floats.");

static PyObject *shape_values(PyObject *self, PyObject *args) {
    Py_buffer seg;
    PyObject *parts, *ints;
    Py_ssize_t nlines;
    if (!PyArg_ParseTuple(args, "y*O!nO!", &seg, &PyTuple_Type, &parts, &nlines, &PyTuple_Type, &ints)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t K = PyTuple_GET_SIZE(parts) - 1;
    const unsigned char *s = (const unsigned char *)seg.buf;
    Py_ssize_t n = seg.len, pos = 0;
    const char *pp[MAX_KEYS + 1];
    Py_ssize_t pl[MAX_KEYS + 1];
    char isint[MAX_KEYS];
    if (K < 1 || K > MAX_KEYS || nlines < 1) goto none;
    for (Py_ssize_t j = 0; j <= K; j++) {
        PyObject *p = PyTuple_GET_ITEM(parts, j);
        if (!PyBytes_Check(p)) goto none;
        pp[j] = PyBytes_AS_STRING(p);
        pl[j] = PyBytes_GET_SIZE(p);
    }
    memset(isint, 0, sizeof(isint));
    for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(ints); j++) {
        Py_ssize_t f = PyLong_AsSsize_t(PyTuple_GET_ITEM(ints, j));
        if (f == -1 && PyErr_Occurred()) {
            PyBuffer_Release(&seg);
            return NULL;
        }
        if (f >= 0 && f < K) isint[f] = 1;
    }
    out = PyByteArray_FromStringAndSize(NULL, K * nlines * (Py_ssize_t)sizeof(double));
    if (out == NULL) {
        PyBuffer_Release(&seg);
        return NULL;
    }
    double *v = (double *)PyByteArray_AS_STRING(out);
    for (Py_ssize_t li = 0; li < nlines; li++) {
        if (li > 0) {
            if (pos >= n || s[pos] != '\n') goto none;
            pos++;
        }
        for (Py_ssize_t j = 0; j <= K; j++) {
            if (n - pos < pl[j] || memcmp(s + pos, pp[j], (size_t)pl[j]) != 0) goto none;
            pos += pl[j];
            if (j == K) break;
            Py_ssize_t t0 = pos;
            int dots = 0, digits = 0;
            while (pos < n && (is_digit(s[pos]) || s[pos] == '.')) {
                if (s[pos] == '.') dots++;
                else digits++;
                pos++;
            }
            if (digits == 0 || dots > 1 || (dots && isint[j])) goto none;
            if (!to_double(s + t0, pos - t0, &v[j * nlines + li])) goto none;
        }
    }
    if (pos != n) goto none;
    PyBuffer_Release(&seg);
    return out;
none:
    Py_XDECREF(out);
    PyBuffer_Release(&seg);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"scan_tqdm", scan_tqdm, METH_VARARGS, scan_tqdm_doc},
    {"shape_values", shape_values, METH_VARARGS, shape_values_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "logcheck._speedups",
    "C speed-ups of the console parsers (optional; see plugins/parse_hf.py and plugins/parse_raw.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
