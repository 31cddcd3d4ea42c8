// Bearer API key authentication for /api/v1. Unknown and missing keys are both 401.
import type { FastifyRequest } from "fastify";
import { authenticateApiKey, type Principal } from "../auth/api-keys.js";
import type { Prisma } from "../db/client.js";
import { HttpError } from "./errors.js";

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export function bearerAuth(prisma: Prisma) {
  return async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new HttpError(401, "Missing API key: send Authorization: Bearer <api key>");
    const principal = await authenticateApiKey(prisma, match[1]!);
    if (!principal) throw new HttpError(401, "Invalid API key");
    request.principal = principal;
  };
}

/** The authenticated principal; routes behind bearerAuth always have one. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new HttpError(401, "Missing API key: send Authorization: Bearer <api key>");
  return request.principal;
}
