// Landlock scoping (Linux ≥ 6.12, ABI 6): a process restricted with a scoped ruleset cannot
// connect to abstract unix sockets, or send signals, to anything outside its Landlock domain.
// jailx uses it for what namespaces leave open: abstract sockets of the host's network
// namespace (shared by default) and kill(0) towards the caller's process group.
import { c, errno, ptr, syscall } from "./ffi.ts";
import { errnoName } from "./errno.ts";
import { SysError } from "./errors.ts";

const NR_CREATE_RULESET = 444, NR_RESTRICT_SELF = 446; // the same on every architecture
const LANDLOCK_CREATE_RULESET_VERSION = 1;
export const SCOPE = { ABSTRACT_UNIX_SOCKET: 1, SIGNAL: 2 } as const;

/** The kernel's Landlock ABI version, or 0 when Landlock is missing or disabled. */
export function landlockAbi(): number {
  const v = Number(syscall(NR_CREATE_RULESET, 0, 0, LANDLOCK_CREATE_RULESET_VERSION));
  return v > 0 ? v : 0;
}

/**
 * Restrict the calling thread (and its future children) to the given scopes. Needs
 * no_new_privs (or CAP_SYS_ADMIN). Returns false when the kernel has no scoping (ABI < 6).
 */
export function restrictScopes(scopes: number): boolean {
  if (landlockAbi() < 6) return false;
  // struct landlock_ruleset_attr { u64 handled_access_fs; u64 handled_access_net; u64 scoped; }
  const attr = new BigUint64Array([0n, 0n, BigInt(scopes)]);
  const fd = Number(syscall(NR_CREATE_RULESET, ptr(attr), 24, 0));
  if (fd < 0) throw new SysError("landlock_create_ruleset", errnoName(errno()), errno(), undefined, `scoped=${scopes}`);
  const r = syscall(NR_RESTRICT_SELF, fd, 0);
  const e = r < 0n ? errno() : 0;
  c.close(fd);
  if (r < 0n) throw new SysError("landlock_restrict_self", errnoName(e), e);
  return true;
}
