// The pull commands the image page offers: the address the browser used, the repository's port or
// path prefix, each client's flag for plain HTTP, a login when anonymous may not pull, and the
// mirror form for a proxy.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { imageAddress, type PullTarget, pullCommands } from "../../src/http/admin/pull-commands.js";

const target: PullTarget = {
  host: "wharf.example:5000",
  tls: false,
  port: null,
  repository: "docker-hub",
  registry: "docker.io",
  name: "library/busybox",
  reference: "1.36",
  needsLogin: false,
  user: "alice",
};

const commands = (fields: Partial<PullTarget>) =>
  Object.fromEntries(pullCommands({ ...target, ...fields }).map((c) => [c.client, c]));

describe("pull commands", () => {
  test("by path prefix on the main port, over plain HTTP", () => {
    const c = commands({});
    assert.equal(c.docker?.command, "docker pull wharf.example:5000/docker-hub/library/busybox:1.36");
    assert.match(c.docker?.note ?? "", /"insecure-registries": \["wharf\.example:5000"\]/);
    assert.equal(
      c.podman?.command,
      "podman pull --tls-verify=false wharf.example:5000/docker-hub/library/busybox:1.36",
    );
    assert.equal(
      c.nerdctl?.command,
      "nerdctl pull --insecure-registry wharf.example:5000/docker-hub/library/busybox:1.36",
    );
    assert.equal(
      c.ctr?.command,
      "ctr images pull --plain-http wharf.example:5000/docker-hub/library/busybox:1.36",
    );
    assert.equal(
      c.skopeo?.command,
      "skopeo copy --src-tls-verify=false docker://wharf.example:5000/docker-hub/library/busybox:1.36 oci:busybox:1.36",
    );
    assert.match(
      c.ctr?.note ?? "",
      /--hosts-dir \/etc\/containerd\/certs\.d docker\.io\/library\/busybox:1\.36$/,
    );
  });

  test("a repository with its own port is named without its prefix, on that port of the same host", () => {
    assert.deepEqual(imageAddress({ ...target, port: 8181 }), {
      registry: "wharf.example:8181",
      reference: "wharf.example:8181/library/busybox:1.36",
    });
    assert.equal(imageAddress({ ...target, host: "[::1]:5000", port: 8181 }).registry, "[::1]:8181");
    assert.equal(
      imageAddress({ ...target, host: "wharf.example", port: 8181 }).registry,
      "wharf.example:8181",
    );
  });

  test("over TLS no client is told the registry is insecure; a digest is pulled by @", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    for (const command of pullCommands({ ...target, tls: true, reference: digest })) {
      assert.doesNotMatch(command.command, /insecure|tls-verify|plain-http/);
      assert.ok(command.command.includes(`library/busybox@${digest}`), command.command);
    }
    assert.match(commands({ reference: digest }).skopeo?.command ?? "", / oci:busybox$/);
  });

  test("when anonymous may not pull: a login note, and ctr and skopeo ask for the user's password", () => {
    const c = commands({ needsLogin: true, registry: null, repository: "internal", name: "team/app" });
    assert.match(c.docker?.note ?? "", /docker login wharf\.example:5000/);
    assert.match(c.ctr?.command ?? "", /--user alice /);
    assert.match(c.skopeo?.command ?? "", /--src-creds alice /);
    assert.equal(c.ctr?.note, null, "a hosted repository has no mirror form");
  });
});
