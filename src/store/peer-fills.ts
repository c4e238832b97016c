import { Agent, request } from "undici";
import type { NodeAuth } from "../coordination/node-auth.js";
import type { FillSource } from "./fill.js";

/** Where a node serves the downloads it runs to the other nodes (answered by `http/internal-fills.ts`). */
export const PEER_FILL_PATH = "/_wharf/fill";
/** The header carrying a node's signature (`NodeAuth`) over the download key. */
export const NODE_AUTH_HEADER = "x-wharf-node";

/** The query that names a download key: base64url, since a key holds newlines. */
export function peerFillQuery(key: string): string {
  return `key=${Buffer.from(key).toString("base64url")}`;
}

/** A download key back from its query value; undefined when there is none. */
export function keyOfPeerFillQuery(value: string | null): string | undefined {
  return value === null || value === "" ? undefined : Buffer.from(value, "base64url").toString();
}

/** What asking a node for a download gave. */
export type PeerAnswer =
  | { readonly kind: "streaming"; readonly source: FillSource }
  /** It runs no download of that key (not yet, or not any more). */
  | { readonly kind: "none" }
  /** It could not be asked: gone, or not answering as a node of this cluster would. */
  | { readonly kind: "unreachable"; readonly reason: string };

/**
 * Asks another node for the bytes of a download it runs, as they arrive. The answer is a fill
 * source like an upstream's: the follower's own fill verifies the digest again.
 */
export class PeerFills {
  readonly #auth: NodeAuth;
  readonly #agent = new Agent({ connections: 32, keepAliveTimeout: 30_000, connect: { timeout: 5_000 } });

  constructor(auth: NodeAuth) {
    this.#auth = auth;
  }

  async open(nodeUrl: string, key: string): Promise<PeerAnswer> {
    let response: Awaited<ReturnType<typeof request>>;
    try {
      response = await request(`${nodeUrl}${PEER_FILL_PATH}?${peerFillQuery(key)}`, {
        dispatcher: this.#agent,
        headers: { [NODE_AUTH_HEADER]: this.#auth.sign(key) },
        headersTimeout: 10_000,
        // The holder's bytes come as fast as its upstream sends them.
        bodyTimeout: 60_000,
      });
    } catch (error) {
      return { kind: "unreachable", reason: error instanceof Error ? error.message : String(error) };
    }
    if (response.statusCode === 404) {
      await response.body.dump();
      return { kind: "none" };
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      return { kind: "unreachable", reason: `answered ${response.statusCode}` };
    }
    const length = response.headers["content-length"];
    return {
      kind: "streaming",
      source: { size: typeof length === "string" ? Number(length) : undefined, body: response.body },
    };
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
