// The stage: a syscall interpreter that replays an operation list compiled by TypeScript (the
// record and each kind's meaning: jail/stage/ops.ts; loaded by sys/stage.ts). It runs inside the multi-threaded Bun process
// through bun:ffi and, after a `clone` op, in the child, where no JavaScript may run. It holds no
// policy: every syscall, argument and the meaning of every failure come from the ops.
//
// Built freestanding (scripts/build-stage.ts): no libc, no data, no relocations, one function, so
// the .text bytes alone are the blob and the entry is at offset 0. Everything but the entry is
// always_inline for that reason. Its own syscalls are exit_group on a failure and, while ops
// are still being streamed in (before the program's gate, so never under the jail's filter),
// futex waits and a ppoll of the watched descriptor; after a seccomp filter it needs little more
// than the ops' own calls.

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

enum { SYSCALL, RETURN, STORE32, STORE64, ITOA, JUMP, SET, SPAWN };
enum { NREGS = 256, EINVAL = 22, EPIPE = 32, ETIMEDOUT = 110, MAGIC = 0x73746167 /* "stag" */ };
// The register a streamed wait watches (jail/stage/ops.ts WATCH_REGISTER), and how long each
// of its futex waits may last before it looks (50 ms).
enum { WATCH = NREGS - 1, WATCH_NS = 50 * 1000 * 1000 };
#if defined(__x86_64__)
enum { CLONE_NR = 56, FUTEX_NR = 202, PPOLL_NR = 271 };
#else
enum { CLONE_NR = 220, FUTEX_NR = 98, PPOLL_NR = 73 };
#endif

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

// clone(flags, stack) — or clone3(args, size), whose args name the stack — onto a stack of its
// own: the child calls fn(a0, a1, a2, a3, a4) there (the stage's own entry: the child replays an
// op list from an op on) and never returns here. With CLONE_VM no copy of the caller's (large)
// address space is made; with CLONE_VFORK the caller also sleeps until the child has executed or
// exited. The child's arguments wait in registers the syscall preserves.
INLINE i64 spawn(i64 nr, i64 x0, i64 x1, i64 fn, i64 a0, i64 a1, i64 a2, i64 a3, i64 a4)
{
#if defined(__x86_64__)
	register i64 r10 __asm__("r10") = 0, r8 __asm__("r8") = 0, r9 __asm__("r9") = a4, r12 __asm__("r12") = fn,
		     r13 __asm__("r13") = a0, r14 __asm__("r14") = a1, r15 __asm__("r15") = a2;
	i64 r;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "mov %%r13, %%rdi\n\t"
			 "mov %%r14, %%rsi\n\t"
			 "mov %%r15, %%rdx\n\t"
			 "mov %%rbx, %%rcx\n\t"
			 "mov %%r9, %%r8\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "call *%%r12\n\t"
			 "mov $231, %%eax\n\t"
			 "mov $125, %%edi\n\t"
			 "syscall\n\t"
			 "1:"
			 : "=a"(r)
			 : "a"(nr), "D"(x0), "S"(x1), "d"(0), "r"(r10), "r"(r8), "r"(r9), "r"(r12), "r"(r13), "r"(r14),
			   "r"(r15), "b"(a3)
			 : "rcx", "r11", "memory");
	return r;
#else
	register i64 x8 __asm__("x8") = nr, r0 __asm__("x0") = x0, r1 __asm__("x1") = x1,
		     x2 __asm__("x2") = 0, x3 __asm__("x3") = 0, x4 __asm__("x4") = 0, x19 __asm__("x19") = a0,
		     x20 __asm__("x20") = a1, x21 __asm__("x21") = a2, x22 __asm__("x22") = a3,
		     x23 __asm__("x23") = fn, x24 __asm__("x24") = a4;
	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 "mov x0, x19\n\t"
			 "mov x1, x20\n\t"
			 "mov x2, x21\n\t"
			 "mov x3, x22\n\t"
			 "mov x4, x24\n\t"
			 "mov x29, #0\n\t"
			 "blr x23\n\t"
			 "mov x0, #125\n\t"
			 "mov x8, #94\n\t"
			 "svc #0\n\t"
			 "1:"
			 : "+r"(r0)
			 : "r"(x8), "r"(r1), "r"(x2), "r"(x3), "r"(x4), "r"(x19), "r"(x20), "r"(x21), "r"(x22), "r"(x23), "r"(x24)
			 : "x30", "memory");
	return r0;
