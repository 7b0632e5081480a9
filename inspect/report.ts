// Text rendering of an InspectReport, grouped by layer. Colour only when asked (stdout is a tty).
import { capNames } from "./caps.ts";
import type { InspectReport } from "./json.ts";
import type { CheckResult } from "./score.ts";
import { isUnknown, NS_TYPES, type CgroupLimit, type FilterDigest, type Known } from "./snapshot.ts";

export interface Style {
  good(s: string): string;
  bad(s: string): string;
  dim(s: string): string;
  head(s: string): string;
}

const plain: Style = { good: (s) => s, bad: (s) => s, dim: (s) => s, head: (s) => s };
const ansi: Style = {
  good: (s) => `\x1b[32m${s}\x1b[0m`,
  bad: (s) => `\x1b[31m${s}\x1b[0m`,
  dim: (s) => `\x1b[2m${s}\x1b[0m`,
  head: (s) => `\x1b[1m${s}\x1b[0m`,
};

export function styleFor(color: boolean): Style {
  return color ? ansi : plain;
}

/** "unknown (reason)" for an Unknown, else the formatted value. */
export function show<T>(x: Known<T>, fmt: (v: T) => string = String): string {
  return isUnknown(x) ? `unknown (${x.unknown})` : fmt(x as T);
}

