// The snapshot: everything `inspect` read about one process, as plain data. Gathering fills it
// (gather.ts), judging only reads it (checks.ts), so tests can feed fixtures to the judge.
//
// Every fact that could not be read is an Unknown carrying the reason, never a default value:
// "unknown (EACCES: run as root)" must not turn into "not confined".

export interface Unknown {
  readonly unknown: string;
}
export type Known<T> = T | Unknown;

export function isUnknown(x: unknown): x is Unknown {
  // no other snapshot value has an `unknown` field; this is called very often in --all
  return typeof x === "object" && x !== null && typeof (x as { unknown?: unknown }).unknown === "string";
}
export function unknown(reason: string): Unknown {
  return { unknown: reason };
}
/** The value, or undefined when unknown. */
export function known<T>(x: Known<T>): T | undefined {
  return isUnknown(x) ? undefined : (x as T);
}

export const NS_TYPES = ["user", "pid", "mnt", "net", "uts", "ipc", "cgroup", "time"] as const;
export type NsType = (typeof NS_TYPES)[number];
/** Namespace inode numbers by type (from the ns/* links, "net:[4026531833]"). */
export type NsIds = Record<NsType, Known<number>>;

/** A process whose namespaces stand for "the host" (PID 1, kthreadd) or for the reader. */
export interface NsReference {
  readonly name: "PID 1" | "kthreadd (PID 2)" | "reader";
  readonly pid: number;
  readonly ns: NsIds;
}

export interface IdRange {
  /** first id inside the namespace */
  readonly inside: number;
  /** first id outside (in the reader's user namespace) */
  readonly outside: number;
  readonly count: number;
}

export type { Mount } from "../sys/mountinfo.ts";
import type { Mount } from "../sys/mountinfo.ts";

