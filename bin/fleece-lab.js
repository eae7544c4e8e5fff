#!/usr/bin/env node
// The command line runs from TypeScript sources through tsx: no build step. The command table loads a
// command's implementation only when it runs, so `fleece-lab serve` loads only the simulator.
import { register as registerHooks } from 'node:module';
import { register } from 'tsx/esm/api';

register();
// after tsx, so that these run first: proposal files anywhere load as ES modules importing this fleece-lab
registerHooks('./proposal-hooks.mjs', import.meta.url);
const { runProcess } = await import('./cli.ts');
await runProcess(process.argv.slice(2));