#endif
}

// Replays ops[start..n). Op indexes (jumps' targets, the report's) count from ops[0] whatever
// the start: a child spawned into its parent's list goes on there. NO_STREAM in `start`: this
// caller's list is complete (the supervisor's own, run through bun:ffi), so it never waits for
// streamed ops, though `report` is the one it hands its children, whose lists may be streamed.
#define NO_STREAM (1L << 40)
i64 jailx_stage(const struct op *ops, long n, i64 *regs, int *report, long start)
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
	int streamed = !(start & NO_STREAM);
	start &= ~NO_STREAM;
	long i = start;
	if (n < 0 || start < 0 || start > n)
		fail(rep, 0, EINVAL, 125);
	for (;;) {
		if (i == n)
			return -1;
		// Streamed ops: report[3], when set, counts the ops written so far (the supervisor
		// compiles the rest while this process replays the first ones): wait until op i is.
		// Each wait is bounded (WATCH_NS): then, when register WATCH holds the address of a
		// struct pollfd, that descriptor is polled without waiting, and any event on it ends
		// this process as a failure of op i with EPIPE (its caller names what is watched: the
		// jail's init, its supervisor's end of their socket, whose other holders may have
		// kept it open past the supervisor's death and its own death signal).
		int have;
		while (streamed && report && (have = __atomic_load_n(&report[3], __ATOMIC_ACQUIRE)) > 0 && i >= have) {
			i64 bound[2] = { 0, WATCH_NS }, now[2] = { 0, 0 };
			if (sys6(FUTEX_NR, (i64)&report[3], 0 /* FUTEX_WAIT */, have, (i64)bound, 0, 0) == -ETIMEDOUT &&
			    regs[WATCH] && sys6(PPOLL_NR, regs[WATCH], 1, (i64)now, 0, 8, 0) > 0)
				fail(rep, i, EPIPE, 125);
		}
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
		case SYSCALL:
		case SPAWN: {
			if (o->dst < -1 || o->dst >= NREGS || o->errdst < -1 || o->errdst >= NREGS || (u64)o->cond > 4)
				fail(rep, i, EINVAL, 125);
			// SPAWN: a = flags, stack top (nr 0: clone) or clone_args, their size (nr: clone3's),
			// the child's ops, their count, its registers, the stage's entry; the child shares
			// `report`. No ops of its own (a[2] = 0): the child goes on in this list at the
			// jump target, with a copy of these registers (a fork's view, without a copy of
			// the memory); every op it runs must have been written already.
			i64 r;
			if (o->kind == SPAWN && v[2] == 0) {
				long at = next + o->jump;
				if (at < 0 || at >= n || v[4] == 0)
					fail(rep, i, EINVAL, 125);
				i64 *copy = (i64 *)v[4];
				for (int j = 0; j < NREGS; j++)
					copy[j] = regs[j];
				r = spawn(o->nr ? o->nr : CLONE_NR, v[0], v[1], v[5], (i64)ops, n, v[4], (i64)report, at);
			} else
				// A child with a list of its own reports where `cmp` says (no condition on a
				// SPAWN that sets it), else into this report.
				r = o->kind == SPAWN ? spawn(o->nr ? o->nr : CLONE_NR, v[0], v[1], v[5], v[2], v[3], v[4],
							    o->cond == 0 && o->cmp ? o->cmp : (i64)report, 0)
						     : sys6(o->nr, v[0], v[1], v[2], v[3], v[4], v[5]);
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
