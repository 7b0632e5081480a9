// What jailx learn reads out of each syscall, by name (the same names on every ABI; a name an
// ABI lacks never matches). Pure data: the recorder (recorder.ts) interprets it.
//
// Access kinds: read (open for reading, stat, access, readlink, xattr reads…), write (open for
// writing, truncate, chmod, utimes, xattr writes), create (a new name in a directory), delete
// (a name removed), exec (execve). `open` kinds depend on the flags argument.

export type Access = "read" | "write" | "create" | "delete" | "exec" | "list";

export interface PathArg {
  /** index of the path argument */
  path: number;
  /** index of the directory descriptor argument (…at calls), or none */
  dirfd?: number;
  /** fixed access kind, or "open": decided by the flags at `flags` */
  access: Access | "open" | "openat2";
  flags?: number;
  /** the last component is not followed (lstat, unlink…); AT_SYMLINK_NOFOLLOW at this index also */
  nofollow?: boolean;
  atFlags?: number;
}

const p = (path: number, access: PathArg["access"], more: Partial<PathArg> = {}): PathArg => ({ path, access, ...more });
const at = (dirfd: number, path: number, access: PathArg["access"], more: Partial<PathArg> = {}): PathArg => ({ dirfd, path, access, ...more });

export const PATH_SYSCALLS: Readonly<Record<string, readonly PathArg[]>> = {
  open: [p(0, "open", { flags: 1 })],
  openat: [at(0, 1, "open", { flags: 2 })],
  openat2: [at(0, 1, "openat2", { flags: 2 })],
  creat: [p(0, "create")],
  execve: [p(0, "exec")],
  execveat: [at(0, 1, "exec", { atFlags: 4 })],
  stat: [p(0, "read")], stat64: [p(0, "read")], oldstat: [p(0, "read")],
  lstat: [p(0, "read", { nofollow: true })], lstat64: [p(0, "read", { nofollow: true })], oldlstat: [p(0, "read", { nofollow: true })],
  newfstatat: [at(0, 1, "read", { atFlags: 3 })], fstatat64: [at(0, 1, "read", { atFlags: 3 })],
  statx: [at(0, 1, "read", { atFlags: 2 })],
  access: [p(0, "read")], faccessat: [at(0, 1, "read")], faccessat2: [at(0, 1, "read", { atFlags: 3 })],
  readlink: [p(0, "read", { nofollow: true })], readlinkat: [at(0, 1, "read", { nofollow: true })],
  getxattr: [p(0, "read")], lgetxattr: [p(0, "read", { nofollow: true })], listxattr: [p(0, "read")], llistxattr: [p(0, "read", { nofollow: true })],
  getxattrat: [at(0, 1, "read", { atFlags: 2 })], listxattrat: [at(0, 1, "read", { atFlags: 2 })],
  setxattr: [p(0, "write")], lsetxattr: [p(0, "write", { nofollow: true })], removexattr: [p(0, "write")], lremovexattr: [p(0, "write", { nofollow: true })],
  setxattrat: [at(0, 1, "write", { atFlags: 2 })], removexattrat: [at(0, 1, "write", { atFlags: 2 })],
  statfs: [p(0, "read")], statfs64: [p(0, "read")],
  chdir: [p(0, "read")], chroot: [p(0, "read")], uselib: [p(0, "read")],
  truncate: [p(0, "write")], truncate64: [p(0, "write")],
  chmod: [p(0, "write")], fchmodat: [at(0, 1, "write")], fchmodat2: [at(0, 1, "write", { atFlags: 3 })],
  chown: [p(0, "write")], chown32: [p(0, "write")], lchown: [p(0, "write", { nofollow: true })], lchown32: [p(0, "write", { nofollow: true })],
  fchownat: [at(0, 1, "write", { atFlags: 4 })],
  utime: [p(0, "write")], utimes: [p(0, "write")], futimesat: [at(0, 1, "write")],
  utimensat: [at(0, 1, "write", { atFlags: 3 })], utimensat_time64: [at(0, 1, "write", { atFlags: 3 })],
  mkdir: [p(0, "create")], mkdirat: [at(0, 1, "create")],
  mknod: [p(0, "create")], mknodat: [at(0, 1, "create")],
  rmdir: [p(0, "delete")], unlink: [p(0, "delete")], unlinkat: [at(0, 1, "delete")],
  rename: [p(0, "delete"), p(1, "create")],
  renameat: [at(0, 1, "delete"), at(2, 3, "create")], renameat2: [at(0, 1, "delete"), at(2, 3, "create")],
  link: [p(0, "read", { nofollow: true }), p(1, "create")], linkat: [at(0, 1, "read", { nofollow: true }), at(2, 3, "create")],
  symlink: [p(1, "create")], symlinkat: [at(1, 2, "create")],
  inotify_add_watch: [p(1, "read")],
  name_to_handle_at: [at(0, 1, "read")],
  open_tree: [at(0, 1, "read")],
  fanotify_mark: [at(3, 4, "read")],
};

/** Syscalls that change the process's ids (recorded with their arguments). */
export const ID_SYSCALLS: Readonly<Record<string, { kind: "uid" | "gid" | "groups"; args: number }>> = {
  setuid: { kind: "uid", args: 1 }, setuid32: { kind: "uid", args: 1 }, setfsuid: { kind: "uid", args: 1 }, setfsuid32: { kind: "uid", args: 1 },
  setreuid: { kind: "uid", args: 2 }, setreuid32: { kind: "uid", args: 2 }, setresuid: { kind: "uid", args: 3 }, setresuid32: { kind: "uid", args: 3 },
  setgid: { kind: "gid", args: 1 }, setgid32: { kind: "gid", args: 1 }, setfsgid: { kind: "gid", args: 1 }, setfsgid32: { kind: "gid", args: 1 },
  setregid: { kind: "gid", args: 2 }, setregid32: { kind: "gid", args: 2 }, setresgid: { kind: "gid", args: 3 }, setresgid32: { kind: "gid", args: 3 },
  setgroups: { kind: "groups", args: 2 }, setgroups32: { kind: "groups", args: 2 },
};

/** Syscalls whose use alone needs a capability the default jail keeps. */
export const CAPABILITY_SYSCALLS: Readonly<Record<string, string>> = {
  chown: "chown", chown32: "chown", lchown: "chown", lchown32: "chown", fchown: "chown", fchown32: "chown", fchownat: "chown",
  chroot: "sys_chroot",
};

/** Signal-sending syscalls: across users they need CAP_KILL (see recorder.ts). */
export const SIGNAL_SYSCALLS = new Set(["kill", "tkill", "tgkill", "pidfd_send_signal", "rt_sigqueueinfo", "rt_tgsigqueueinfo"]);

export const AF = { UNIX: 1, INET: 2, INET6: 10, NETLINK: 16, PACKET: 17 } as const;
export const SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3;

/** Open flags (x86_64 and aarch64 share all but O_DIRECTORY). */
export const O = {
  ACCMODE: 3, CREAT: 0o100, TRUNC: 0o1000, APPEND: 0o2000, PATH: 0o10000000,
  TMPFILE: 0o20000000, DIRECTORY_X86: 0o200000, DIRECTORY_ARM: 0o40000,
} as const;
export const AT_EMPTY_PATH = 0x1000, AT_SYMLINK_NOFOLLOW = 0x100;
