import type { ConformanceClient, ConformanceResponse } from "./client.js";
import {
  ARTIFACT_TYPE_FILTER,
  EMPTY_LAYER_TEST_TAG,
  ERROR_CODES,
  MEDIA_TYPE,
  type Suite,
  TEST_ANNOTATION_KEY,
  TEST_TAG_NAME,
  type TestBlob,
  UNSUPPORTED,
  WORKFLOW,
} from "./fixtures.js";
import {
  expectEqual,
  expectNotEmpty,
  expectStatus,
  expectThat,
  must,
  noError,
  runOnlyIf,
  runOnlyIfNot,
  type SpecTree,
  type StatusMatcher,
  skipIfDisabled,
} from "./specs.js";

// The OCI distribution-spec conformance suite as it stood before the 2026 redesign (v1.1.x line:
// 01_pull_test.go, 02_push_test.go, 03_discovery_test.go, 04_management_test.go), spec by spec,
// with the same requests, headers, bodies, accepted statuses and order. Comments marked "suite:"
// point at behaviour of the original that is kept on purpose even where it looks odd.

/** What the specs share: the suite's globals, and the client once the registry runs. */
export interface LegacyRun {
  readonly suite: Suite;
  client(): ConformanceClient;
}

const OCTET_STREAM = "application/octet-stream";
const DELETED_OR_REFUSED: StatusMatcher[] = ["2xx", 405];
const DELETED_GONE_OR_REFUSED: StatusMatcher[] = ["2xx", 404, 405];

/** Every "Populate registry with …" spec: POST a session, PUT the blob to its Location. */
async function populateBlob(run: LegacyRun, digest: string, length: string, content: Buffer): Promise<void> {
  const client = run.client();
  const post = await noError("POST", () => client.do(client.newRequest("POST", "/v2/<name>/blobs/uploads/")));
  const put = client
    .newRequest("PUT", post.relativeLocation())
    .setQueryParam("digest", digest)
    .setHeader("Content-Type", OCTET_STREAM)
    .setHeader("Content-Length", length)
    .setBody(content);
  expectStatus(await noError("PUT", () => client.do(put)), "2xx");
}

function putManifest(run: LegacyRun, reference: string, contentType: string, content: Buffer) {
  const client = run.client();
  const req = client
    .newRequest("PUT", "/v2/<name>/manifests/<reference>", { reference })
    .setHeader("Content-Type", contentType)
    .setBody(content);
  return noError("PUT manifest", () => client.do(req));
}

/** DELETE of a blob or manifest by digest (reggie's <digest> placeholder, whatever it holds). */
async function deleteByDigest(
  run: LegacyRun,
  kind: "blobs" | "manifests",
  digest: string,
  accepted: StatusMatcher[],
): Promise<void> {
  const client = run.client();
  const req = client.newRequest("DELETE", `/v2/<name>/${kind}/<digest>`, { digest });
  expectStatus(await noError("DELETE", () => client.do(req)), ...accepted);
}

async function deleteByReference(
  run: LegacyRun,
  reference: string,
  accepted: StatusMatcher[],
): Promise<void> {
  const client = run.client();
  const req = client.newRequest("DELETE", "/v2/<name>/manifests/<reference>", { reference });
  expectStatus(await noError("DELETE", () => client.do(req)), ...accepted);
}

function getBlob(run: LegacyRun, method: "GET" | "HEAD", digest: string) {
  const client = run.client();
  return noError(method, () => client.do(client.newRequest(method, "/v2/<name>/blobs/<digest>", { digest })));
}

function getManifest(
  run: LegacyRun,
  method: "GET" | "HEAD",
  ref: { digest: string } | { reference: string },
  accept?: string,
) {
  const client = run.client();
  const path = "digest" in ref ? "/v2/<name>/manifests/<digest>" : "/v2/<name>/manifests/<reference>";
  const req = client.newRequest(method, path, ref);
  if (accept !== undefined) req.setHeader("Accept", accept);
  return noError(method, () => client.do(req));
}

/** `if h := resp.Header().Get("Docker-Content-Digest"); h != "" { Expect(h).To(Equal(d)) }` */
function expectDigestHeaderIfPresent(resp: ConformanceResponse, digest: string): void {
  const header = resp.header("Docker-Content-Digest");
  if (header !== "") expectEqual(header, digest, "Docker-Content-Digest", resp);
}

/** setup.go's getTagList: the `tags` of a tag list, [] when the body does not parse. */
function getTagList(resp: ConformanceResponse): string[] {
  try {
    const parsed = JSON.parse(resp.body.toString("utf8")) as { tags?: unknown };
    return Array.isArray(parsed.tags) ? parsed.tags.map(String) : [];
  } catch {
    return [];
  }
}

interface IndexDocument {
  manifests?: Array<{ digest?: string; annotations?: Record<string, string> }>;
}

/** json.Unmarshal into image.go's index: an error only when the body is not JSON. */
function decodeIndex(resp: ConformanceResponse): IndexDocument {
  try {
    return JSON.parse(resp.body.toString("utf8")) as IndexDocument;
  } catch (error) {
    throw new Error(
      `json: ${error instanceof Error ? error.message : String(error)}\n    ${resp.describe()}`,
    );
  }
}

