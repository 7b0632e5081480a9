// A captured (scripts/capture-proc.ts) or hand-built /proc tree, read through the same ProcSource
// interface as the live system: tests run every line of gathering on it. A tree is a directory
// `fs/` laid out like the real root (fs/proc/PID/status, fs/sys/fs/cgroup/...). What cannot be
// copied as a file is stored as text:
//   - fs/proc/PID/root.devino: "dev:ino" of what stat(/proc/PID/root) returned;
//   - fs/proc/PID/root/dev.nodes: the device nodes, one "path type major:minor mode uid gid" a line;
//   - CGROUPDIR/bpf-device-programs: how many BPF device programs BPF_PROG_QUERY found (or .errno);
//   - NAME.errno next to a missing file: the errno the real read failed with (e.g. EACCES).
// ns/* are kept as (dangling) symlinks whose target is the kernel's "net:[4026531833]" text.
// There are no processes behind a tree: pinning is refused with ENOSYS, so start times are compared.
import { readFileSync, readlinkSync } from "node:fs";
import { isUnknown, unknown, type DevIno, type DeviceNode, type Known } from "./snapshot.ts";
import { explain, ProcSource } from "./source.ts";

export class TreeSource extends ProcSource {
  constructor(fsDir: string, readerUid: number) {
    super(fsDir, readerUid);
  }

  override selfPid(): number {
    return Number(readlinkSync(`${this.proc}/self`));
  }

  override pin(): string {
    return "ENOSYS";
  }

  override statRoot(pid: number | "self"): Known<DevIno> {
    const t = this.read(pid, "root.devino");
    if (isUnknown(t)) return t;
    const [dev, ino] = t.trim().split(":").map(Number);
    return { dev: dev!, ino: ino! };
  }

  override deviceNodes(pid: number): Known<DeviceNode[]> {
    const t = this.read(pid, "root/dev.nodes");
    if (isUnknown(t)) return t;
    return t.split("\n").filter(Boolean).map((l) => {
      const [path, type, mm, mode, uid, gid] = l.split(" ");
      const [major, minor] = mm!.split(":").map(Number);
      return { path: path!, type: type as "block" | "char", major: major!, minor: minor!, mode: parseInt(mode!, 8), uid: Number(uid), gid: Number(gid) };
    });
  }

  override devicePrograms(dir: string): number | string {
    const t = this.readPath(this.path(`${dir}/bpf-device-programs`));
    return isUnknown(t) ? t.unknown.split(":")[0]! : Number(t.trim());
  }

  protected override failure(e: unknown, path: string): { readonly unknown: string } {
    let code = (e as NodeJS.ErrnoException).code ?? "EIO";
    if (code === "ENOENT") {
      try {
        code = readFileSync(path + ".errno", "utf8").trim();
      } catch {}
    }
    return unknown(explain(code, this.readerUid));
  }
}
