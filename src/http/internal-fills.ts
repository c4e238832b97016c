import type { NodeAuth } from "../coordination/node-auth.js";
import { OciError } from "../oci/errors.js";
import type { Coalescer } from "../store/coalescer.js";
import { keyOfPeerFillQuery, NODE_AUTH_HEADER, PEER_FILL_PATH } from "../store/peer-fills.js";
import { NotFoundError } from "../util/errors.js";
import type { RequestContext } from "./context.js";
import { sendBody } from "./respond.js";
import type { SideRoutes } from "./server.js";

/**
 * The other nodes' way to a download this node runs from upstream: `GET /_wharf/fill?key=…`, signed
 * by a node of the cluster (`NodeAuth`), answers the blob from its first byte as the bytes arrive
 * (the fill's own reader, so the last byte waits for the digest here too), or 404 when this node
 * runs no such download. Refused with 401 without a good signature: nobody else reaches it.
 */
export function internalFillRoutes(coalescer: Coalescer, auth: NodeAuth): SideRoutes {
  return new Map([
    [
      PEER_FILL_PATH,
      {
        methods: ["GET"],
        async handle(ctx: RequestContext) {
          const key = keyOfPeerFillQuery(ctx.query.get("key"));
          const signature = ctx.req.headers[NODE_AUTH_HEADER];
          if (key === undefined || !auth.verify(key, typeof signature === "string" ? signature : undefined)) {
            throw new OciError("UNAUTHORIZED", { message: "only the cluster's nodes may ask this" });
          }
          ctx.route = "internal-fill";
          const running = coalescer.forPeer(key);
          if (!running) throw new NotFoundError("blob", { key });
          const { size, body } = running;
          await sendBody(
            ctx,
            200,
            {
              "content-type": "application/octet-stream",
              ...(size === undefined ? {} : { "content-length": size }),
            },
            body,
            size,
          );
        },
      },
    ],
  ]);
}
