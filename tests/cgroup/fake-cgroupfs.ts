// A fake cgroupfs in a temp directory for unit tests: mkdir fills in interface files like the
// kernel does, and writes follow the kernel's rules that jailx depends on (v2 no-internal-
// processes, controllers only when delegated by the parent, v1 cpuset needs cpus+mems, rmdir of
// a populated cgroup is EBUSY). Pure logic only — real behaviour is checked in kernel.test.ts.
import * as fs from "node:fs";
import * as os from "node:os";
import { posix } from "node:path";
import { SysError } from "../../sys/errors.ts";
import { NodeCgroupSystem } from "../../sys/cgroup/system.ts";

export interface FakeHierarchy {
  version: 1 | 2;
  /** Mount directory below the fake root ("" = the root itself, as for pure v2). */
  dir: string;
  controllers: string[];
  name?: string;
}

export interface FakeOptions {
  swapAccounting?: boolean;
  /** Which I/O weight file the io/blkio controller shows; null = none. */
  ioFile?: string | null;
  cgroupKill?: boolean;
}

const err = (code: string, n: number, path: string) => new SysError("write", code, n, path);

export class FakeCgroupFs extends NodeCgroupSystem {
  readonly root: string;
  readonly alivePids = new Set<number>();
  readonly killed: number[] = [];
  readonly log: string[] = [];

  constructor(readonly hierarchies: FakeHierarchy[], readonly opts: FakeOptions = {}) {
    super();
    this.root = fs.mkdtempSync(`${os.tmpdir()}/jailx-fakecg-`);
    for (const h of hierarchies) {
      const mount = this.mountOf(h);
      fs.mkdirSync(mount, { recursive: true });
      this.populate(mount, h, true);
    }
  }

