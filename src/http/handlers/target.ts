import type { Repository } from "../../repos/repository.js";

/** The repository a request resolved to and the image name inside it. */
export interface Target {
  readonly repository: Repository;
  readonly name: string;
  /** The name as the client wrote it (with any repository prefix), for Link headers. */
  readonly clientName: string;
}
