/**
 * `fleece-lab serve [--profile P] [--seed N] [qemu-storage-daemon options]`: the simulator as a process
 * that any harness starting qemu-storage-daemon can start with the same arguments.
 */
import { runServe } from '../sim/serve/serve.ts';

// FLEECE_LAB_QSD_ARGV0: what getopt's messages start with (qsd prints its argv[0]; default qemu-storage-daemon)
await runServe(process.argv.slice(2), undefined, { argv0: process.env.FLEECE_LAB_QSD_ARGV0 });