  dispose(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  mountOf(h: FakeHierarchy): string {
    return h.dir ? `${this.root}/${h.dir}` : this.root;
  }

  mountinfo(): string {
    return this.hierarchies
      .map((h, i) => `${30 + i} 20 0:${30 + i} / ${this.mountOf(h)} rw,relatime - ${h.version === 2 ? "cgroup2 cgroup2 rw" : `cgroup cgroup rw,${[...h.controllers, ...(h.name ? [`name=${h.name}`] : [])].join(",")}`}`)
      .join("\n");
  }

  /** /proc/self/cgroup text placing the caller at `paths[dir]` (default "/") in each hierarchy. */
  selfCgroup(paths: Record<string, string> = {}): string {
    return this.hierarchies
      .map((h, i) => `${h.version === 2 ? 0 : i + 1}:${h.version === 2 ? "" : [...h.controllers, ...(h.name ? [`name=${h.name}`] : [])].join(",")}:${paths[h.dir] ?? "/"}`)
      .join("\n");
  }

  /** Create cgroup `path` (mkdir -p) in hierarchy `dir` holding `pids`; returns its directory. */
  makeCgroup(dir: string, path: string, pids: number[] = []): string {
    const h = this.hierarchies.find((x) => x.dir === dir)!;
    let d = this.mountOf(h);
    for (const part of path.split("/").filter(Boolean)) {
      d = `${d}/${part}`;
      if (!fs.existsSync(d)) this.mkdir(d);
    }
    for (const pid of pids) {
      this.alivePids.add(pid);
      this.write(`${d}/cgroup.procs`, String(pid));
    }
    return d;
  }

  file(path: string): string {
    return fs.readFileSync(path, "utf8");
  }

  private hierarchyOf(path: string): FakeHierarchy {
    const matches = this.hierarchies.filter((h) => path === this.mountOf(h) || path.startsWith(this.mountOf(h) + "/"));
    return matches.sort((a, b) => b.dir.length - a.dir.length)[0]!;
  }

  private controllerFiles(h: FakeHierarchy, ctl: string): Record<string, string> {
    const io = this.opts.ioFile === undefined ? (h.version === 2 ? "io.weight" : "blkio.bfq.weight") : this.opts.ioFile;
    const swap = this.opts.swapAccounting !== false;
    if (h.version === 2) {
      const files: Record<string, Record<string, string>> = {
        memory: { "memory.max": "max\n", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", ...(swap ? { "memory.swap.max": "max\n" } : {}) },
        cpu: { "cpu.max": "max 100000\n", "cpu.weight": "100\n", "cpu.stat": "usage_usec 0\n" },
        cpuset: { "cpuset.cpus": "\n", "cpuset.cpus.effective": "0-3\n" },
        pids: { "pids.max": "max\n" },
        io: io ? { [io]: "default 100\n" } : {},
      };
      return files[ctl] ?? {};
    }
    const files: Record<string, Record<string, string>> = {
      memory: { "memory.limit_in_bytes": "9223372036854771712\n", "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", ...(swap ? { "memory.memsw.limit_in_bytes": "9223372036854771712\n" } : {}) },
      cpu: { "cpu.cfs_period_us": "100000\n", "cpu.cfs_quota_us": "-1\n", "cpu.shares": "1024\n" },
      cpuacct: { "cpuacct.usage": "0\n" },
      cpuset: { "cpuset.cpus": "\n", "cpuset.mems": "\n", "cpuset.effective_cpus": "\n" },
      pids: { "pids.max": "max\n" },
      blkio: io ? { [io]: "500\n" } : {},
      freezer: { "freezer.state": "THAWED\n" },
    };
    return files[ctl] ?? {};
  }

  private populate(dir: string, h: FakeHierarchy, isRoot: boolean): void {
    const put = (name: string, text: string) => fs.writeFileSync(`${dir}/${name}`, text);
    put("cgroup.procs", "");
    if (h.version === 1) {
      put("tasks", "");
      for (const ctl of h.controllers) for (const [f, t] of Object.entries(this.controllerFiles(h, ctl))) put(f, t);
      if (isRoot && h.controllers.includes("cpuset")) {
        put("cpuset.cpus", "0-3\n");
        put("cpuset.mems", "0\n");
        put("cpuset.effective_cpus", "0-3\n");
      }
      return;
    }
    const available = isRoot ? h.controllers : this.words(`${posix.dirname(dir)}/cgroup.subtree_control`);
    put("cgroup.controllers", available.join(" ") + "\n");
    put("cgroup.subtree_control", "\n");
    if (!isRoot) {
      put("cgroup.events", "populated 0\nfrozen 0\n");
      put("cgroup.freeze", "0\n");
      put("cgroup.type", "domain\n");
      if (this.opts.cgroupKill !== false) put("cgroup.kill", "");
      for (const ctl of available) for (const [f, t] of Object.entries(this.controllerFiles(h, ctl))) put(f, t);
    }
  }

  private words(path: string): string[] {
    return (this.read(path) ?? "").split(/\s+/).filter(Boolean);
  }

  private pidsIn(dir: string): number[] {
    return (this.read(`${dir}/cgroup.procs`) ?? "").split("\n").filter(Boolean).map(Number);
  }

  private allDirs(dir: string): string[] {
    return [dir, ...this.subdirs(dir).flatMap((s) => this.allDirs(`${dir}/${s}`))];
  }

  private dropPid(pid: number): void {
    for (const h of this.hierarchies) {
      for (const d of this.allDirs(this.mountOf(h))) {
        const pids = this.pidsIn(d);
        if (pids.includes(pid)) fs.writeFileSync(`${d}/cgroup.procs`, pids.filter((p) => p !== pid).map((p) => `${p}\n`).join(""));
      }
    }
  }

  override mkdir(path: string): void {
    super.mkdir(path);
    this.log.push(`mkdir ${path}`);
    this.populate(path, this.hierarchyOf(path), false);
  }

  override rmdir(path: string): void {
    if (!fs.existsSync(path)) throw new SysError("rmdir", "ENOENT", 2, path);
    if (this.pidsIn(path).length > 0 || this.subdirs(path).length > 0) throw new SysError("rmdir", "EBUSY", 16, path);
    this.log.push(`rmdir ${path}`);
    fs.rmSync(path, { recursive: true });
  }

  override write(path: string, text: string): void {
    if (!fs.existsSync(path)) throw new SysError("open", "ENOENT", 2, path);
    const dir = posix.dirname(path);
    const h = this.hierarchyOf(path);
    const isRoot = dir === this.mountOf(h);
    this.log.push(`write ${path} ${text}`);
    switch (posix.basename(path)) {
      case "cgroup.subtree_control": {
        const enabled = new Set(this.words(path));
        for (const tok of text.split(/\s+/).filter(Boolean)) {
          const ctl = tok.slice(1);
          if (!this.words(`${dir}/cgroup.controllers`).includes(ctl)) throw err("ENOENT", 2, path);
          if (tok[0] === "+") {
            if (!isRoot && this.pidsIn(dir).length > 0) throw err("EBUSY", 16, path);
            enabled.add(ctl);
            for (const child of this.subdirs(dir)) {
              const c = `${dir}/${child}`;
              fs.writeFileSync(`${c}/cgroup.controllers`, [...new Set([...this.words(`${c}/cgroup.controllers`), ctl])].join(" ") + "\n");
              for (const [f, t] of Object.entries(this.controllerFiles(h, ctl))) fs.writeFileSync(`${c}/${f}`, t);
            }
          } else enabled.delete(ctl);
        }
        fs.writeFileSync(path, [...enabled].join(" ") + "\n");
        return;
      }
      case "cgroup.procs": {
        const pid = Number(text);
        if (h.version === 1 && h.controllers.includes("cpuset") && (!this.file(`${dir}/cpuset.cpus`).trim() || !this.file(`${dir}/cpuset.mems`).trim())) throw err("ENOSPC", 28, path);
        if (h.version === 2 && !isRoot && this.words(`${dir}/cgroup.subtree_control`).length > 0) throw err("EBUSY", 16, path);
        for (const d of this.allDirs(this.mountOf(h))) {
          const pids = this.pidsIn(d);
          if (pids.includes(pid)) fs.writeFileSync(`${d}/cgroup.procs`, pids.filter((p) => p !== pid).map((p) => `${p}\n`).join(""));
        }
        fs.appendFileSync(path, `${pid}\n`);
        return;
      }
      case "cgroup.kill":
        for (const d of this.allDirs(dir)) for (const pid of this.pidsIn(d)) this.reallyKill(pid);
        return;
      case "freezer.state":
        fs.writeFileSync(path, text.trim() === "FROZEN" ? "FROZEN\n" : "THAWED\n");
        return;
      default:
        fs.writeFileSync(path, text + "\n");
    }
  }

  private reallyKill(pid: number): void {
    this.killed.push(pid);
    this.alivePids.delete(pid);
    this.dropPid(pid);
  }

  override kill(pid: number, stillMember: () => boolean): void {
    if (this.alivePids.has(pid) && stillMember()) this.reallyKill(pid);
  }

  override alive(pid: number): boolean {
    return this.alivePids.has(pid);
  }

  override cgroupsOf(pid: number): string | null {
    const lines: string[] = [];
    this.hierarchies.forEach((h, i) => {
      const dir = this.allDirs(this.mountOf(h)).find((d) => this.pidsIn(d).includes(pid));
      if (dir) lines.push(`${i}:${h.controllers.join(",")}:${dir.slice(this.mountOf(h).length) || "/"}`);
    });
    return lines.length ? lines.join("\n") : null;
  }

  override pause(): void {
    // no sleeping in unit tests: the fake's state changes synchronously
  }
}

/** Layouts of real machines. */
export const PURE_V2: FakeHierarchy[] = [{ version: 2, dir: "", controllers: ["cpuset", "cpu", "io", "memory", "pids"] }];
export const PURE_V1: FakeHierarchy[] = [
  { version: 1, dir: "cpu,cpuacct", controllers: ["cpu", "cpuacct"] },
  { version: 1, dir: "cpuset", controllers: ["cpuset"] },
  { version: 1, dir: "memory", controllers: ["memory"] },
  { version: 1, dir: "pids", controllers: ["pids"] },
  { version: 1, dir: "blkio", controllers: ["blkio"] },
  { version: 1, dir: "freezer", controllers: ["freezer"] },
  { version: 1, dir: "systemd", controllers: [], name: "systemd" },
];
/** This development machine: v1 controllers (cpu and cpuacct apart) + controller-less v2. */
export const HYBRID: FakeHierarchy[] = [
  { version: 1, dir: "cpu", controllers: ["cpu"] },
  { version: 1, dir: "cpuacct", controllers: ["cpuacct"] },
  { version: 1, dir: "cpuset", controllers: ["cpuset"] },
  { version: 1, dir: "memory", controllers: ["memory"] },
  { version: 1, dir: "pids", controllers: ["pids"] },
  { version: 1, dir: "blkio", controllers: ["blkio"] },
  { version: 1, dir: "freezer", controllers: ["freezer"] },
  { version: 1, dir: "systemd", controllers: [], name: "systemd" },
  { version: 2, dir: "unified", controllers: [] },
];
