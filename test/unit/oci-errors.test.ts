import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isOciError, OCI_ERROR_CODES, OciError, type OciErrorCode } from "../../src/oci/errors.js";

const CODES = Object.keys(OCI_ERROR_CODES) as OciErrorCode[];

/** The error codes of the OCI distribution spec v1.1, section "Error Codes". */
const SPEC_V1_1_CODES = [
  "BLOB_UNKNOWN",
  "BLOB_UPLOAD_INVALID",
  "BLOB_UPLOAD_UNKNOWN",
  "DIGEST_INVALID",
  "MANIFEST_BLOB_UNKNOWN",
  "MANIFEST_INVALID",
  "MANIFEST_UNKNOWN",
  "NAME_INVALID",
  "NAME_UNKNOWN",
  "SIZE_INVALID",
  "UNAUTHORIZED",
  "DENIED",
  "UNSUPPORTED",
  "TOOMANYREQUESTS",
];

/** Statuses clients rely on: the spec's endpoint tables and distribution's errcode registry. */
const EXPECTED_STATUS: Partial<Record<OciErrorCode, number>> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_UNKNOWN: 404,
  MANIFEST_UNKNOWN: 404,
  NAME_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_INVALID: 400,
  NAME_INVALID: 400,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  UNAVAILABLE: 503,
  UNKNOWN: 500,
};

describe("OCI error codes", () => {
  test("the codes marked spec are exactly the 14 codes of distribution-spec v1.1", () => {
    const marked = CODES.filter((code) => OCI_ERROR_CODES[code].spec);
    assert.deepEqual([...marked].sort(), [...SPEC_V1_1_CODES].sort());
  });

  test("the table cannot be changed at run time", () => {
    assert.ok(Object.isFrozen(OCI_ERROR_CODES));
  });

  for (const code of CODES) {
    test(`${code} has an error status and a message, and an OciError carries them`, () => {
      const { status, message } = OCI_ERROR_CODES[code];
      assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${status}`);
      assert.ok(message.length > 0);
      const expected = EXPECTED_STATUS[code];
      if (expected !== undefined) assert.equal(status, expected);
      const error = new OciError(code);
      assert.equal(error.code, code);
      assert.equal(error.status, status);
      assert.equal(error.message, message);
      assert.deepEqual(error.toJSON(), { errors: [{ code, message }] });
    });
  }
});

describe("OciError", () => {
  test("renders the spec's envelope, with detail only when there is one", () => {
    const bare = new OciError("BLOB_UNKNOWN");
    assert.deepEqual(JSON.parse(JSON.stringify(bare)), {
      errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown to registry" }],
    });
    assert.ok(!("detail" in (bare.toJSON().errors[0] ?? {})));

    const detailed = new OciError("MANIFEST_UNKNOWN", { message: "no such tag", detail: { tag: "x" } });
    assert.deepEqual(JSON.parse(JSON.stringify(detailed)), {
      errors: [{ code: "MANIFEST_UNKNOWN", message: "no such tag", detail: { tag: "x" } }],
    });
  });

  test("options override the status and carry headers and cause", () => {
    const cause = new Error("root");
    const error = new OciError("BLOB_UPLOAD_INVALID", {
      status: 416,
      headers: { range: "0-9" },
      cause,
    });
    assert.equal(error.status, 416);
    assert.deepEqual(error.headers, { range: "0-9" });
    assert.equal(error.cause, cause);
    assert.deepEqual(new OciError("DENIED").headers, {});
  });

  test("is an Error that isOciError recognises", () => {
    const error = new OciError("DENIED");
    assert.ok(error instanceof Error);
    assert.equal(error.name, "OciError");
    assert.equal(isOciError(error), true);
    assert.equal(isOciError(new Error("DENIED")), false);
    assert.equal(isOciError({ code: "DENIED", status: 403 }), false);
    assert.equal(isOciError(undefined), false);
  });
});
