import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getResponse, type RequestHandler } from 'msw';
import { afterAll, afterEach, beforeAll } from 'vitest';

/** A request as the fake API saw it on the wire. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON body, or the raw text when it is not JSON. */
  body: any;
  /** The client's port: requests sharing it came over one kept-alive connection. */
  remotePort: number;
}

export interface FakeApi {
  /** Base URL for the client: `http://127.0.0.1:<port>/v1`. */
  url: string;
  /** Every request received, in arrival order. */
  requests: RecordedRequest[];
  /** Most requests the server was answering at the same time. */
  maxInFlight: number;
  /** Handlers used before the ones given at start (like msw's `server.use`). */
  use(...handlers: RequestHandler[]): void;
  /** Drops handlers added with `use()` and clears the records. */
  reset(): void;
  close(): Promise<void>;
}

/**
 * Serves msw request handlers on a 127.0.0.1 port, through msw's own `getResponse()`.
 * msw 2 on Node 20 cannot see the sockets of the undici package, so the client under test
 * talks to this server over real TCP and its real transport is what the tests exercise.
 * `HttpResponse.error()` destroys the socket: a connection error as the client sees one.
 */
export async function startFakeApi(...initial: RequestHandler[]): Promise<FakeApi> {
  let extra: RequestHandler[] = [];
  let inFlight = 0;
  const api: FakeApi = {
    url: '',
    requests: [],
    maxInFlight: 0,
    use: (...handlers) => {
      extra = [...handlers, ...extra];
    },
    reset: () => {
      extra = [];
      api.requests.length = 0;
      api.maxInFlight = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    api.maxInFlight = Math.max(api.maxInFlight, inFlight);
    res.on('close', () => inFlight--);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const raw = Buffer.concat(chunks);
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(', ') : (value ?? ''),
        ]),
      );
      const text = raw.toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep the text
      }
      api.requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers,
        body,
        remotePort: req.socket.remotePort ?? 0,
      });

      const request = new Request(`http://${req.headers.host}${req.url}`, {
        method: req.method,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : raw,
      });
      const response = await getResponse([...extra, ...initial], request);
      if (!response) {
        res.writeHead(501, { 'content-type': 'text/plain' }).end(`no handler for ${req.method} ${req.url}`);
        return;
      }
      if (response.type === 'error') {
        req.socket.destroy();
        return;
      }
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (response.body) {
        for await (const chunk of response.body) {
          if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
        }
      }
      res.end();
    } catch (error) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    }
  };
  // A failure to answer at all (the response already torn down) cuts the connection, as a
  // broken server would, rather than leaving a rejection nobody handles.
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => req.socket.destroy(error as Error));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  api.url = `http://127.0.0.1:${port}/v1`;
  return api;
}

/**
 * The fake API for the enclosing test file: started before its tests with `handlers`, reset
 * after each test, closed after the last. Usable at the file's top level, before it has started.
 */
export function useFakeApi(...handlers: RequestHandler[]): FakeApi {
  let started: FakeApi | undefined;
  beforeAll(async () => {
    started = await startFakeApi(...handlers);
  });
  afterEach(() => started?.reset());
  afterAll(() => started?.close());
  return new Proxy({} as FakeApi, {
    get(_target, key) {
      if (!started) throw new Error('the fake API starts in beforeAll; use it inside a test');
      return Reflect.get(started, key);
    },
  });
}
