// What the default policy answers, per probe case (tests/seccomp/probe.c), shared by the
// harness tests and the `jailx run` tests.
export const DEFAULT_REFUSALS: Record<string, string> = {
  mount: "EPERM", umount2: "EPERM", unshare: "EPERM", setns: "EPERM", keyctl: "EPERM", add_key: "EPERM",
  request_key: "EPERM", bpf: "EPERM", perf_event_open: "EPERM", userfaultfd: "EPERM", io_uring_setup: "EPERM",
  open_by_handle_at: "EPERM", kexec_load: "EPERM", init_module: "EPERM", finit_module: "EPERM", swapon: "EPERM",
  reboot: "EPERM", ptrace: "EPERM", clone_newuser: "EPERM", clone3: "ENOSYS", socket_alg: "EPERM",
  socket_alg_highbits: "EPERM", socket_vsock: "EPERM", tiocsti: "EPERM", tiocsti_highbits: "EPERM", tioclinux: "EPERM",
  personality_bad: "EPERM",
};
export const STILL_WORKS = ["getppid", "clone_plain", "socket_unix"];
export const I386_CASES = ["i386_getpid", "i386_mount", "i386_unshare", "i386_reboot", "i386_keyctl", "i386_socket_alg"];
export const SIGSYS = "SIG31";
