// The filesystem view of a jail as an ordered list of mount operations (pure data).
// jail/child.ts applies them beneath the new root; `--dry-run` prints them.
import { UsageError } from "../sys/errors.ts";
import { RESOURCE_DEFAULTS, type ParsedOptions } from "./options.ts";
import type { HostFacts } from "./plan.ts";
import { etcHidden } from "./etc-view.ts";

export type MountOp =
  /** bind a host path; `dev` keeps device nodes usable (only for /dev/null and friends) */
  | { op: "bind"; src: string; dst: string; readonly: boolean; kind: "dir" | "file"; dev?: boolean }
  /** a read-only view of a host directory without some of its paths (overlayfs whiteouts) */
  | { op: "hide-bind"; src: string; dst: string; hide: string[] }
  | { op: "symlink"; target: string; dst: string }
  | { op: "tmpfs"; dst: string; mode: string; size?: string; readonly?: boolean }
  | { op: "proc"; dst: string }
  | { op: "devpts"; dst: string }
  /** hide a path: /dev/null over a file, an empty read-only tmpfs over a directory */
  | { op: "mask"; dst: string; kind: "dir" | "file"; optional: boolean }
  /** make an already-mounted path read-only in place */
  | { op: "readonly"; dst: string; optional: boolean };

/** What a program usually needs from the host, bound read-only (symlinks are recreated). */
export const SYSTEM_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/**
 * Secrets under /etc that a jail never sees. /etc is an overlay whose top layer holds whiteouts
 * for these names: hiding by name survives the host replacing a file by rename (passwd(1) does),
 * which silently drops a bind-mount mask placed on the old file.
 */
export const ETC_HIDDEN = [
  "shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "sudoers.d", "security/opasswd",
  // private keys and credentials that distributions and common services keep under /etc
  "ssl/private", "pki/tls/private", "ssh/ssh_host_rsa_key", "ssh/ssh_host_ecdsa_key",
  "ssh/ssh_host_ed25519_key", "ssh/ssh_host_dsa_key", "krb5.keytab", "NetworkManager/system-connections",
  "wireguard", "ipsec.secrets", "ipsec.d/private", "credstore", "credstore.encrypted", "letsencrypt",
  "docker/key.json", "libvirt/secrets", "ppp/chap-secrets", "ppp/pap-secrets", "rsyncd.secrets",
  "openvpn", "xpra/key.pem",
];

/**
 * The top-level /proc entries (besides the pid directories) a jail sees. Everything else that
 * the host's /proc lists is masked, so an entry a newer kernel adds is hidden until someone
 * decides it is harmless. What is here, and who needs it:
 * - self, thread-self, mounts, net: links into the process's own directory (every libc and
 *   runtime, mount(8), df, ss/netstat);
 * - cpuinfo, meminfo, stat, uptime, loadavg, vmstat: ps, top, free, uptime, vmstat, htop, JVMs,
 *   glibc's CPU count (sysconf falls back to /proc/stat without /sys), Python, Node, nginx;
 * - version, filesystems, cgroups: uname-like tools, libmount and SELinux libraries, JVM
 *   container detection;
 * - sys (read-only, below): sysctl readers (Python, JVM, nginx read somaxconn, ...);
 * - sysvipc: ipcs (the jail's own ipc namespace);
 * - tty: ps maps terminal numbers to names through /proc/tty/drivers (tty/driver is masked).
 * Masked among others: cmdline (the host's boot parameters), program_cpu, slabinfo,
 * pagetypeinfo, zoneinfo, buddyinfo, vmallocinfo, iomem, ioports, kallsyms, interrupts, softirqs,
 * diskstats, partitions, swaps, locks, pressure, crypto, devices, consoles, config.gz, kmsg,
 * mtrr, driver, bus, fs, irq, acpi.
 */
export const PROC_VISIBLE = [
  "self", "thread-self", "mounts", "net", "cpuinfo", "meminfo", "stat", "uptime", "loadavg", "vmstat",
  "version", "filesystems", "cgroups", "sys", "sysvipc", "tty",
];

