/*
 * One iptables-legacy table edited as iptables-legacy-restore --noflush
 * edits it, for the lines svcproxy writes: read the kernel's blob
 * (IPT_SO_GET_ENTRIES) into chains, apply `:CHAIN - [0:0]`, `-A`, `-I`,
 * `-D` and `-X` lines, lay the table out again (built-in chains in hook
 * order, user chains by name, as libiptc does), swap it in whole
 * (IPT_SO_SET_REPLACE) and carry the counters of the rules kept over
 * (IPT_SO_SET_ADD_COUNTERS). svcproxy calls it through koffi
 * (native/src/iptables.ts, packages/svcproxy/src/legacy/restore.ts).
 *
 * Why C: at 1k services the text has 22k lines. The same work written in
 * TypeScript took 90-200 ms of cold JavaScript per apply, more than the
 * iptables-legacy-restore run it replaces; here it takes a few ms. Why its
 * own memory (populated mappings): the blob and the entries are ~10 MB
 * each at 1k services, and taking their pages one fault at a time (or as
 * huge pages, which glibc.malloc.hugetlb=1 in the bin stubs asks malloc
 * for) cost more than the encoding itself.
 *
 * Each extension's data is written at the revision iptables 1.8 picks on a
 * current kernel and byte for byte as iptables-legacy-restore writes it
 * (tests/svcproxy/legacy-inprocess.test.ts compares the kernel's blobs).
 * Anything else is refused with a reason (-1): the caller then hands the
 * text to iptables-legacy-restore.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>

#define ENTRY 112                /* sizeof(struct ipt_entry) */
#define XT_HEAD 32               /* u16 size, char name[29], u8 revision */
#define STANDARD_SIZE 40         /* XT_ALIGN(sizeof(struct xt_standard_target)) */
#define ERROR_SIZE 64            /* XT_ALIGN(sizeof(struct xt_error_target)) */
#define CHAIN_HEAD (ENTRY + ERROR_SIZE)
#define CHAIN_TAIL (ENTRY + STANDARD_SIZE)
#define TARGET_OFFSET 88
#define NEXT_OFFSET 90
#define COMEFROM 92
#define NHOOKS 5
#define NAME_MAX_LEN 28          /* a user chain's name */
#define MAX_WORDS 64
#define MAX_ENTRY 4096           /* the most an entry written here may take */
#define MAX_MATCH 288            /* the largest match written here (comment) */
#define MAX_TARGET 80            /* the largest target written here (DNAT) */
#define ARENA_MAX (4u << 20)      /* an arena chunk: at most this, and about what the text needs */
#define ALIGN8(n) (((n) + 7u) & ~7u)
#define IPT_F_GOTO 0x02
#define IPT_INV_SRCIP 0x08
#define IPT_INV_DSTIP 0x10

enum { V_DROP = -1, V_ACCEPT = -2, V_RETURN = -5 };
static const char *const HOOK_NAMES[NHOOKS] = { "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING" };

typedef struct {
	const uint8_t *p;        /* the entry: in the kernel's blob or in an arena chunk */
	uint32_t len;
	int32_t jump;            /* the user chain a standard target jumps to, or -1 */
	int32_t old;             /* its index in the kernel's table (its counters), or -1 */
	uint8_t fall;            /* a standard target that falls through to the next entry */
} rule_t;

typedef struct {
	char name[32];
	uint32_t namelen;
	int hook;                /* a built-in chain's hook, or -1 */
	int deleted;
	int32_t refs;            /* rules that jump to it */
	rule_t *rules;
	uint32_t n, cap;
	rule_t policy;
	uint32_t start;          /* layout: the offset of its first entry after the head */
} chain_t;

typedef struct chunk { struct chunk *next; size_t size; uint32_t used; uint8_t data[]; } chunk_t;

/* anonymous memory with every page made at once (one call, not a fault per page), never huge pages */
static void *populated(size_t size) {
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED) return NULL;
	return p;
}

typedef struct {
	chain_t *chains;
	uint32_t nchains, capchains;
	int32_t *hash;           /* open addressing: chain index + 1, 0 empty */
	uint32_t hashcap;
	chunk_t *arena;
	size_t chunk;             /* the size of the next arena chunk */
	char *err;
	size_t errlen;
} table_t;

typedef struct { const char *p; uint32_t len; } word_t;

