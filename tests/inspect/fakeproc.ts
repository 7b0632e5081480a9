// Builds small fake procfs trees in a temp directory for the pure-logic tests (cgroup v2 layout,
// a process that exits mid-read). Real captures live in tests/fixtures/proc.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname } from "node:path";

export class FakeTree {
  readonly dir = mkdtempSync(`${tmpdir()}/jailx-inspect-`);
  readonly fs = `${this.dir}/fs`;

  file(path: string, text: string): this {
    mkdirSync(dirname(this.fs + path), { recursive: true });
    writeFileSync(this.fs + path, text);
    return this;
  }

  link(path: string, target: string): this {
    mkdirSync(dirname(this.fs + path), { recursive: true });
    symlinkSync(target, this.fs + path);
    return this;
  }

  /** A minimal process: stat, status, ns links, root, mountinfo, cgroup. */
  process(pid: number, o: { ppid?: number; comm?: string; ns?: Partial<Record<string, number>>; cgroup?: string; mountinfo?: string; root?: string } = {}): this {
    const p = `/proc/${pid}`;
    this.file(`${p}/stat`, `${pid} (${o.comm ?? "fake"}) S ${o.ppid ?? 0} ${pid} ${pid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0\n`);
    this.file(`${p}/status`, `Name:\t${o.comm ?? "fake"}\nPPid:\t${o.ppid ?? 0}\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t\nNSpid:\t${pid}\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\nCapAmb:\t0\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n`);
    const ids = { user: 1, pid: 2, mnt: 3, net: 4, uts: 5, ipc: 6, cgroup: 7, time: 8, ...o.ns };
    for (const [t, n] of Object.entries(ids)) this.link(`${p}/ns/${t}`, `${t}:[${4026531800 + n!}]`);
    this.file(`${p}/root.devino`, o.root ?? "1:2\n");
    this.file(`${p}/mountinfo`, o.mountinfo ?? "20 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n21 20 0:22 / /proc rw - proc proc rw\n");
    this.file(`${p}/cgroup`, o.cgroup ?? "0::/\n");
    return this;
  }

  self(pid: number): this {
    return this.link("/proc/self", String(pid));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
