// Test helper: a cgroup v2 directory beneath our own with a BPF_CGROUP_DEVICE program attached
// (one that allows every device: "return 1"), to check that inspect finds the program. Raw bpf(2)
// through sys/ffi.ts: no bpftool on the machine.
import { closeSync, mkdirSync, openSync, readFileSync, rmdirSync } from "node:fs";
import { c, errno, ptr } from "../../sys/ffi.ts";
import { errnoName } from "../../sys/errno.ts";
import { NR } from "../../sys/nr.ts";
import { findCgroupMounts } from "../../inspect/cgroup.ts";
import { parseCgroup } from "../../inspect/parse.ts";

const BPF_PROG_LOAD = 5n, BPF_PROG_ATTACH = 8n;
const BPF_PROG_TYPE_CGROUP_DEVICE = 15, BPF_CGROUP_DEVICE = 6;

function bpf(cmd: bigint, attr: Uint32Array): number {
  const r = Number(c.syscall(BigInt(NR.bpf), cmd, BigInt(ptr(attr)), BigInt(attr.byteLength), 0n, 0n, 0n));
  if (r < 0) throw new Error(`bpf(${cmd}): ${errnoName(errno())}`);
  return r;
}

/** Our own v2 cgroup directory, or undefined when there is no v2 hierarchy here. */
export function ownV2Dir(): string | undefined {
  const m = findCgroupMounts(readFileSync("/proc/self/mountinfo", "utf8")).v2;
  const e = parseCgroup(readFileSync("/proc/self/cgroup", "utf8")).find((x) => x.hierarchy === 0 && x.controllers === "");
  if (!m || !e) return undefined;
  return `${m.mountPoint}${e.path === "/" ? "" : e.path}`;
}

/** Creates DIR (beneath our v2 cgroup) with an allow-all device program attached; returns its path. */
export function cgroupWithDeviceProgram(name: string): string {
  const dir = `${ownV2Dir()}/${name}`;
  mkdirSync(dir);
  try {
    // mov64 r0, 1; exit
    const insns = new Uint8Array([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
    const license = Buffer.from("GPL\0");
    const load = new Uint32Array(32);
    load[0] = BPF_PROG_TYPE_CGROUP_DEVICE;
    load[1] = 2;
    new BigUint64Array(load.buffer, 8, 2).set([BigInt(ptr(insns)), BigInt(ptr(license))]);
    const prog = bpf(BPF_PROG_LOAD, load);
    const cg = openSync(dir, "r");
    try {
      const attach = new Uint32Array(8);
      attach[0] = cg;
      attach[1] = prog;
      attach[2] = BPF_CGROUP_DEVICE;
      bpf(BPF_PROG_ATTACH, attach);
    } finally {
      closeSync(cg);
      c.close(prog); // the attachment keeps the program; removing the cgroup detaches it
    }
  } catch (e) {
    rmdirSync(dir);
    throw e;
  }
  return dir;
}