static int fail(table_t *t, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->err, t->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static uint32_t hash_name(const char *s, size_t n) {
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

/* the chain of that name (deleted ones too), or -1 */
static int32_t find_chain(table_t *t, const char *s, size_t n) {
	if (n >= 32) return -1;
	for (uint32_t i = hash_name(s, n) & (t->hashcap - 1);; i = (i + 1) & (t->hashcap - 1)) {
		int32_t c = t->hash[i] - 1;
		if (c < 0) return -1;
		if (t->chains[c].namelen == n && memcmp(t->chains[c].name, s, n) == 0) return c;
	}
}

static int32_t add_chain(table_t *t, const char *s, size_t n, int hook) {
	if (n >= 32) return -1;
	if (t->nchains == t->capchains) {
		uint32_t cap = t->capchains ? t->capchains * 2 : 64;
		chain_t *c = realloc(t->chains, cap * sizeof(*c));
		if (!c) return -1;
		t->chains = c;
		t->capchains = cap;
	}
	if ((t->nchains + 1) * 2 > t->hashcap) {
		uint32_t cap = t->hashcap ? t->hashcap * 2 : 256;
		int32_t *h = calloc(cap, sizeof(*h));
		if (!h) return -1;
		for (uint32_t c = 0; c < t->nchains; c++) {
			uint32_t i = hash_name(t->chains[c].name, t->chains[c].namelen) & (cap - 1);
			while (h[i]) i = (i + 1) & (cap - 1);
			h[i] = (int32_t)c + 1;
		}
		free(t->hash);
		t->hash = h;
		t->hashcap = cap;
	}
	int32_t c = (int32_t)t->nchains++;
	chain_t *ch = &t->chains[c];
	memset(ch, 0, sizeof(*ch));
	memcpy(ch->name, s, n);
	ch->namelen = (uint32_t)n;
	ch->hook = hook;
	uint32_t i = hash_name(s, n) & (t->hashcap - 1);
	while (t->hash[i]) i = (i + 1) & (t->hashcap - 1);
	t->hash[i] = c + 1;
	return c;
}

static int push_rule(chain_t *ch, uint32_t at, const rule_t *r) {
	if (ch->n == ch->cap) {
		uint32_t cap = ch->cap ? ch->cap * 2 : 8;
		rule_t *n = realloc(ch->rules, cap * sizeof(*n));
		if (!n) return -1;
		ch->rules = n;
		ch->cap = cap;
	}
	memmove(&ch->rules[at + 1], &ch->rules[at], (ch->n - at) * sizeof(*r));
	ch->rules[at] = *r;
	ch->n++;
	return 0;
}

static void drop_rule_refs(table_t *t, const rule_t *r) {
	if (r->jump >= 0) t->chains[r->jump].refs--;
}

static uint8_t *arena_room(table_t *t) {
	if (!t->arena || t->arena->used + MAX_ENTRY > t->arena->size - sizeof(chunk_t)) {
		chunk_t *c = populated(sizeof(chunk_t) + t->chunk);
		if (!c) return NULL;
		c->size = sizeof(chunk_t) + t->chunk;
		c->next = t->arena;
		t->arena = c;
	}
	return t->arena->data + t->arena->used;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static int32_t rd32(const uint8_t *p) { return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24); }
static void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, v); wr16(p + 2, v >> 16); }
static void wr16be(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void wr32be(uint8_t *p, uint32_t v) { wr16be(p, v >> 16); wr16be(p + 2, v); }

static const char *target_name(const uint8_t *e) { return (const char *)e + rd16(e + TARGET_OFFSET) + 2; }

/* the entry at off lies within the blob, and so does its target (whose name is NUL-terminated within it) */
static int entry_ok(const uint8_t *blob, uint32_t size, uint32_t off) {
	if (off + ENTRY > size) return 0;
	uint32_t len = rd16(blob + off + NEXT_OFFSET), t = rd16(blob + off + TARGET_OFFSET);
	return len >= ENTRY && off + len <= size && t >= ENTRY && t + XT_HEAD <= len && memchr(blob + off + t + 2, 0, XT_HEAD - 3);
}

/* ---- reading the kernel's blob ---- */

static int read_blob(table_t *t, const uint8_t *blob, uint32_t size, uint32_t num, const uint32_t *hook_entry, const uint32_t *underflow, uint32_t valid) {
	for (int h = 0; h < NHOOKS; h++) {
		if (!(valid & (1u << h))) continue;
		if (add_chain(t, HOOK_NAMES[h], strlen(HOOK_NAMES[h]), h) < 0) return fail(t, "out of memory");
	}
	/* user chains by the offset of their first entry, in blob order (so sorted), for the jumps */
	uint32_t *starts = malloc(sizeof(uint32_t) * (num + 1));
	int32_t *owner = malloc(sizeof(int32_t) * (num + 1));
	uint32_t nstarts = 0;
	struct pend { uint32_t chain, rule, verdict, next; } *pend = malloc(sizeof(struct pend) * (num + 1));
	uint32_t npend = 0;
	int rc = 0;
	if (!starts || !owner || !pend) { rc = fail(t, "out of memory"); goto out; }
	int32_t cur = -1;
	uint32_t index = 0, off = 0;
	while (off < size) {
		const uint8_t *e = blob + off;
		/* the arrays above hold num entries: a table that grew between GET_INFO and GET_ENTRIES (a writer
		   that ignores the xtables lock) with the same size in bytes must not run past them */
		if (index >= num) { rc = fail(t, "the table changed while it was read"); goto out; }
		if (!entry_ok(blob, size, off)) { rc = fail(t, "entry at %u has a bad size", off); goto out; }
		uint32_t next = off + rd16(e + NEXT_OFFSET);
		for (int h = 0; h < NHOOKS; h++)
			if ((valid & (1u << h)) && hook_entry[h] == off) cur = find_chain(t, HOOK_NAMES[h], strlen(HOOK_NAMES[h]));
		int underflows = 0;
		for (int h = 0; h < NHOOKS; h++)
			if ((valid & (1u << h)) && underflow[h] == off) underflows = 1;
		const char *tn = target_name(e);
		const uint8_t *tdata = e + rd16(e + TARGET_OFFSET) + XT_HEAD;
		if (strcmp(tn, "ERROR") == 0) {
			if (next == size) break; /* the table's end */
			const char *name = (const char *)tdata;
			size_t n = strnlen(name, 30);
			if (n > NAME_MAX_LEN || find_chain(t, name, n) >= 0) { rc = fail(t, "chain %.30s cannot be read", name); goto out; }
			cur = add_chain(t, name, n, -1);
			if (cur < 0) { rc = fail(t, "out of memory"); goto out; }
			starts[nstarts] = next;
			owner[nstarts++] = cur;
		} else if (cur < 0) {
			rc = fail(t, "entry at %u is in no chain", off);
			goto out;
		} else if (underflows && t->chains[cur].hook >= 0) {
			/* (-1: no counters carried over: libiptc's commit starts a built-in chain's policy at 0 too) */
			t->chains[cur].policy = (rule_t){ e, next - off, -1, -1, 0 };
			cur = -1;
		} else if (t->chains[cur].hook < 0 && next < size && entry_ok(blob, size, next) && strcmp(target_name(blob + next), "ERROR") == 0) {
			/* a user chain's closing RETURN */
			if (*tn || rd32(tdata) != V_RETURN) { rc = fail(t, "chain %s does not end in RETURN", t->chains[cur].name); goto out; }
			cur = -1;
		} else {
			rule_t r = { e, next - off, -1, (int32_t)index, 0 };
			if (!*tn && rd32(tdata) >= 0) {
				pend[npend++] = (struct pend){ (uint32_t)cur, t->chains[cur].n, (uint32_t)rd32(tdata), next };
			}
			if (push_rule(&t->chains[cur], t->chains[cur].n, &r) < 0) { rc = fail(t, "out of memory"); goto out; }
		}
		index++;
		off = next;
	}
	if (index + 1 != num) { rc = fail(t, "%u entries read, the kernel says %u", index + 1, num); goto out; }
	for (uint32_t i = 0; i < npend; i++) {
		rule_t *r = &t->chains[pend[i].chain].rules[pend[i].rule];
		if (pend[i].verdict == pend[i].next && !(r->p[82] & IPT_F_GOTO)) {
			r->fall = 1;
			continue;
		}
		uint32_t lo = 0, hi = nstarts;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (starts[mid] < pend[i].verdict) lo = mid + 1;
			else hi = mid;
		}
		if (lo == nstarts || starts[lo] != pend[i].verdict) { rc = fail(t, "a rule jumps to offset %u, not to a chain", pend[i].verdict); goto out; }
		r->jump = owner[lo];
		t->chains[owner[lo]].refs++;
	}
out:
	free(starts);
	free(owner);
	free(pend);
	return rc;
}

