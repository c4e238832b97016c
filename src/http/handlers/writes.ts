import type { IncomingMessage } from "node:http";
import { parseDigest } from "../../oci/digest.js";
import { OciError } from "../../oci/errors.js";
import { MAX_MANIFEST_BYTES } from "../../oci/manifest.js";
import { parseReference } from "../../oci/names.js";
import { parseContentRange } from "../../oci/range.js";
import type { RepositoryWriter } from "../../repos/repository.js";
import type { ChunkClaim } from "../../store/upload-sessions.js";
import { TooLargeError } from "../../util/errors.js";
import { readCapped } from "../../util/read-capped.js";
import type { RequestContext } from "../context.js";
import { uploadRangeHeader } from "../error-mapping.js";
import { announcesBody } from "../request-body.js";
import { sendEmpty } from "../respond.js";
import type { Target } from "./target.js";

/** Pushes and deletes are audit events: who changed what, never with a secret. */
function audit(
  ctx: RequestContext,
  event: "push" | "delete",
  target: Target,
  what: Record<string, string>,
): void {
  const repo = target.repository.writer?.name ?? target.repository.name;
  const reference = what.reference ?? what.digest;
  if (reference !== undefined) ctx.changed = { repo, name: target.name, reference };
  ctx.log.info(
    {
      audit: true,
      event,
      user: ctx.user ?? null,
      remote: ctx.req.socket.remoteAddress,
      repo,
      name: target.name,
      ...what,
    },
    event === "push" ? "manifest pushed" : "content deleted",
  );
}

/** The write side of the target's repository, or the spec's 405 when it takes no pushes. */
export function writerOf(target: Target): RepositoryWriter {
  const writer = target.repository.writer;
  if (!writer) {
    throw new OciError("UNSUPPORTED", {
      message: `repository ${target.repository.name} takes no pushes`,
    });
  }
  return writer;
}

/** Content-Range and Content-Length of a chunk; a Content-Range that cannot be read is a 416. */
function chunkClaim(ctx: RequestContext): ChunkClaim {
  const lengthHeader = ctx.header("content-length");
  const length = lengthHeader === undefined ? undefined : Number(lengthHeader);
  const range = parseContentRange(ctx.header("content-range"));
  if (range === "invalid") {
    throw new OciError("BLOB_UPLOAD_INVALID", { status: 416, message: "unreadable Content-Range" });
  }
  if (range && length !== undefined && range.end - range.start + 1 !== length) {
    throw new OciError("BLOB_UPLOAD_INVALID", {
      status: 416,
      message: "Content-Range and Content-Length disagree",
    });
  }
  return {
    ...(range ? { start: range.start } : {}),
    ...(length !== undefined && Number.isSafeInteger(length) ? { length } : {}),
  };
}

function uploadHeaders(target: Target, id: string, offset: number): Record<string, string> {
  return {
    location: `/v2/${target.clientName}/blobs/uploads/${id}`,
    range: uploadRangeHeader(offset),
    "docker-upload-uuid": id,
  };
}

function blobCreated(ctx: RequestContext, target: Target, digest: string): void {
  sendEmpty(ctx, 201, {
    location: `/v2/${target.clientName}/blobs/${digest}`,
    "docker-content-digest": digest,
  });
}

/**
 * POST /v2/<name>/blobs/uploads/: a mount (`?mount=&from=`), a whole blob in one request
 * (`?digest=`), or a new upload session.
 */
export async function startUpload(
  ctx: RequestContext,
  target: Target,
  resolveSource: (clientName: string) => Target | undefined,
): Promise<void> {
  const writer = writerOf(target);
  const mount = ctx.query.get("mount");
  const from = ctx.query.get("from");
  if (mount !== null && from !== null && from !== "") {
    parseDigest(mount);
    const source = resolveSource(from);
    if (source && (await writer.mountBlob(target.name, mount, source.repository, source.name))) {
      ctx.req.resume();
      blobCreated(ctx, target, mount);
      return;
    }
  }
  const digest = ctx.query.get("digest");
  const upload = await writer.startUpload(target.name);
  if (digest !== null && mount === null) {
    let blob: { digest: string };
    try {
      blob = await writer.finishUpload(target.name, upload.id, digest, ctx.req, chunkClaim(ctx));
    } catch (error) {
      // A one-request upload has no session the client could resume: drop it now, not at expiry.
      await writer.cancelUpload(target.name, upload.id).catch(() => {});
      throw error;
    }
    blobCreated(ctx, target, blob.digest);
    return;
  }
  ctx.req.resume();
  sendEmpty(ctx, 202, uploadHeaders(target, upload.id, upload.offset));
}

export async function patchUpload(ctx: RequestContext, target: Target, id: string): Promise<void> {
  const state = await writerOf(target).appendUpload(target.name, id, ctx.req, chunkClaim(ctx));
  sendEmpty(ctx, 202, uploadHeaders(target, id, state.offset));
}

export async function uploadStatus(ctx: RequestContext, target: Target, id: string): Promise<void> {
  const state = await writerOf(target).uploadState(target.name, id);
  sendEmpty(ctx, 204, uploadHeaders(target, id, state.offset));
}

export async function finishUpload(ctx: RequestContext, target: Target, id: string): Promise<void> {
  const digest = ctx.query.get("digest");
  if (digest === null) throw new OciError("DIGEST_INVALID", { message: "the closing PUT needs ?digest=" });
  // A last chunk may come with the closing PUT.
  const body = announcesBody(ctx.req) ? ctx.req : undefined;
  if (!body) ctx.req.resume();
  const blob = await writerOf(target).finishUpload(target.name, id, digest, body, chunkClaim(ctx));
  blobCreated(ctx, target, blob.digest);
}

export async function cancelUpload(ctx: RequestContext, target: Target, id: string): Promise<void> {
  await writerOf(target).cancelUpload(target.name, id);
  sendEmpty(ctx, 204);
}

/** Reads a manifest body, refusing (413) what is over the spec's size before it is all in memory. */
async function readManifestBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  const tooLarge = () => new TooLargeError("manifest", MAX_MANIFEST_BYTES);
  if (declared > MAX_MANIFEST_BYTES) {
    req.resume();
    throw tooLarge();
  }
  try {
    return await readCapped(req, MAX_MANIFEST_BYTES, tooLarge);
  } catch (error) {
    req.resume();
    throw error;
  }
}

export async function putManifest(ctx: RequestContext, target: Target, reference: string): Promise<void> {
  const writer = writerOf(target);
  const parsed = parseReference(reference);
  const bytes = await readManifestBody(ctx.req);
  const stored = await writer.putManifest(target.name, parsed, bytes, ctx.header("content-type"));
  audit(ctx, "push", target, { reference, digest: stored.digest });
  sendEmpty(ctx, 201, {
    location: `/v2/${target.clientName}/manifests/${stored.digest}`,
    "docker-content-digest": stored.digest,
    ...(stored.subject ? { "oci-subject": stored.subject } : {}),
  });
}

export async function deleteManifest(ctx: RequestContext, target: Target, reference: string): Promise<void> {
  await writerOf(target).deleteManifest(target.name, parseReference(reference));
  audit(ctx, "delete", target, { reference });
  sendEmpty(ctx, 202);
}

export async function deleteBlob(ctx: RequestContext, target: Target, digest: string): Promise<void> {
  await writerOf(target).deleteBlob(target.name, digest);
  audit(ctx, "delete", target, { digest });
  sendEmpty(ctx, 202);
}
