import { text } from '../../contract/versions.ts';
import type { SimCore } from '../core/core.ts';
import { FileDriver } from '../drivers/file.ts';
import { FsError } from '../host/fs.ts';
import { Job, type JobRunResult } from './job.ts';

/** blockdev-create's job: makes an image file (driver file) or formats a node's file as qcow2. */
export class CreateJob extends Job {
  readonly type = 'create';
  private done = false;

  constructor(
    sim: SimCore,
    id: string,
    readonly options: Record<string, unknown>,
  ) {
    super(sim, { id, autoFinalize: true, autoDismiss: false, speed: 0 });
  }

  /** Creating a file answers after the reply unless it fails at once (seen on 7.2). */
  protected override get enterDelayNs(): number {
    return 1000;
  }

  override start(): void {
    const err = this.precheck();
    super.start();
    if (err) {
      this.ret = -2;
      this.error = err;
      // blockdev_create_run counts its one step whether or not the driver succeeded
      this.progressTotal = 1;
      this.progressCurrent = 1;
      this.schedule(0);
    }
  }

  private precheck(): string | undefined {
    const o = this.options;
    if (o.driver === 'file') {
      const filename = String(o.filename);
      try {
        this.sim.fs.createRaw(filename, 0);
      } catch (e) {
        const reason =
          e instanceof FsError
            ? e.reason
            : (e as NodeJS.ErrnoException).code === 'ENOENT'
              ? 'No such file or directory'
              : String(e);
        return `Could not create '${filename}': ${reason}`;
      }
    }
    return undefined;
  }

  protected work(): JobRunResult {
    if (this.ret !== 0) return { errno: -this.ret, message: this.error ?? 'error' };
    if (this.done) return 'done';
    this.done = true;
    // blockdev_create_run: one step of progress, counted whether or not the driver succeeded
    this.progressTotal = 1;
    const r = this.createImage();
    this.progressCurrent = 1;
    return r;
  }

  private createImage(): JobRunResult {
    const o = this.options;
    try {
      if (o.driver === 'file') this.sim.fs.createRaw(String(o.filename), Number(o.size));
      else if (o.driver === 'qcow2') {
        const fileRef = o.file;
        const node = typeof fileRef === 'string' ? this.sim.graph.find(fileRef) : undefined;
        if (typeof fileRef === 'string' && !node)
          return {
            errno: 19,
            message: text(this.sim.version, 'node.notFoundDeviceOrNode', fileRef, fileRef),
          };
        if (!node || !(node.driver instanceof FileDriver))
          return { errno: 22, message: 'fleece-lab: qcow2 creation needs a file node' };
        this.sim.fs.createQcow2(node.driver.filename, {
          size: Number(o.size),
          clusterSize: (o['cluster-size'] as number | undefined) ?? 65536,
          backingFile: o['backing-file'] as string | undefined,
          backingFormat: o['backing-fmt'] as string | undefined,
        });
      } else
        return {
          errno: 95,
          message: `fleece-lab: blockdev-create for driver '${String(o.driver)}' is not simulated`,
        };
    } catch (e) {
      return { errno: 5, message: e instanceof Error ? e.message : String(e) };
    }
    return 'done';
  }
}