/* ---- a rule's text -> an entry ---- */

static int split_words(table_t *t, const char *s, uint32_t n, word_t *w, uint32_t *count) {
	uint32_t k = 0, i = 0;
	while (i < n) {
		if (s[i] == ' ') { i++; continue; }
		if (k == MAX_WORDS) return fail(t, "too many words");
		if (s[i] == '"') {
			const char *end = memchr(s + i + 1, '"', n - i - 1);
			if (!end) return fail(t, "unterminated quote");
			w[k++] = (word_t){ s + i + 1, (uint32_t)(end - s - i - 1) };
			if (memchr(w[k - 1].p, '\\', w[k - 1].len)) return fail(t, "escaped quote");
			i = (uint32_t)(end - s) + 1;
		} else {
			uint32_t j = i;
			while (j < n && s[j] != ' ') {
				if (s[j] == '"') return fail(t, "quote inside a word");
				j++;
			}
			w[k++] = (word_t){ s + i, j - i };
			i = j;
		}
	}
	*count = k;
	return 0;
}

static int is(const word_t *w, const char *s) { return w && w->len == strlen(s) && memcmp(w->p, s, w->len) == 0; }

/* a decimal number as iptables reads one: no leading zero (it would read 010 as octal) */
static int decimal(const word_t *w, uint64_t max, uint32_t *out) {
	if (!w || !w->len || w->len > 10 || (w->len > 1 && w->p[0] == '0')) return -1;
	uint64_t n = 0;
	for (uint32_t i = 0; i < w->len; i++) {
		if (w->p[i] < '0' || w->p[i] > '9') return -1;
		n = n * 10 + (uint64_t)(w->p[i] - '0');
	}
	if (n > max) return -1;
	*out = (uint32_t)n;
	return 0;
}

static int ipv4(word_t w, uint32_t *out) {
	uint32_t n = 0, part = 0, digits = 0, dots = 0;
	for (uint32_t i = 0; i < w.len; i++) {
		char c = w.p[i];
		if (c == '.') {
			if (!digits || ++dots > 3) return -1;
			n = n * 256 + part;
			part = digits = 0;
		} else if (c >= '0' && c <= '9' && digits < 3 && !(digits == 1 && part == 0)) {
			part = part * 10 + (uint32_t)(c - '0');
			digits++;
			if (part > 255) return -1;
		} else {
			return -1;
		}
	}
	if (!digits || dots != 3) return -1;
	*out = n * 256 + part;
	return 0;
}

/* 0xHEX or decimal, 32 bits */
static int u32w(word_t w, uint32_t *out) {
	if (w.len > 2 && w.p[0] == '0' && w.p[1] == 'x') {
		if (w.len > 10) return -1;
		uint32_t n = 0;
		for (uint32_t i = 2; i < w.len; i++) {
			char c = w.p[i];
			uint32_t d = c >= '0' && c <= '9' ? (uint32_t)(c - '0') : c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10) : c >= 'A' && c <= 'F' ? (uint32_t)(c - 'A' + 10) : 99;
			if (d > 15) return -1;
			n = n * 16 + d;
		}
		*out = n;
		return 0;
	}
	return decimal(&w, 0xffffffffu, out);
}

/* VALUE[/MASK], MASK all ones by default */
static int value_mask(const word_t *w, uint32_t *v, uint32_t *m) {
	if (!w) return -1;
	const char *slash = memchr(w->p, '/', w->len);
	if (!slash) {
		*m = 0xffffffffu;
		return u32w(*w, v);
	}
	word_t a = { w->p, (uint32_t)(slash - w->p) }, b = { slash + 1, w->len - a.len - 1 };
	return u32w(a, v) || u32w(b, m) ? -1 : 0;
}

/* an extension's head at p (size, name, revision); returns its data */
static uint8_t *ext(uint8_t *p, const char *name, uint8_t rev, uint32_t data) {
	wr16(p, XT_HEAD + ALIGN8(data));
	memcpy(p + 2, name, strlen(name));
	p[31] = rev;
	return p + XT_HEAD;
}

static const char *const ADDRTYPES[] = { "UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE" };

/* a comma list of names -> bits (names[i] is bit values[i]); -1 for an unknown name */
static int bits_of(const word_t *w, const char *const *names, const uint32_t *values, int count, uint32_t *out) {
	if (!w) return -1;
	uint32_t bits = 0, i = 0;
	while (i < w->len) {
		uint32_t j = i;
		while (j < w->len && w->p[j] != ',') j++;
		int k = 0;
		for (; k < count; k++)
			if (strlen(names[k]) == j - i && memcmp(names[k], w->p + i, j - i) == 0) break;
		if (k == count) return -1;
		bits |= values[k];
		i = j + 1;
	}
	*out = bits;
	return 0;
}

#define NEXT(i) ((i) < n ? &w[(i)] : NULL)
#define HAS(i) ((i) < n)
#define BAD(...) return fail(t, __VA_ARGS__)

/*
 * One `-m NAME` from w[*i] (its options) written at p: advances *i past
 * them and returns the match's size, or -1.
 */
