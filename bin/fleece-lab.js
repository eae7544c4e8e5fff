#!/usr/bin/env node
// The command line runs from TypeScript sources through tsx: no build step. The command table loads a
// command's implementation only when it runs, so `fleece-lab serve` loads only the simulator.
import { register } from 'tsx/esm/api';

register();
const { runProcess } = await import('./cli.ts');
await runProcess(process.argv.slice(2));