export function test01Pull(tree: SpecTree, run: LegacyRun): void {
  const { suite } = run;
  const skip = () => skipIfDisabled(suite, WORKFLOW.pull);
  const [config0, config1] = suite.configs as [TestBlob, TestBlob];
  const [manifest0, manifest1] = suite.manifests as [TestBlob, TestBlob];
  let tag = "";

  tree.context("Pull", (pull) => {
    pull.context("Setup", (setup) => {
      for (const [title, blob] of [
        ["Populate registry with test blob", config0],
        ["Populate registry with test blob", config1],
      ] as const) {
        setup.specify(title, async () => {
          skip();
          runOnlyIf(suite.runPullSetup);
          await populateBlob(run, blob.digest, blob.contentLength, blob.content);
        });
      }
      setup.specify("Populate registry with test layer", async () => {
        skip();
        runOnlyIf(suite.runPullSetup);
        await populateBlob(run, suite.layerBlobDigest, suite.layerBlobContentLength, suite.layerBlobData);
      });
      setup.specify("Populate registry with test manifest", async () => {
        skip();
        runOnlyIf(suite.runPullSetup);
        tag = TEST_TAG_NAME;
        expectStatus(await putManifest(run, tag, MEDIA_TYPE.manifest, manifest0.content), "2xx");
      });
      setup.specify("Populate registry with test manifest", async () => {
        skip();
        runOnlyIf(suite.runPullSetup);
        expectStatus(await putManifest(run, manifest1.digest, MEDIA_TYPE.manifest, manifest1.content), "2xx");
      });
      setup.specify("Get tag name from environment", async () => {
        skip();
        runOnlyIfNot(suite.runPullSetup);
        const fromEnv = suite.env.OCI_TAG_NAME ?? "";
        if (fromEnv !== "") tag = fromEnv;
      });
    });

    pull.context("Pull blobs", (blobs) => {
      blobs.specify("HEAD request to nonexistent blob should result in 404 response", async () => {
        skip();
        expectStatus(await getBlob(run, "HEAD", suite.dummyDigest), 404);
      });
      blobs.specify("HEAD request to existing blob should yield 200", async () => {
        skip();
        const resp = await getBlob(run, "HEAD", config0.digest);
        expectStatus(resp, 200);
        expectDigestHeaderIfPresent(resp, config0.digest);
      });
      blobs.specify("GET nonexistent blob should result in 404 response", async () => {
        skip();
        expectStatus(await getBlob(run, "GET", suite.dummyDigest), 404);
      });
      blobs.specify("GET request to existing blob URL should yield 200", async () => {
        skip();
        expectStatus(await getBlob(run, "GET", config0.digest), 200);
      });
    });

    pull.context("Pull manifests", (manifests) => {
      for (const method of ["HEAD", "GET"] as const) {
        const verb = method === "HEAD" ? "HEAD request to" : "GET";
        manifests.specify(`${verb} nonexistent manifest should return 404`, async () => {
          skip();
          expectStatus(await getManifest(run, method, { reference: suite.nonexistentManifest }), 404);
        });
        for (const [index, manifest] of [manifest0, manifest1].entries()) {
          const request = method === "HEAD" ? "HEAD request" : "GET request";
          manifests.specify(
            `${request} to manifest[${index}] path (digest) should yield 200 response`,
            async () => {
              skip();
              const resp = await getManifest(run, method, { digest: manifest.digest }, MEDIA_TYPE.manifest);
              expectStatus(resp, 200);
              if (method === "HEAD") expectDigestHeaderIfPresent(resp, manifest.digest);
            },
          );
        }
        const request = method === "HEAD" ? "HEAD request" : "GET request";
        manifests.specify(`${request} to manifest path (tag) should yield 200 response`, async () => {
          skip();
          expectNotEmpty(tag, "tag");
          const resp = await getManifest(run, method, { reference: tag }, MEDIA_TYPE.manifest);
          expectStatus(resp, 200);
          if (method === "HEAD") expectDigestHeaderIfPresent(resp, manifest0.digest);
        });
      }
    });

    pull.context("Error codes", (errors) => {
      errors.specify("400 response body should contain OCI-conforming JSON message", async () => {
        skip();
        const client = run.client();
        // suite: a GET with a body; resty drops the body but keeps Content-Type (and copies it to Accept)
        const req = client
          .newRequest("GET", "/v2/<name>/manifests/<reference>", { reference: "sha256:totallywrong" })
          .setHeader("Content-Type", MEDIA_TYPE.manifest)
          .setBody(suite.invalidManifestContent);
        const resp = await noError("GET", () => client.do(req));
        expectStatus(resp, 400, 404);
        if (resp.status === 400) {
          const errorResponses = await noError("resp.Errors()", () => resp.errors());
          expectNotEmpty(errorResponses, "errors", resp);
          const code = errorResponses[0]?.code ?? "";
          expectThat(
            ERROR_CODES.includes(code),
            `error code ${JSON.stringify(code)} is not a spec code`,
            resp,
          );
        }
      });
    });

    pull.context("Teardown", (teardown) => {
      const deleteManifests = () => {
        for (const [index, manifest] of [manifest0, manifest1].entries()) {
          teardown.specify(`Delete manifest[${index}] created in setup`, async () => {
            skip();
            runOnlyIf(suite.runPullSetup);
            await deleteByDigest(run, "manifests", manifest.digest, DELETED_OR_REFUSED);
          });
        }
      };
      if (suite.deleteManifestBeforeBlobs) deleteManifests();
      for (const [title, digest] of [
        ["Delete config[0] blob created in setup", config0.digest],
        ["Delete config[1] blob created in setup", config1.digest],
        ["Delete layer blob created in setup", suite.layerBlobDigest],
      ] as const) {
        teardown.specify(title, async () => {
          skip();
          runOnlyIf(suite.runPullSetup);
          await deleteByDigest(run, "blobs", digest, DELETED_GONE_OR_REFUSED);
        });
      }
      if (!suite.deleteManifestBeforeBlobs) deleteManifests();
    });
  });
}