/**
 * Masked whatever the host's /proc lists (a host /proc mounted with subset=pid lists almost
 * nothing), as OCI runtimes do: kernel memory, keys, timers and scheduler internals.
 * kpageflags/kpagecount/kpagecgroup give root the flags and use counts of every physical page
 * of the host; tty/driver/serial the host's serial port counters.
 */
export const PROC_MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/proc/interrupts", "/proc/kpageflags", "/proc/kpagecount", "/proc/kpagecgroup", "/proc/tty/driver"];
const PROC_MASKED_DIRS = new Set(["/proc/acpi", "/proc/asound", "/proc/scsi", "/proc/tty/driver"]);
/** Read-only where visible (OCI's list; the others are masked by the allow-list anyway). */
export const PROC_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

const S_IFMT = 0o170000, S_IFDIR = 0o040000, S_IFLNK = 0o120000;

/** Mask and read-only operations for the jail's /proc, from the host's /proc listing. */
export function procMasks(host: HostFacts): MountOp[] {
  const masks = new Map<string, "dir" | "file">(PROC_MASKED.map((p) => [p, PROC_MASKED_DIRS.has(p) ? "dir" : "file"]));
  // Pid directories are the jail's own in its pid namespace: not listed. The only links procfs
  // puts at the top are self, thread-self, mounts and net, all visible: a link is never masked (a
  // mount on it would land on what it points to in the jail's /proc).
  for (const { name, mode } of host.procEntries() ?? []) {
    if (PROC_VISIBLE.includes(name) || (mode & S_IFMT) === S_IFLNK) continue;
    masks.set(`/proc/${name}`, (mode & S_IFMT) === S_IFDIR ? "dir" : "file");
  }
  const ops: MountOp[] = [...masks].map(([dst, kind]) => ({ op: "mask", dst, kind, optional: true }));
  for (const p of PROC_READONLY) if (!masks.has(p)) ops.push({ op: "readonly", dst: p, optional: true });
  return ops;
}

export const DEV_NODES = ["null", "zero", "full", "random", "urandom", "tty"];

function splitSpec(what: string, spec: string): { src: string; dst: string } {
  const i = spec.indexOf(":");
  const src = i < 0 ? spec : spec.slice(0, i);
  const dst = i < 0 ? src : spec.slice(i + 1);
  if (!src) throw new UsageError(`${what} '${spec}': use SRC[:DST]`);
  for (const p of [src, dst])
    if (!p.startsWith("/")) throw new UsageError(`${what} '${spec}': '${p}' is relative; use an absolute path (e.g. $PWD/${p})`);
  return { src: src.replace(/\/+$/, "") || "/", dst: dst.replace(/\/+$/, "") || "/" };
}

/**
 * The size of jailx's tmpfs mounts and of every --tmpfs without size=: a fixed size or a
 * percentage of RAM (the kernel computes it), or undefined for the kernel's default (half of
 * RAM, for each mount: a jail could fill several).
 */
export function tmpfsSize(o: ParsedOptions): string | undefined {
  const v = (o["tmpfs-size"] as string | undefined) ?? RESOURCE_DEFAULTS.tmpfsSize;
  if (v === "unlimited") return undefined;
  const m = /^(\d+)([kmg%]?)$/i.exec(v);
  if (!m || Number(m[1]) === 0 || (m[2] === "%" && Number(m[1]) > 100))
    throw new UsageError(`--tmpfs-size '${v}': use a size like 512m or 2g, a percentage of RAM like 25%, or unlimited`);
  return v.toLowerCase();
}

