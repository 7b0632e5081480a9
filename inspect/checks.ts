// The check table: data, scored by one loop in score.ts (modelled on `systemd-analyze security`:
// each check has an id, a weight, a range, a text for good and for bad, and an assess function).
// assess returns a badness in 0..range (0 = good), NA when the check does not apply, or an
// Unknown when the facts it needs could not be read. docs/INSPECT.md lists this table.
import { capFacts, deviceExposure, identity, nsRelation, procFacts, rootFacts, sensitiveMounts } from "./facts.ts";
import { allowListFacts, seccompFacts } from "./seccomp-facts.ts";
import { isUnknown, known, unknown, type Known, type NsType, type Snapshot } from "./snapshot.ts";

export type Layer = "namespaces" | "credentials" | "capabilities" | "syscalls" | "filesystem" | "resources" | "lsm";

export const NA = { na: true } as const;
/** `text` replaces the check's good/bad text when neither fits (a partial badness) */
export type Assessment = { badness: number; detail?: string; text?: string } | typeof NA | Known<never>;

export interface Check {
  readonly id: string;
  readonly layer: Layer;
  readonly weight: number;
  readonly range: number;
  readonly good: string;
  readonly bad: string;
  readonly assess: (s: Snapshot) => Assessment;
}

function bad(b: boolean, detail?: string): Assessment {
  return { badness: b ? 1 : 0, detail };
}

function nsCheck(t: NsType, weight: number, what: string): Check {
  return {
    id: `ns.${t}`,
    layer: "namespaces",
    weight,
    range: 1,
    good: `own ${t} namespace: ${what} separate from the host's`,
    bad: `shares the host's ${t} namespace: ${what}`,
    assess: (s) => {
      const r = nsRelation(s, t);
      if (r.state === "unknown") return unknown(r.reason ?? "unknown");
      return bad(r.state === "shared", `compared with ${r.reference}`);
    },
  };
}

/** Capability held (usable) by the process; less bad when it only applies inside its own user namespace. */
function capCheck(cap: string, weight: number, why: string): Check {
  return {
    id: `cap.${cap}`,
    layer: "capabilities",
    weight,
    range: 2,
    good: `cannot use cap_${cap}`,
    bad: `can use cap_${cap} (${why})`,
    assess: (s) => {
      if (!capFacts(s).usable.has(cap)) {
        // still in the bounding set and no no_new_privs: a setuid/file-cap binary can bring it back
        const regain = !s.noNewPrivs && capFacts(s).sets.bounding.includes(cap);
        return regain ? { badness: 0.5, text: `could regain cap_${cap} through a setuid or file-capability program`, detail: "in the bounding set without no_new_privs" } : { badness: 0 };
      }
      const userns = nsRelation(s, "user");
      if (userns.state === "unknown") return unknown(userns.reason ?? "user namespace unknown");
      return userns.state === "separate"
        ? { badness: 1, text: `can use cap_${cap} only over its own user namespace`, detail: "only over its own user namespace" }
        : { badness: 2, detail: "over the host" };
    },
  };
}