export function test02Push(tree: SpecTree, run: LegacyRun): void {
  const { suite } = run;
  const skip = () => skipIfDisabled(suite, WORKFLOW.push);
  const config1 = suite.configs[1] as TestBlob;
  const manifest1 = suite.manifests[1] as TestBlob;
  let lastResponse: ConformanceResponse | undefined;
  let prevResponse: ConformanceResponse | undefined;
  let emptyLayerManifestRef = "";
  // suite: Go dereferences these unchecked; a nil response panics and fails the spec
  const last = () => must(lastResponse, "lastResponse");
  const prev = () => must(prevResponse, "prevResponse");

  tree.context("Push", (push) => {
    push.context("Setup", () => {
      // No setup required at this time for push tests
    });

    push.context("Blob Upload Streamed", (streamed) => {
      streamed.specify("PATCH request with blob in body should yield 202 response", async () => {
        skip();
        const client = run.client();
        let resp = await noError("POST", () =>
          client.do(client.newRequest("POST", "/v2/<name>/blobs/uploads/")),
        );
        expectNotEmpty(resp.header("Location"), "Location", resp);
        const req = client
          .newRequest("PATCH", resp.relativeLocation())
          .setHeader("Content-Type", OCTET_STREAM)
          .setBody(suite.testBlobA);
        resp = await noError("PATCH", () => client.do(req));
        expectStatus(resp, 202);
        lastResponse = resp;
      });
      streamed.specify("PUT request to session URL with digest should yield 201 response", async () => {
        skip();
        const client = run.client();
        const req = client
          .newRequest("PUT", last().relativeLocation())
          .setQueryParam("digest", suite.testBlobADigest)
          .setHeader("Content-Type", OCTET_STREAM)
          .setHeader("Content-Length", suite.testBlobALength);
        const resp = await noError("PUT", () => client.do(req));
        expectStatus(resp, 201);
        expectNotEmpty(resp.header("Location"), "Location", resp);
      });
    });

    push.context("Blob Upload Monolithic", (monolithic) => {
      monolithic.specify("GET nonexistent blob should result in 404 response", async () => {
        skip();
        expectStatus(await getBlob(run, "GET", suite.dummyDigest), 404);
      });
      monolithic.specify("POST request with digest and blob should yield a 201 or 202", async () => {
        skip();
        const client = run.client();
        const req = client
          .newRequest("POST", "/v2/<name>/blobs/uploads/")
          .setHeader("Content-Length", config1.contentLength)
          .setHeader("Content-Type", OCTET_STREAM)
          .setQueryParam("digest", config1.digest)
          .setBody(config1.content);
        const resp = await noError("POST", () => client.do(req));
        expectNotEmpty(resp.header("Location"), "Location", resp);
        expectStatus(resp, 201, 202);
        lastResponse = resp;
      });
      monolithic.specify(
        "GET request to blob URL from prior request should yield 200 or 404 based on response code",
        async () => {
          skip();
          const previous = last();
          const resp = await getBlob(run, "GET", config1.digest);
          expectStatus(resp, previous.status === 202 ? 404 : 200);
        },
      );
      monolithic.specify("POST request should yield a session ID", async () => {
        skip();
        const client = run.client();
        const resp = await noError("POST", () =>
          client.do(client.newRequest("POST", "/v2/<name>/blobs/uploads/")),
        );
        expectStatus(resp, 202);
        lastResponse = resp;
      });
      monolithic.specify("PUT upload of a blob should yield a 201 Response", async () => {
        skip();
        const client = run.client();
        const req = client
          .newRequest("PUT", last().relativeLocation())
          .setHeader("Content-Length", config1.contentLength)
          .setHeader("Content-Type", OCTET_STREAM)
          .setQueryParam("digest", config1.digest)
          .setBody(config1.content);
        const resp = await noError("PUT", () => client.do(req));
        expectNotEmpty(resp.header("Location"), "Location", resp);
        expectStatus(resp, 201);
      });
      monolithic.specify("GET request to existing blob should yield 200 response", async () => {
        skip();
        expectStatus(await getBlob(run, "GET", config1.digest), 200);
      });
      monolithic.specify("PUT upload of a layer blob should yield a 201 Response", async () => {
        skip();
        const client = run.client();
        const post = await noError("POST", () =>
          client.do(client.newRequest("POST", "/v2/<name>/blobs/uploads/")),
        );
        const req = client
          .newRequest("PUT", post.relativeLocation())
          .setHeader("Content-Length", suite.layerBlobContentLength)
          .setHeader("Content-Type", OCTET_STREAM)
          .setQueryParam("digest", suite.layerBlobDigest)
          .setBody(suite.layerBlobData);
        const resp = await noError("PUT", () => client.do(req));
        expectNotEmpty(resp.header("Location"), "Location", resp);
        expectStatus(resp, 201);
      });
      monolithic.specify("GET request to existing layer should yield 200 response", async () => {
        skip();
        expectStatus(await getBlob(run, "GET", suite.layerBlobDigest), 200);
      });
    });

    push.context("Blob Upload Chunked", (chunked) => {
      /** POST with `Content-Length: 0` set (dropped on the wire, as Go frames the empty body itself). */
      const startSession = async () => {
        const client = run.client();
        const req = client.newRequest("POST", "/v2/<name>/blobs/uploads/").setHeader("Content-Length", "0");
        const resp = await noError("POST", () => client.do(req));
        expectNotEmpty(resp.header("Location"), "Location", resp);
        return resp;
      };
      const patch = (location: string, length: string, range: string, body: Buffer) => {
        const client = run.client();
        const req = client
          .newRequest("PATCH", location)
          .setHeader("Content-Type", OCTET_STREAM)
          .setHeader("Content-Length", length)
          .setHeader("Content-Range", range)
          .setBody(body);
        return noError("PATCH", () => client.do(req));
      };
      chunked.specify("Out-of-order blob upload should return 416", async () => {
        skip();
        const resp = await startSession();
        // rebuild the chunked blob if the registry's minimum chunk is above our first chunk
        const minSizeStr = resp.header("OCI-Chunk-Min-Length");
        if (minSizeStr !== "") {
          const minSize = Number.parseInt(minSizeStr, 10);
          expectThat(Number.isInteger(minSize), `OCI-Chunk-Min-Length ${minSizeStr} is not a number`, resp);
          if (minSize > suite.chunked.chunk1.length) suite.resizeChunkedBlob(minSize * 2 - 2);
        }
        const { chunk2, chunk2Length, chunk2Range } = suite.chunked;
        expectStatus(await patch(resp.relativeLocation(), chunk2Length, chunk2Range, chunk2), 416);
      });
      chunked.specify("PATCH request with first chunk should return 202", async () => {
        skip();
        const post = await startSession();
        prevResponse = post;
        const { chunk1, chunk1Length, chunk1Range } = suite.chunked;
        const resp = await patch(post.relativeLocation(), chunk1Length, chunk1Range, chunk1);
        expectStatus(resp, 202);
        expectEqual(resp.header("Range"), chunk1Range, "Range", resp);
        lastResponse = resp;
      });
      chunked.specify("Retry previous blob chunk should return 416", async () => {
        skip();
        const { chunk1, chunk1Length, chunk1Range } = suite.chunked;
        expectStatus(await patch(prev().relativeLocation(), chunk1Length, chunk1Range, chunk1), 416);
      });
      chunked.specify("Get on stale blob upload should return 204 with a range and location", async () => {
        skip();
        const client = run.client();
        const resp = await noError("GET", () =>
          client.do(client.newRequest("GET", prev().relativeLocation())),
        );
        expectStatus(resp, 204);
        expectNotEmpty(resp.header("Location"), "Location", resp);
        expectEqual(resp.header("Range"), suite.chunked.chunk1Range, "Range", resp);
        lastResponse = resp;
      });
      chunked.specify("PATCH request with second chunk should return 202", async () => {
        skip();
        const { chunk2, chunk2Length, chunk2Range } = suite.chunked;
        const client = run.client();
        const req = client
          .newRequest("PATCH", last().relativeLocation())
          .setHeader("Content-Length", chunk2Length)
          .setHeader("Content-Range", chunk2Range)
          .setHeader("Content-Type", OCTET_STREAM)
          .setBody(chunk2);
        const resp = await noError("PATCH", () => client.do(req));
        const location = resp.header("Location");
        expectStatus(resp, 202);
        expectNotEmpty(location, "Location", resp);
        lastResponse = resp;
      });
      chunked.specify("PUT request with digest should return 201", async () => {
        skip();
        const client = run.client();
        const req = client
          .newRequest("PUT", last().relativeLocation())
          .setHeader("Content-Length", "0")
          .setHeader("Content-Type", OCTET_STREAM)
          .setQueryParam("digest", suite.chunked.digest);
        const resp = await noError("PUT", () => client.do(req));
        expectStatus(resp, 201);
        expectNotEmpty(resp.header("Location"), "Location", resp);
      });
    });

    push.context("Cross-Repository Blob Mount", (mount) => {
      const mountRequest = (digest: string, from?: string) => {
        const client = run.client();
        const req = client
          .newRequest("POST", "/v2/<name>/blobs/uploads/", { name: suite.crossmountNamespace })
          .setQueryParam("mount", digest);
        if (from !== undefined) req.setQueryParam("from", from);
        return noError("POST", () => client.do(req));
      };
      mount.specify(
        "Cross-mounting of a blob without the from argument should yield session id",
        async () => {
          skip();
          const resp = await mountRequest(suite.dummyDigest);
          expectStatus(resp, 202);
          expectNotEmpty(resp.absoluteLocation(), "Location", resp);
        },
      );
      mount.specify("POST request to mount another repository's blob should return 201 or 202", async () => {
        skip();
        const resp = await mountRequest(suite.testBlobADigest, run.client().defaultName);
        expectStatus(resp, 201, 202);
        lastResponse = resp;
      });
      mount.specify("GET request to test digest within cross-mount namespace should return 200", async () => {
        skip();
        runOnlyIf(last().status === 201);
        const expected = `/v2/${suite.crossmountNamespace}/blobs/${suite.testBlobADigest}`;
        expectEqual(last().relativeLocation(), expected, "Location", last());
        const client = run.client();
        const resp = await noError("GET", () =>
          client.do(client.newRequest("GET", last().relativeLocation())),
        );
        expectStatus(resp, 200);
      });
      mount.specify("Cross-mounting of nonexistent blob should yield session id", async () => {
        skip();
        runOnlyIf(last().status === 202);
        const prefix = `/v2/${suite.crossmountNamespace}/blobs/uploads/`;
        expectThat(
          last().relativeLocation().startsWith(prefix),
          `Location should start with ${prefix}`,
          last(),
        );
      });
      mount.specify(
        "Cross-mounting without from, and automatic content discovery enabled should return a 201",
        async () => {
          skip();
          runOnlyIf(suite.runAutomaticCrossmountTest);
          runOnlyIf(last().status === 201);
          runOnlyIf(suite.automaticCrossmountEnabled);
          expectStatus(await mountRequest(suite.testBlobADigest), 201);
        },
      );
      mount.specify(
        "Cross-mounting without from, and automatic content discovery disabled should return a 202",
        async () => {
          skip();
          runOnlyIf(suite.runAutomaticCrossmountTest);
          runOnlyIf(last().status === 201);
          runOnlyIfNot(suite.automaticCrossmountEnabled);
          expectStatus(await mountRequest(suite.testBlobADigest), 202);
        },
      );
    });

    push.context("Manifest Upload", (upload) => {
      upload.specify("GET nonexistent manifest should return 404", async () => {
        skip();
        expectStatus(await getManifest(run, "GET", { reference: suite.nonexistentManifest }), 404);
      });
      upload.specify("PUT should accept a manifest upload", async () => {
        skip();
        for (let i = 0; i < 4; i++) {
          const resp = await putManifest(run, `test${i}`, MEDIA_TYPE.manifest, manifest1.content);
          expectNotEmpty(resp.header("Location"), "Location", resp);
          expectStatus(resp, 201);
        }
      });
      upload.specify("Registry should accept a manifest upload with no layers", async () => {
        skip();
        const resp = await putManifest(
          run,
          EMPTY_LAYER_TEST_TAG,
          MEDIA_TYPE.manifest,
          suite.emptyLayerManifestContent,
        );
        if (resp.status === 201) {
          emptyLayerManifestRef = resp.header("Location");
          expectNotEmpty(emptyLayerManifestRef, "Location", resp);
        } else {
          upload.warn(`image manifest with no layers is not supported (${resp.describe()})`);
        }
      });
      upload.specify("GET request to manifest URL (digest) should yield 200 response", async () => {
        skip();
        expectStatus(await getManifest(run, "GET", { digest: manifest1.digest }, MEDIA_TYPE.manifest), 200);
      });
    });

    push.context("Teardown", (teardown) => {
      const deleteManifests = () => {
        teardown.specify("Delete manifest created in tests", async () => {
          skip();
          runOnlyIf(suite.runPushSetup);
          await deleteByDigest(run, "manifests", manifest1.digest, DELETED_OR_REFUSED);
          if (emptyLayerManifestRef !== "") {
            await deleteByReference(run, suite.emptyLayerManifestDigest, DELETED_OR_REFUSED);
          }
        });
      };
      if (suite.deleteManifestBeforeBlobs) deleteManifests();
      teardown.specify("Delete config blob created in tests", async () => {
        skip();
        runOnlyIf(suite.runPushSetup);
        await deleteByDigest(run, "blobs", config1.digest, DELETED_GONE_OR_REFUSED);
      });
      teardown.specify("Delete layer blob created in setup", async () => {
        skip();
        runOnlyIf(suite.runPushSetup);
        await deleteByDigest(run, "blobs", suite.layerBlobDigest, DELETED_GONE_OR_REFUSED);
      });
      if (!suite.deleteManifestBeforeBlobs) deleteManifests();
    });
  });
}