static int match(table_t *t, uint8_t *p, const word_t *name, const word_t *w, uint32_t n, uint32_t *i) {
	uint32_t k = *i;
	uint8_t *d;
	if (is(name, "comment")) {
		if (!is(NEXT(k), "--comment") || !HAS(k + 1)) BAD("comment without --comment");
		if (w[k + 1].len > 255) BAD("comment too long");
		d = ext(p, "comment", 0, 256);
		memcpy(d, w[k + 1].p, w[k + 1].len);
		k += 2;
	} else if (is(name, "tcp") || is(name, "udp")) {
		int tcp = name->p[0] == 't';
		/* xt_tcp / xt_udp: spts[2], dpts[2] (host order), then tcp's option/flags or udp's invflags */
		d = ext(p, tcp ? "tcp" : "udp", 0, tcp ? 12 : 9);
		wr16(d + 2, 0xffff);
		wr16(d + 6, 0xffff);
		uint8_t inv = 0, seen = 0;
		for (;;) {
			uint32_t j = k;
			int neg = is(NEXT(j), "!");
			if (neg) j++;
			int sport = is(NEXT(j), "--sport");
			if (!sport && !is(NEXT(j), "--dport")) break;
			if (seen & (sport ? 1 : 2)) BAD("a port given twice");
			seen |= sport ? 1 : 2;
			const word_t *v = NEXT(j + 1);
			if (!v) BAD("missing port");
			const char *colon = memchr(v->p, ':', v->len);
			uint32_t lo, hi;
			if (!colon) {
				if (decimal(v, 0xffff, &lo)) BAD("bad port");
				hi = lo;
			} else {
				word_t a = { v->p, (uint32_t)(colon - v->p) }, b = { colon + 1, v->len - a.len - 1 };
				lo = 0;
				hi = 0xffff;
				if ((a.len && decimal(&a, 0xffff, &lo)) || (b.len && decimal(&b, 0xffff, &hi)) || lo > hi) BAD("bad port range");
			}
			wr16(d + (sport ? 0 : 4), lo);
			wr16(d + (sport ? 2 : 6), hi);
			if (neg) inv |= sport ? 1 : 2;
			k = j + 2;
		}
		d[tcp ? 11 : 8] = inv;
	} else if (is(name, "statistic")) {
		if (!is(NEXT(k), "--mode") || !is(NEXT(k + 1), "random") || !is(NEXT(k + 2), "--probability") || !HAS(k + 3)) BAD("statistic other than --mode random --probability");
		char buf[32];
		if (w[k + 3].len >= sizeof(buf)) BAD("bad probability");
		memcpy(buf, w[k + 3].p, w[k + 3].len);
		buf[w[k + 3].len] = 0;
		char *end;
		double prob = strtod(buf, &end);
		if (*end || !(prob >= 0 && prob <= 1)) BAD("bad probability");
		/* struct xt_statistic_info: mode, flags, u.random.probability, (8-aligned) a kernel pointer */
		d = ext(p, "statistic", 0, 24);
		uint32_t v = (uint32_t)(prob * 2147483648.0 + 0.5);
		wr32(d + 4, v);
		/* libxt_statistic's final check sets u.nth.count = every - packet for any mode; every shares the probability's bytes */
		wr32(d + 12, v);
		k += 4;
	} else if (is(name, "mark")) {
		int neg = is(NEXT(k), "!");
		if (neg) k++;
		uint32_t v, m;
		if (!is(NEXT(k), "--mark") || value_mask(NEXT(k + 1), &v, &m)) BAD("mark other than --mark VALUE[/MASK]");
		/* struct xt_mark_mtinfo1: mark, mask, invert */
		d = ext(p, "mark", 1, 9);
		wr32(d, v);
		wr32(d + 4, m);
		d[8] = (uint8_t)neg;
		k += 2;
	} else if (is(name, "addrtype")) {
		static const uint32_t bit[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048 };
		/* struct xt_addrtype_info_v1: u16 source, u16 dest, u32 flags */
		d = ext(p, "addrtype", 1, 8);
		uint32_t flags = 0;
		for (;;) {
			uint32_t j = k;
			int neg = is(NEXT(j), "!");
			if (neg) j++;
			int src = is(NEXT(j), "--src-type");
			if (!src && !is(NEXT(j), "--dst-type")) break;
			uint32_t bits;
			if (bits_of(NEXT(j + 1), ADDRTYPES, bit, 12, &bits)) BAD("unknown address type");
			wr16(d + (src ? 0 : 2), bits);
			if (neg) flags |= src ? 1 : 2;
			k = j + 2;
		}
		wr32(d + 4, flags);
	} else if (is(name, "conntrack")) {
		static const char *const states[] = { "INVALID", "ESTABLISHED", "RELATED", "NEW" };
		static const uint32_t bit[] = { 1, 2, 4, 8 }; /* XT_CONNTRACK_STATE_BIT(IP_CT_*) */
		uint32_t bits;
		if (!is(NEXT(k), "--ctstate") || bits_of(NEXT(k + 1), states, bit, 4, &bits)) BAD("conntrack other than --ctstate");
		/* struct xt_conntrack_mtinfo3: 8 addresses (128 bytes), expires, ports..., match_flags @146, invert_flags, state_mask @150 */
		d = ext(p, "conntrack", 3, 164);
		wr16(d + 146, 1); /* XT_CONNTRACK_STATE */
		wr16(d + 150, bits);
		k += 2;
	} else if (is(name, "recent")) {
		/* struct xt_recent_mtinfo_v1: seconds, hit_count, check_set, invert, name[200], side, (4-aligned) mask */
		d = ext(p, "recent", 1, 228);
		uint32_t mask = 0xffffffffu, v;
		word_t rname = { "DEFAULT", 7 };
		for (;;) {
			const word_t *o = NEXT(k);
			if (!o) break;
			if (is(o, "--rcheck")) d[8] |= 1, k++;
			else if (is(o, "--set")) d[8] |= 2, k++;
			else if (is(o, "--update")) d[8] |= 4, k++;
			else if (is(o, "--remove")) d[8] |= 8, k++;
			else if (is(o, "--rttl")) d[8] |= 16, k++;
			else if (is(o, "--reap")) d[8] |= 32, k++;
			else if (is(o, "--rsource")) d[210] = 0, k++;
			else if (is(o, "--rdest")) d[210] = 1, k++;
			else if (is(o, "--seconds") || is(o, "--hitcount")) {
				if (decimal(NEXT(k + 1), 0xffffffffu, &v)) BAD("bad %.*s", (int)o->len, o->p);
				wr32(d + (o->p[2] == 's' ? 0 : 4), v);
				k += 2;
			} else if (is(o, "--name")) {
				if (!HAS(k + 1) || w[k + 1].len >= 200) BAD("bad recent name");
				rname = w[k + 1];
				k += 2;
			} else if (is(o, "--mask")) {
				if (!HAS(k + 1) || ipv4(w[k + 1], &mask)) BAD("bad recent mask");
				k += 2;
			} else break;
		}
		/* as libxt_recent fills it: "DEFAULT", then the name copied over it with its NUL (the rest of DEFAULT stays) */
		memcpy(d + 10, "DEFAULT", 7);
		memcpy(d + 10, rname.p, rname.len);
		d[10 + rname.len] = 0;
		wr32be(d + 212, mask);
	} else {
		BAD("match %.*s", (int)name->len, name->p);
	}
	*i = k;
	return rd16(p);
}

