/**
 * How the files of a run are named after what they hold. A check id has slashes ("errors/unknown-job"); its
 * files (transcript, recording, HTML page) keep it readable in one folder level. A target's label
 * ("qemu:7.2.22", "sim:7.2") names the results file and the transcript folder of that target.
 */
export function checkFileStem(id: string): string {
  return id.replace(/\//g, '__');
}

export function targetFileStem(label: string): string {
  return label.replace(/[^a-z0-9.]+/gi, '_');
}