function userBinds(o: ParsedOptions, host: HostFacts): MountOp[] {
  const ops: { op: MountOp; depth: number; order: number }[] = [];
  const add = (op: MountOp, dst: string) => ops.push({ op, depth: dst.split("/").length, order: ops.length });
  for (const [name, readonly] of [["ro-bind", true], ["bind", false]] as const)
    for (const spec of (o[name] as string[] | undefined) ?? []) {
      const { src, dst } = splitSpec(`--${name}`, spec);
      const kind = host.stat(src);
      if (kind === null) throw new UsageError(`--${name} '${spec}': '${src}' does not exist; create it or fix the path`);
      if (dst === "/") throw new UsageError(`--${name} '${spec}': to use a directory as the root, give --rootfs ${src}`);
      add({ op: "bind", src, dst, readonly, kind: kind === "dir" ? "dir" : "file" }, dst);
    }
  for (const spec of (o["tmpfs"] as string[] | undefined) ?? []) {
    const [dst, ...opts] = spec.split(":");
    if (!dst || !dst.startsWith("/")) throw new UsageError(`--tmpfs '${spec}': use an absolute path, e.g. --tmpfs /scratch:size=64m`);
    let size = tmpfsSize(o);
    let readonly = false;
    for (const opt of opts) {
      // ro: an empty directory that stays empty (a profile's directory listed without '/').
      if (opt === "ro") {
        readonly = true;
        continue;
      }
      const m = /^size=(\d+[kmg%]?)$/i.exec(opt);
      // size=0 would mean no limit to the kernel.
      if (!m || /^0+\D?$/.test(m[1]!)) throw new UsageError(`--tmpfs '${spec}': unknown option '${opt}'; only size=N[k|m|g|%] (N > 0) and ro are supported`);
      size = m[1];
    }
    add(readonly ? { op: "tmpfs", dst, mode: "0755", size: "4k", readonly } : { op: "tmpfs", dst, mode: "1777", ...(size ? { size } : {}) }, dst);
  }
  for (const spec of (o["symlink"] as string[] | undefined) ?? []) {
    const i = spec.lastIndexOf(":");
    const target = spec.slice(0, i), dst = spec.slice(i + 1);
    if (i <= 0 || !dst.startsWith("/")) throw new UsageError(`--symlink '${spec}': use TARGET:PATH with an absolute PATH, e.g. usr/lib:/lib`);
    add({ op: "symlink", target, dst }, dst);
  }
  // Parents before children, so that a bind inside another bind lands on top of it.
  return ops.sort((a, b) => a.depth - b.depth || a.order - b.order).map((x) => x.op);
}

/**
 * `hideByMode`: also hide what the host's "other" cannot read under /etc (jails without a user
 * namespace, whose root is the host's root; see jail/etc-view.ts).
 */