export function test03ContentDiscovery(tree: SpecTree, run: LegacyRun): void {
  const { suite } = run;
  const skip = () => skipIfDisabled(suite, WORKFLOW.contentDiscovery);
  const config2 = suite.configs[2] as TestBlob;
  const config4 = suite.configs[4] as TestBlob;
  const [manifest2, manifest3, manifest4] = suite.manifests.slice(2, 5) as [TestBlob, TestBlob, TestBlob];
  let numTags = 4;
  let tagList: string[] = [];

  /** The referrers list of `digest`, checked the way every referrers spec starts. */
  const referrers = async (digest: string, artifactType?: string) => {
    const client = run.client();
    const req = client.newRequest("GET", "/v2/<name>/referrers/<digest>", { digest });
    if (artifactType !== undefined) req.setQueryParam("artifactType", artifactType);
    const resp = await noError("GET", () => client.do(req));
    expectStatus(resp, 200);
    expectEqual(resp.header("Content-Type"), MEDIA_TYPE.index, "Content-Type", resp);
    const index = await noError("json.Unmarshal", () => decodeIndex(resp));
    return { resp, manifests: index.manifests ?? [] };
  };
  /** Each entry carries exactly the one annotation its manifest was pushed with. */
  const expectAnnotations = (resp: ConformanceResponse, manifests: IndexDocument["manifests"] & object) => {
    for (const entry of manifests) {
      expectEqual(Object.keys(entry.annotations ?? {}).length, 1, `annotations of ${entry.digest}`, resp);
      expectEqual(
        entry.annotations?.[TEST_ANNOTATION_KEY],
        suite.testAnnotationValues.get(entry.digest ?? ""),
        `annotation of ${entry.digest}`,
        resp,
      );
    }
  };
  /** PUT a referrer (by its digest) and check the OCI-Subject the registry answers with. */
  const putReferrer = async (manifest: TestBlob, contentType: string, subject: TestBlob) => {
    const resp = await putManifest(run, manifest.digest, contentType, manifest.content);
    expectStatus(resp, "2xx");
    expectEqual(resp.header("OCI-Subject"), subject.digest, "OCI-Subject", resp);
  };
  const discoveryReferences = [
    suite.refsIndexArtifact.digest,
    manifest2.digest,
    manifest4.digest,
    suite.refsManifestAConfigArtifact.digest,
    suite.refsManifestALayerArtifact.digest,
    TEST_TAG_NAME,
    suite.refsManifestBConfigArtifact.digest,
    suite.refsManifestBLayerArtifact.digest,
    suite.refsManifestCLayerArtifact.digest,
  ];

  tree.context("Content Discovery", (discovery) => {
    discovery.context("Setup", (setup) => {
      setup.specify("Populate registry with test blob", async () => {
        skip();
        runOnlyIf(suite.runContentDiscoverySetup);
        await populateBlob(run, config2.digest, config2.contentLength, config2.content);
      });
      setup.specify("Populate registry with test layer", async () => {
        skip();
        runOnlyIf(suite.runContentDiscoverySetup);
        await populateBlob(run, suite.layerBlobDigest, suite.layerBlobContentLength, suite.layerBlobData);
      });
      setup.specify("Populate registry with test tags", async () => {
        skip();
        runOnlyIf(suite.runContentDiscoverySetup);
        for (let i = 0; i < numTags; i++) {
          const tag = `test${i}`;
          tagList.push(tag);
          expectStatus(await putManifest(run, tag, MEDIA_TYPE.manifest, manifest2.content), "2xx");
        }
        // suite: the listing replaces tagList and its error is ignored
        const client = run.client();
        const resp = await client.do(client.newRequest("GET", "/v2/<name>/tags/list")).catch(() => undefined);
        tagList = resp ? getTagList(resp) : [];
      });
      setup.specify("Populate registry with test tags (no push)", async () => {
        skip();
        runOnlyIfNot(suite.runContentDiscoverySetup);
        tagList = (suite.env.OCI_TAG_LIST ?? "").split(",");
      });
      setup.specify("References setup", async () => {
        skip();
        runOnlyIf(suite.runContentDiscoverySetup);
        // Populate registry with empty JSON blob, checking its well-known digest first
        expectEqual(
          suite.emptyJsonDescriptor.digest,
          "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
          "empty JSON digest",
        );
        const emptyJson = suite.emptyJsonDescriptor;
        await populateBlob(run, emptyJson.digest, String(emptyJson.size), suite.emptyJsonBlob);
        // the reference blob before the image manifest is pushed
        await populateBlob(run, suite.testRefBlobADigest, suite.testRefBlobALength, suite.testRefBlobA);
        await putReferrer(suite.refsManifestAConfigArtifact, MEDIA_TYPE.manifest, manifest4);
        await putReferrer(suite.refsManifestALayerArtifact, MEDIA_TYPE.manifest, manifest4);
        await putReferrer(suite.refsIndexArtifact, MEDIA_TYPE.index, manifest4);
        // the subject itself
        await populateBlob(run, config4.digest, config4.contentLength, config4.content);
        await populateBlob(run, suite.layerBlobDigest, suite.layerBlobContentLength, suite.layerBlobData);
        expectStatus(await putManifest(run, TEST_TAG_NAME, MEDIA_TYPE.manifest, manifest4.content), "2xx");
        // the reference blob after the image manifest is pushed
        await populateBlob(run, suite.testRefBlobBDigest, suite.testRefBlobBLength, suite.testRefBlobB);
        await putReferrer(suite.refsManifestBConfigArtifact, MEDIA_TYPE.manifest, manifest4);
        await putReferrer(suite.refsManifestBLayerArtifact, MEDIA_TYPE.manifest, manifest4);
        // a referrer whose subject is never pushed
        await putReferrer(suite.refsManifestCLayerArtifact, MEDIA_TYPE.manifest, manifest3);
      });
    });

    discovery.context("Test content discovery endpoints (listing tags)", (tags) => {
      const listTags = (query: Record<string, string>) => {
        const client = run.client();
        const req = client.newRequest("GET", "/v2/<name>/tags/list");
        for (const [key, value] of Object.entries(query)) req.setQueryParam(key, value);
        return noError("GET", () => client.do(req));
      };
      tags.specify("GET request to list tags should yield 200 response", async () => {
        skip();
        const resp = await listTags({});
        expectStatus(resp, 200);
        tagList = getTagList(resp);
        numTags = tagList.length;
      });
      tags.specify("GET number of tags should be limitable by `n` query parameter", async () => {
        skip();
        const numResults = Math.trunc(numTags / 2);
        const resp = await listTags({ n: String(numResults) });
        expectStatus(resp, 200);
        tagList = getTagList(resp);
        expectEqual(tagList.length, numResults, "number of tags", resp);
      });
      tags.specify("GET start of tag is set by `last` query parameter", async () => {
        skip();
        const numResults = Math.trunc(numTags / 2);
        tagList = getTagList(await listTags({ n: String(numResults) }));
        const lastTag = tagList[numResults - 1];
        // suite: Go indexes the slice here; an out-of-range index panics and fails the spec
        expectThat(lastTag !== undefined, `index ${numResults - 1} out of range [${tagList.length}]`);
        const resp = await listTags({ n: String(numResults), last: lastTag as string });
        expectStatus(resp, 200);
        // suite: these two check the first page again, not the second response
        expectThat(
          tagList.length <= numResults,
          `expected at most ${numResults} tags, got ${tagList.length}`,
          resp,
        );
        expectThat(tagList.includes(lastTag as string), `expected tag list to contain ${lastTag}`, resp);
      });
    });

    discovery.context("Test content discovery endpoints (listing references)", (refs) => {
      refs.specify("GET request to nonexistent blob should result in empty 200 response", async () => {
        skip();
        const { resp, manifests } = await referrers(suite.dummyDigest);
        expectEqual(manifests.length, 0, "number of referrers", resp);
      });
      refs.specify("GET request to existing blob should yield 200", async () => {
        skip();
        const { resp, manifests } = await referrers(manifest4.digest);
        expectEqual(manifests.length, 5, "number of referrers", resp);
        expectThat(manifests[0]?.digest !== manifests[1]?.digest, "first two referrers are the same", resp);
        expectAnnotations(resp, manifests);
      });
      refs.specify("GET request to existing blob with filter should yield 200", async () => {
        skip();
        const { resp, manifests } = await referrers(manifest4.digest, suite.testRefArtifactTypeA);
        if (resp.header("OCI-Filters-Applied") !== "") {
          expectEqual(manifests.length, 2, "number of filtered referrers", resp);
          expectEqual(resp.header("OCI-Filters-Applied"), ARTIFACT_TYPE_FILTER, "OCI-Filters-Applied", resp);
          expectAnnotations(resp, manifests);
        } else {
          expectEqual(manifests.length, 5, "number of referrers", resp);
          expectAnnotations(resp, manifests);
          refs.warn("filtering by artifact-type is not implemented");
        }
      });
      refs.specify("GET request to missing manifest should yield 200", async () => {
        skip();
        const { resp, manifests } = await referrers(manifest3.digest);
        expectEqual(manifests.length, 1, "number of referrers", resp);
        expectEqual(manifests[0]?.digest, suite.refsManifestCLayerArtifact.digest, "referrer", resp);
      });
    });

    discovery.context("Teardown", (teardown) => {
      const deleteManifestsAndTags = () => {
        teardown.specify("Delete created manifest & associated tags", async () => {
          skip();
          runOnlyIf(suite.runContentDiscoverySetup);
          // suite: the tag goes through the <digest> placeholder too
          for (const ref of discoveryReferences) {
            await deleteByDigest(run, "manifests", ref, [...DELETED_OR_REFUSED, 404]);
          }
        });
      };
      if (suite.deleteManifestBeforeBlobs) deleteManifestsAndTags();
      teardown.specify("Delete config blob created in tests", async () => {
        skip();
        runOnlyIf(suite.runContentDiscoverySetup);
        await deleteByDigest(run, "blobs", config2.digest, DELETED_OR_REFUSED);
      });
      teardown.specify("Delete layer blob created in setup", async () => {
        skip();
        runOnlyIf(suite.runContentDiscoverySetup);
        await deleteByDigest(run, "blobs", suite.layerBlobDigest, DELETED_OR_REFUSED);
      });
      if (!suite.deleteManifestBeforeBlobs) deleteManifestsAndTags();
      teardown.specify("References teardown", async () => {
        skip();
        runOnlyIf(suite.runContentDiscoverySetup);
        const accepted: StatusMatcher[] = [...DELETED_OR_REFUSED, 404];
        const deleteReferenceManifests = async () => {
          await deleteByReference(run, suite.refsIndexArtifact.digest, accepted);
          await deleteByReference(run, suite.refsManifestAConfigArtifact.digest, accepted);
          await deleteByReference(run, suite.refsManifestALayerArtifact.digest, accepted);
          await deleteByDigest(run, "manifests", manifest4.digest, accepted);
          await deleteByReference(run, suite.refsManifestBConfigArtifact.digest, accepted);
          await deleteByReference(run, suite.refsManifestBLayerArtifact.digest, accepted);
        };
        if (suite.deleteManifestBeforeBlobs) await deleteReferenceManifests();
        await deleteByDigest(run, "blobs", config4.digest, accepted);
        await deleteByDigest(run, "blobs", suite.testRefBlobADigest, accepted);
        await deleteByDigest(run, "blobs", suite.testRefBlobBDigest, accepted);
        await deleteByDigest(run, "blobs", suite.emptyJsonDescriptor.digest, accepted);
        if (!suite.deleteManifestBeforeBlobs) await deleteReferenceManifests();
      });
    });
  });
}