/*
 * Encode one rule (the text after `-A CHAIN `) into the arena: fills *r,
 * with its jump resolved to a chain (which must exist, as libiptc requires).
 */
static int encode(table_t *t, const char *s, uint32_t len, rule_t *r) {
	word_t w[MAX_WORDS];
	uint32_t n = 0;
	if (split_words(t, s, len, w, &n)) return -1;
	uint8_t *b = arena_room(t);
	if (!b) BAD("out of memory");
	uint32_t at = ENTRY, target = 0;
	int32_t jump = -1;
	int has_target = 0, has_src = 0, has_dst = 0, has_proto = 0;
	for (uint32_t i = 0; i < n;) {
		int neg = is(&w[i], "!");
		if (neg) i++;
		const word_t *o = NEXT(i);
		if (!o) BAD("! at the end");
		if (is(o, "-s") || is(o, "-d")) {
			const word_t *v = NEXT(i + 1);
			if (!v) BAD("missing address");
			const char *slash = memchr(v->p, '/', v->len);
			word_t a = { v->p, slash ? (uint32_t)(slash - v->p) : v->len };
			uint32_t bits = 32, addr;
			if (slash) {
				word_t pl = { slash + 1, v->len - a.len - 1 };
				if (decimal(&pl, 32, &bits)) BAD("bad prefix length");
			}
			if (ipv4(a, &addr)) BAD("not an IPv4 address: %.*s", (int)v->len, v->p);
			uint32_t mask = bits ? 0xffffffffu << (32 - bits) : 0;
			int src = o->p[1] == 's';
			if (src ? has_src++ : has_dst++) BAD("%.*s given twice", (int)o->len, o->p);
			wr32be(b + (src ? 0 : 4), addr & mask);
			wr32be(b + (src ? 8 : 12), mask);
			if (neg) b[83] |= src ? IPT_INV_SRCIP : IPT_INV_DSTIP;
			i += 2;
		} else if (is(o, "-p") && !neg && !has_target && !has_proto++) {
			if (is(NEXT(i + 1), "tcp")) wr16(b + 80, 6);
			else if (is(NEXT(i + 1), "udp")) wr16(b + 80, 17);
			else BAD("protocol");
			i += 2;
		} else if (is(o, "-m") && !neg && !has_target) {
			if (at + MAX_MATCH + MAX_TARGET > MAX_ENTRY) BAD("rule too long");
			const word_t *name = NEXT(i + 1);
			if (!name) BAD("-m without a name");
			i += 2;
			int size = match(t, b + at, name, w, n, &i);
			if (size < 0) return -1;
			at += (uint32_t)size;
		} else if (is(o, "-j") && !neg && !has_target) {
			const word_t *name = NEXT(i + 1);
			if (!name) BAD("-j without a target");
			i += 2;
			has_target = 1;
			target = at;
			uint8_t *d;
			if (is(name, "ACCEPT") || is(name, "DROP") || is(name, "RETURN")) {
				d = ext(b + at, "", 0, 4);
				wr32(d, (uint32_t)(is(name, "ACCEPT") ? V_ACCEPT : is(name, "DROP") ? V_DROP : V_RETURN));
			} else if (is(name, "MARK")) {
				uint32_t v, m;
				if (!is(NEXT(i), "--set-xmark") || value_mask(NEXT(i + 1), &v, &m)) BAD("MARK other than --set-xmark");
				d = ext(b + at, "MARK", 2, 8);
				wr32(d, v);
				wr32(d + 4, m);
				i += 2;
			} else if (is(name, "MASQUERADE")) {
				/* struct nf_nat_ipv4_multi_range_compat: rangesize 1, one range: flags, min_ip, max_ip, min, max */
				d = ext(b + at, "MASQUERADE", 0, 20);
				wr32(d, 1);
				if (is(NEXT(i), "--random-fully")) wr32(d + 4, 0x10), i++; /* NF_NAT_RANGE_PROTO_RANDOM_FULLY */
			} else if (is(name, "DNAT")) {
				const word_t *v = NEXT(i + 1);
				if (!is(NEXT(i), "--to-destination") || !v) BAD("DNAT other than --to-destination");
				const char *colon = memchr(v->p, ':', v->len);
				word_t a = { v->p, colon ? (uint32_t)(colon - v->p) : v->len };
				uint32_t addr, port = 0;
				if (ipv4(a, &addr)) BAD("bad DNAT address");
				if (colon) {
					word_t pw = { colon + 1, v->len - a.len - 1 };
					if (decimal(&pw, 0xffff, &port)) BAD("bad DNAT port");
				}
				/* struct nf_nat_range2: flags, min_addr, max_addr (16 each), min_proto, max_proto (be16), base_proto */
				d = ext(b + at, "DNAT", 2, 44);
				wr32(d, colon ? 3 : 1); /* NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED */
				wr32be(d + 4, addr);
				wr32be(d + 20, addr);
				if (colon) wr16be(d + 36, port), wr16be(d + 38, port);
				i += 2;
			} else if (is(name, "REJECT")) {
				if (!is(NEXT(i), "--reject-with") || !is(NEXT(i + 1), "icmp-port-unreachable")) BAD("REJECT other than --reject-with icmp-port-unreachable");
				d = ext(b + at, "REJECT", 0, 4);
				wr32(d, 3); /* IPT_ICMP_PORT_UNREACHABLE */
				i += 2;
			} else {
				jump = find_chain(t, name->p, name->len);
				if (jump < 0 || t->chains[jump].deleted || t->chains[jump].hook >= 0) BAD("target %.*s is not a chain of this table", (int)name->len, name->p);
				ext(b + at, "", 0, 4); /* the verdict is its offset, written at layout */
			}
			at += rd16(b + at);
		} else {
			BAD("option %s%.*s", neg ? "! " : "", (int)o->len, o->p);
		}
	}
	int fall = !has_target;
	if (fall) {
		/* no -j: the rule only counts (a standard target that falls through to the next entry) */
		target = at;
		ext(b + at, "", 0, 4);
		at += STANDARD_SIZE;
	}
	wr16(b + TARGET_OFFSET, target);
	wr16(b + NEXT_OFFSET, at);
	t->arena->used += ALIGN8(at);
	*r = (rule_t){ b, at, jump, -1, (uint8_t)fall };
	return 0;
}

