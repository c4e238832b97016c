import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { eachLimited } from "../util/each-limited.js";
import { type ObjectRange, planParts, type Segment } from "./s3-compose.js";

/** Where the objects are and who wharf is there. */
export interface S3Location {
  /** Any S3 endpoint, addressed path-style: Ceph RGW, MinIO, AWS (`https://s3.eu-west-1.amazonaws.com`). */
  readonly endpoint: string;
  readonly region: string;
  readonly bucket: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** Put before every key, so several wharfs (or other data) can share a bucket; "" or ending in "/". */
  readonly prefix: string;
}

export interface ObjectInfo {
  readonly size: number;
  /** When the object was written (ms since epoch; S3 keeps whole seconds). */
  readonly modified: number;
}

export interface MultipartUpload {
  readonly name: string;
  readonly id: string;
  /** When it was started (ms since epoch). */
  readonly initiated: number;
}

/** The largest object a single PUT or COPY may write, and the largest part a copy may make. */
export const S3_MAX_SINGLE_BYTES = 5 * 1024 ** 3;
/** Every part of a multipart upload but the last must be at least this large. */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;
export const S3_MAX_PARTS = 10_000;

/** Parts of a concatenation in flight at once (copies run on the server; uploads pass through wharf). */
const CONCATENATE_PARTS_IN_FLIGHT = 4;

/** A key, a multipart upload or a bucket the store expected is not there. */
export function isS3NotFound(error: unknown): boolean {
  return error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404;
}

/**
 * One bucket under one prefix, in the S3 operations the blob store needs, every name relative to the
 * prefix. The dialect's quirks stay here: path-style addressing, checksums only where the API
 * requires one (Ceph RGW refuses the SDK's default streaming checksums), bodies of a known length,
 * and no trust in CompleteMultipartUpload's answer (RGW sends an empty ETag).
 */
