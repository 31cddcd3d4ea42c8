// Requests Node's HTTP parser refuses before Fastify sees them (headers over the limit: 431; bad
// framing or bytes: 400; headers too slow: 408) are answered here, on the raw socket, with the
// same JSON envelope as every other error — except that an answer to HEAD has no body (RFC 9110
// §9.3.2). Fastify's default handler always wrote a body, which a client reading a HEAD answer
// takes as the start of the next response.
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";

type ParserError = Error & { code?: string; rawPacket?: unknown; bytesParsed?: unknown };

// A method token, a space, and the start of a request target (origin, asterisk, absolute or
// authority form): what a request line begins with, and a packet from the middle of a head does not.
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (?:[/*]|[A-Za-z][A-Za-z0-9+.-]*:\/\/|[^ \r\n]+ HTTP\/)/;

/**
 * The method of the request the parser gave up on, read from the bytes it was parsing (Node puts
 * them on the error as `rawPacket`, and how far it got as `bytesParsed`); null when they do not
 * show it: the request line came in an earlier packet, or the error is a timeout. The request at
 * fault starts after the last complete head in what was parsed (earlier pipelined requests).
 */
function refusedRequestMethod(err: ParserError): string | null {
  const raw = err.rawPacket;
  if (!Buffer.isBuffer(raw)) return null;
  const parsed = typeof err.bytesParsed === "number" && err.bytesParsed >= 0 ? raw.subarray(0, err.bytesParsed) : raw;
  const text = parsed.toString("latin1");
  const lastHeadEnd = text.lastIndexOf("\r\n\r\n");
  const start = lastHeadEnd >= 0 && lastHeadEnd + 4 < text.length ? lastHeadEnd + 4 : 0;
  return REQUEST_LINE.exec(text.slice(start))?.[1] ?? null;
}

function refusal(err: ParserError): { status: number; message: string } {
  switch (err.code) {
    case "HPE_HEADER_OVERFLOW":
      return { status: 431, message: "Request line and headers are larger than the server accepts" };
    case "ERR_HTTP_REQUEST_TIMEOUT":
    case "ERR_HTTP_HEADERS_TIMEOUT":
      return { status: 408, message: "The request did not arrive in time" };
    default:
      return { status: 400, message: "Malformed HTTP request" };
  }
}

/** Fastify's `clientErrorHandler`. */
export function clientErrorHandler(this: FastifyInstance, err: ParserError, socket: Socket): void {
  // A reset connection, or one already gone: there is nobody to answer.
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const { status, message } = refusal(err);
  this.log.debug({ err: { code: err.code, message: err.message }, status }, "client error");
  // A response already under way on this connection (pipelining): another head would corrupt it.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify({ error: message });
    const method = refusedRequestMethod(err);
    // Headers only for HEAD; and when the method cannot be read, for a refusal that usually comes
    // mid-request (headers over the limit, split over packets; a timeout): no body is right for any
    // method. Bytes that are no request at all (a 400 on garbage) get the JSON error.
    const bodyless = method === "HEAD" || (method === null && status !== 400);
    const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n`;
    if (method === "HEAD") {
      // The headers a GET would have had, and no body.
      socket.write(
        `${head}Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
      );
    } else if (bodyless) {
      socket.write(`${head}Content-Length: 0\r\n\r\n`);
    } else {
      socket.write(
        `${head}Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
  }
  socket.destroy();
}