/* libiptc's is_same, for -D: the same match part and target, whatever was counted or where a jump lands in its blob */
static int same_rule(const rule_t *a, const rule_t *b) {
	if (a->len != b->len || a->jump != b->jump || a->fall != b->fall) return 0;
	if (memcmp(a->p, b->p, 84) || memcmp(a->p + 88, b->p + 88, 4)) return 0;
	uint32_t end = a->jump >= 0 || a->fall ? (uint32_t)rd16(a->p + TARGET_OFFSET) + XT_HEAD : a->len;
	return memcmp(a->p + ENTRY, b->p + ENTRY, end - ENTRY) == 0;
}

/* ---- the text ---- */

static int apply_line(table_t *t, const char *s, uint32_t n) {
	const char *sp = memchr(s, ' ', n);
	if (!sp) BAD("%.*s", (int)n, s);
	uint32_t oplen = (uint32_t)(sp - s), restlen = n - oplen - 1;
	const char *rest = sp + 1;
	if (s[0] == ':') {
		/* `:NAME - [0:0]`: a user chain, made, or flushed if it exists (--noflush) */
		if (restlen != 7 || memcmp(rest, "- [0:0]", 7) || oplen - 1 > NAME_MAX_LEN || oplen < 2) BAD("%.*s", (int)n, s);
		static const char *const reserved[] = { "ACCEPT", "DROP", "QUEUE", "RETURN" };
		for (size_t r = 0; r < sizeof(reserved) / sizeof(*reserved); r++)
			if (oplen - 1 == strlen(reserved[r]) && !memcmp(s + 1, reserved[r], oplen - 1)) BAD("%.*s", (int)n, s);
		int32_t c = find_chain(t, s + 1, oplen - 1);
		if (c >= 0 && t->chains[c].hook >= 0) BAD("%.*s", (int)n, s);
		if (c < 0 && (c = add_chain(t, s + 1, oplen - 1, -1)) < 0) BAD("out of memory");
		chain_t *ch = &t->chains[c];
		for (uint32_t i = 0; i < ch->n; i++) drop_rule_refs(t, &ch->rules[i]);
		ch->n = 0;
		ch->deleted = 0;
		return 0;
	}
	const char *sp2 = memchr(rest, ' ', restlen);
	uint32_t namelen = sp2 ? (uint32_t)(sp2 - rest) : restlen;
	int32_t c = find_chain(t, rest, namelen);
	if (c < 0 || t->chains[c].deleted) BAD("chain %.*s does not exist", (int)namelen, rest);
	const char *spec = sp2 ? sp2 + 1 : rest + restlen;
	uint32_t speclen = (uint32_t)(rest + restlen - spec);
	rule_t r;
	if (oplen == 2 && s[0] == '-' && s[1] == 'A') {
		if (encode(t, spec, speclen, &r)) return -1;
		if (r.jump >= 0) t->chains[r.jump].refs++;
		if (push_rule(&t->chains[c], t->chains[c].n, &r)) BAD("out of memory");
	} else if (oplen == 2 && s[0] == '-' && s[1] == 'I') {
		const char *sp3 = memchr(spec, ' ', speclen);
		word_t pos = { spec, sp3 ? (uint32_t)(sp3 - spec) : speclen };
		uint32_t at;
		if (!sp3 || decimal(&pos, 0xffffffffu, &at) || at < 1 || at > t->chains[c].n + 1) BAD("bad position in %.*s", (int)n, s);
		if (encode(t, sp3 + 1, (uint32_t)(spec + speclen - sp3 - 1), &r)) return -1;
		if (r.jump >= 0) t->chains[r.jump].refs++;
		if (push_rule(&t->chains[c], at - 1, &r)) BAD("out of memory");
	} else if (oplen == 2 && s[0] == '-' && s[1] == 'D') {
		if (encode(t, spec, speclen, &r)) return -1;
		chain_t *ch = &t->chains[c];
		uint32_t i = 0;
		while (i < ch->n && !same_rule(&ch->rules[i], &r)) i++;
		if (i == ch->n) BAD("no such rule in %s", ch->name);
		drop_rule_refs(t, &ch->rules[i]);
		memmove(&ch->rules[i], &ch->rules[i + 1], (ch->n - i - 1) * sizeof(r));
		ch->n--;
	} else if (oplen == 2 && s[0] == '-' && s[1] == 'X') {
		chain_t *ch = &t->chains[c];
		if (sp2 || ch->hook >= 0 || ch->n || ch->refs) BAD("cannot delete chain %s", ch->name);
		ch->deleted = 1;
	} else {
		BAD("%.*s", (int)oplen, s);
	}
	return 0;
}

/* ---- laying the table out ---- */

static int by_name(const void *a, const void *b, void *table) {
	const table_t *t = table;
	return strcmp(t->chains[*(const uint32_t *)a].name, t->chains[*(const uint32_t *)b].name);
}

