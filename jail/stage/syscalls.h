// Syscall numbers and the raw syscall instruction for the freestanding helper (helper.c).
// Hand-written: only the calls the helper makes. The numbers are those of
// sys/seccomp/tables/x86_64.json and sys/seccomp/tables/aarch64.json (generated from the kernel's
// UAPI headers); tests/unit/stage-syscalls.test.ts checks every line below against those tables.
#ifndef JAILX_STAGE_SYSCALLS_H
#define JAILX_STAGE_SYSCALLS_H

#if defined(__x86_64__)
#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_rt_sigaction 13
#define NR_rt_sigprocmask 14
#define NR_writev 20
#define NR_wait4 61
#define NR_getpid 39
#define NR_lseek 8
#define NR_renameat2 316
#define NR_dup3 292
#define NR_pread64 17
#define NR_kill 62
#define NR_setsid 112
#define NR_prctl 157
#define NR_clock_gettime 228
#define NR_exit_group 231
#define NR_openat 257
#define NR_unlinkat 263
#define NR_ppoll 271
#define NR_signalfd4 289
#define NR_pidfd_send_signal 424
#define NR_close_range 436
#define NR_getdents64 217
#define NR_statx 332
#elif defined(__aarch64__)
#define NR_unlinkat 35
#define NR_openat 56
#define NR_close 57
#define NR_read 63
#define NR_write 64
#define NR_writev 66
#define NR_ppoll 73
#define NR_signalfd4 74
#define NR_exit_group 94
#define NR_clock_gettime 113
#define NR_kill 129
#define NR_rt_sigaction 134
#define NR_rt_sigprocmask 135
#define NR_setsid 157
#define NR_prctl 167
#define NR_wait4 260
#define NR_getpid 172
#define NR_lseek 62
#define NR_renameat2 276
#define NR_dup3 24
#define NR_pread64 67
#define NR_pidfd_send_signal 424
#define NR_close_range 436
#define NR_getdents64 61
#define NR_statx 291
#else
#error "the helper supports x86_64 and aarch64"
#endif

// One raw syscall. Returns the kernel's result: -4095..-1 is -errno.
// x86_64: rax = nr, args in rdi rsi rdx r10 r8 r9; the instruction clobbers rcx and r11.
// aarch64: x8 = nr, args in x0..x5, result in x0.
static inline __attribute__((always_inline)) long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	long r;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return r;
#else
	register long x8 __asm__("x8") = nr, x0 __asm__("x0") = a, x1 __asm__("x1") = b,
		     x2 __asm__("x2") = c, x3 __asm__("x3") = d, x4 __asm__("x4") = e, x5 __asm__("x5") = f;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
	return x0;
#endif
}

#define SYS0(n) sys6(NR_##n, 0, 0, 0, 0, 0, 0)
#define SYS1(n, a) sys6(NR_##n, (long)(a), 0, 0, 0, 0, 0)
#define SYS2(n, a, b) sys6(NR_##n, (long)(a), (long)(b), 0, 0, 0, 0)
#define SYS3(n, a, b, c) sys6(NR_##n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SYS4(n, a, b, c, d) sys6(NR_##n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define SYS5(n, a, b, c, d, e) sys6(NR_##n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

#endif
