// The type of a socket the jail passes to bind/connect: taken from the kernel object itself
// (pidfd_getfd + getsockopt SO_TYPE), not from what the program said earlier.
import { c, ptr, syscall } from "../../sys/ffi.ts";
import { NR } from "../../sys/nr.ts";
import { openThreadPidfd, pidfdGetfd } from "../../sys/pidfd.ts";

const SOL_SOCKET = 1, SO_TYPE = 3;

/** SOCK_STREAM (1), SOCK_DGRAM (2), SOCK_RAW (3)…, or null when it cannot be known. */
export function socketType(tid: number, fd: number): number | null {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) return null;
  const pidfd = openThreadPidfd(tid);
  if (typeof pidfd === "string") return null;
  try {
    const dup = pidfdGetfd(pidfd, fd);
    if (typeof dup === "string") return null;
    try {
      const val = new Int32Array(1);
      const len = new Int32Array([4]);
      const r = Number(syscall(NR.getsockopt, dup, SOL_SOCKET, SO_TYPE, ptr(val), ptr(len)));
      return r < 0 ? null : val[0]!;
    } finally {
      c.close(dup);
    }
  } finally {
    c.close(pidfd);
  }
}