/* copy a chain's rules (one memcpy per run of entries that lie one after another), then their verdicts */
static uint32_t put_rules(table_t *t, uint8_t *out, uint32_t at, const rule_t *rules, uint32_t count, int32_t *old_index, uint32_t *num) {
	for (uint32_t i = 0; i < count;) {
		uint32_t j = i + 1;
		const uint8_t *end = rules[i].p + rules[i].len;
		while (j < count && rules[j].p == end && rules[j].len) end += rules[j++].len;
		memcpy(out + at, rules[i].p, (size_t)(end - rules[i].p));
		for (; i < j; i++) {
			const rule_t *r = &rules[i];
			uint8_t *e = out + at;
			memset(e + COMEFROM, 0, ENTRY - COMEFROM); /* the kernel zeroes them; a read entry carries the old values */
			if (r->fall) wr32(e + rd16(e + TARGET_OFFSET) + XT_HEAD, at + r->len);
			else if (r->jump >= 0) wr32(e + rd16(e + TARGET_OFFSET) + XT_HEAD, t->chains[r->jump].start);
			old_index[(*num)++] = r->old;
			at += r->len;
		}
	}
	return at;
}

static uint32_t put_error(uint8_t *e, const char *text) {
	wr16(e + TARGET_OFFSET, ENTRY);
	wr16(e + NEXT_OFFSET, CHAIN_HEAD);
	wr16(e + ENTRY, ERROR_SIZE);
	memcpy(e + ENTRY + 2, "ERROR", 5);
	memcpy(e + ENTRY + XT_HEAD, text, strlen(text));
	return CHAIN_HEAD;
}

static void free_table(table_t *t) {
	for (uint32_t c = 0; c < t->nchains; c++) free(t->chains[c].rules);
	free(t->chains);
	free(t->hash);
	while (t->arena) {
		chunk_t *n = t->arena->next;
		munmap(t->arena, t->arena->size);
		t->arena = n;
	}
}

/* A table read, edited and laid out, waiting to be swapped in. */
typedef struct {
	int fd;
	struct ipt_replace *repl;        /* the header, then the new blob */
	size_t repl_size;
	uint32_t old_num;
	int32_t *old_index;              /* for each new entry, the old entry whose counters it keeps, or -1 */
} prepared_t;

void bk_ipt_free(prepared_t *p) {
	if (!p) return;
	if (p->repl) munmap(p->repl, p->repl_size);
	free(p->old_index);
	free(p);
}

/* A table as the kernel gave it (bk_ipt_read): its IPT_SO_GET_INFO, and its blob. */
typedef struct {
	struct ipt_getinfo info;
	struct ipt_get_entries *e;
	size_t size;                     /* of the mapping e */
} read_t;

void bk_ipt_read_free(read_t *r) {
	if (!r) return;
	if (r->e) munmap(r->e, r->size);
	free(r);
}

/*
 * IPT_SO_GET_INFO and IPT_SO_GET_ENTRIES of `name` on `fd`, again while
 * the table changes size between the two. NULL with the reason in `err`.
 * (Its own call, so a caller can read a big table early, while another
 * process works: at 10k services the kernel takes ~300 ms to hand nat over.)
 */
read_t *bk_ipt_read(int fd, const char *name, char *err, uint64_t err_len) {
	read_t *r = calloc(1, sizeof(*r));
	if (!r) return snprintf(err, err_len, "out of memory"), NULL;
	for (int tries = 0; tries < 5; tries++) {
		struct ipt_getinfo *info = &r->info;
		memset(info, 0, sizeof(*info));
		strncpy(info->name, name, sizeof(info->name) - 1);
		socklen_t len = sizeof(*info);
		if (getsockopt(fd, SOL_IP, IPT_SO_GET_INFO, info, &len)) {
			snprintf(err, err_len, "IPT_SO_GET_INFO %s: %s", name, strerror(errno));
			break;
		}
		len = (socklen_t)(sizeof(struct ipt_get_entries) + info->size);
		r->size = len;
		r->e = populated(len);
		if (!r->e) {
			snprintf(err, err_len, "out of memory");
			break;
		}
		memcpy(r->e->name, info->name, sizeof(r->e->name));
		r->e->size = info->size;
		if (!getsockopt(fd, SOL_IP, IPT_SO_GET_ENTRIES, r->e, &len)) return r;
		int e = errno;
		munmap(r->e, r->size);
		r->e = NULL;
		if (e != EAGAIN) {
			snprintf(err, err_len, "IPT_SO_GET_ENTRIES %s: %s", name, strerror(e));
			break;
		}
		if (tries == 4) snprintf(err, err_len, "%s kept changing while it was read", name);
	}
	bk_ipt_read_free(r);
	return NULL;
}

/*
 * Apply `text` (the lines of a table's section of an iptables-restore
 * --noflush text, without `*table` and COMMIT) to the table `read` (from
 * bk_ipt_read on `fd`, which this frees, whatever happens) and lay it out
 * for bk_ipt_commit. NULL, with the reason in `err`, for what is not
 * modelled here or a line that cannot apply: nothing is changed.
 */
