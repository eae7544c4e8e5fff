import { Duplex } from 'node:stream';
import { Chardev } from './char.ts';

/** `--chardev stdio`: QMP on the process's stdin/stdout. */
export class StdioChardev extends Chardev {
  static open(id: string): StdioChardev {
    const c = new StdioChardev(id);
    const d = Duplex.from({ readable: process.stdin, writable: process.stdout });
    c.setActive(d);
    c.early = d;
    return c;
  }

  close(): void {
    this.active?.destroy();
  }
}
