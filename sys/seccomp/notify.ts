// Seccomp user notification (kernel ≥ 5.9 for FLAG_CONTINUE): a filter returns
// SECCOMP_RET_USER_NOTIF, the calling thread stops, and whoever holds the filter's listener
// descriptor receives the syscall (number, arch, arguments), looks at it, and lets it continue.
// `jailx learn` records a program this way (jail/learn/).
//
// Everything a notification carries, and everything read from the notifying process's memory,
// comes from the jailed side: callers treat it as hostile input (bounded reads, ids re-validated).
import { c, errno, ptr, syscall } from "../ffi.ts";
import { errnoName } from "../errno.ts";
import { SysError } from "../errors.ts";
import { NR } from "../nr.ts";
import { sockFprog } from "./install.ts";

const SECCOMP_SET_MODE_FILTER = 1;
const SECCOMP_FILTER_FLAG_LOG = 2;
const SECCOMP_FILTER_FLAG_NEW_LISTENER = 8;
const SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1;

// _IOWR('!', 0, struct seccomp_notif) etc. (include/uapi/linux/seccomp.h)
const NOTIF_RECV = 0xc0502100;
const NOTIF_SEND = 0xc0182101;
const NOTIF_ID_VALID = 0x40082102;

/** struct seccomp_notif: id u64, pid u32, flags u32, seccomp_data (nr i32, arch u32, ip u64, args u64[6]). */
const NOTIF_SIZE = 80;

export interface Notification {
  id: bigint;
  /** thread id, in the pid namespace of the process that received the notification */
  pid: number;
  nr: number;
  arch: number;
  args: bigint[];
}

/**
 * Install `prog` on the calling thread with a new listener; returns the listener descriptor
 * (close-on-exec). The caller must hand it to someone who answers before making a syscall
 * the filter notifies, or it waits forever.
 */
export function installWithListener(prog: Buffer, log = false): number {
  const fprog = sockFprog(prog);
  const flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | (log ? SECCOMP_FILTER_FLAG_LOG : 0);
  const r = Number(syscall(NR.seccomp, SECCOMP_SET_MODE_FILTER, flags, ptr(fprog)));
  if (r < 0) {
    const e = errno();
    throw new SysError("seccomp", errnoName(e), e, undefined, "SECCOMP_FILTER_FLAG_NEW_LISTENER",
      e === 16 ? "a filter with a listener is already installed" : undefined);
  }
  void prog.length;
  return r;
}

const recvBuf = new BigUint64Array(NOTIF_SIZE / 8);

/** Receive one notification; null when the notifying thread went away meanwhile (ENOENT) or EINTR. */
export function receive(listener: number): Notification | null {
  recvBuf.fill(0n); // the kernel refuses a buffer that is not zeroed
  if (c.ioctl(listener, NOTIF_RECV, ptr(recvBuf)) < 0) {
    const e = errno();
    if (e === 2 || e === 4) return null;
    throw new SysError("ioctl", errnoName(e), e, undefined, "SECCOMP_IOCTL_NOTIF_RECV");
  }
  const v = new DataView(recvBuf.buffer);
  return {
    id: v.getBigUint64(0, true),
    pid: v.getUint32(8, true),
    nr: v.getInt32(16, true),
    arch: v.getUint32(20, true),
    args: [0, 1, 2, 3, 4, 5].map((i) => v.getBigUint64(32 + i * 8, true)),
  };
}

const respBuf = new BigUint64Array(3);

/** Let the syscall run as if no filter had stopped it. False when the thread is gone. */
export function continueSyscall(listener: number, id: bigint): boolean {
  respBuf[0] = id;
  respBuf[1] = 0n;
  // error (s32) = 0, flags (u32) = CONTINUE
  respBuf[2] = BigInt(SECCOMP_USER_NOTIF_FLAG_CONTINUE) << 32n;
  if (c.ioctl(listener, NOTIF_SEND, ptr(respBuf)) === 0) return true;
  const e = errno();
  if (e === 2) return false;
  throw new SysError("ioctl", errnoName(e), e, undefined, "SECCOMP_IOCTL_NOTIF_SEND");
}

const idBuf = new BigUint64Array(1);

/**
 * True while the thread that sent notification `id` is still stopped in that syscall: what was
 * read from /proc/PID before this check belongs to that thread, not to a process that reused
 * the pid.
 */
export function stillWaiting(listener: number, id: bigint): boolean {
  idBuf[0] = id;
  return c.ioctl(listener, NOTIF_ID_VALID, ptr(idBuf)) === 0;
}
