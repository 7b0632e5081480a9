// The only module that touches bun:ffi. Everything else calls the typed wrappers in sys/*.
//
// Rules (see docs/ARCHITECTURE.md and the Bun notes):
// - fixed prototypes only (no variadic calls): `syscall` takes 7 i64, `prctl` 5, `ioctl` 3;
// - errno is read from __errno_location() right after the call;
// - signed types everywhere a negative value can travel (the u64 sign bug).
import { CFunction, dlopen, ptr, read, toArrayBuffer, type FFIFunction, type Pointer } from "bun:ffi";
import { errnoName } from "./errno.ts";
import { SysError } from "./errors.ts";

const LIBC = {
  __errno_location: { args: [], returns: "ptr" },
  syscall: { args: ["i64", "i64", "i64", "i64", "i64", "i64", "i64"], returns: "i64" },
  prctl: { args: ["i32", "i64", "i64", "i64", "i64"], returns: "i32" },
  ioctl: { args: ["i32", "i64", "ptr"], returns: "i32" },
  madvise: { args: ["ptr", "u64", "i32"], returns: "i32" },
  mmap: { args: ["ptr", "u64", "i32", "i32", "i32", "i64"], returns: "ptr" },
  mprotect: { args: ["ptr", "u64", "i32"], returns: "i32" },
  fork: { args: [], returns: "i32" },
  mount: { args: ["ptr", "ptr", "ptr", "u64", "ptr"], returns: "i32" },
  umount2: { args: ["ptr", "i32"], returns: "i32" },
  unshare: { args: ["i32"], returns: "i32" },
  setns: { args: ["i32", "i32"], returns: "i32" },
  sethostname: { args: ["ptr", "u64"], returns: "i32" },
  chdir: { args: ["ptr"], returns: "i32" },
  fchdir: { args: ["i32"], returns: "i32" },
  chroot: { args: ["ptr"], returns: "i32" },
  mkdir: { args: ["ptr", "u32"], returns: "i32" },
  mkdirat: { args: ["i32", "ptr", "u32"], returns: "i32" },
  symlinkat: { args: ["ptr", "i32", "ptr"], returns: "i32" },
  open: { args: ["ptr", "i32", "u32"], returns: "i32" },
  openat: { args: ["i32", "ptr", "i32", "u32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  read: { args: ["i32", "ptr", "u64"], returns: "i64" },
  write: { args: ["i32", "ptr", "u64"], returns: "i64" },
  dup3: { args: ["i32", "i32", "i32"], returns: "i32" },
  pipe2: { args: ["ptr", "i32"], returns: "i32" },
  socketpair: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" },
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
  execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  execveat: { args: ["i32", "ptr", "ptr", "ptr", "i32"], returns: "i32" },
  waitpid: { args: ["i32", "ptr", "i32"], returns: "i32" },
  kill: { args: ["i32", "i32"], returns: "i32" },
  getpid: { args: [], returns: "i32" },
  getppid: { args: [], returns: "i32" },
  getuid: { args: [], returns: "u32" },
  getgid: { args: [], returns: "u32" },
  geteuid: { args: [], returns: "u32" },
  setsid: { args: [], returns: "i32" },
  setresuid: { args: ["u32", "u32", "u32"], returns: "i32" },
  setresgid: { args: ["u32", "u32", "u32"], returns: "i32" },
  setgroups: { args: ["u64", "ptr"], returns: "i32" },
  prlimit: { args: ["i32", "i32", "ptr", "ptr"], returns: "i32" },
  _exit: { args: ["i32"], returns: "void" },
  fcntl: { args: ["i32", "i32", "i64"], returns: "i32" },
  tcsetpgrp: { args: ["i32", "i32"], returns: "i32" },
  getpgrp: { args: [], returns: "i32" },
  setpgid: { args: ["i32", "i32"], returns: "i32" },
  access: { args: ["ptr", "i32"], returns: "i32" },
} as const satisfies Record<string, FFIFunction>;

type Libc = ReturnType<typeof dlopen<typeof LIBC>>["symbols"];

/**
 * libc, bound lazily: each symbol is compiled into an FFI trampoline on its first use (~30 µs
 * each), so a command pays only for the calls it makes — `jailx run` starts faster.
 */
export const c = {} as Libc;
for (const name of Object.keys(LIBC) as (keyof typeof LIBC)[]) {
  Object.defineProperty(c, name, {
    configurable: true,
    enumerable: true,
    get() {
      const fn = dlopen("libc.so.6", { [name]: LIBC[name] }).symbols[name];
      Object.defineProperty(c, name, { value: fn, enumerable: true });
      return fn;
    },
  });
}
export { CFunction, ptr, read, toArrayBuffer, type Pointer };

let syscallI32: ((...a: number[]) => number) | null = null;

/**
 * syscall(2) returning an i32 (`c.syscall` returns i64, i.e. a BigInt: an allocation). For the
 * calls made once the seccomp filter is on, where nothing may allocate; bind it before then.
 */
export function bindSyscallI32(): (nr: number, a: number, b: number, c3: number) => number {
  syscallI32 ??= dlopen("libc.so.6", { syscall: { args: ["i64", "i64", "i64", "i64"], returns: "i32" } }).symbols.syscall as unknown as (...a: number[]) => number;
  return syscallI32;
}

/** errno of the last libc call on this thread. */
export function errno(): number {
  return read.i32(c.__errno_location() as Pointer, 0);
}

/** A NUL-terminated copy of `s` for passing as `const char *`. */
export function cstr(s: string): Buffer {
  return Buffer.from(s + "\0", "utf8");
}

/** A NULL-terminated array of `char *`; keeps the strings alive through `keep`. */
export function cstrArray(items: readonly string[]): { array: BigInt64Array; keep: Buffer[] } {
  const keep = items.map(cstr);
  const array = new BigInt64Array(items.length + 1);
  keep.forEach((b, i) => (array[i] = BigInt(ptr(b))));
  array[items.length] = 0n;
  return { array, keep };
}

/** Throw a SysError when a libc call returned -1 (or the given failure value). */
export function check<T extends number | bigint>(
  result: T,
  syscall: string,
  detail?: { path?: string; flags?: string },
): T {
  if (result === -1 || result === -1n) {
    const e = errno();
    throw new SysError(syscall, errnoName(e), e, detail?.path, detail?.flags);
  }
  return result;
}

/** Raw syscall with up to six arguments (numbers are passed as signed 64-bit). */
export function syscall(nr: number, ...args: (number | bigint)[]): bigint {
  const a = [0n, 0n, 0n, 0n, 0n, 0n].map((z, i) => (args[i] === undefined ? z : BigInt(args[i]!)));
  return c.syscall(BigInt(nr), a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!) as bigint;
}