export class S3Objects {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(location: S3Location) {
    this.#bucket = location.bucket;
    this.#prefix = location.prefix;
    const agent = { keepAlive: true, maxSockets: 128 };
    this.#client = new S3Client({
      endpoint: location.endpoint,
      region: location.region,
      credentials: { accessKeyId: location.accessKey, secretAccessKey: location.secretKey },
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      maxAttempts: 3,
      requestHandler: {
        httpAgent: new HttpAgent(agent),
        httpsAgent: new HttpsAgent(agent),
        connectionTimeout: 10_000,
        requestTimeout: 120_000,
      },
    });
  }

  #key(name: string): string {
    return this.#prefix + name;
  }

  /** Proves the bucket is there and the credentials reach it. */
  async check(): Promise<void> {
    await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }));
  }

  async head(name: string): Promise<ObjectInfo | undefined> {
    try {
      const answer = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key: this.#key(name) }),
      );
      return { size: answer.ContentLength ?? 0, modified: answer.LastModified?.getTime() ?? 0 };
    } catch (error) {
      if (isS3NotFound(error)) return undefined;
      throw error;
    }
  }

  /** The object's bytes, or those from `start` to `end` inclusive; undefined when it is absent. */
  async get(name: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    try {
      const answer = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#bucket,
          Key: this.#key(name),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      if (!(answer.Body instanceof Readable)) throw new Error(`S3 GET ${name} gave no stream`);
      return answer.Body;
    } catch (error) {
      if (isS3NotFound(error)) return undefined;
      throw error;
    }
  }

  /** Writes a whole object at once: readers see the old one or this one, never a part. */
  async put(name: string, body: Readable | Buffer, length: number): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({ Bucket: this.#bucket, Key: this.#key(name), Body: body, ContentLength: length }),
    );
  }

  /** A server-side copy of an object of at most S3_MAX_SINGLE_BYTES. */
  async copy(from: string, to: string): Promise<void> {
    await this.#client.send(
      new CopyObjectCommand({ Bucket: this.#bucket, Key: this.#key(to), CopySource: this.#source(from) }),
    );
  }

  /** Removes objects; absent ones are not an error. */
  async delete(names: readonly string[]): Promise<void> {
    // One request takes at most 1000 keys.
    for (let start = 0; start < names.length; start += 1000) {
      const batch = names.slice(start, start + 1000);
      const answer = await this.#client.send(
        new DeleteObjectsCommand({
          Bucket: this.#bucket,
          Delete: { Objects: batch.map((name) => ({ Key: this.#key(name) })), Quiet: true },
        }),
      );
      const failed = answer.Errors?.[0];
      if (failed) throw new Error(`S3 could not delete ${failed.Key}: ${failed.Code} ${failed.Message}`);
    }
  }

  /** Every object whose name starts with `prefix`, in key order. */
  async *list(prefix: string): AsyncIterable<{ name: string } & ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: this.#key(prefix),
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield {
          name: object.Key.slice(this.#prefix.length),
          size: object.Size ?? 0,
          modified: object.LastModified?.getTime() ?? 0,
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** A URL that GETs the object without credentials until it expires. */
  presign(name: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.#client, new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(name) }), {
      expiresIn: expiresInSeconds,
    });
  }

  // ---- multipart uploads: nothing is readable under the key until `completeMultipart` ----

  async startMultipart(name: string): Promise<string> {
    const answer = await this.#client.send(
      new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#key(name) }),
    );
    if (!answer.UploadId) throw new Error(`S3 started no multipart upload for ${name}`);
    return answer.UploadId;
  }

  /** Uploads part `number` (from 1) of `length` bytes; resolves with its ETag. */
  async uploadPart(
    name: string,
    id: string,
    number: number,
    body: Readable,
    length: number,
  ): Promise<string> {
    const answer = await this.#client.send(
      new UploadPartCommand({
        Bucket: this.#bucket,
        Key: this.#key(name),
        UploadId: id,
        PartNumber: number,
        Body: body,
        ContentLength: length,
      }),
    );
    if (!answer.ETag) throw new Error(`S3 gave part ${number} of ${name} no ETag`);
    return answer.ETag;
  }

  /** Makes part `number` a server-side copy of bytes `start`..`end` (inclusive) of object `from`. */
  async copyPart(
    name: string,
    id: string,
    number: number,
    from: string,
    range: { start: number; end: number },
  ): Promise<string> {
    const answer = await this.#client.send(
      new UploadPartCopyCommand({
        Bucket: this.#bucket,
        Key: this.#key(name),
        UploadId: id,
        PartNumber: number,
        CopySource: this.#source(from),
        CopySourceRange: `bytes=${range.start}-${range.end}`,
      }),
    );
    const etag = answer.CopyPartResult?.ETag;
    if (!etag) throw new Error(`S3 gave copied part ${number} of ${name} no ETag`);
    return etag;
  }

  /** Makes the parts, in order, the object: all of it appears at once. */
  async completeMultipart(name: string, id: string, etags: readonly string[]): Promise<void> {
    await this.#client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.#bucket,
        Key: this.#key(name),
        UploadId: id,
        MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
      }),
    );
  }

  /** Discards a multipart upload and its parts; one already gone is not an error. */
  async abortMultipart(name: string, id: string): Promise<void> {
    try {
      await this.#client.send(
        new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#key(name), UploadId: id }),
      );
    } catch (error) {
      if (!isS3NotFound(error)) throw error;
    }
  }

  /** Multipart uploads started and neither completed nor aborted, under `prefix`. */
  async *multipartUploads(prefix = ""): AsyncIterable<MultipartUpload> {
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const page = await this.#client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.#bucket,
          Prefix: this.#key(prefix),
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(idMarker ? { UploadIdMarker: idMarker } : {}),
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined) continue;
        yield {
          name: upload.Key.slice(this.#prefix.length),
          id: upload.UploadId,
          initiated: upload.Initiated?.getTime() ?? 0,
        };
      }
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      idMarker = page.NextUploadIdMarker;
    }
  }

  /**
   * Makes objects holding contiguous bytes (`segments`, in order from byte 0) the object `name`,
   * which appears whole or not at all: one source is copied on the server; a whole smaller than
   * `putBelow` is read back and written by one PUT; otherwise a multipart upload copies every
   * stretch large enough to be a part on the server and re-uploads only the small pieces between
   * (`planParts`), and is aborted if anything fails.
   */
  async concatenate(name: string, segments: readonly Segment[], putBelow: number): Promise<void> {
    const total = segments.reduce((sum, segment) => sum + segment.size, 0);
    const only = segments.length === 1 ? segments[0] : undefined;
    if (only && total <= S3_MAX_SINGLE_BYTES) {
      await this.copy(only.name, name);
      return;
    }
    if (total <= putBelow) {
      const whole = segments.map((segment) => ({ from: segment.name, start: 0, end: segment.size - 1 }));
      await this.put(name, total === 0 ? Buffer.alloc(0) : Readable.from(this.readRanges(whole)), total);
      return;
    }
    const parts = planParts(segments, {
      minPart: S3_MIN_PART_BYTES,
      maxCopy: S3_MAX_SINGLE_BYTES,
      maxParts: S3_MAX_PARTS,
    });
    const id = await this.startMultipart(name);
    try {
      const etags: string[] = [];
      await eachLimited(parts.length, CONCATENATE_PARTS_IN_FLIGHT, async (index) => {
        const part = parts[index] as (typeof parts)[number];
        etags[index] =
          part.kind === "copy"
            ? await this.copyPart(name, id, index + 1, part.from, part)
            : await this.uploadPart(
                name,
                id,
                index + 1,
                Readable.from(this.readRanges(part.pieces)),
                part.length,
              );
      });
      await this.completeMultipart(name, id, etags);
    } catch (error) {
      await this.abortMultipart(name, id).catch(() => {});
      throw error;
    }
  }

  /** The bytes of each range in turn, one GET at a time; throws when an object is gone. */
  async *readRanges(ranges: readonly ObjectRange[]): AsyncGenerator<Uint8Array> {
    for (const range of ranges) {
      if (range.end < range.start) continue;
      const body = await this.get(range.from, range);
      if (!body) throw new Error(`object ${range.from} vanished`);
      for await (const chunk of body) yield chunk as Buffer;
    }
  }

  /** Where an object is, for people: `s3://bucket/key`. */
  where(name: string): string {
    return `s3://${this.#bucket}/${this.#key(name)}`;
  }

  /** Lets go of the connections. */
  close(): void {
    this.#client.destroy();
  }

  #source(name: string): string {
    return `${this.#bucket}/${this.#key(name).split("/").map(encodeURIComponent).join("/")}`;
  }
}
