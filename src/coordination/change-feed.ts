/**
 * News that something other nodes may hold in memory has changed in the shared stores (users and
 * API tokens: each node's authenticator remembers successful checks). A listener hears every
 * announcement of its topic, this node's own included, with the announcement's detail; it hears
 * `undefined` when announcements may have been missed (a lost connection), and should then drop
 * everything it remembers of the topic. Delivery is prompt, not guaranteed: what listeners
 * remember must also expire by itself (bounded staleness).
 */
export interface ChangeFeed {
  subscribe(topic: string, listener: (detail: string | undefined) => void): Promise<void>;
  announce(topic: string, detail?: string): Promise<void>;
}

/** One process: writers and rememberers are the same process, so an announcement is a call. */
export class LocalChangeFeed implements ChangeFeed {
  readonly #listeners = new Map<string, Set<(detail: string | undefined) => void>>();

  async subscribe(topic: string, listener: (detail: string | undefined) => void): Promise<void> {
    let listeners = this.#listeners.get(topic);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(topic, listeners);
    }
    listeners.add(listener);
  }

  async announce(topic: string, detail?: string): Promise<void> {
    for (const listener of this.#listeners.get(topic) ?? []) listener(detail);
  }
}
