// The filesystem view of a jail as an ordered list of mount operations (pure data).
// jail/child.ts applies them beneath the new root; `--dry-run` prints them.
import { UsageError } from "../sys/errors.ts";
import type { ParsedOptions } from "./options.ts";
import type { HostFacts } from "./plan.ts";

export type MountOp =
  /** bind a host path; `dev` keeps device nodes usable (only for /dev/null and friends) */
  | { op: "bind"; src: string; dst: string; readonly: boolean; kind: "dir" | "file"; dev?: boolean }
  /** a read-only view of a host directory without some of its paths (overlayfs whiteouts) */
  | { op: "hide-bind"; src: string; dst: string; hide: string[] }
  | { op: "symlink"; target: string; dst: string }
  | { op: "tmpfs"; dst: string; mode: string; size?: string }
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
 * /proc entries hidden or read-only, as OCI runtimes do by default: kernel memory, keys,
 * timers and scheduler internals leak host information; /proc/sys and friends change the host.
 * Beyond OCI: kpageflags/kpagecount/kpagecgroup give root (any uid 0 in the host user
 * namespace, no capability needed) the flags and use counts of every physical page of the
 * host — side-channel material no jailed program needs.
 */
export const PROC_MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/proc/interrupts", "/proc/kpageflags", "/proc/kpagecount", "/proc/kpagecgroup"];
export const PROC_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

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
    let size: string | undefined;
    for (const opt of opts) {
      const m = /^size=(\d+[kmg%]?)$/i.exec(opt);
      if (!m) throw new UsageError(`--tmpfs '${spec}': unknown option '${opt}'; only size=N[k|m|g] is supported`);
      size = m[1];
    }
    add({ op: "tmpfs", dst, mode: "1777", ...(size ? { size } : {}) }, dst);
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

export function buildMounts(o: ParsedOptions, host: HostFacts, rootfs: string | null): MountOp[] {
  const ops: MountOp[] = [];
  if (!rootfs && o["no-system-binds"] !== true) {
    for (const p of SYSTEM_PATHS) {
      const link = host.readlink(p);
      if (link !== null) ops.push({ op: "symlink", target: link, dst: p });
      else if (host.stat(p) === "dir") ops.push({ op: "bind", src: p, dst: p, readonly: true, kind: "dir" });
    }
    // Only names the host has: a whiteout's parent directories would otherwise appear, empty.
    const hide = ETC_HIDDEN.filter((h) => host.stat(`/etc/${h}`) !== null || host.readlink(`/etc/${h}`) !== null);
    if (host.stat("/etc") === "dir") ops.push({ op: "hide-bind", src: "/etc", dst: "/etc", hide });
  }
  ops.push({ op: "proc", dst: "/proc" });
  for (const p of PROC_MASKED) ops.push({ op: "mask", dst: p, kind: p === "/proc/acpi" || p === "/proc/asound" || p === "/proc/scsi" ? "dir" : "file", optional: true });
  for (const p of PROC_READONLY) ops.push({ op: "readonly", dst: p, optional: true });
  // /dev holds only mount points and symlinks: a small size keeps it from becoming scratch space.
  ops.push({ op: "tmpfs", dst: "/dev", mode: "0755", size: "1m" });
  // Read-only binds: the nodes are the host's own inodes, and root in the jail (CAP_FOWNER,
  // CAP_CHOWN) could otherwise chmod/chown the host's /dev/null. Reading and writing the device
  // itself is not affected by a read-only mount.
  for (const n of DEV_NODES)
    if (host.stat(`/dev/${n}`) !== null) ops.push({ op: "bind", src: `/dev/${n}`, dst: `/dev/${n}`, readonly: true, kind: "file", dev: true });
  ops.push({ op: "devpts", dst: "/dev/pts" });
  ops.push({ op: "symlink", target: "pts/ptmx", dst: "/dev/ptmx" });
  ops.push({ op: "tmpfs", dst: "/dev/shm", mode: "1777" });
  ops.push({ op: "symlink", target: "/proc/self/fd", dst: "/dev/fd" });
  ["stdin", "stdout", "stderr"].forEach((n, i) => ops.push({ op: "symlink", target: `/proc/self/fd/${i}`, dst: `/dev/${n}` }));
  ops.push({ op: "tmpfs", dst: "/tmp", mode: "1777" });
  ops.push({ op: "tmpfs", dst: "/run", mode: "0755" });
  ops.push(...userBinds(o, host));
  return ops;
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
