import type {
  BlobLinkEntry,
  ManifestEntry,
  ManifestRecord,
  PullUsage,
  TagEntry,
  UploadRecord,
} from "./metadata-store.js";

// The metadata as both databases' rows hold it, and how those rows become records. Where a
// column's name differs (PostgreSQL's `received`, `offset` being reserved there), it is selected
// under the name used here.

export interface ManifestRow {
  digest: string;
  media_type: string;
  size: number;
  subject: string | null;
  artifact_type: string | null;
  annotations: string | null;
  created_at: number;
}

export function toManifest(row: ManifestRow): ManifestRecord {
  return {
    digest: row.digest,
    mediaType: row.media_type,
    size: row.size,
    createdAt: row.created_at,
    ...(row.subject === null ? {} : { subject: row.subject }),
    ...(row.artifact_type === null ? {} : { artifactType: row.artifact_type }),
    ...(row.annotations === null
      ? {}
      : { annotations: JSON.parse(row.annotations) as Record<string, string> }),
  };
}

export interface UploadRow {
  id: string;
  repo: string;
  name: string;
  offset: number;
  created_at: number;
  updated_at: number;
}

export function toUpload(row: UploadRow): UploadRecord {
  return {
    id: row.id,
    repo: row.repo,
    name: row.name,
    offset: row.offset,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface UsageRow {
  pulls: number;
  last_pulled_at: number | null;
}

export function usageOf(row: UsageRow): PullUsage {
  return { pulls: row.pulls, ...(row.last_pulled_at === null ? {} : { lastPulledAt: row.last_pulled_at }) };
}

export interface ManifestEntryRow extends UsageRow {
  name: string;
  digest: string;
  subject: string | null;
  size: number;
  created_at: number;
}

export interface TagEntryRow extends UsageRow {
  name: string;
  tag: string;
  digest: string;
  updated_at: number;
}

export interface BlobEntryRow {
  name: string;
  digest: string;
  size: number;
  created_at: number;
  last_served_at: number | null;
}

export const manifestEntry = (row: ManifestEntryRow, children: readonly string[]): ManifestEntry => ({
  name: row.name,
  digest: row.digest,
  children,
  size: row.size,
  createdAt: row.created_at,
  ...usageOf(row),
  ...(row.subject === null ? {} : { subject: row.subject }),
});

export const tagEntry = (row: TagEntryRow): TagEntry => ({
  name: row.name,
  tag: row.tag,
  digest: row.digest,
  updatedAt: row.updated_at,
  ...usageOf(row),
});

export const blobEntry = (row: BlobEntryRow): BlobLinkEntry => ({
  name: row.name,
  digest: row.digest,
  size: row.size,
  createdAt: row.created_at,
  ...(row.last_served_at === null ? {} : { lastServedAt: row.last_served_at }),
});
