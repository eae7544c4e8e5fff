/**
 * `fleece-lab serve [--profile P] [--seed N] [qemu-storage-daemon options]`: the simulator as a process
 * that any harness starting qemu-storage-daemon can start with the same arguments.
 *
 * Run directly (`tsx bin/serve.ts ARGS`) or through the command table (`main(argv)`). The process ends
 * through process.exit with qsd's status; for a server that is on quit or SIGTERM/SIGINT/SIGHUP, so the
 * promise `main` returns settles only when there was nothing to serve.
 * FLEECE_LAB_QSD_ARGV0: what getopt's messages start with (qsd prints its argv[0]; default
 * qemu-storage-daemon).
 */
import { pathToFileURL } from 'node:url';
import { runServe } from '../sim/serve/serve.ts';

export async function main(argv: readonly string[]): Promise<number> {
  await runServe(argv, undefined, {
    argv0: process.env.FLEECE_LAB_QSD_ARGV0,
    // --daemonize: the daemon is this very command line again, whichever entry started it
    relaunch: [...process.execArgv, ...process.argv.slice(1)],
  });
  return new Promise<number>(() => {
    // serving until quit or a signal; runServe's exit ends the process
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