/** A block or character device node in the process's /dev. */
export interface DeviceNode {
  readonly path: string;
  readonly type: "block" | "char";
  readonly major: number;
  readonly minor: number;
  /** permission bits */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** What the devices cgroup lets the process open. */
export interface DevicesAccess {
  /** every device: v1 devices.list is "a *:* rwm" and no BPF device program is in force */
  readonly allowAll: boolean;
  /** v1: the rules of the process's devices cgroup (devices.list); [] on v2 */
  readonly rules: readonly string[];
  /** the cgroup directory read (v1 devices hierarchy, else v2) */
  readonly where: string;
  readonly version: 1 | 2;
  /** v2: BPF_CGROUP_DEVICE programs in force (attached there or above); contents not decoded */
  readonly bpfPrograms?: number;
}

/**
 * What the reader itself looks like: some facts anyone can read prove a separate namespace even
 * when the ns/* links are refused (NSpid, uid_map, the mount ids in mountinfo, net/dev,
 * timens_offsets). Shared by every snapshot of one run.
 */
export interface ReaderView {
  readonly nspid: readonly number[];
  readonly uidMap: Known<readonly IdRange[]>;
  readonly mountIds: Known<ReadonlySet<number>>;
  /** interface names in the reader's net/dev */
  readonly netDevices: Known<string>;
}

export interface DevIno {
  readonly dev: number;
  readonly ino: number;
}

export interface Credentials {
  /** real, effective, saved, filesystem */
  readonly uid: readonly number[];
  readonly gid: readonly number[];
  readonly groups: readonly number[];
}

/** Capability sets as hex masks (bigint does not survive JSON). */
export interface CapSets {
  readonly inheritable: string;
  readonly permitted: string;
  readonly effective: string;
  readonly bounding: string;
  readonly ambient: string;
}

export interface CgroupEntry {
  readonly hierarchy: number;
  /** "" for the v2 unified hierarchy */
  readonly controllers: string;
  /** relative to the reader's cgroup namespace */
  readonly path: string;
}

/** A limit found on the cgroup or one of its ancestors (the tightest wins). */
export interface CgroupLimit {
  /** bytes, pids, or CPUs (quota/period); null = no limit anywhere on the path */
  readonly value: number | null;
  /** the cgroup directory that sets it */
  readonly where?: string;
  readonly version: 1 | 2;
}

export interface CgroupInfo {
  readonly entries: readonly CgroupEntry[];
  readonly memory: Known<CgroupLimit>;
  readonly pids: Known<CgroupLimit>;
  readonly cpu: Known<CgroupLimit>;
  readonly devices: Known<DevicesAccess>;
}

export interface Rlimit {
  readonly soft: string;
  readonly hard: string;
}

export interface PinState {
  /** how the process was held while reading */
  readonly method: "pidfd" | "none";
  /** alive: the same process throughout; exited / reused: the data may be partial or mixed */
  readonly state: "alive" | "exited" | "reused";
  readonly detail?: string;
}

/** One seccomp filter, condensed from sys/seccomp's explanation (see seccomp-filters.ts). */
export interface FilterDigest {
  /** 0 = the oldest filter (installed first) */
  readonly index: number;
  readonly instructions: number;
  readonly unknownArchAction: string;
  readonly abis: readonly {
    readonly abi: string;
    /** every syscall of this ABI gets this action (e.g. "kill" for a blocked i386 entry) */
    readonly wholeAbiAction?: string;
    readonly defaultAction: string;
    readonly unknownNrAction: string;
    /** action → syscalls that get it instead of the default */
    readonly exceptions: Record<string, string[]>;
    /** syscalls whose action depends on their arguments */
    readonly argDependent: string[];
  }[];
}

export interface Snapshot {
  readonly pid: number;
  readonly reader: { readonly pid: number; readonly uid: number };
  readonly pin: PinState;
  readonly comm: string;
  readonly ppid: number;
  /** parent chain up to PID 1, nearest first */
  readonly parents: readonly { readonly pid: number; readonly comm: string }[];
  readonly cmdline: Known<readonly string[]>;
  readonly exe: Known<string>;
  readonly creds: Credentials;
  readonly caps: CapSets;
  readonly noNewPrivs: boolean;
  /** 0 disabled, 1 strict, 2 filter */
  readonly seccompMode: number;
  readonly seccompFilters: number;
  /** NSpid: the pid in each nested pid namespace, outermost first */
  readonly nspid: readonly number[];
  readonly ns: NsIds;
  /** the processes the target's namespaces are compared with, preferred first */
  readonly refs: readonly NsReference[];
  /** the reader's own NSpid, uid_map, mount ids, net devices (for the proofs above) */
  readonly readerView: ReaderView;
  /** interface names in the process's net/dev (readable by anyone) */
  readonly netDevices: Known<string>;
  /** timens_offsets: non-zero offsets prove a separate time namespace */
  readonly timeOffsets: Known<string>;
  readonly uidMap: Known<readonly IdRange[]>;
  readonly gidMap: Known<readonly IdRange[]>;
  readonly setgroups: Known<string>;
  readonly root: Known<DevIno>;
  /** the reader's own "/" */
  readonly hostRoot: Known<DevIno>;
  readonly mounts: Known<readonly Mount[]>;
  /** the `/` entry of the reader's (host's) mountinfo, to compare with the target's */
  readonly hostRootMount: Known<Mount>;
  /** major:minor of the reader's /proc, to recognise the host's proc instance mounted in */
  readonly hostProcDev: Known<string | null>;
  /** which of the sensitive /proc entries (facts.ts MASKED_PROC) this kernel has at all */
  readonly kernelProcEntries?: readonly string[];
  /** block and character device nodes visible in its /dev (through /proc/PID/root) */
  readonly deviceNodes: Known<readonly DeviceNode[]>;
  readonly cgroup: Known<CgroupInfo>;
  readonly rlimits: Known<Record<string, Rlimit>>;
  readonly oomScoreAdj: Known<number>;
  /** AppArmor/SELinux label; unknown when the kernel exposes none */
  readonly lsm: Known<string>;
  /** value of container= in the environment, null when absent */
  readonly containerEnv: Known<string | null>;
  /** marker files looked up inside the target's own root */
  readonly markers: Record<string, Known<boolean>>;
  /** seccomp filter contents (root only, via sys/seccomp) */
  readonly seccompFilterSummary: Known<readonly FilterDigest[]>;
}
