// bpf(2), only to ask which programs are attached to a cgroup (BPF_PROG_QUERY): on cgroup v2 the
// device access a cgroup allows is a BPF_CGROUP_DEVICE program, which cgroupfs does not show.
// Needs CAP_NET_ADMIN or CAP_SYS_ADMIN (kernel/bpf/syscall.c, bpf_prog_query).
import { closeSync, openSync } from "node:fs";
import { c, errno, ptr } from "./ffi.ts";
import { errnoName } from "./errno.ts";
import { NR } from "./nr.ts";

const BPF_PROG_QUERY = 16n;
const BPF_CGROUP_DEVICE = 6;
/** the programs in force: attached here or inherited from an ancestor */
const BPF_F_QUERY_EFFECTIVE = 1;

/**
 * How many device programs are in force on the cgroup directory `dir` (0: none, every device
 * allowed as far as BPF goes), or the errno name (EPERM without the capability, ENOENT, …).
 */
export function cgroupDevicePrograms(dir: string): number | string {
  let fd: number;
  try {
    fd = openSync(dir, "r");
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? "EIO";
  }
  try {
    // union bpf_attr, query member: target_fd, attach_type, query_flags, attach_flags (u32 each),
    // prog_ids (u64 pointer; 0 = only count), prog_cnt (u32, filled in); the rest stays zero
    const attr = new Uint32Array(16);
    attr[0] = fd;
    attr[1] = BPF_CGROUP_DEVICE;
    attr[2] = BPF_F_QUERY_EFFECTIVE;
    const r = Number(c.syscall(BigInt(NR.bpf), BPF_PROG_QUERY, BigInt(ptr(attr)), BigInt(attr.byteLength), 0n, 0n, 0n));
    return r < 0 ? errnoName(errno()) : attr[6]!;
  } finally {
    closeSync(fd);
  }
}
