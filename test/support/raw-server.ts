import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

/** A request as it crossed the wire, body bytes and all (or only their count). */
export interface RawRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The body; empty when the server was told to count it only. */
  body: Buffer;
  bytes: number;
}

/** Answers a request; the body has been read (or counted) by then. */
export type RawHandler = (req: IncomingMessage, res: ServerResponse, recorded: RawRequest, index: number) => void;

/**
 * A loopback server that records every request's raw bytes, for checks a JSON-minded fake
 * cannot make (multipart bodies, byte counts, a download cut short). `keepBodies: false` counts
 * a body's bytes without holding them, for uploads too large to keep.
 */
export function useRawServers() {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(
      servers.splice(0).map(
        (server) =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      ),
    );
  });
  return async (handler: RawHandler, options: { keepBodies?: boolean } = {}) => {
    const requests: RawRequest[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (options.keepBodies !== false) chunks.push(chunk);
      });
      req.on('end', () => {
        const headers = Object.fromEntries(
          Object.entries(req.headers).map(([name, value]) => [
            name,
            Array.isArray(value) ? value.join(', ') : (value ?? ''),
          ]),
        );
        const recorded = { method: req.method ?? '', url: req.url ?? '', headers, body: Buffer.concat(chunks), bytes };
        requests.push(recorded);
        handler(req, res, recorded, requests.length - 1);
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}/v1`, requests };
  };
}

/** Answers `status` with a JSON body. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** A file object as OpenAI answers an upload. */
export function fileObject(bytes: number, filename = 'input.jsonl') {
  return {
    id: 'file-abc123',
    object: 'file',
    bytes,
    created_at: 1_700_000_000,
    filename,
    purpose: 'batch',
    status: 'processed',
  };
}
