#!/usr/bin/env node
// The command line runs from TypeScript sources through tsx: no build step.
import { register } from 'tsx/esm/api';

register();
if (process.argv[2] === 'serve') {
  // a drop-in qemu-storage-daemon starts fast: only the simulator is loaded, not every command
  const { main } = await import('./serve.ts');
  await main(process.argv.slice(3));
} else {
  await import('./cli.ts');
}
