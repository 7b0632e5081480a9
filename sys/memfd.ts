// Sealed memory files: a memfd whose content nobody (not even its creator) can change once it
// is sealed. jailx's supervisor keeps its trusted record of a jail in one; another jailx reads
// it through /proc/PID/fd/N after checking the process and the seals.
import { openSync, readSync, closeSync, fstatSync, readlinkSync } from "node:fs";
import { c, check, cstr, errno, ptr, syscall } from "./ffi.ts";
import { errnoName } from "./errno.ts";
import { SysError } from "./errors.ts";
import { NR } from "./nr.ts";

const MFD_CLOEXEC = 1, MFD_ALLOW_SEALING = 2, MFD_EXEC = 0x10;
const F_ADD_SEALS = 1033, F_GET_SEALS = 1034;
const F_SEAL_SEAL = 1, F_SEAL_SHRINK = 2, F_SEAL_GROW = 4, F_SEAL_WRITE = 8;
export const ALL_SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;

/**
 * A close-on-exec memfd named `name` holding `data`, sealed against every change. `exec`: the
 * file is meant to be executed, which kernels ≥ 6.3 want said (MFD_EXEC) where vm.memfd_noexec
 * is 1; older kernels refuse the flag (EINVAL) and where the sysctl is 2 it is refused (EACCES):
 * both get a plain memfd, whose execveat then fails with EACCES where exec is not allowed.
 */
export function sealedMemfd(name: string, data: string | Uint8Array, exec = false): number {
  let fd = exec ? Number(syscall(NR.memfd_create, ptr(cstr(name)), MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC)) : -1;
  if (fd < 0) fd = Number(syscall(NR.memfd_create, ptr(cstr(name)), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd < 0) throw new SysError("memfd_create", errnoName(errno()), errno(), name);
  const b = typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let off = 0;
  while (off < b.length) off += Number(check(c.write(fd, ptr(b.subarray(off)), b.length - off), "write", { path: name }));
  check(c.fcntl(fd, F_ADD_SEALS, ALL_SEALS), "fcntl", { flags: "F_ADD_SEALS" });
  return fd;
}

/**
 * The content of the memfd `name` that process `pid` holds at descriptor `fd`, or null when that
 * descriptor is not such a memfd or is not fully sealed.
 */
export function readSealedMemfd(pid: number, fd: number, name: string): string | null {
  let link: string;
  try {
    link = readlinkSync(`/proc/${pid}/fd/${fd}`);
  } catch {
    return null;
  }
  if (link !== `/memfd:${name} (deleted)`) return null;
  let own: number;
  try {
    own = openSync(`/proc/${pid}/fd/${fd}`, "r");
  } catch {
    return null;
  }
  try {
    if ((c.fcntl(own, F_GET_SEALS, 0) & ALL_SEALS) !== ALL_SEALS) return null;
    const size = fstatSync(own).size;
    if (size > 4 << 20) return null;
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(own, buf, off, size - off, off);
      if (n <= 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString("utf8");
  } finally {
    closeSync(own);
  }
}
