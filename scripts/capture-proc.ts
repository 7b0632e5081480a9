// Captures the /proc files inspect reads into a fixture tree (tests/fixtures/proc/NAME/fs/...),
// see inspect/source.ts for the layout. Usage:
//   bun scripts/capture-proc.ts NAME --pid PID [--note TEXT] [--out DIR]
//   bun scripts/capture-proc.ts NAME -- COMMAND...   (the command must print one line when ready;
//                                                     the deepest descendant is captured, then killed)
// The environment is not copied (it may hold secrets): only container= is kept.
import { spawn } from "bun";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseCgroup, parseMountinfo, parseStat } from "../inspect/parse.ts";
import { NS_TYPES } from "../inspect/snapshot.ts";
import { MARKER_FILES } from "../inspect/gather.ts";
import { MASKED_PROC } from "../inspect/facts.ts";
import { ProcSource } from "../inspect/source.ts";
import { isUnknown } from "../inspect/snapshot.ts";

const [name, ...rest] = process.argv.slice(2);
if (!name || name.startsWith("-")) {
  process.stderr.write("usage: capture-proc.ts NAME (--pid PID | -- COMMAND...) [--note TEXT]\n");
  process.exit(2);
}
const outAt = rest.indexOf("--out");
// --out DIR: write elsewhere (an unprivileged reader cannot write into the repository)
const out = outAt >= 0 ? `${rest[outAt + 1]}/${name}` : `${import.meta.dir}/../tests/fixtures/proc/${name}`;
const fs = `${out}/fs`;
const noteAt = rest.indexOf("--note");
const note = noteAt >= 0 ? rest[noteAt + 1] : undefined;

function code(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? "EIO";
}
function put(path: string, text: string | Buffer): void {
  mkdirSync(dirname(`${fs}${path}`), { recursive: true });
  writeFileSync(`${fs}${path}`, text);
}
function copyFile(path: string, transform?: (b: Buffer) => Buffer): void {
  try {
    const b = readFileSync(path);
    put(path, transform ? transform(b) : b);
  } catch (e) {
    if (code(e) !== "ENOENT" || path.startsWith("/proc/")) put(`${path}.errno`, code(e) + "\n");
  }
}
function copyLink(path: string): void {
  try {
    const target = readlinkSync(path);
    mkdirSync(dirname(`${fs}${path}`), { recursive: true });
    symlinkSync(target, `${fs}${path}`);
  } catch (e) {
    put(`${path}.errno`, code(e) + "\n");
  }
}
function devino(path: string, as: string): void {
  try {
    const s = statSync(path);
    put(as, `${s.dev}:${s.ino}\n`);
  } catch (e) {
    put(`${as}.errno`, code(e) + "\n");
  }
}
const keepContainerEnv = (b: Buffer) =>
  Buffer.from(b.toString("latin1").split("\0").filter((kv) => kv.startsWith("container=")).map((kv) => kv + "\0").join(""), "latin1");

function captureProcess(pid: number, full: boolean): void {
  const p = `/proc/${pid}`;
  copyFile(`${p}/stat`);
  copyFile(`${p}/status`);
  for (const t of NS_TYPES) copyLink(`${p}/ns/${t}`);
  if (!full) return;
  for (const f of ["cmdline", "limits", "oom_score_adj", "attr/current", "setgroups", "uid_map", "gid_map", "mountinfo", "cgroup"]) copyFile(`${p}/${f}`);
  copyFile(`${p}/environ`, keepContainerEnv);
  copyLink(`${p}/exe`);
  devino(`${p}/root`, `${p}/root.devino`);
  // device nodes cannot be stored in git: one text line each (read back by tree-source.ts)
  const nodes = new ProcSource().deviceNodes(pid);
  if (isUnknown(nodes)) put(`${p}/root/dev.nodes.errno`, nodes.unknown.split(":")[0] + "\n");
  else put(`${p}/root/dev.nodes`, nodes.map((n) => `${n.path} ${n.type} ${n.major}:${n.minor} ${n.mode.toString(8)} ${n.uid} ${n.gid}\n`).join(""));
  for (const m of MARKER_FILES) {
    try {
      statSync(`${p}/root${m}`);
      put(`${p}/root${m}`, "");
    } catch (e) {
      if (code(e) !== "ENOENT") put(`${p}/root${m}.errno`, code(e) + "\n");
    }
  }
}

