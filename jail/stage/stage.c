// The stage: a syscall interpreter that replays an operation list compiled by TypeScript (the
// record and each kind's meaning: jail/stage/ops.ts; loaded by sys/stage.ts). It runs inside the multi-threaded Bun process
// through bun:ffi and, after a `clone` op, in the child, where no JavaScript may run. It holds no
// policy: every syscall, argument and the meaning of every failure come from the ops.
//
// Built freestanding (scripts/build-stage.ts): no libc, no data, no relocations, one function, so
// the .text bytes alone are the blob and the entry is at offset 0. Everything but the entry is
// always_inline for that reason. Its own syscalls are exit_group on a failure and, while ops
// are still being streamed in (before the program's gate, so never under the jail's filter),
// futex waits; after a seccomp filter it needs little more than the ops' own calls.

typedef long long i64;
typedef unsigned long long u64;

struct op {
	int kind, nr, regmask, dst;
	i64 a[6];
	int ok[4];
	int errdst, skip, cond, jump;
	i64 cmp;
	int failexit, pad;
};

// The layout is a contract with jail/stage/ops.ts; a mismatch must not build.
_Static_assert(sizeof(struct op) == 112, "op record is 112 bytes");
_Static_assert(__builtin_offsetof(struct op, a) == 16, "a at 16");
_Static_assert(__builtin_offsetof(struct op, ok) == 64, "ok at 64");
_Static_assert(__builtin_offsetof(struct op, cmp) == 96, "cmp at 96");
_Static_assert(__builtin_offsetof(struct op, failexit) == 104, "failexit at 104");

enum { SYSCALL, RETURN, STORE32, STORE64, ITOA, JUMP, SET };
enum { NREGS = 256, EINVAL = 22, MAGIC = 0x73746167 /* "stag" */ };

#define INLINE static inline __attribute__((always_inline))
// sys6: the raw syscall instruction, shared with the helper (inlined: the stage is one function)
#include "syscalls.h"

// Report (index, errno) once, then die. Plain stores: the report is MAP_SHARED memory that the
// parent reads after waiting for us; the first failure wins (a later one must not overwrite it).
// exit_group is the one number the stage knows itself (x86_64 231, aarch64 94).
INLINE __attribute__((noreturn)) void fail(volatile int *report, long i, int err, int status)
{
	if (report && report[0] == 0) {
		report[1] = (int)i;
		report[2] = err;
		report[0] = MAGIC;
	}
#if defined(__x86_64__)
	sys6(231, status, 0, 0, 0, 0, 0);
#else
	sys6(94, status, 0, 0, 0, 0, 0);
#endif
	__builtin_unreachable();
}

