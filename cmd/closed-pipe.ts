// A closed stdout (`jailx --help | head -1`) must end a command as SIGPIPE ends a Unix tool:
// quietly. Bun ignores SIGPIPE, so a write to a pipe without a reader fails with EPIPE instead,
// either thrown by the write or emitted as an 'error' event on the stream. Both end here with
// status 141 (128 + SIGPIPE, what a shell shows for a tool killed by SIGPIPE) and no message.
export const EXIT_CLOSED_PIPE = 141;

export function isClosedPipe(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "EPIPE";
}

function onStreamError(err: unknown): void {
  if (!isClosedPipe(err)) throw err;
  // Like the signal: stop now (nothing more can be written); no cleanup is pending on the paths
  // that write to stdout (help, plans, listings), and `run`'s jail writes to the fds directly.
  process.exit(EXIT_CLOSED_PIPE);
}

export function endQuietlyOnClosedPipe(): void {
  process.stdout.on("error", onStreamError);
  process.stderr.on("error", onStreamError);
}
