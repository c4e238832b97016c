// The in-memory MetadataStore that in-process tests stand on passes the suite SQLite passes.
import { MemoryMetadataStore } from "../fakes/memory-metadata-store.js";
import { metadataStoreConformance } from "./metadata-store.suite.js";
import { opsRecordsConformance } from "./ops-records.suite.js";

metadataStoreConformance("MemoryMetadataStore", () => new MemoryMetadataStore());
opsRecordsConformance("MemoryMetadataStore", () => new MemoryMetadataStore());