export function test04ContentManagement(tree: SpecTree, run: LegacyRun): void {
  const { suite } = run;
  const skip = () => skipIfDisabled(suite, WORKFLOW.contentManagement);
  const config3 = suite.configs[3] as TestBlob;
  const manifest3 = suite.manifests[3] as TestBlob;
  const defaultTagName = "tagtest0";
  let tagToDelete = "";
  let numTags = 0;
  let blobDeleteAllowed = true;

  /** `json.Unmarshal([]byte(resp.String()), tagList)` with its error expected to be nil. */
  const tagCount = async (resp: ConformanceResponse) =>
    noError("json.Unmarshal", () => {
      const parsed = JSON.parse(resp.body.toString("utf8")) as { tags?: unknown };
      return Array.isArray(parsed.tags) ? parsed.tags.length : 0;
    });
  const listTags = () => {
    const client = run.client();
    return noError("GET", () => client.do(client.newRequest("GET", "/v2/<name>/tags/list")));
  };

  tree.context("Content Management", (management) => {
    management.context("Setup", (setup) => {
      setup.specify("Populate registry with test config blob", async () => {
        skip();
        runOnlyIf(suite.runContentManagementSetup);
        await populateBlob(run, config3.digest, config3.contentLength, config3.content);
      });
      setup.specify("Populate registry with test layer", async () => {
        skip();
        runOnlyIf(suite.runContentManagementSetup);
        await populateBlob(run, suite.layerBlobDigest, suite.layerBlobContentLength, suite.layerBlobData);
      });
      setup.specify("Populate registry with test tag", async () => {
        skip();
        runOnlyIf(suite.runContentManagementSetup);
        tagToDelete = defaultTagName;
        expectStatus(await putManifest(run, tagToDelete, MEDIA_TYPE.manifest, manifest3.content), "2xx");
      });
      setup.specify("Check how many tags there are before anything gets deleted", async () => {
        skip();
        runOnlyIf(suite.runContentManagementSetup);
        const resp = await listTags();
        expectStatus(resp, 200);
        numTags = await tagCount(resp);
      });
    });

    management.context("Manifest delete", (manifests) => {
      manifests.specify(
        "DELETE request to manifest tag should return 202, unless tag deletion is disallowed (400/405)",
        async () => {
          skip();
          const client = run.client();
          const req = client.newRequest("DELETE", "/v2/<name>/manifests/<reference>", {
            reference: tagToDelete,
          });
          const resp = await noError("DELETE", () => client.do(req));
          expectStatus(resp, 400, 202, 405);
          if (resp.status === 400) {
            const errorResponses = await noError("resp.Errors()", () => resp.errors());
            expectNotEmpty(errorResponses, "errors", resp);
            expectEqual(errorResponses[0]?.code, ERROR_CODES[UNSUPPORTED], "error code", resp);
          }
        },
      );
      manifests.specify(
        "DELETE request to manifest (digest) should yield 202 response unless already deleted",
        async () => {
          skip();
          // In the case that the previous request was accepted, this may or may not fail (which is ok)
          await deleteByDigest(run, "manifests", manifest3.digest, [202, 404]);
        },
      );
      manifests.specify(
        "GET request to deleted manifest URL should yield 404 response, unless delete is disallowed",
        async () => {
          skip();
          expectStatus(await getManifest(run, "GET", { digest: manifest3.digest }), 404, 200);
        },
      );
      manifests.specify("GET request to tags list should reflect manifest deletion", async () => {
        skip();
        const resp = await listTags();
        expectStatus(resp, 200);
        const count = await tagCount(resp);
        expectThat(count < numTags, `expected fewer than ${numTags} tags, got ${count}`, resp);
      });
    });

    management.context("Blob delete", (blobs) => {
      blobs.specify("DELETE request to blob URL should yield 202 response", async () => {
        skip();
        runOnlyIf(suite.runContentManagementSetup);
        // config blob
        await deleteByDigest(run, "blobs", config3.digest, [202, 404, 405]);
        // layer blob
        const client = run.client();
        const req = client.newRequest("DELETE", "/v2/<name>/blobs/<digest>", {
          digest: suite.layerBlobDigest,
        });
        const resp = await noError("DELETE", () => client.do(req));
        expectStatus(resp, 202, 404, 405);
        if (resp.status === 405) blobDeleteAllowed = false;
      });
      blobs.specify("GET request to deleted blob URL should yield 404 response", async () => {
        skip();
        runOnlyIf(suite.runContentManagementSetup);
        runOnlyIf(blobDeleteAllowed);
        expectStatus(await getBlob(run, "GET", config3.digest), 404);
      });
    });

    management.context("Teardown", () => {
      // TODO in the suite: delete blob+tag? No teardown required at this time.
    });
  });
}
