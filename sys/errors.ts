// Errors that low-level code throws; only cmd/ prints them, once.

/** Hints for well-known failures, keyed by "syscall:ERRNO" (or just "syscall"). */
const HINTS: Record<string, string> = {
  "unshare:EINVAL": "the process has more than one thread; jailx must re-exec itself single-threaded",
  "clone:EINVAL": "the process has more than one thread; jailx must re-exec itself single-threaded",
  "clone:ENOSPC": "the namespace limit is reached (see /proc/sys/user/max_*_namespaces)",
  "clone:EPERM": "creating namespaces needs root or unprivileged user namespaces (kernel.unprivileged_userns_clone=1)",
  "clone:EUSERS": "too many nested user namespaces",
  "mount:EPERM": "a mount was refused; in rootless mode some filesystems cannot be mounted",
  "pivot_root:EINVAL": "the new root must be a mount point with private propagation",
  "execve:ENOENT": "the program was not found inside the jail; bind its directory with --ro-bind",
  "execve:EACCES": "the program is not executable (or its filesystem is mounted noexec)",
  "setgroups:EPERM": "setgroups is denied in a user namespace without a full gid map",
  "write:EPERM": "the id map was refused; ranges need root or newuidmap with /etc/subuid",
};

export class SysError extends Error {
  constructor(
    readonly syscall: string,
    readonly code: string,
    readonly errno: number,
    readonly path?: string,
    readonly flags?: string,
    readonly hint?: string,
  ) {
    super(
      `${syscall}${path ? ` ${path}` : ""}${flags ? ` (${flags})` : ""}: ${code}` +
        `${(hint ?? HINTS[`${syscall}:${code}`]) ? ` — ${hint ?? HINTS[`${syscall}:${code}`]}` : ""}`,
    );
    this.name = "SysError";
  }
}

/**
 * Bad input from the user: one line naming the bad value and the fix. Exit 125. When the fix
 * takes more than a few words, the message says what is wrong and `hint` (printed on its own
 * line) says what to do.
 */
export class UsageError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Exit codes shared by every command. */
export const EXIT = {
  OK: 0,
  /** jailx's own error (bad input, setup failure). */
  JAILX: 125,
  /** the program exists but cannot be executed. */
  NOT_EXECUTABLE: 126,
  /** the program was not found. */
  NOT_FOUND: 127,
  /** --timeout fired. */
  TIMEOUT: 124,
  /** killed by the OOM killer (128 + SIGKILL). */
  OOM: 137,
} as const;
