// Installs a filter on the calling thread: seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog).
// The launcher calls this last, right before execve, after no_new_privs is set (so no
// CAP_SYS_ADMIN is needed) and after every other setup step (the filter would refuse them).
import { bindSyscallI32, check, ptr } from "../ffi.ts";
import { SysError } from "../errors.ts";
import { errnoName } from "../errno.ts";
import { NR } from "../nr.ts";

const SECCOMP_SET_MODE_FILTER = 1;
/** Log every action but allow (kernel ≥ 4.14). */
const SECCOMP_FILTER_FLAG_LOG = 2;

const HINTS: Record<string, string> = {
  EACCES: "set no_new_privs (prctl PR_SET_NO_NEW_PRIVS) first, or hold CAP_SYS_ADMIN",
  EINVAL: "the kernel refused the program (bad instruction or jump) or the flags",
  ENOMEM: "the filter is too long (the kernel's limit is 4096 instructions, 32768 in all)",
  EFAULT: "the program buffer was not readable",
};

/** struct sock_fprog { unsigned short len; struct sock_filter *filter; } (16 bytes, padded). */
export function sockFprog(prog: Buffer): Buffer {
  const fprog = Buffer.alloc(16);
  fprog.writeUInt16LE(prog.length / 8, 0);
  fprog.writeBigUInt64LE(BigInt(ptr(prog)), 8);
  return fprog;
}

export function installSeccompFilter(prog: Buffer, opts: { log?: boolean } = {}): void {
  if (prog.length === 0 || prog.length % 8 !== 0) throw new Error(`seccomp: bad program length ${prog.length}`);
  const nr = NR.seccomp;
  const fprog = sockFprog(prog);
  const flags = opts.log ? SECCOMP_FILTER_FLAG_LOG : 0;
  // Bound (its trampoline compiled) and every argument computed before the call.
  const call = bindSyscallI32();
  const p = ptr(fprog);
  const r = call(nr, SECCOMP_SET_MODE_FILTER, flags, p);
  // Once the filter is on, nothing here may allocate (an allocation can make the allocator
  // call madvise or munmap, which an allow-list may refuse): the error is built only on failure.
  if (r === -1) fail(opts.log ?? false, prog.length / 8);
  // Keep both buffers reachable until the kernel has copied them.
  void prog.length;
  void fprog.length;
}

function fail(log: boolean, instructions: number): never {
  try {
    check(-1, "seccomp", { flags: `SECCOMP_SET_MODE_FILTER${log ? "|SECCOMP_FILTER_FLAG_LOG" : ""}, ${instructions} instructions` });
  } catch (e) {
    if (e instanceof SysError) throw new SysError(e.syscall, e.code, e.errno, undefined, e.flags, HINTS[errnoName(e.errno)]);
    throw e;
  }
  throw new Error("seccomp: failed");
}