export function buildMounts(o: ParsedOptions, host: HostFacts, rootfs: string | null, hideByMode: boolean): MountOp[] {
  const ops: MountOp[] = [];
  const binds = userBinds(o, host);
  const withEtc = !rootfs && o["no-system-binds"] !== true && host.stat("/etc") === "dir";
  // What the user binds beneath /etc explicitly is shown (the bind needs its mount point).
  const keep = binds.flatMap((b) => (b.op === "bind" && b.dst.startsWith("/etc/") ? [b.dst.slice(5)] : []));
  // The /etc walk starts first where the host can walk meanwhile (jail/stage/walk.ts); the hide
  // list is decided when first read, on the stage path while the jail is compiled.
  const walked = withEtc && hideByMode && keep.length === 0 ? host.walkModes?.("/etc") : null;
  if (!rootfs && o["no-system-binds"] !== true) {
    for (const p of SYSTEM_PATHS) {
      const link = host.readlink(p);
      if (link !== null) ops.push({ op: "symlink", target: link, dst: p });
      else if (host.stat(p) === "dir") ops.push({ op: "bind", src: p, dst: p, readonly: true, kind: "dir" });
    }
  }
  ops.push({ op: "proc", dst: "/proc" });
  ops.push(...procMasks(host));
  // /dev holds only mount points and symlinks: a small size keeps it from becoming scratch space.
  ops.push({ op: "tmpfs", dst: "/dev", mode: "0755", size: "1m" });
  // Read-only binds: the nodes are the host's own inodes, and root in the jail (CAP_FOWNER,
  // CAP_CHOWN) could otherwise chmod/chown the host's /dev/null. Reading and writing the device
  // itself is not affected by a read-only mount.
  for (const n of DEV_NODES)
    if (host.stat(`/dev/${n}`) !== null) ops.push({ op: "bind", src: `/dev/${n}`, dst: `/dev/${n}`, readonly: true, kind: "file", dev: true });
  ops.push({ op: "devpts", dst: "/dev/pts" });
  ops.push({ op: "symlink", target: "pts/ptmx", dst: "/dev/ptmx" });
  // Sized: unsized, each of /dev/shm, /tmp and /run could take half of the host's RAM.
  const size = tmpfsSize(o);
  const sized = size === undefined ? {} : { size };
  ops.push({ op: "tmpfs", dst: "/dev/shm", mode: "1777", ...sized });
  ops.push({ op: "symlink", target: "/proc/self/fd", dst: "/dev/fd" });
  ["stdin", "stdout", "stderr"].forEach((n, i) => ops.push({ op: "symlink", target: `/proc/self/fd/${i}`, dst: `/dev/${n}` }));
  ops.push({ op: "tmpfs", dst: "/tmp", mode: "1777", ...sized });
  ops.push({ op: "tmpfs", dst: "/run", mode: "0755", ...sized });
  // /etc comes last of the system view: the walk may still be running when the jail is compiled,
  // and /proc, /dev, /tmp and /run are compiled (and mounted) meanwhile. None lies beneath /etc.
  if (withEtc) {
    // Only names the host has: a whiteout's parent directories would otherwise appear, empty.
    const names = ETC_HIDDEN.filter((h) => host.stat(`/etc/${h}`) !== null || host.readlink(`/etc/${h}`) !== null);
    const list = walked || ((d: string) => host.listModes(d));
    let hide: string[] | undefined;
    const op = { op: "hide-bind", src: "/etc", dst: "/etc" } as Extract<MountOp, { op: "hide-bind" }>;
    Object.defineProperty(op, "hide", {
      enumerable: true,
      get: () => (hide ??= etcHidden({ root: "/etc", names, keep, byMode: hideByMode, list })),
    });
    ops.push(op);
  }
  ops.push(...binds);
  ops.push(...notifySocket(host, binds));
  return ops;
}

/**
 * Under systemd (`Type=notify`), NOTIFY_SOCKET names the manager's datagram socket: bound at its
 * own path (read-only: connecting to a socket needs no write access to the mount) so that the
 * program's READY=1 reaches it, also with --net none (a path socket is not in the network
 * namespace). An abstract name ("@…") cannot be bound; Landlock's scope refuses it (see docs).
 */
function notifySocket(host: HostFacts, binds: MountOp[]): MountOp[] {
  const path = host.env.NOTIFY_SOCKET;
  if (!path?.startsWith("/") || host.stat(path) === null) return [];
  if (binds.some((b) => b.op === "bind" && b.dst === path)) return [];
  return [{ op: "bind", src: path, dst: path, readonly: true, kind: "file" }];
}

const under = (path: string, dir: string) => dir === "/" || path === dir || path.startsWith(dir + "/");

/**
 * Whether the host directory `dir` is the same directory at the same path in the jail: the last
 * mount that covers it binds a host directory to its own path (and does not hide it). A path
 * that exists in the jail only by name (the private /tmp, a --rootfs directory) does not count.
 */
export function hostDirVisible(mounts: readonly MountOp[], dir: string): boolean {
  let visible = false;
  for (const m of mounts) {
    if (!under(dir, m.dst)) continue;
    if (m.op === "hide-bind") visible = m.src === m.dst && !m.hide.some((h) => under(dir, `${m.dst}/${h}`));
    else visible = m.op === "bind" && m.kind === "dir" && m.src === m.dst;
  }
  return visible;
}
