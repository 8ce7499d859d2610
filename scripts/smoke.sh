#!/usr/bin/env bash
# Pack-and-import smoke test: the tarball `npm pack` makes, installed into an empty project
# with its dependencies from the registry, used the ways a user would use it:
#   - the tarball holds only dist/, package.json, README.md and LICENSE; no shipped file points
#     at a source map it does not hold, and the declarations show no internals
#   - the install holds cl100k as dist/cl100k.cjs (with its licence), not gpt-tokenizer
#   - `import` and `require` (without Node's require(esm), as on Node 20.18) of `embedrail` and
#     `embedrail/server`, each making a real request to the packaged server on a free port and
#     counting cl100k tokens
#   - the ESM and CJS builds loaded in one process recognise each other's errors
#   - a minifying bundler keeps the error names
#   - the `embedrail` bin prints its help
#   - a TypeScript consumer type-checks under `tsc --strict` with node16 (ESM and CJS) and
#     bundler resolution, using this repository's TypeScript
# Run after `npm run build`.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tsc="$repo/node_modules/typescript/bin/tsc"
work="$(mktemp -d)"
app="$work/app"
trap 'rm -rf "$work"' EXIT

say() { printf -- '--> %s\n' "$*"; }
fail() { printf 'smoke: %s\n' "$*" >&2; exit 1; }

[ -f "$repo/dist/index.js" ] || fail "no dist/ in $repo: run npm run build first"

say "npm pack"
tarball="$work/$(cd "$repo" && npm pack --silent --pack-destination "$work" | tail -n 1)"
[ -f "$tarball" ] || fail "npm pack made no tarball"
unexpected="$(tar -tzf "$tarball" | grep -vE '^package/(dist/[^/]+\.(js|cjs|d\.ts|d\.cts)|package\.json|README\.md|LICENSE)$' || true)"
[ -z "$unexpected" ] || fail "the tarball holds files users do not need:"$'\n'"$unexpected"
echo "$(basename "$tarball"): $(tar -tzf "$tarball" | wc -l) files, $(du -k "$tarball" | cut -f1) kB"

say "no shipped file points at a missing source map, no declaration shows internals"
unpacked="$work/unpacked"
mkdir -p "$unpacked"
tar -xzf "$tarball" -C "$unpacked"
while IFS=: read -r file map; do
  target="$(dirname "$file")/${map#*sourceMappingURL=}"
  [ -f "$target" ] || fail "$(basename "$file") points at ${map#*sourceMappingURL=}, which the tarball does not hold"
done < <(grep -rHo 'sourceMappingURL=[^ *]*' "$unpacked/package" || true)
# Members only the package itself uses: a consumer must not see (or call) them.
internals="$(grep -nE '\b(_post|_resolveRequestOptions|resolveCallOptions|postWithRetries|ClientInternals)\b' "$unpacked"/package/dist/*.d.*ts || true)"
[ -z "$internals" ] || fail "the declarations expose internals:"$'\n'"$internals"
echo "OK"

say "install the tarball into an empty project"
mkdir -p "$app"
cp "$repo/scripts/smoke/"* "$app/"
echo '{ "name": "embedrail-smoke", "version": "1.0.0", "private": true }' >"$app/package.json"
# The consumer's @types/node matches the one this repository is checked with.
types_node="$(node -p 'require(process.argv[1]).devDependencies["@types/node"]' "$repo/package.json")"
(cd "$app" && npm install --no-audit --no-fund --loglevel=error "$tarball" "@types/node@$types_node")

say "the install holds cl100k alone, not all of gpt-tokenizer"
[ -f "$app/node_modules/embedrail/dist/cl100k.cjs" ] || fail "dist/cl100k.cjs is not in the package"
[ ! -e "$app/node_modules/gpt-tokenizer" ] || fail "gpt-tokenizer was installed: it is bundled as dist/cl100k.cjs"
grep -q 'MIT License' "$app/node_modules/embedrail/dist/cl100k.cjs" || fail "dist/cl100k.cjs lacks gpt-tokenizer's licence"
# Optional peer: the requests below prove both builds run without it (it is imported lazily).
[ ! -e "$app/node_modules/@opentelemetry/api" ] || fail "@opentelemetry/api was installed: it is an optional peer"
echo "OK ($(du -sk "$app/node_modules" | cut -f1) kB of node_modules)"

say "import (ESM)"
(cd "$app" && node esm.mjs)

