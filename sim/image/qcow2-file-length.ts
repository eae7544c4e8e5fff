import type { Extent } from './types.ts';

/**
 * The length of a qcow2 image's host file, as QEMU lays it out, for the in-memory filesystem (which keeps a
 * qcow2 image's guest view, not its bytes). qcow2_co_create writes the header (cluster 0), the refcount
 * table (1) and a refcount block (2), then the L1 table at cluster 3, only as long as its entries; every
 * cluster allocated later comes after cluster 3, in order and without holes (alloc_clusters_noref searches
 * from the first free cluster): an L2 table when a cluster of a new L2 range gets an entry, and a data
 * cluster for each cluster that holds data. A zero cluster is a flag in its L2 entry and takes no cluster.
 * Checked against qemu-img and qemu-io: 256 KiB → 196,616 bytes; a 4 KiB write → 393,216; a second cluster
 * → 458,752; `write -z` of a whole cluster in an existing L2 range → unchanged; 3 GiB → 196,656.
 * One refcount block covers 2 GiB with 64 KiB clusters; images past that are not modelled (refused).
 */
export function qcow2FileLength(virtualSize: number, clusterSize: number, extents: Extent[]): number {
  const l2Entries = clusterSize / 8;
  const l1Entries = Math.max(1, Math.ceil(virtualSize / (clusterSize * l2Entries)));
  const refcountCovers = (clusterSize / 2) * clusterSize; // 16-bit refcounts
  const dataClusters = new Set<number>();
  const l2Tables = new Set<number>();
  for (const e of extents) {
    if (e.status === 'unallocated') continue;
    for (let c = Math.floor(e.offset / clusterSize); c * clusterSize < e.offset + e.length; c++) {
      l2Tables.add(Math.floor(c / l2Entries));
      if (e.status === 'data') dataClusters.add(c);
    }
  }
  const base = 3 * clusterSize + l1Entries * 8;
  if (l1Entries * 8 > clusterSize || (4 + l2Tables.size + dataClusters.size) * clusterSize > refcountCovers)
    throw new RangeError(`a qcow2 file layout past one L1 cluster and one refcount block is not simulated`);
  if (l2Tables.size === 0) return base;
  return (4 + l2Tables.size + dataClusters.size) * clusterSize;
}
