/**
 * Where a node sits in the hardware, read from its xname: `x1000c0s3b0n1` is cabinet x1000, chassis
 * c0, slot s3, BMC b0, node n1. Pure, and free of Node and DOM APIs: it runs in the web view's bundle.
 */

export interface NodeLocation {
  cabinet: number;
  chassis: number;
  slot: number;
  bmc: number;
  node: number;
}

const NODE_XNAME = /^x(\d{1,9})c(\d{1,9})s(\d{1,9})b(\d{1,9})n(\d{1,9})$/;

/** The location of a node xname, or undefined for any other id (a component id may be any string). */
export function parseNodeXname(id: string): NodeLocation | undefined {
  const m = NODE_XNAME.exec(id);
  if (!m) return undefined;
  return { cabinet: Number(m[1]), chassis: Number(m[2]), slot: Number(m[3]), bmc: Number(m[4]), node: Number(m[5]) };
}
