import { exportPKCS8, generateKeyPair } from "jose";
import type { Queryable } from "../meta/postgres-pool.js";
import { SIGNING_ALGORITHM, type SigningKeySource } from "./signing-key.js";

/**
 * The cluster's one signing key, in its database (`signing_key`, a single row): a token any node
 * issued is accepted by every other. The first node to start makes it; nodes starting together
 * each offer one and all read back the one that was kept.
 */
export class PostgresSigningKey implements SigningKeySource {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async privateKeyPem(): Promise<string> {
    const kept = await this.#read();
    if (kept !== undefined) return kept;
    const { privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
    await this.#db.query({
      name: "coordination.offerSigningKey",
      text: "INSERT INTO signing_key (id, pem) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
      values: [await exportPKCS8(privateKey)],
    });
    // A statement of its own: the insert's snapshot predates a concurrent winner's commit.
    const winner = await this.#read();
    if (winner === undefined) throw new Error("the cluster's signing key was neither kept nor found");
    return winner;
  }

  async #read(): Promise<string | undefined> {
    const { rows } = await this.#db.query<{ pem: string }>({
      name: "coordination.signingKey",
      text: "SELECT pem FROM signing_key WHERE id = 1",
    });
    return rows[0]?.pem;
  }
}
