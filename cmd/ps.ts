// `jailx ps [-a] [--json]`: the caller's named jails — program pid, uptime, command, cgroup
// limits and usage, and the inspect exposure score of the program. Stale entries are removed.
import { defineCommand } from "citty";
import { closeFd } from "../sys/proc.ts";
import { exposureOf } from "../inspect/score.ts";
import { gather, GatherContext } from "../inspect/gather.ts";
import { printableText } from "../inspect/printable.ts";
import { listJudged, openVerified, readExited, stateDir, type Judged } from "../jail/state.ts";
import { cgroupUsage, type Usage } from "../jail/usage.ts";

export interface PsRow {
  name: string;
  state: "running" | "starting" | "exited";
  pid: number | null;
  supervisorPid: number;
  startedAt: number;
  uptimeSeconds: number | null;
  command: string[];
  detached: boolean;
  usage: Usage;
  /** the jail's own cgroup directories (none without limits) */
  cgroups: string[];
  exposure: number | null;
  status?: number;
  endedAt?: number;
}

function liveRow(j: Judged, ctx: () => GatherContext): PsRow {
  if (j.kind !== "live") {
    const e = j.entry;
    return { name: e.name, state: "starting", pid: null, supervisorPid: e.supervisor.pid, startedAt: e.startedAt, uptimeSeconds: null, command: e.command, detached: e.detached, usage: {}, cgroups: [], exposure: null };
  }
  const r = j.record;
  closeFd(j.pidfd);
  const fd = openVerified(r.program, r.plan.asPid1 ? r.supervisor.pid : r.init.pid);
  let exposure: number | null = null;
  if (fd !== null) {
    try {
      const snap = gather(r.program.pid, ctx(), { full: false });
      exposure = snap ? exposureOf(snap).exposure : null;
    } catch {
      exposure = null;
    } finally {
      closeFd(fd);
    }
  }
  return {
    name: r.name, state: "running", pid: fd === null ? null : r.program.pid, supervisorPid: r.supervisor.pid,
    startedAt: r.startedAt, uptimeSeconds: Math.round((Date.now() - r.startedAt) / 1000), command: r.plan.command,
    detached: r.detached, usage: cgroupUsage(r.cgroups), cgroups: r.cgroups, exposure,
  };
}

const mib = (n: number) => `${(n / 1048576).toFixed(n < 10 * 1048576 ? 1 : 0)}M`;

function usageText(u: Usage): [string, string, string] {
  const mem = u.memory ? `${mib(u.memory.current)}/${u.memory.max === null ? "-" : mib(u.memory.max)}` : "-";
  const pids = u.pids ? `${u.pids.current}/${u.pids.max ?? "-"}` : "-";
  const cpu = u.cpu ? `${(u.cpu.usageUsec / 1e6).toFixed(1)}s/${u.cpu.cpus === null ? "-" : u.cpu.cpus}` : "-";
  return [mem, pids, cpu];
}

function uptime(s: number | null): string {
  if (s === null) return "-";
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function render(rows: readonly PsRow[]): string {
  const head = ["NAME", "PID", "UPTIME", "MEM(USED/MAX)", "PIDS", "CPU(TIME/MAX)", "EXPOSURE", "STATE", "COMMAND"];
  const cells = rows.map((r) => [
    r.name, r.pid === null ? "-" : String(r.pid), uptime(r.uptimeSeconds), ...usageText(r.usage),
    r.exposure === null ? "-" : r.exposure.toFixed(1), r.state === "exited" ? `exited(${r.status})` : r.state,
    printableText(r.command.join(" ")).slice(0, 60),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [head, ...cells].map((c) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}

export function psRows(all: boolean): PsRow[] {
  const dir = stateDir(false);
  if (!dir) return [];
  let gc: GatherContext | null = null;
  const ctx = () => (gc ??= new GatherContext());
  const rows = listJudged(dir).map((j) => liveRow(j, ctx)).sort((a, b) => a.startedAt - b.startedAt);
  if (all) {
    for (const x of readExited(dir)) {
      if (rows.some((r) => r.name === x.name)) continue;
      rows.push({ name: x.name, state: "exited", pid: null, supervisorPid: 0, startedAt: x.startedAt, uptimeSeconds: null, command: x.command, detached: true, usage: {}, cgroups: [], exposure: null, status: x.status, endedAt: x.endedAt });
    }
  }
  return rows;
}

export default defineCommand({
  meta: { name: "ps", description: "list your named jails (jailx run --name/-d)" },
  args: {
    all: { type: "boolean", alias: "a", description: "also list recently exited detached jails" },
    json: { type: "boolean", description: "print JSON" },
    verbose: { type: "boolean", description: "show stack traces" },
  },
  run({ args }) {
    const rows = psRows(args.all === true);
    if (args.json) process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
    else process.stdout.write(render(rows));
  },
});
