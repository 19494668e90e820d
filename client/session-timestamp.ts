import { compareGlt, type Glt } from '../glts/glt.js';

/**
 * A client session's causal floor: the highest commit timestamp of the writes it had
 * acknowledged, and of the GLTs it was told to observe. It only moves up, so an older
 * write whose acknowledgement arrives last (writes run concurrently, in several
 * regions) never lowers it. Reads at "latest" are made at or above it (read-your-writes).
 */
export class SessionTimestamp {
  private glt: Glt | undefined;

  /** undefined until the session has written or observed anything. */
  get current(): Glt | undefined {
    return this.glt;
  }

  observe(g: Glt): void {
    if (this.glt === undefined || compareGlt(g, this.glt) > 0) this.glt = g;
  }
}
