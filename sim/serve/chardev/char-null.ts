import { Chardev } from './char.ts';

/** `--chardev null`: never connects. */
export class NullChardev extends Chardev {
  close(): void {}
}
