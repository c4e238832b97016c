/**
 * Work that one node of a cluster does at a time (eviction: two nodes planning against the same
 * shared stores would each evict down to the low-water mark, together twice as much). In one
 * process the callers already take turns, so `LocalTurn` runs the work; across nodes it is a
 * session advisory lock that a node holds while it works and loses when it dies.
 */
export interface Turn {
  /**
   * Runs `work` unless another node is running its own, and answers whether it ran. Never waits
   * for the other node: its run does what this one would have.
   */
  ifAlone(work: () => Promise<void>): Promise<boolean>;
}

export class LocalTurn implements Turn {
  async ifAlone(work: () => Promise<void>): Promise<boolean> {
    await work();
    return true;
  }
}
