import { resolve } from "node:path";
import type { Server as TlsServer } from "node:tls";
import type { Logger } from "pino";
import {
  type CertificateSummary,
  type KeyPair,
  KeyPairError,
  readKeyPair,
  type TlsFiles,
} from "../util/tls-key-pair.js";
import { type FileWatch, watchFiles } from "../util/watch-files.js";

/** Replacing files is rare and two stats are cheap: a rename fs.watch missed is noticed within this. */
const POLL_MS = 10_000;
/** cert-manager and editors write the certificate and the key one after the other. */
const SETTLE_MS = 250;

function logCertificate(logger: Logger, summary: CertificateSummary, message: string): void {
  logger.info({ certificate: summary }, message);
  const now = Date.now();
  if (Date.parse(summary.notAfter) < now)
    logger.warn({ notAfter: summary.notAfter }, "the TLS certificate has expired");
  if (Date.parse(summary.notBefore) > now)
    logger.warn({ notBefore: summary.notBefore }, "the TLS certificate is not valid yet");
}

/**
 * The certificate and key every listener serves, kept current: when their files change and the
 * new pair is good, each server gets it for its next handshakes (connections already open keep
 * theirs); a bad new pair is logged and the previous one stays in service.
 */
export class ServedCertificate {
  readonly #files: TlsFiles;
  readonly #logger: Logger;
  readonly #servers = new Set<TlsServer>();
  #current: KeyPair;
  #watch: FileWatch | undefined;
  #reloading: Promise<void> = Promise.resolve();

  private constructor(files: TlsFiles, logger: Logger, current: KeyPair) {
    this.#files = files;
    this.#logger = logger;
    this.#current = current;
  }

  /** Reads the pair (throwing KeyPairError when it cannot be served) and starts watching its files. */
  static async open(files: TlsFiles, logger: Logger): Promise<ServedCertificate> {
    const absolute = { cert: resolve(files.cert), key: resolve(files.key) };
    let served: ServedCertificate | undefined;
    // Watching starts before the first read, so a replacement in between is not missed.
    const watch = await watchFiles([absolute.cert, absolute.key], () => served?.reload(), {
      pollMs: POLL_MS,
      settleMs: SETTLE_MS,
      onWatchError: (directory, error) =>
        logger.warn(
          { directory, err: error },
          "cannot watch the TLS files' directory; checking it every 10 s",
        ),
    });
    try {
      served = new ServedCertificate(absolute, logger, await readKeyPair(absolute));
    } catch (error) {
      watch.close();
      throw error;
    }
    served.#watch = watch;
    logCertificate(logger, served.#current.summary, "TLS certificate");
    return served;
  }

  /** Options for node:https / node:tls servers. */
  get secureOptions(): { cert: Buffer; key: Buffer } {
    return { cert: this.#current.cert, key: this.#current.key };
  }

  /** Keeps `server` on the current pair from now on; returns it. */
  serve<T extends TlsServer>(server: T): T {
    this.#servers.add(server);
    server.on("tlsClientError", (error: NodeJS.ErrnoException, socket) => {
      // A client that does not trust the certificate, or speaks plain HTTP, ends here: its own
      // error says why; this line helps whoever reads the server's side.
      this.#logger.debug(
        { remote: socket.remoteAddress, code: error.code, err: error.message },
        "TLS handshake failed",
      );
    });
    server.once("close", () => this.#servers.delete(server));
    return server;
  }

  /** Reads the files again; one reload at a time, so a burst of changes ends on the newest pair. */
  reload(): Promise<void> {
    this.#reloading = this.#reloading
      .then(() => this.#reload())
      .catch((error: unknown) => this.#logger.error({ err: error }, "cannot reload the TLS certificate"));
    return this.#reloading;
  }

  async #reload(): Promise<void> {
    let pair: KeyPair;
    try {
      pair = await readKeyPair(this.#files);
    } catch (error) {
      const problem =
        error instanceof KeyPairError
          ? { file: this.#files[error.file], problem: error.message }
          : { err: error };
      this.#logger.error(
        { ...problem, serving: this.#current.summary.serial },
        "cannot reload the TLS certificate; still serving the previous one",
      );
      return;
    }
    if (pair.cert.equals(this.#current.cert) && pair.key.equals(this.#current.key)) return;
    this.#current = pair;
    for (const server of this.#servers) server.setSecureContext(this.secureOptions);
    logCertificate(this.#logger, pair.summary, "TLS certificate reloaded");
  }

  close(): void {
    this.#watch?.close();
  }
}
