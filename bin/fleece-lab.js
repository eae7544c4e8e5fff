#!/usr/bin/env node
// The command line runs from TypeScript sources through tsx: no build step.
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