function captureCgroups(pid: number, reader: number): void {
  const mounts = parseMountinfo(readFileSync(`/proc/${reader}/mountinfo`, "latin1")).filter((m) => m.fsType.startsWith("cgroup"));
  let entries;
  try {
    entries = parseCgroup(readFileSync(`/proc/${pid}/cgroup`, "latin1"));
  } catch {
    return;
  }
  const files = ["cgroup.controllers", "memory.max", "pids.max", "cpu.max", "memory.limit_in_bytes", "cpu.cfs_quota_us", "cpu.cfs_period_us", "devices.list"];
  for (const e of entries) {
    for (const m of mounts) {
      const v2 = e.hierarchy === 0 && m.fsType === "cgroup2";
      const v1 = m.fsType === "cgroup" && e.controllers.split(",").some((c) => m.superOptions.includes(c));
      if (!v2 && !v1) continue;
      for (let d = m.mountPoint + (e.path === "/" ? "" : e.path); d.startsWith(m.mountPoint); d = dirname(d)) {
        for (const f of files) if (existsSync(`${d}/${f}`)) copyFile(`${d}/${f}`);
        // the BPF device programs in force (tree-source.ts reads the count back)
        if (v2) {
          const n = new ProcSource().devicePrograms(d);
          put(typeof n === "number" ? `${d}/bpf-device-programs` : `${d}/bpf-device-programs.errno`, `${n}\n`);
        }
        if (d === m.mountPoint) break;
      }
    }
  }
}

/** The deepest descendant of `pid` (following the first child), for wrapper commands. */
function deepest(pid: number): number {
  for (;;) {
    const kids = readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean));
    if (kids.length === 0) return pid;
    pid = Number(kids[0]);
  }
}

let target: number;
let child: ReturnType<typeof spawn> | undefined;
let cmdText: string;
const dd = rest.indexOf("--");
if (dd >= 0) {
  const cmd = rest.slice(dd + 1);
  child = spawn(cmd, { stdout: "pipe", stderr: "inherit", stdin: "ignore" });
  const reader = (child.stdout as ReadableStream<Uint8Array>).getReader();
  await reader.read(); // the "ready" line
  target = deepest(child.pid);
  cmdText = cmd.join(" ");
} else {
  const i = rest.indexOf("--pid");
  target = Number(rest[i + 1]);
  cmdText = `(existing process ${target}: ${readFileSync(`/proc/${target}/cmdline`, "latin1").split("\0").join(" ").trim()})`;
}

rmSync(out, { recursive: true, force: true });
const readerPid = process.pid;
captureProcess(target, true);
captureProcess(readerPid, true);
for (const p of [1, 2]) if (p !== target) captureProcess(p, false);
for (let p = parseStat(readFileSync(`/proc/${target}/stat`, "latin1")).ppid; p > 0; ) {
  copyFile(`/proc/${p}/stat`);
  p = parseStat(readFileSync(`/proc/${p}/stat`, "latin1")).ppid;
}
devino("/", `/proc/${readerPid}/root.devino`);
// which sensitive /proc entries this kernel has (empty stand-ins: only their presence is used)
for (const e of MASKED_PROC) if (existsSync(e)) put(e, "");
symlinkSync(String(readerPid), `${fs}/proc/self`);
captureCgroups(target, readerPid);
writeFileSync(`${out}/TARGET`, `${target}\n`);
writeFileSync(
  `${out}/CMD`,
  `captured by: ${["bun", "scripts/capture-proc.ts", ...process.argv.slice(2)].join(" ")}\n` +
    `target: pid ${target}, made by: ${cmdText}\nreader uid: ${process.getuid?.()}\n` +
    (note ? `note: ${note}\n` : "") +
    `kernel: ${readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()}\n`,
);
if (child) {
  try {
    process.kill(target, "SIGKILL");
  } catch {}
  child.kill("SIGKILL");
  await child.exited;
}
process.stdout.write(`captured pid ${target} into ${out}\n`);