say "require (CJS)"
# Node 20.19+ can require() ES modules; engines allow 20.18, so prove the CJS build needs no ESM.
no_require_esm=()
if node --no-experimental-require-module -e '' 2>/dev/null; then no_require_esm=(--no-experimental-require-module); fi
(cd "$app" && node "${no_require_esm[@]}" cjs.cjs)

say "import and require in one process"
(cd "$app" && node dual.mjs)

say "bundled with esbuild --minify"
"$repo/node_modules/.bin/esbuild" "$app/minified.mjs" --bundle --minify --platform=node --format=cjs \
  --log-level=warning --outfile="$app/minified.bundle.cjs"
(cd "$app" && node minified.bundle.cjs)

say "embedrail --help"
help="$("$app/node_modules/.bin/embedrail" --help)"
echo "$help"
for command in embed search serve; do
  grep -q "$command" <<<"$help" || fail "embedrail --help does not list '$command'"
done

say "type-check a consumer with tsc --strict (node16 ESM and CJS, bundler)"
# Written here rather than kept as .ts files in scripts/: the repository's tsconfig covers
# scripts/, and these import the built package, which does not exist before a build.
cat >"$app/consumer.mts" <<'TS'
import { APIError, EmbeddingsClient, RateLimitError, ResponseTooLargeError, isAPIError, type ClientOptions } from 'embedrail';
import { createServer, type ServerOptions } from 'embedrail/server';

const options = { baseURL: 'http://127.0.0.1:8787/v1', maxRetries: 1, timeout: 5_000, maxResponseBytes: 2 ** 26 } satisfies ClientOptions;
const client = new EmbeddingsClient(options);

export async function embed(texts: string[]): Promise<number[][]> {
  const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: texts, dimensions: 256 });
  return res.data.map((item) => item.embedding);
}

export async function embedFloat32(text: string): Promise<Float32Array> {
  const compact = new EmbeddingsClient({ baseURL: options.baseURL, vectorType: 'float32' });
  const res = await compact.embeddings.create({ model: 'text-embedding-3-small', input: text });
  return res.data[0]!.embedding;
}

export async function embedBase64(text: string, signal: AbortSignal): Promise<string> {
  const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: text, encoding_format: 'base64' }, { signal });
  return res.data[0]!.embedding;
}

export function describeFailure(error: unknown): string {
  if (error instanceof RateLimitError) return `retry after ${error.headers['retry-after'] ?? '?'} s`;
  if (error instanceof APIError) return `${error.status} ${error.requestId ?? ''}`;
  if (error instanceof ResponseTooLargeError) return `over ${error.limit} bytes`;
  if (isAPIError(error)) return `${error.status} ${error.requestID ?? ''}`;
  return String(error);
}

const serverOptions: ServerOptions = { rpm: 60, dimensions: 256 };
export const server = createServer(serverOptions);

// The declarations must be real types, not `any`: these two lines have to be errors.
// @ts-expect-error `model` is required
void client.embeddings.create({ input: 'x' });
// @ts-expect-error there is no such option
void new EmbeddingsClient({ maxConcurency: 2 });
// @ts-expect-error request internals are private
void client._post;
TS
cat >"$app/consumer.cts" <<'TS'
import { EmbeddingsClient, InvalidArgumentError } from 'embedrail';
import { createServer } from 'embedrail/server';

export async function embedLocally(text: string): Promise<number[]> {
  const server = createServer();
  const { url } = await server.listen(0, '127.0.0.1');
  const client = new EmbeddingsClient({ baseURL: url });
  try {
    const res = await client.embeddings.create({ model: 'local-hash-embedding', input: text });
    return res.data[0]!.embedding;
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new Error(`bad input: ${error.message}`);
    throw error;
  } finally {
    await client.close();
    await server.close();
  }
}
TS
cat >"$app/tsconfig.node16.json" <<'JSON'
{
  "compilerOptions": { "strict": true, "module": "node16", "moduleResolution": "node16", "target": "es2022", "types": ["node"], "noEmit": true },
  "files": ["consumer.mts", "consumer.cts"]
}
JSON
cat >"$app/tsconfig.bundler.json" <<'JSON'
{
  "compilerOptions": { "strict": true, "module": "esnext", "moduleResolution": "bundler", "target": "es2022", "types": ["node"], "noEmit": true },
  "files": ["consumer.mts"]
}
JSON
for resolution in node16 bundler; do
  node "$tsc" -p "$app/tsconfig.$resolution.json" || fail "the consumer does not type-check with moduleResolution $resolution"
  echo "moduleResolution $resolution: OK"
done

say "smoke test passed"
