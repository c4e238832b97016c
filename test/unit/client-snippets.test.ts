import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { clientSnippets } from "../../src/config/client-snippets.js";
import { configSchema } from "../../src/config/schema.js";

const config = configSchema.parse({
  repositories: {
    "docker-hub": { type: "proxy", upstream: { url: "https://registry-1.docker.io" } },
    ghcr: { type: "proxy", upstream: { url: "https://ghcr.io" } },
  },
  default_repository: "docker-hub",
});
const ADDRESS = "wharf.example:5000";

describe("clientSnippets", () => {
  test("plain HTTP: http:// URLs and every client told the registry is insecure", () => {
    const text = clientSnippets(config, { address: ADDRESS, insecure: true });
    assert.match(text, /"registry-mirrors": \[\s*"http:\/\/wharf\.example:5000"/);
    assert.match(text, /"insecure-registries"/);
    assert.match(text, /insecure = true/);
    assert.match(text, /\[host\."http:\/\/wharf\.example:5000"\]/);
    assert.doesNotMatch(text, /certs\.d\/wharf\.example/);
  });

  test("HTTPS: https:// URLs, nothing insecure, and where each client wants a private CA", () => {
    const text = clientSnippets(config, { address: ADDRESS, insecure: false });
    assert.match(text, /"registry-mirrors": \[\s*"https:\/\/wharf\.example:5000"/);
    assert.doesNotMatch(text, /insecure|http:\/\/wharf/);
    assert.match(text, /\[host\."https:\/\/wharf\.example:5000"\]/);
    assert.ok(text.includes("/etc/docker/certs.d/wharf.example:5000/ca.crt"), "dockerd");
    assert.ok(text.includes("/etc/containers/certs.d/wharf.example:5000/ca.crt"), "podman, CRI-O");
    assert.match(text, /# ca = "\/etc\/containerd\/certs\.d\/docker\.io\/wharf-ca\.crt"/);
    assert.match(text, /# ca = "\/etc\/containerd\/certs\.d\/ghcr\.io\/wharf-ca\.crt"/);
    // daemon.json stays valid JSON: its CA note is a comment line outside it.
    const daemon = /# \/etc\/docker\/daemon\.json[^\n]*\n(\{[\s\S]*?\n\})/.exec(text)?.[1];
    assert.deepEqual(JSON.parse(daemon ?? ""), { "registry-mirrors": ["https://wharf.example:5000"] });
  });
});