export function limitText(l: Known<CgroupLimit>, unit: "bytes" | "pids" | "cpus"): string {
  return show(l, (v) => {
    if (v.value === null) return `none (cgroup v${v.version})`;
    const n = unit === "bytes" ? formatBytes(v.value) : unit === "cpus" ? `${+v.value.toFixed(2)} CPUs` : `${v.value}`;
    return `${n} (v${v.version}, set at ${v.where})`;
  });
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${+n.toFixed(1)} ${units[i]}`;
}

function capList(names: string[]): string {
  if (names.length === 0) return "none";
  if (names.length >= capNames("1ffffffffff").length) return `all (${names.length})`;
  return names.join(", ");
}

export function renderText(r: InspectReport, color = false): string {
  const st = styleFor(color);
  const out: string[] = [];
  const line = (k: string, v: string) => out.push(`  ${k.padEnd(18)} ${v}`);
  const section = (t: string) => out.push("", st.head(t));
  const mark = (res: CheckResult | undefined) =>
    !res ? "" : res.status === "good" ? st.good(" ✓") : res.status === "bad" ? st.bad(" ✗") : res.status === "partial" ? st.bad(" ~") : "";
  const check = (id: string) => r.score.results.find((c) => c.id === id);

  // the verdict first: the number, how sure it is, and what weighs most; the details follow
  out.push(st.head(`process ${r.pid} (${r.comm})`) + `  ${show(r.cmdline, (a) => a.join(" "))}`);
  if (r.pin.state !== "alive") out.push(st.bad(`  warning: ${r.pin.detail}`));
  const sc = r.score;
  const label = sc.exposure === null ? "unknown" : `${sc.exposure.toFixed(1)} ${sc.label}`;
  out.push(`  exposure: ${sc.exposure !== null && sc.exposure >= 5 ? st.bad(label) : st.good(label)}  ${certainty(r)}`);
  out.push(`  looks like: ${r.runtime.looksLike}${r.runtime.decidedBy ? st.dim(` (decided by ${r.runtime.decidedBy})`) : ""}`);
  const worst = [...sc.results]
    .filter((x) => x.status === "bad" || x.status === "partial")
    .sort((a, b) => b.weight * (b.badness ?? 0) - a.weight * (a.badness ?? 0))
    .slice(0, 5);
  if (worst.length) out.push("  worst findings:");
  for (const w of worst) out.push(`    ${st.bad(w.status === "bad" ? "BAD " : "PART")} ${w.text}${w.detail ? st.dim(` — ${w.detail}`) : ""}`);

  section("Namespaces");
  for (const t of NS_TYPES) {
    const n = r.namespaces[t];
    const who = n.reference === "reader" ? "the reader" : "the host";
    const alsoReader = n.vsReader && n.reference !== "reader" ? `; vs reader: ${n.vsReader}` : "";
    const by = n.proof && n.proof !== "ns link" ? `, by ${n.proof}` : "";
    const v = n.state === "unknown" ? `unknown (${n.reason})` : `${n.state}${n.state === "separate" ? "" : ` with ${who}`} (vs ${n.reference}${by}${alsoReader})`;
    line(t, v + mark(check(`ns.${t}`)) + (isUnknown(n.id) ? "" : st.dim(`  ${n.id}`)));
  }
  line("pid ns depth", `${r.pidNamespaceDepth} (NSpid ${r.nspid.join(" ")})`);
  const u = r.userNamespace;
  const maps = (m: Known<readonly { inside: number; outside: number; count: number }[]>) =>
    show(m, (l) => l.map((x) => `${x.inside}→${x.outside} (${x.count})`).join(", ") || "empty");
  line("uid map", maps(u.uidMap));
  line("gid map", maps(u.gidMap));
  line("setgroups", show(u.setgroups));
  if (!isUnknown(u.rootOutside) && u.rootOutside !== null && r.namespaces.user.state === "separate")
    line("root inside", `= uid ${u.rootOutside} outside`);

  section("Credentials");
  const c = r.credentials;
  line("uid r/e/s/fs", c.uid.join(" "));
  line("gid r/e/s/fs", c.gid.join(" "));
  line("groups", c.groups.join(" ") || "none");
  const idText: Record<string, string> = {
    "host-root": "runs as root (host)",
    "userns-root": "root only inside its user namespace",
    user: "not root",
  };
  line("identity", show(c.identity, (k) => idText[k] ?? k) + mark(check("creds.root")));
  const inside = isUnknown(c.insideUid) || c.insideUid === null ? "unknown" : String(c.insideUid);
  line("euid", `${inside} inside its user namespace, ${show(c.hostUid)} as the reader sees it`);

  section("Capabilities" + ` (apply in: ${r.capabilities.scope})`);
  for (const k of ["effective", "permitted", "inheritable", "bounding", "ambient"] as const) line(k, capList(r.capabilities[k]));
  line("dangerous", r.capabilities.dangerous.length ? st.bad(r.capabilities.dangerous.join(", ")) : st.good("none usable"));

  section("System calls");
  line("no_new_privs", (r.noNewPrivs ? "set" : "not set") + mark(check("nnp")));
  line("seccomp", `${r.seccomp.mode}${r.seccomp.mode === "filter" ? `, ${r.seccomp.filters} filter(s)` : ""}` + mark(check("seccomp")));
  if (r.seccomp.mode === "filter") {
    const sum = r.seccomp.summary;
    if (isUnknown(sum)) line("filter contents", show(sum));
    else for (const f of sum) for (const l of filterLines(f)) line(l.key, l.text);
  }

  section("Filesystem");
  const f = r.filesystem;
  line("root", show(f.rootSeparate, (b) => (b ? "its own" : "the host's")) + (f.rootMethod ? ` (by ${f.rootMethod})` : "") + mark(check("fs.root")));
  line("root mount", show(f.rootMount, (m) => `${m.fsType} ${m.source} ${m.dev} ${m.root}`));
  line("root read-only", show(f.rootReadOnly, (b) => (b ? "yes" : "no")) + mark(check("fs.root-ro")));
  line("mounts", show(f.mountCount));
  line("/proc", show(f.proc, (p) => (!p.mounted ? "not mounted" : `/proc/sys ${p.sysWritable ? "writable" : "read-only"}; masked: ${p.masked.join(", ") || "none"}`)));
  line("sensitive mounts", show(f.sensitiveMounts, (l) => l.join("; ") || "none") + mark(check("fs.sensitive-mounts")));
  line("device nodes", show(f.deviceNodes, (l) => (l.length ? `${l.length} it can open: ${l.slice(0, 6).join(", ")}${l.length > 6 ? ", …" : ""}` : "no disk or memory device it can open")) + mark(check("dev.nodes")));

  section("Resources");
  const cg = r.resources.cgroup;
  line("cgroups", show(cg, (x) => x.entries.map((e) => `${e.controllers || "v2"}:${e.path}`).join(" ")));
  if (!isUnknown(cg)) {
    line("memory limit", limitText(cg.memory, "bytes") + mark(check("cgroup.memory")));
    line("pids limit", limitText(cg.pids, "pids") + mark(check("cgroup.pids")));
    line("cpu limit", limitText(cg.cpu, "cpus") + mark(check("cgroup.cpu")));
    line("devices", show(cg.devices, (d) => `${d.allowAll ? "every device" : d.rules.join(", ") || "none"} (v${d.version}, ${d.where})`) + mark(check("cgroup.devices")));
  }
  line("rlimits", show(r.resources.rlimits, (l) => ["processes", "open files", "address space"].map((k) => `${k} ${l[k]?.soft ?? "?"}/${l[k]?.hard ?? "?"}`).join(", ")));
  line("oom_score_adj", show(r.resources.oomScoreAdj));

  section("LSM");
  line("label", show(r.lsm));
  line("landlock", r.landlock);

  section("Runtime evidence");
  if (r.runtime.evidence.length === 0) line("", "none");
  for (const e of r.runtime.evidence) line(e.source, `${e.runtime}: ${e.detail}${e.outweighed ? st.dim(` (outweighed: ${e.outweighed})`) : ""}`);
  if (r.runtime.decidedBy) line("decided by", r.runtime.decidedBy);

  section("Exposure");
  line("score", (sc.exposure !== null && sc.exposure >= 5 ? st.bad(label) : st.good(label)) + `  ${certainty(r)}`);
  for (const res of r.score.results) {
    if (res.status === "na") continue;
    const tag = res.status === "good" ? st.good("ok  ") : res.status === "unknown" ? st.dim("??  ") : res.status === "partial" ? st.bad("PART") : st.bad("BAD ");
    out.push(`  ${tag} ${res.id.padEnd(20)} ${res.text}${res.detail ? st.dim(` — ${res.detail}`) : ""}`);
  }
  return out.join("\n") + "\n";
}

/** "(30 checks assessed, 2 not applicable, 0 unknown)", or with unknowns the range the score could be in. */
function certainty(r: InspectReport): string {
  const sc = r.score;
  const counts = `${sc.assessed} checks assessed, ${sc.na} not applicable, ${sc.unknown} unknown`;
  if (sc.unknown === 0 || !sc.range) return `(${counts})`;
  return `(${counts}: ${Math.round(sc.unknownWeight * 100)}% of the weight unknown; could be ${sc.range.min.toFixed(1)}–${sc.range.max.toFixed(1)})`;
}

/** One line per ABI of a decoded filter: its default and the syscalls treated differently. */
function filterLines(f: FilterDigest): { key: string; text: string }[] {
  return f.abis.map((a, i) => {
    const key = i === 0 ? `filter #${f.index}` : "";
    if (a.wholeAbiAction) return { key, text: `${a.abi}: every syscall → ${a.wholeAbiAction}` };
    const ex = Object.entries(a.exceptions).map(([act, names]) => `${act}: ${names.length > 12 ? `${names.slice(0, 12).join(", ")} … (+${names.length - 12})` : names.join(", ")}`);
    return { key, text: `${a.abi}: default ${a.defaultAction}${ex.length ? "; " + ex.join("; ") : ""}` };
  });
}