i64 jailx_stage(const struct op *ops, long n, i64 *regs, int *report)
{
	// Also a signal handler (sys/stage.ts forwardToMainThread), called as (signo, siginfo,
	// ucontext): the supervisor's main thread blocks the signals it forwards, Bun's other
	// threads do not; a signal one of them takes is handed to the main thread, where it stays
	// pending through the execve of the waiter, which reads it. A terminal's (SI_KERNEL, 0x80)
	// reached the jail's process group already: dropped.
	if ((unsigned long)ops < 65) {
		const int *info = (const int *)n;
		if (info && info[2] == 0x80)
			return 0;
#if defined(__x86_64__)
		i64 pid = sys6(39, 0, 0, 0, 0, 0, 0);          // getpid
		sys6(234, pid, pid, (i64)ops, 0, 0, 0);         // tgkill(pid, pid = the main thread, signo)
#else
		i64 pid = sys6(172, 0, 0, 0, 0, 0, 0);
		sys6(131, pid, pid, (i64)ops, 0, 0, 0);
#endif
		return 0;
	}
	volatile int *rep = report;
	long i = 0;
	if (n < 0)
		fail(rep, 0, EINVAL, 125);
	for (;;) {
		if (i == n)
			return -1;
		// Streamed ops: report[3], when set, counts the ops written so far (the supervisor
		// compiles the rest while this process replays the first ones): wait until op i is.
		int have;
		while (report && (have = __atomic_load_n(&report[3], __ATOMIC_ACQUIRE)) > 0 && i >= have)
#if defined(__x86_64__)
			sys6(202, (i64)&report[3], 0 /* FUTEX_WAIT */, have, 0, 0, 0);
#else
			sys6(98, (i64)&report[3], 0 /* FUTEX_WAIT */, have, 0, 0, 0);
#endif
		const struct op *o = &ops[i];
		// regmask applies to every kind (SYSCALL arguments, the address of STORE/ITOA, SET's
		// value); indexes are validated before use: a bad program must stop, not scribble.
		i64 v[6];
		for (int j = 0; j < 6; j++) {
			v[j] = o->a[j];
			if (o->regmask & (1 << j)) {
				if ((u64)v[j] >= NREGS)
					fail(rep, i, EINVAL, 125);
				v[j] = regs[v[j]];
			}
		}
		long next = i + 1;
		switch (o->kind) {
		case SYSCALL: {
			if (o->dst < -1 || o->dst >= NREGS || o->errdst < -1 || o->errdst >= NREGS || (u64)o->cond > 4)
				fail(rep, i, EINVAL, 125);
			i64 r = sys6(o->nr, v[0], v[1], v[2], v[3], v[4], v[5]);
			// The kernel's error range; anything else is a result, even if negative.
			if (r < 0 && r >= -4095) {
				int err = (int)-r, tolerated = 0;
				if (o->errdst >= 0)
					regs[o->errdst] = err;
				for (int k = 0; k < 4; k++)
					tolerated |= o->ok[k] == -1 || (o->ok[k] != 0 && o->ok[k] == err);
				if (!tolerated)
					fail(rep, i, err, o->failexit ? o->failexit : 125);
				next += o->skip;
				break;
			}
			if (o->dst >= 0)
				regs[o->dst] = r;
			int hold = o->cond == 1 ? r == o->cmp : o->cond == 2 ? r != o->cmp
				 : o->cond == 3 ? r > o->cmp : o->cond == 4 ? r < o->cmp : 0;
			if (hold)
				next += o->jump;
			break;
		}
		case RETURN:
			if ((u64)o->a[0] >= NREGS)
				fail(rep, i, EINVAL, 125);
			return regs[o->a[0]];
		case STORE32:
		case STORE64:
		case ITOA: {
			if ((u64)o->a[1] >= NREGS)
				fail(rep, i, EINVAL, 125);
			i64 x = regs[o->a[1]];
			if (o->kind == STORE32) {
				*(volatile int *)v[0] = (int)x;
			} else if (o->kind == STORE64) {
				*(volatile i64 *)v[0] = x;
			} else {
				// Digits backwards into a local, then copied out in order; unsigned so that
				// the most negative value has a magnitude.
				char tmp[24], *out = (char *)v[0];
				u64 m = x < 0 ? -(u64)x : (u64)x;
				int len = 0;
				do {
					tmp[len++] = (char)('0' + m % 10);
					m /= 10;
				} while (m);
				if (x < 0)
					*out++ = '-';
				while (len)
					*out++ = tmp[--len];
				*out = 0;
			}
			break;
		}
		case JUMP:
			next += o->jump;
			break;
		case SET:
			if (o->dst < 0 || o->dst >= NREGS)
				fail(rep, i, EINVAL, 125);
			regs[o->dst] = v[0]; // with regmask bit 0: a register copy
			break;
		default:
			fail(rep, i, EINVAL, 125);
		}
		// n itself is a valid target ("done"); anything else outside the program is a bad
		// jump, reported as the op that made it.
		if (next < 0 || next > n)
			fail(rep, i, EINVAL, 125);
		i = next;
	}
}