prepared_t *bk_ipt_prepare(int fd, read_t *read, const char *text, uint64_t text_len, char *err, uint64_t err_len) {
	table_t t = { 0 };
	t.err = err;
	t.errlen = err_len;
	/* populated memory costs by its size: a small section gets a small chunk (entries take ~4-5x their text) */
	t.chunk = text_len * 6 + MAX_ENTRY < ARENA_MAX ? text_len * 6 + MAX_ENTRY : ARENA_MAX;
	if (err_len) err[0] = 0;
	prepared_t *p = NULL;
	uint32_t *users = NULL;
	struct ipt_getinfo info = read->info;
	struct ipt_get_entries *old = read->e;
	uint32_t valid = info.valid_hooks;
	if (read_blob(&t, (const uint8_t *)old->entrytable, old->size, info.num_entries, info.hook_entry, info.underflow, valid)) goto out;
	for (uint64_t at = 0; at < text_len;) {
		const char *nl = memchr(text + at, '\n', text_len - at);
		uint32_t n = (uint32_t)(nl ? (uint64_t)(nl - text) - at : text_len - at);
		if (n && text[at] != '#' && apply_line(&t, text + at, n)) goto out;
		at += n + 1;
	}
	/* sizes, and where each user chain's first rule will be */
	users = malloc(sizeof(uint32_t) * (t.nchains + 1));
	if (!users) { fail(&t, "out of memory"); goto out; }
	uint32_t nusers = 0;
	uint64_t size = 0, count = 0;
	for (int h = 0; h < NHOOKS; h++) {
		if (!(valid & (1u << h))) continue;
		chain_t *ch = &t.chains[find_chain(&t, HOOK_NAMES[h], strlen(HOOK_NAMES[h]))];
		if (!ch->policy.p) { fail(&t, "built-in chain %s has no policy", ch->name); goto out; }
		for (uint32_t i = 0; i < ch->n; i++) size += ch->rules[i].len;
		size += ch->policy.len;
		count += ch->n + 1;
	}
	for (uint32_t c = 0; c < t.nchains; c++)
		if (t.chains[c].hook < 0 && !t.chains[c].deleted) users[nusers++] = c;
	qsort_r(users, nusers, sizeof(uint32_t), by_name, &t);
	for (uint32_t u = 0; u < nusers; u++) {
		chain_t *ch = &t.chains[users[u]];
		ch->start = (uint32_t)size + CHAIN_HEAD;
		size += CHAIN_HEAD + CHAIN_TAIL;
		for (uint32_t i = 0; i < ch->n; i++) size += ch->rules[i].len;
		count += ch->n + 2;
	}
	size += CHAIN_HEAD;
	count += 1;
	if (size > 0x7fffffffu) { fail(&t, "the table would be %llu bytes", (unsigned long long)size); goto out; }
	p = calloc(1, sizeof(*p));
	if (!p) { fail(&t, "out of memory"); goto out; }
	p->fd = fd;
	p->old_num = info.num_entries;
	p->repl_size = sizeof(struct ipt_replace) + size;
	p->repl = populated(p->repl_size);
	p->old_index = malloc(sizeof(int32_t) * count);
	if (!p->repl || !p->old_index) { if (!p->repl) p->repl_size = 0; bk_ipt_free(p); p = NULL; fail(&t, "out of memory"); goto out; }
	struct ipt_replace *r = p->repl;
	memcpy(r->name, info.name, sizeof(r->name));
	r->valid_hooks = valid;
	r->size = (unsigned int)size;
	r->num_counters = info.num_entries;
	uint8_t *blob = (uint8_t *)r->entries;
	uint32_t at = 0, num = 0;
	for (int h = 0; h < NHOOKS; h++) {
		if (!(valid & (1u << h))) continue;
		chain_t *ch = &t.chains[find_chain(&t, HOOK_NAMES[h], strlen(HOOK_NAMES[h]))];
		r->hook_entry[h] = at;
		at = put_rules(&t, blob, at, ch->rules, ch->n, p->old_index, &num);
		r->underflow[h] = at;
		at = put_rules(&t, blob, at, &ch->policy, 1, p->old_index, &num);
	}
	for (uint32_t u = 0; u < nusers; u++) {
		chain_t *ch = &t.chains[users[u]];
		at += put_error(blob + at, ch->name);
		p->old_index[num++] = -1;
		at = put_rules(&t, blob, at, ch->rules, ch->n, p->old_index, &num);
		uint8_t *e = blob + at;
		wr16(e + TARGET_OFFSET, ENTRY);
		wr16(e + NEXT_OFFSET, CHAIN_TAIL);
		wr16(e + ENTRY, STANDARD_SIZE);
		wr32(e + ENTRY + XT_HEAD, (uint32_t)V_RETURN);
		at += CHAIN_TAIL;
		p->old_index[num++] = -1;
	}
	at += put_error(blob + at, "ERROR");
	p->old_index[num++] = -1;
	r->num_entries = num;
out:
	free(users);
	free_table(&t);
	bk_ipt_read_free(read);
	return p;
}

/*
 * Swap the prepared table in (IPT_SO_SET_REPLACE: the kernel checks every
 * entry first, and refuses with EAGAIN if the table changed since it was
 * read), then add to each kept rule what its old entry had counted. 0; -1
 * (reason in `err`) when the kernel refused the swap, the table unchanged;
 * -2 when the new table is in place but its kept counters are not.
 */
int bk_ipt_commit(prepared_t *p, char *err, uint64_t err_len) {
	struct ipt_replace *r = p->repl;
	size_t nold = p->old_num ? p->old_num : 1;
	struct xt_counters *old = calloc(nold, sizeof(*old));
	if (!old) return snprintf(err, err_len, "out of memory"), -1;
	r->counters = old;
	if (setsockopt(p->fd, SOL_IP, IPT_SO_SET_REPLACE, r, (socklen_t)p->repl_size)) {
		snprintf(err, err_len, "IPT_SO_SET_REPLACE %s: %s", r->name, strerror(errno));
		free(old);
		return -1;
	}
	/* from here on the new table is in place */
	int kept = 0;
	for (uint32_t i = 0; i < r->num_entries && !kept; i++) {
		int32_t j = p->old_index[i];
		kept = j >= 0 && (uint32_t)j < p->old_num && (old[j].pcnt || old[j].bcnt);
	}
	int rc = 0;
	if (kept) {
		size_t size = sizeof(struct xt_counters_info) + sizeof(struct xt_counters) * r->num_entries;
		struct xt_counters_info *c = calloc(1, size);
		if (!c) rc = -2, snprintf(err, err_len, "out of memory");
		else {
			memcpy(c->name, r->name, sizeof(c->name));
			c->num_counters = r->num_entries;
			for (uint32_t i = 0; i < r->num_entries; i++) {
				int32_t j = p->old_index[i];
				if (j >= 0 && (uint32_t)j < p->old_num) c->counters[i] = old[j];
			}
			if (setsockopt(p->fd, SOL_IP, IPT_SO_SET_ADD_COUNTERS, c, (socklen_t)size)) {
				rc = -2;
				snprintf(err, err_len, "IPT_SO_SET_ADD_COUNTERS %s: %s", r->name, strerror(errno));
			}
			free(c);
		}
	}
	free(old);
	return rc;
}