export const CHECKS: readonly Check[] = [
  nsCheck("user", 1500, "user ids and capabilities"),
  nsCheck("mnt", 1000, "mount table"),
  nsCheck("pid", 1000, "process ids (sees and signals host processes)"),
  nsCheck("net", 1500, "network stack"),
  nsCheck("ipc", 500, "System V IPC and POSIX queues"),
  nsCheck("uts", 100, "hostname"),
  nsCheck("cgroup", 250, "cgroup root"),
  nsCheck("time", 50, "boot and monotonic clocks"),
  {
    id: "creds.root",
    layer: "credentials",
    weight: 1500,
    range: 2,
    good: "does not run as root on the host",
    bad: "runs as root on the host",
    assess: (s) => {
      const id = identity(s);
      if (isUnknown(id)) return id;
      if (id.kind === "host-root")
        return { badness: 2, detail: nsRelation(s, "user").state === "separate" ? "uid 0 inside maps to uid 0 outside: host root's files are its own" : "euid 0 as seen from the host" };
      if (id.kind === "userns-root")
        return { badness: 1, text: "runs as root only inside its own user namespace", detail: `uid ${id.hostUid} on the host` };
      return { badness: 0, detail: id.insideUid !== undefined && id.insideUid !== id.hostUid ? `uid ${id.insideUid} inside, ${id.hostUid} on the host` : `uid ${id.hostUid}` };
    },
  },
  capCheck("sys_admin", 1500, "mounts, namespaces, most of the kernel"),
  capCheck("sys_module", 1500, "loads kernel modules"),
  capCheck("sys_ptrace", 1000, "reads and controls other processes"),
  capCheck("sys_rawio", 1000, "raw I/O ports and devices"),
  capCheck("dac_read_search", 750, "reads any file, open_by_handle_at"),
  capCheck("dac_override", 500, "ignores file permissions"),
  capCheck("net_admin", 500, "reconfigures the network"),
  capCheck("bpf", 500, "loads BPF programs"),
  capCheck("sys_boot", 300, "reboots the machine"),
  {
    id: "caps.bounding",
    layer: "capabilities",
    weight: 500,
    range: 1,
    good: "bounding set is empty",
    bad: "bounding set not empty (capabilities can be regained through execve)",
    assess: (s) => {
      const n = capFacts(s).sets.bounding.length;
      if (n > 0 && s.noNewPrivs) return { badness: 0.5, text: "bounding set not empty (no_new_privs keeps execve from regaining them)", detail: `${n} capabilities` };
      return { badness: n === 0 ? 0 : 1, detail: `${n} capabilities` };
    },
  },
  {
    id: "nnp",
    layer: "syscalls",
    weight: 500,
    range: 1,
    good: "no_new_privs is set (setuid and file capabilities cannot raise privileges)",
    bad: "no_new_privs is not set",
    assess: (s) => bad(!s.noNewPrivs),
  },
  {
    id: "seccomp",
    layer: "syscalls",
    weight: 1000,
    range: 1,
    good: "system calls are filtered by seccomp",
    bad: "no seccomp filter: every system call is reachable",
    assess: (s) => bad(s.seccompMode === 0, s.seccompMode === 2 ? `${s.seccompFilters} filter(s)` : s.seccompMode === 1 ? "strict mode" : undefined),
  },
  {
    id: "seccomp.risky",
    layer: "syscalls",
    weight: 500,
    range: 1,
    good: "the filters refuse the risky system calls (module loading, kexec, bpf, io_uring, keyctl, mount, ptrace, …)",
    bad: "the filters let risky system calls through",
    assess: (s) => {
      // strict mode: read, write, _exit and sigreturn only — on every ABI; nothing risky is reachable
      if (s.seccompMode === 1) return { badness: 0, detail: "strict mode" };
      const f = seccompFacts(s);
      if (f === null) return NA;
      if (isUnknown(f)) return f;
      // four or more wide-open risky calls count as fully bad; argument-checked ones as half
      const n = f.riskyAllowed.length + f.riskyConditional.length / 2;
      const detail = [f.riskyAllowed.length ? `allowed: ${f.riskyAllowed.join(", ")}` : "", f.riskyConditional.length ? `depending on arguments: ${f.riskyConditional.join(", ")}` : ""]
        .filter(Boolean)
        .join("; ");
      return { badness: Math.min(1, n / 4), detail: detail || undefined };
    },
  },
  {
    id: "seccomp.abi",
    layer: "syscalls",
    weight: 300,
    range: 1,
    good: "no other syscall ABI (i386, x32) is left unfiltered",
    bad: "another syscall ABI is left unfiltered (int 0x80 / x32 numbers bypass the native rules)",
    assess: (s) => {
      if (s.seccompMode === 1) return { badness: 0, detail: "strict mode checks every ABI" };
      const f = seccompFacts(s);
      if (f === null) return NA;
      if (isUnknown(f)) return f;
      return bad(f.openAbis.length > 0, f.openAbis.length ? `open: ${f.openAbis.join(", ")}` : undefined);
    },
  },
  {
    id: "seccomp.allowlist",
    layer: "syscalls",
    weight: 300,
    range: 1,
    good: "the filter is an allow-list: only the system calls it names are possible",
    bad: "the filter is a deny-list: every system call it does not name is possible",
    assess: (s) => {
      if (s.seccompMode === 1) return { badness: 0, detail: "strict mode allows only read, write, exit and sigreturn" };
      const f = allowListFacts(s);
      if (f === null) return NA;
      if (isUnknown(f)) return f;
      return bad(!f.allowList, f.allowList ? `allow-list, ${f.allowed} system calls allowed` : "deny-list");
    },
  },
  {
    id: "fs.root",
    layer: "filesystem",
    weight: 1000,
    range: 1,
    good: "its root directory is not the host's",
    bad: "its root directory is the host's",
    assess: (s) => {
      const r = rootFacts(s);
      return isUnknown(r.separate) ? r.separate : bad(!r.separate, `by ${r.method}`);
    },
  },
  {
    id: "fs.root-ro",
    layer: "filesystem",
    weight: 500,
    range: 1,
    good: "root filesystem is read-only",
    bad: "root filesystem is writable",
    assess: (s) => {
      const r = rootFacts(s);
      return isUnknown(r.readOnly) ? r.readOnly : bad(!r.readOnly);
    },
  },
  {
    id: "fs.proc-sys",
    layer: "filesystem",
    weight: 500,
    range: 1,
    good: "/proc/sys is read-only or absent",
    bad: "/proc/sys is writable (kernel settings, for whoever has the capabilities)",
    assess: (s) => {
      const m = known(s.mounts);
      return m ? bad(procFacts(m).sysWritable) : (s.mounts as Known<never>);
    },
  },
  {
    id: "fs.proc-masked",
    layer: "filesystem",
    weight: 200,
    range: 1,
    good: "sensitive /proc entries are masked (or /proc is absent)",
    bad: "sensitive /proc entries are visible",
    assess: (s) => {
      const m = known(s.mounts);
      if (!m) return s.mounts as Known<never>;
      const p = procFacts(m, s.kernelProcEntries);
      const total = p.masked.length + p.unmasked.length;
      if (!p.unmasked.length) return { badness: 0 };
      const some = p.unmasked.length < total ? { text: "some sensitive /proc entries are visible" } : {};
      return { badness: p.unmasked.length / total, detail: `visible: ${p.unmasked.join(", ")}`, ...some };
    },
  },
  {
    id: "fs.sensitive-mounts",
    layer: "filesystem",
    weight: 1000,
    range: 1,
    good: "no sensitive host paths are mounted in",
    bad: "sensitive host paths are mounted in",
    assess: (s) => {
      const mnt = nsRelation(s, "mnt");
      if (mnt.state === "unknown") return unknown(mnt.reason ?? "unknown");
      if (mnt.state === "shared") return NA; // covered by ns.mnt: it sees everything anyway
      const list = sensitiveMounts(s);
      return isUnknown(list) ? list : { badness: list.length ? 1 : 0, detail: list.join("; ") || undefined };
    },
  },
  {
    id: "dev.nodes",
    layer: "filesystem",
    // raw access to the host's disks is root over the host's data: as heavy as cap_sys_admin
    weight: 1500,
    range: 1,
    good: "no disk or memory device node it can open in its /dev",
    bad: "host disk or memory device nodes it can open are in its /dev (raw access to the host's data)",
    assess: (s) => {
      const d = deviceExposure(s);
      if (isUnknown(d)) return d;
      return bad(d.length > 0, d.length ? `${d.slice(0, 6).join(", ")}${d.length > 6 ? ` … (+${d.length - 6})` : ""}` : undefined);
    },
  },
  {
    id: "cgroup.devices",
    layer: "resources",
    weight: 1000,
    range: 1,
    good: "its devices cgroup restricts which devices it can open",
    bad: "its devices cgroup allows every device (a *:* rwm)",
    assess: (s) => {
      const cg = known(s.cgroup);
      if (!cg) return s.cgroup as Known<never>;
      const d = cg.devices;
      return isUnknown(d) ? d : bad(d.allowAll, `${d.where}: ${d.rules.slice(0, 4).join(", ")}${d.rules.length > 4 ? ", …" : ""}`);
    },
  },
  ...(["memory", "pids", "cpu"] as const).map(
    (res): Check => ({
      id: `cgroup.${res}`,
      layer: "resources",
      weight: res === "cpu" ? 100 : 300,
      range: 1,
      good: `${res} is limited by its cgroup`,
      bad: `no ${res} limit on its cgroup or any ancestor`,
      assess: (s) => {
        const cg = known(s.cgroup);
        if (!cg) return s.cgroup as Known<never>;
        const l = cg[res];
        return isUnknown(l) ? l : bad(l.value === null, l.where);
      },
    }),
  ),
  {
    id: "lsm",
    layer: "lsm",
    weight: 300,
    range: 1,
    good: "confined by an LSM profile",
    bad: "unconfined by AppArmor/SELinux",
    assess: (s) => {
      if (isUnknown(s.lsm)) return s.lsm.unknown.startsWith("EINVAL") ? NA : s.lsm;
      return bad(s.lsm === "" || /^unconfined\b|:unconfined_t:/.test(s.lsm), s.lsm);
    },
  },
];
